//! A record as the consumer holds it, and the headers of its next hop. A hop
//! to a retry stage or the dead-letter topic *replaces* every hop header
//! (attempt, due time, errors, origin) and keeps the gateway's own headers, so
//! a record never grows as it climbs the ladder.

use bytes::Bytes;
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use switchboard_proto::hop::is_hop_header;
pub use switchboard_proto::hop::{HopState, Origin};
use switchboard_proto::DltReason;

use crate::stage::StageIndex;

/// One record read from a stage's topic, owned so a task can outlive the poll.
#[derive(Debug, Clone)]
pub struct ConsumedRecord {
    /// Stage whose topic it came from.
    pub stage: StageIndex,
    /// That topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Record timestamp, unix milliseconds (0 when absent).
    pub timestamp_ms: i64,
    /// Record key (the event id).
    pub key: Option<Bytes>,
    /// Encoded envelope.
    pub payload: Bytes,
    /// Headers that are not hop headers, carried unchanged onto every hop.
    pub carried: Vec<(String, Vec<u8>)>,
    /// Hop headers, parsed.
    pub hop: HopState,
}

impl ConsumedRecord {
    /// Copies what the consumer needs out of a polled message.
    pub fn from_message(message: &BorrowedMessage<'_>, stage: StageIndex) -> Self {
        let mut carried = Vec::new();
        let mut hop = HopState::default();
        if let Some(headers) = message.headers() {
            let all = || {
                headers
                    .iter()
                    .map(|hd| (hd.key, hd.value.unwrap_or_default()))
            };
            hop = HopState::decode(all());
            carried = all()
                .filter(|(key, _)| !is_hop_header(key))
                .map(|(key, value)| (key.to_owned(), value.to_vec()))
                .collect();
        }
        Self {
            stage,
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp_ms: message.timestamp().to_millis().unwrap_or(0),
            key: message.key().map(Bytes::copy_from_slice),
            payload: Bytes::copy_from_slice(message.payload().unwrap_or_default()),
            carried,
            hop,
        }
    }

    /// The value of carried header `name` (the first), when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.carried
            .iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    /// When an operator asked for this copy to be delivered again
    /// (`consumer events redeliver`), if it is such a copy.
    pub fn redelivery_at_ms(&self) -> Option<i64> {
        self.header(switchboard_proto::headers::REDELIVERY_AT)?
            .parse()
            .ok()
    }

    /// The attempt number of the delivery about to be made (1 for the first).
    pub fn attempt(&self) -> u32 {
        self.hop.attempts.saturating_add(1)
    }

    /// Main-topic coordinates: from the headers, or this record's own.
    pub fn origin(&self) -> Origin {
        self.hop.origin.clone().unwrap_or_else(|| Origin {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
            timestamp_ms: self.timestamp_ms,
        })
    }
}

/// Where a failed record goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopTo {
    /// A retry stage, handled no earlier than `due_at_ms`.
    Retry {
        /// The stage.
        stage: StageIndex,
        /// Unix milliseconds.
        due_at_ms: i64,
    },
    /// The dead-letter topic, for `reason`.
    DeadLetter {
        /// Why.
        reason: DltReason,
    },
}

/// Everything a hop writes besides the carried headers.
pub struct HopFailure<'a> {
    /// Name of the stage whose attempt failed.
    pub failed_stage: &'a str,
    /// What went wrong on this attempt.
    pub error: &'a str,
    /// The consumer group moving the record.
    pub group: &'a str,
    /// Now, unix milliseconds.
    pub now_ms: i64,
}

/// Builds the headers of `incoming`'s next hop to `destination`.
pub fn hop_headers(
    incoming: &ConsumedRecord,
    failure: &HopFailure<'_>,
    destination: HopTo,
) -> OwnedHeaders {
    let attempt = incoming.attempt();
    let chain = match &incoming.hop.last_error {
        Some(previous) if !previous.is_empty() => format!(
            "{} attempt {attempt}: {}; {previous}",
            failure.failed_stage, failure.error
        ),
        _ => format!(
            "{} attempt {attempt}: {}",
            failure.failed_stage, failure.error
        ),
    };
    let (due_at_ms, dlt_reason) = match destination {
        HopTo::Retry { due_at_ms, .. } => (Some(due_at_ms), None),
        HopTo::DeadLetter { reason } => (None, Some(reason)),
    };
    let next = HopState {
        attempts: attempt,
        due_at_ms,
        first_failure_at_ms: Some(incoming.hop.first_failure_at_ms.unwrap_or(failure.now_ms)),
        last_error: Some(chain),
        dlt_reason,
        failed_stage: Some(failure.failed_stage.to_owned()),
        origin: Some(incoming.origin()),
        group: Some(failure.group.to_owned()),
        redriven_at_ms: incoming.hop.redriven_at_ms,
        ..HopState::default()
    };
    let carried = incoming
        .carried
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_slice()));
    rebuild_headers(carried, &next)
}

