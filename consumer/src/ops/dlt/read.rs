//! `consumer dlt list`: read a group's dead-letter topic with filters and
//! print the decoded records (re-driving them is [`super::redrive`]).

use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;
use switchboard_proto::hop::{HopState, Origin};
use switchboard_proto::{headers as h, DltReason, Envelope};

use crate::ops::OpsError;
use switchboard_runtime::kafka::{KafkaLog, KafkaSettings};

use crate::ops::TIMEOUT;

/// Which dead-letter records to select. Times are when the record was
/// dead-lettered (its timestamp), unix ms.
#[derive(Debug, Clone, Default)]
pub struct DltFilter {
    /// At or after.
    pub since_ms: Option<i64>,
    /// Before.
    pub until_ms: Option<i64>,
    /// Exactly this source.
    pub source: Option<String>,
    /// The reason code or the error chain contains this text.
    pub reason_contains: Option<String>,
    /// Only these event ids.
    pub ids: Option<std::collections::BTreeSet<String>>,
    /// At most this many (the oldest, unless `newest`).
    pub limit: Option<usize>,
    /// Newest first (with `limit`: the newest ones).
    pub newest: bool,
}

/// One dead-letter record, decoded.
#[derive(Debug, Clone, Serialize)]
pub struct DltEntry {
    /// Partition.
    pub partition: i32,
    /// Offset in the dead-letter topic.
    pub offset: i64,
    /// When it was dead-lettered, unix ms.
    pub dead_lettered_at_ms: i64,
    /// Event id (from the envelope, else the key).
    pub event_id: String,
    /// Source, empty when the value is not an envelope.
    pub source: String,
    /// When the gateway received it, unix ms (0 when unknown).
    pub received_at_ms: i64,
    /// Attempts made.
    pub attempts: u32,
    /// `poison`, `rejected` or `exhausted`.
    pub reason: String,
    /// The error chain, newest first.
    pub last_error: String,
    /// Main-topic offset it came from, when known.
    pub original_offset: Option<i64>,
    /// Whether this is a pointer to a record that could not be handed on
    /// (reason `unroutable`, no value): re-driving re-reads the original.
    pub pointer: bool,
    /// When this event was last re-driven (unix ms): it came back to the
    /// dead-letter topic after a re-drive.
    pub redriven_at_ms: Option<i64>,
    #[serde(skip)]
    pub(crate) key: Option<Vec<u8>>,
    #[serde(skip)]
    pub(crate) value: Vec<u8>,
    #[serde(skip)]
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    #[serde(skip)]
    pub(crate) origin: Option<Origin>,
}

