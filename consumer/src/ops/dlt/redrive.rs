//! `consumer dlt redrive`: republish a selection of dead-letter records.
//!
//! A re-drive goes to the group's first retry stage by default, so it never
//! competes with live traffic on the main topic. It keeps the key, value and
//! partition, resets the attempts, stamps `sb-redriven-at`, and makes the
//! record due at once. A *pointer* (a record that could not be handed on,
//! dead-lettered without its value) is re-driven with the original value,
//! read again from its origin on the main topic while retention keeps it.
//! Running it twice delivers nothing twice: the consumer's dedupe by source
//! and event id suppresses copies of events already delivered.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};
use switchboard_proto::headers as h;
use switchboard_proto::hop::{HopState, Origin};
use switchboard_runtime::kafka::{KafkaLog, KafkaSettings};
use switchboard_runtime::time::unix_ms;

use crate::filter::{Filters, Verdict};
use crate::ops::dlt::read::DltEntry;
use crate::ops::OpsError;
use crate::record::rebuild_headers;
use prost::Message as _;
use switchboard_proto::Envelope;

use crate::ops::TIMEOUT;

/// The headers of a re-driven record: the gateway's headers and the origin
/// kept, attempts reset, due at once, and the re-drive stamped.
pub fn redrive_headers(entry: &DltEntry, now_ms: i64) -> OwnedHeaders {
    let all = || {
        entry
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
    };
    let hop = HopState::decode(all());
    let redriven = HopState {
        due_at_ms: Some(now_ms),
        redriven_at_ms: Some(now_ms),
        first_failure_at_ms: hop.first_failure_at_ms,
        last_error: hop.last_error,
        origin: hop.origin,
        group: hop.group,
        ..HopState::default()
    };
    rebuild_headers(all(), &redriven)
}

/// Splits `entries` into those their destination takes (by `filters`, as
/// configured now) and those it no longer takes, each with the destination.
/// A pointer has no value: its headers decide, and when only its body
/// could, it is kept.
pub fn split_by_filter(
    entries: Vec<DltEntry>,
    filters: &Filters,
) -> (Vec<DltEntry>, Vec<(DltEntry, String)>) {
    if filters.is_empty() {
        return (entries, Vec::new());
    }
    let mut taken = Vec::with_capacity(entries.len());
    let mut skipped = Vec::new();
    for entry in entries {
        let by = match Envelope::decode(entry.value.as_slice()) {
            Ok(event) if !entry.pointer => filters.skips(&event),
            _ => {
                let source = entry.header(h::SOURCE).unwrap_or(&entry.source);
                let (name, filter) = filters.of(source);
                filter
                    .filter(|f| f.by_type(entry.header(h::EVENT_TYPE)) == Verdict::Skips)
                    .map(|_| name)
            }
        };
        match by.map(str::to_owned) {
            Some(destination) => skipped.push((entry, destination)),
            None => taken.push(entry),
        }
    }
    (taken, skipped)
}

/// Republishes `entries` to `topic` at most `rate` per second, on their own
/// partition numbers; `progress` is told after each record. `producer_kafka`
/// are the consumer's hand-off producer settings (idempotent, `acks=all`).
pub async fn redrive(
    producer_kafka: &KafkaSettings,
    reader_kafka: &KafkaSettings,
    entries: &[DltEntry],
    topic: &str,
    rate: u32,
    progress: impl Fn(usize),
) -> Result<usize, OpsError> {
    let producer = crate::handoff::replaceable("hand-off", producer_kafka)?;
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut ticks = tokio::time::interval(period);
    let mut sent = 0;
    let mut gone = Vec::new();
    // Made on the first pointer, then reused for every other one.
    let mut origins: Option<BaseConsumer<KafkaLog>> = None;
    for entry in entries {
        ticks.tick().await;
        if entry.header(h::DLT_REASON).is_none() {
            return Err(OpsError::Failed(format!(
                "record {}/{} has no {} header; is this a dead-letter topic?",
                entry.partition,
                entry.offset,
                h::DLT_REASON
            )));
        }
        let original;
        let value = if entry.pointer {
            let reader = match &origins {
                Some(reader) => reader,
                None => origins.insert(origin_reader(reader_kafka)?),
            };
            match read_original(reader, entry.origin.as_ref())? {
                Some(bytes) => {
                    original = bytes;
                    &original
                }
                None => {
                    gone.push(format!("{}/{}", entry.partition, entry.offset));
                    continue;
                }
            }
        } else {
            &entry.value
        };
        let mut record = FutureRecord::to(topic)
            .partition(entry.partition)
            .payload(value)
            .headers(redrive_headers(entry, unix_ms()));
        if let Some(key) = &entry.key {
            record = record.key(key);
        }
        tokio::time::timeout(TIMEOUT, producer.send(record))
            .await
            .map_err(|_| {
                OpsError::Failed(format!(
                    "no acknowledgement from the broker within {TIMEOUT:?}"
                ))
            })??;
        sent += 1;
        progress(sent);
    }
    producer.flush(TIMEOUT)?;
    if gone.is_empty() {
        Ok(sent)
    } else {
        Err(OpsError::Failed(format!(
            "re-drove {sent}; {} pointer(s) could not be: their originals are past the main topic's retention (dead-letter records {})",
            gone.len(),
            gone.join(", ")
        )))
    }
}