/// The headers of a record's next hop: every header of `previous` that is
/// not a hop header (the gateway's own, in order), then `next` encoded. Every
/// writer of a hop (retry, dead letter, re-drive) builds its headers here, so
/// a record never carries two values of a hop header.
pub fn rebuild_headers<'a>(
    previous: impl Iterator<Item = (&'a str, &'a [u8])>,
    next: &HopState,
) -> OwnedHeaders {
    let encoded = next.encode();
    let kept: Vec<(&str, &[u8])> = previous.filter(|(key, _)| !is_hop_header(key)).collect();
    let mut headers = OwnedHeaders::new_with_capacity(kept.len() + encoded.len());
    for (key, value) in kept {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    for (key, value) in &encoded {
        headers = headers.insert(Header {
            key,
            value: Some(value.as_bytes()),
        });
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_proto::headers as h;

    fn incoming(hop: HopState) -> ConsumedRecord {
        ConsumedRecord {
            stage: 1,
            topic: "webhooks.g.retry-1m".into(),
            partition: 2,
            offset: 7,
            timestamp_ms: 1_000,
            key: Some(Bytes::from_static(b"evt-1")),
            payload: Bytes::from_static(b"x"),
            carried: vec![(h::EVENT_ID.into(), b"evt-1".to_vec())],
            hop,
        }
    }

    fn header_values(headers: &OwnedHeaders, key: &str) -> Vec<String> {
        headers
            .iter()
            .filter(|h| h.key == key)
            .map(|h| String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned())
            .collect()
    }

    #[test]
    fn a_hop_replaces_hop_headers_and_keeps_the_rest() {
        let record = incoming(HopState {
            attempts: 1,
            due_at_ms: Some(5),
            first_failure_at_ms: Some(100),
            last_error: Some("main attempt 1: HTTP 500".into()),
            origin: Some(Origin {
                topic: "webhooks".into(),
                partition: 2,
                offset: 41,
                timestamp_ms: 50,
            }),
            ..HopState::default()
        });
        let failure = HopFailure {
            failed_stage: "retry-1m",
            error: "HTTP 503",
            group: "g",
            now_ms: 9_000,
        };
        let headers = hop_headers(
            &record,
            &failure,
            HopTo::Retry {
                stage: 2,
                due_at_ms: 11_000,
            },
        );
        assert_eq!(header_values(&headers, h::EVENT_ID), vec!["evt-1"]);
        assert_eq!(header_values(&headers, h::ATTEMPT), vec!["2"]);
        assert_eq!(header_values(&headers, h::DUE_AT), vec!["11000"]);
        assert_eq!(header_values(&headers, h::FIRST_FAILURE_AT), vec!["100"]);
        assert_eq!(
            header_values(&headers, h::LAST_ERROR),
            vec!["retry-1m attempt 2: HTTP 503; main attempt 1: HTTP 500"]
        );
        assert_eq!(header_values(&headers, h::ORIGINAL_OFFSET), vec!["41"]);
        assert_eq!(header_values(&headers, h::ORIGINAL_TOPIC), vec!["webhooks"]);
        assert!(header_values(&headers, h::DLT_REASON).is_empty());
        assert_eq!(headers.count(), 11, "one of each, nothing appended");
    }

    #[test]
    fn a_re_driven_event_keeps_its_stamp_through_later_hops() {
        let record = incoming(HopState {
            redriven_at_ms: Some(7_000),
            ..HopState::default()
        });
        let failure = HopFailure {
            failed_stage: "retry-1m",
            error: "HTTP 500",
            group: "g",
            now_ms: 9_000,
        };
        let headers = hop_headers(
            &record,
            &failure,
            HopTo::DeadLetter {
                reason: DltReason::Exhausted,
            },
        );
        assert_eq!(header_values(&headers, h::REDRIVEN_AT), vec!["7000"]);
    }

    #[test]
    fn the_error_chain_stays_capped_however_many_hops() {
        let mut record = incoming(HopState::default());
        for attempt in 0..50 {
            let failure = HopFailure {
                failed_stage: "retry-1m",
                error: &"boom ".repeat(40),
                group: "g",
                now_ms: attempt,
            };
            let headers = hop_headers(
                &record,
                &failure,
                HopTo::DeadLetter {
                    reason: DltReason::Exhausted,
                },
            );
            record.hop.last_error = header_values(&headers, h::LAST_ERROR).pop();
            record.hop.attempts += 1;
        }
        let chain = record.hop.last_error.expect("set");
        assert!(chain.len() <= h::LAST_ERROR_MAX_BYTES);
        assert!(chain.starts_with("retry-1m attempt 50:"), "newest first");
    }

    #[test]
    fn a_main_topic_record_is_its_own_origin() {
        let mut record = incoming(HopState::default());
        record.stage = 0;
        record.topic = "webhooks".into();
        assert_eq!(record.attempt(), 1);
        assert_eq!(record.origin().offset, 7);
        assert_eq!(record.origin().topic, "webhooks");
    }
}
