//! The hop headers' codec: what a retry or dead-letter hop writes into a
//! record's headers, and how any reader (the worker, `dlt list`,
//! `dlt redrive`) reads it back. Pure: names and text values only, no Kafka
//! client. Values are decimal or UTF-8 text; a value that does not parse is
//! read as absent.

use crate::headers as h;
use crate::DltReason;

/// Where a record first entered the pipeline (its main-topic coordinates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Main topic.
    pub topic: String,
    /// Partition on the main topic.
    pub partition: i32,
    /// Offset on the main topic.
    pub offset: i64,
    /// Record timestamp on the main topic, unix milliseconds.
    pub timestamp_ms: i64,
}

/// Everything hops wrote into a record's headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HopState {
    /// Delivery attempts already made (0 on the main topic).
    pub attempts: u32,
    /// Not to be handled before this, unix milliseconds.
    pub due_at_ms: Option<i64>,
    /// The due-time header was there but unreadable (read, never written).
    pub due_at_unreadable: bool,
    /// When the first attempt failed.
    pub first_failure_at_ms: Option<i64>,
    /// The error chain so far, newest first.
    pub last_error: Option<String>,
    /// Why the record was dead-lettered (on dead-letter records; a code
    /// this version does not know reads as absent).
    pub dlt_reason: Option<DltReason>,
    /// The stage whose attempt failed last.
    pub failed_stage: Option<String>,
    /// Main-topic coordinates, when this record is a hop.
    pub origin: Option<Origin>,
    /// The consumer group that moved the record.
    pub group: Option<String>,
    /// When the record was re-driven from the dead-letter topic, if it was.
    pub redriven_at_ms: Option<i64>,
}

/// Whether `name` is a header that hops write (and replace).
pub fn is_hop_header(name: &str) -> bool {
    h::HOP_HEADERS.contains(&name)
}

#[derive(Default)]
struct OriginParts {
    topic: Option<String>,
    partition: Option<i64>,
    offset: Option<i64>,
    timestamp_ms: Option<i64>,
}

impl OriginParts {
    fn complete(self) -> Option<Origin> {
        Some(Origin {
            topic: self.topic?,
            partition: i32::try_from(self.partition?).ok()?,
            offset: self.offset?,
            timestamp_ms: self.timestamp_ms.unwrap_or(0),
        })
    }
}

impl HopState {
    /// Reads the hop headers among `headers` (others are ignored; for a
    /// repeated header the last one wins).
    pub fn decode<'a>(headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        let mut hop = HopState::default();
        let mut origin = OriginParts::default();
        for (name, value) in headers {
            let text = std::str::from_utf8(value).ok();
            let number = text.and_then(|t| t.trim().parse::<i64>().ok());
            let owned = || text.map(str::to_owned);
            match name {
                h::ATTEMPT => {
                    hop.attempts = number.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
                }
                h::DUE_AT => {
                    hop.due_at_ms = number;
                    hop.due_at_unreadable = number.is_none();
                }
                h::FIRST_FAILURE_AT => hop.first_failure_at_ms = number,
                h::LAST_ERROR => hop.last_error = owned(),
                h::DLT_REASON => hop.dlt_reason = text.and_then(DltReason::from_code),
                h::FAILED_STAGE => hop.failed_stage = owned(),
                h::ORIGINAL_TOPIC => origin.topic = owned(),
                h::ORIGINAL_PARTITION => origin.partition = number,
                h::ORIGINAL_OFFSET => origin.offset = number,
                h::ORIGINAL_TIMESTAMP => origin.timestamp_ms = number,
                h::CONSUMER_GROUP => hop.group = owned(),
                h::REDRIVEN_AT => hop.redriven_at_ms = number,
                _ => {}
            }
        }
        hop.origin = origin.complete();
        hop
    }

    /// The headers that carry this state, as `(name, text)`; absent fields
    /// (and zero attempts) write nothing. The last error is capped at
    /// [`h::LAST_ERROR_MAX_BYTES`].
    pub fn encode(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::with_capacity(h::HOP_HEADERS.len());
        if self.attempts > 0 {
            out.push((h::ATTEMPT, self.attempts.to_string()));
        }
        let mut number = |name, value: Option<i64>| {
            if let Some(value) = value {
                out.push((name, value.to_string()));
            }
        };
        number(h::DUE_AT, self.due_at_ms);
        number(h::FIRST_FAILURE_AT, self.first_failure_at_ms);
        number(h::REDRIVEN_AT, self.redriven_at_ms);
        if let Some(error) = &self.last_error {
            out.push((h::LAST_ERROR, h::cap_last_error(error).to_owned()));
        }
        if let Some(reason) = self.dlt_reason {
            out.push((h::DLT_REASON, reason.code().to_owned()));
        }
        for (name, value) in [
            (h::FAILED_STAGE, &self.failed_stage),
            (h::CONSUMER_GROUP, &self.group),
        ] {
            if let Some(value) = value {
                out.push((name, value.clone()));
            }
        }
        if let Some(origin) = &self.origin {
            out.push((h::ORIGINAL_TOPIC, origin.topic.clone()));
            out.push((h::ORIGINAL_PARTITION, origin.partition.to_string()));
            out.push((h::ORIGINAL_OFFSET, origin.offset.to_string()));
            out.push((h::ORIGINAL_TIMESTAMP, origin.timestamp_ms.to_string()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> HopState {
        HopState {
            attempts: 2,
            due_at_ms: Some(11_000),
            due_at_unreadable: false,
            first_failure_at_ms: Some(100),
            last_error: Some("retry-1m attempt 2: HTTP 503".into()),
            dlt_reason: Some(DltReason::Exhausted),
            failed_stage: Some("retry-1m".into()),
            origin: Some(Origin {
                topic: "webhooks".into(),
                partition: 2,
                offset: 41,
                timestamp_ms: 50,
            }),
            group: Some("crm".into()),
            redriven_at_ms: Some(12_000),
        }
    }

    #[test]
    fn encoding_then_decoding_gives_the_same_state() {
        let state = full();
        let headers = state.encode();
        assert_eq!(headers.len(), h::HOP_HEADERS.len(), "one header per field");
        assert!(headers.iter().all(|(name, _)| is_hop_header(name)));
        let decoded = HopState::decode(headers.iter().map(|(n, v)| (*n, v.as_bytes())));
        assert_eq!(decoded, state);
        assert!(HopState::default().encode().is_empty());
    }

    #[test]
    fn foreign_headers_and_unparsable_values_are_ignored() {
        let decoded = HopState::decode([
            (h::EVENT_ID, b"evt-1".as_slice()),
            (h::ATTEMPT, b"many".as_slice()),
            (h::DUE_AT, b"\xff".as_slice()),
            (h::ORIGINAL_TOPIC, b"webhooks".as_slice()),
        ]);
        assert_eq!(decoded.attempts, 0);
        assert_eq!(decoded.due_at_ms, None);
        assert!(decoded.due_at_unreadable, "there, but not a number");
        assert_eq!(
            decoded.origin, None,
            "an origin needs topic, partition and offset"
        );
    }

    #[test]
    fn the_last_error_is_capped_when_written() {
        let state = HopState {
            last_error: Some("x".repeat(5_000)),
            ..HopState::default()
        };
        let headers = state.encode();
        assert_eq!(headers[0].1.len(), h::LAST_ERROR_MAX_BYTES);
    }
}