impl DltEntry {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// Whether `entry` passes `filter` (the limit is applied by the reader).
pub fn matches(entry: &DltEntry, filter: &DltFilter) -> bool {
    filter
        .since_ms
        .is_none_or(|since| entry.dead_lettered_at_ms >= since)
        && filter
            .until_ms
            .is_none_or(|until| entry.dead_lettered_at_ms < until)
        && filter.source.as_ref().is_none_or(|s| &entry.source == s)
        && filter
            .ids
            .as_ref()
            .is_none_or(|ids| ids.contains(&entry.event_id))
        && filter.reason_contains.as_ref().is_none_or(|needle| {
            entry.reason.contains(needle.as_str()) || entry.last_error.contains(needle.as_str())
        })
}

fn decode(message: &rdkafka::message::BorrowedMessage<'_>) -> DltEntry {
    let headers = crate::ops::owned_headers(message);
    let hop = HopState::decode(headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
    let text = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    let value = message.payload().unwrap_or_default().to_vec();
    // An empty value (a pointer) would decode as an empty envelope.
    let envelope = (!value.is_empty())
        .then(|| Envelope::decode(value.as_slice()).ok())
        .flatten();
    let key = message.key().map(<[u8]>::to_vec);
    DltEntry {
        partition: message.partition(),
        offset: message.offset(),
        dead_lettered_at_ms: message.timestamp().to_millis().unwrap_or(0),
        event_id: envelope
            .as_ref()
            .map(|e| e.event_id.clone())
            .or_else(|| {
                key.as_ref()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
            })
            .unwrap_or_default(),
        source: envelope
            .as_ref()
            .map(|e| e.source.clone())
            .or_else(|| text(h::SOURCE))
            .unwrap_or_default(),
        received_at_ms: envelope.as_ref().map_or(0, |e| e.received_at_unix_ms),
        attempts: hop.attempts,
        reason: hop
            .dlt_reason
            .map(DltReason::code)
            .unwrap_or_default()
            .to_owned(),
        last_error: hop.last_error.clone().unwrap_or_default(),
        original_offset: hop.origin.as_ref().map(|o| o.offset),
        pointer: value.is_empty() && hop.dlt_reason == Some(DltReason::Unroutable),
        redriven_at_ms: hop.redriven_at_ms,
        key,
        value,
        headers,
        origin: hop.origin,
    }
}

/// Reads `topic` (from `since` when given, else the beginning) to its end and
/// returns the records `filter` selects.
pub fn read(
    kafka: &KafkaSettings,
    topic: &str,
    filter: &DltFilter,
) -> Result<Vec<DltEntry>, OpsError> {
    let consumer: BaseConsumer<KafkaLog> =
        crate::ops::reader_config(kafka).create_with_context(KafkaLog)?;
    let partitions = crate::ops::partitions_of(&consumer, topic, TIMEOUT)?;
    let mut start = TopicPartitionList::new();
    for p in &partitions {
        let offset = filter.since_ms.map_or(Offset::Beginning, Offset::Offset);
        start.add_partition_offset(topic, *p, offset)?;
    }
    if filter.since_ms.is_some() {
        start = consumer.offsets_for_times(start, TIMEOUT)?;
    }
    consumer.assign(&start)?;
    let mut open: Vec<i32> = partitions;
    let mut selected = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !open.is_empty() {
        if Instant::now() > deadline {
            return Err(OpsError::Failed(format!(
                "reading {topic} did not reach its end within 2 minutes"
            )));
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => open.retain(|o| *o != p),
            Some(Err(error)) => return Err(error.into()),
            Some(Ok(message)) => {
                let entry = decode(&message);
                if matches(&entry, filter) {
                    selected.push(entry);
                }
            }
        }
    }
    selected.sort_by_key(|e| (e.dead_lettered_at_ms, e.partition, e.offset));
    if filter.newest {
        selected.reverse();
    }
    if let Some(limit) = filter.limit {
        selected.truncate(limit);
    }
    Ok(selected)
}

/// Renders entries as a table.
pub fn render(entries: &[DltEntry]) -> String {
    let time = |ms: i64| {
        if ms <= 0 {
            return "-".to_owned();
        }
        let at = std::time::UNIX_EPOCH + Duration::from_millis(ms as u64);
        humantime::format_rfc3339_seconds(at).to_string()
    };
    let mut rows = vec![vec![
        "PART/OFFSET".to_owned(),
        "EVENT ID".into(),
        "SOURCE".into(),
        "RECEIVED".into(),
        "DEAD-LETTERED".into(),
        "ATTEMPTS".into(),
        "REASON".into(),
        "RE-DRIVEN".into(),
        "LAST ERROR".into(),
    ]];
    for e in entries {
        let error: String = e.last_error.chars().take(80).collect();
        rows.push(vec![
            format!("{}/{}", e.partition, e.offset),
            e.event_id.clone(),
            e.source.clone(),
            time(e.received_at_ms),
            time(e.dead_lettered_at_ms),
            e.attempts.to_string(),
            e.reason.clone(),
            e.redriven_at_ms.map_or("-".to_owned(), time),
            error,
        ]);
    }
    crate::ops::table(&rows)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn entry(at: i64, source: &str, reason: &str, error: &str) -> DltEntry {
        DltEntry {
            partition: 0,
            offset: 0,
            dead_lettered_at_ms: at,
            event_id: "e".into(),
            source: source.into(),
            received_at_ms: 0,
            attempts: 3,
            reason: reason.into(),
            last_error: error.into(),
            original_offset: None,
            pointer: false,
            redriven_at_ms: None,
            origin: None,
            key: None,
            value: vec![],
            headers: vec![
                (h::EVENT_ID.into(), b"e".to_vec()),
                (h::ATTEMPT.into(), b"3".to_vec()),
                (h::DLT_REASON.into(), reason.as_bytes().to_vec()),
                (h::LAST_ERROR.into(), error.as_bytes().to_vec()),
                // A dead-letter hop writes the whole origin.
                (h::ORIGINAL_TOPIC.into(), b"webhooks".to_vec()),
                (h::ORIGINAL_PARTITION.into(), b"0".to_vec()),
                (h::ORIGINAL_OFFSET.into(), b"7".to_vec()),
            ],
        }
    }

    #[test]
    fn filters_select_exactly() {
        let e = entry(
            1_000,
            "genesys",
            "exhausted",
            "retry-10m attempt 3: HTTP 500",
        );
        assert!(matches(&e, &DltFilter::default()));
        let f = |since, until| DltFilter {
            since_ms: since,
            until_ms: until,
            ..DltFilter::default()
        };
        assert!(matches(&e, &f(Some(1_000), None)), "since is inclusive");
        assert!(!matches(&e, &f(Some(1_001), None)));
        assert!(!matches(&e, &f(None, Some(1_000))), "until is exclusive");
        assert!(matches(&e, &f(None, Some(1_001))));
        let by_source = |s: &str| DltFilter {
            source: Some(s.into()),
            ..DltFilter::default()
        };
        assert!(matches(&e, &by_source("genesys")));
        assert!(!matches(&e, &by_source("stripe")));
        let by_ids = |ids: &[&str]| DltFilter {
            ids: Some(ids.iter().map(|i| (*i).to_owned()).collect()),
            ..DltFilter::default()
        };
        assert!(matches(&e, &by_ids(&[e.event_id.as_str(), "other"])));
        assert!(!matches(&e, &by_ids(&["other"])));
        assert!(
            !matches(&e, &by_ids(&[])),
            "an empty --ids-from file selects nothing"
        );
        let by_reason = |r: &str| DltFilter {
            reason_contains: Some(r.into()),
            ..DltFilter::default()
        };
        assert!(matches(&e, &by_reason("exhausted")));
        assert!(
            matches(&e, &by_reason("HTTP 500")),
            "the error chain counts"
        );
        assert!(!matches(&e, &by_reason("poison")));
    }
}