/// The reader of pointers' originals (assign only, never commits).
fn origin_reader(kafka: &KafkaSettings) -> Result<BaseConsumer<KafkaLog>, OpsError> {
    let mut config = crate::ops::reader_config(kafka);
    // A position outside the log is an error, not a silent jump.
    config.set("auto.offset.reset", "error");
    Ok(config.create_with_context(KafkaLog)?)
}

/// The value of the record a pointer stands for, read at its origin with
/// `consumer`; `None` when it is no longer there (past retention).
fn read_original(
    consumer: &BaseConsumer<KafkaLog>,
    origin: Option<&Origin>,
) -> Result<Option<Vec<u8>>, OpsError> {
    let Some(origin) = origin else {
        return Ok(None);
    };
    let mut at = TopicPartitionList::new();
    at.add_partition_offset(
        &origin.topic,
        origin.partition,
        Offset::Offset(origin.offset),
    )?;
    consumer.assign(&at)?;
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(message)) if message.offset() == origin.offset => {
                return Ok(Some(message.payload().unwrap_or_default().to_vec()))
            }
            // Compacted or deleted below the next record: gone.
            Some(Ok(_)) | Some(Err(KafkaError::PartitionEOF(_))) => return Ok(None),
            Some(Err(error)) => {
                return match error.rdkafka_error_code() {
                    Some(rdkafka::types::RDKafkaErrorCode::OffsetOutOfRange) => Ok(None),
                    _ => Err(error.into()),
                }
            }
        }
    }
    Err(OpsError::Failed(format!(
        "could not read {}/{}/{} within {TIMEOUT:?}",
        origin.topic, origin.partition, origin.offset
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::dlt::read::tests::entry;
    use rdkafka::message::Headers;

    #[test]
    fn a_redrive_skips_what_the_filter_no_longer_takes() {
        let settings = crate::filter::FilterSettings {
            types: vec!["v2.audits.*".into()],
            conditions: vec![],
        };
        let filter = crate::filter::Filter::new("destination", &settings)
            .expect("valid")
            .expect("filters");
        let filters = Filters {
            default: Some(std::sync::Arc::new(filter)),
            sources: Default::default(),
        };
        let typed = |event_type: &str, pointer: bool| {
            let mut e = entry(1_000, "genesys", "rejected", "HTTP 400");
            e.pointer = pointer;
            if !pointer {
                e.value = Envelope {
                    source: "genesys".into(),
                    event_type: event_type.into(),
                    ..Envelope::default()
                }
                .encode_to_vec();
            }
            e.headers.push((h::SOURCE.into(), b"genesys".to_vec()));
            e.headers
                .push((h::EVENT_TYPE.into(), event_type.as_bytes().to_vec()));
            e
        };
        let end = "v2.detail.events.conversation.{id}.customer.end";
        let presence = "v2.audits.entitytype.{id}.entityid.{id}";
        let entries = vec![typed(end, false), typed(presence, false), typed(end, true)];
        let (taken, skipped) = split_by_filter(entries, &filters);
        assert_eq!(taken.len(), 1);
        assert_eq!(skipped.len(), 2, "a pointer is judged by its headers");
        assert!(skipped.iter().all(|(_, by)| by == "default"));
        let (all, none) = split_by_filter(vec![typed(end, false)], &Filters::default());
        assert_eq!(
            (all.len(), none.len()),
            (1, 0),
            "no filter, nothing skipped"
        );
    }

    #[test]
    fn a_redrive_resets_attempts_and_keeps_the_origin() {
        let e = entry(1_000, "genesys", "exhausted", "boom");
        let headers = redrive_headers(&e, 5_000);
        let value = |name: &str| {
            headers
                .iter()
                .find(|hd| hd.key == name)
                .map(|hd| String::from_utf8_lossy(hd.value.unwrap_or_default()).into_owned())
        };
        assert_eq!(value(h::ATTEMPT), None, "attempts reset");
        assert_eq!(value(h::DLT_REASON), None);
        assert_eq!(value(h::EVENT_ID).as_deref(), Some("e"));
        assert_eq!(value(h::ORIGINAL_OFFSET).as_deref(), Some("7"));
        assert_eq!(value(h::REDRIVEN_AT).as_deref(), Some("5000"));
        assert_eq!(value(h::DUE_AT).as_deref(), Some("5000"));
    }
}
