//! Finds an event's records: in each of the group's topics, only the
//! partition its key maps to (the producer's own partitioner), from a time
//! on to the end, keeping the records of that id and source, and the
//! replay fences of that partition number.

use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use switchboard_proto::hop::HopState;
use switchboard_proto::{headers as h, DltReason, Envelope};
use switchboard_runtime::kafka::partitioner::partition_of;
use switchboard_runtime::kafka::{KafkaLog, KafkaSettings};

use super::timeline::{Delivery, Found, Role};
use crate::dedupe::{dedupe_key, Fence};
use crate::marker::{self, MarkerRead};
use crate::ops::{partitions_of, OpsError, TIMEOUT};

/// The event asked about, and where to look.
pub struct Wanted<'a> {
    /// Its source.
    pub source: &'a str,
    /// Its id (the record key).
    pub id: &'a str,
    /// From when on (unix ms).
    pub since_ms: i64,
}

/// What the reading found and what it cost.
pub struct Reading {
    /// The event's records.
    pub found: Vec<Found>,
    /// The replay fences on its partition number of the marker log.
    pub fences: Vec<Fence>,
    /// The first record the gateway wrote for it (what a re-delivery copies).
    pub original: Option<Original>,
    /// The partition number its key maps to.
    pub partition: i32,
    /// Records read to find them.
    pub records_read: u64,
}

/// A main-topic record as it was written: what `events redeliver` copies.
pub struct Original {
    /// Where it is (topic, partition, offset, timestamp).
    pub origin: switchboard_proto::hop::Origin,
    /// Its value (the envelope).
    pub value: Vec<u8>,
    /// Its headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Reads `topics` (each with its role) for `wanted`.
pub fn read(
    kafka: &KafkaSettings,
    topics: &[(String, Role)],
    wanted: &Wanted<'_>,
) -> Result<Reading, OpsError> {
    let consumer: BaseConsumer<KafkaLog> =
        crate::ops::reader_config(kafka).create_with_context(KafkaLog)?;
    let (main, _) = topics
        .first()
        .ok_or_else(|| OpsError::Failed("no topics".into()))?;
    let count = partitions_of(&consumer, main, TIMEOUT)?.len() as i32;
    // The gateway's partitioner, as the consumer's settings carry it (the
    // deployment gives both the same `KAFKA_*`), on the event id.
    let partition = partition_of(kafka, wanted.id.as_bytes(), count).map_err(OpsError::Failed)?;
    let marker_key = dedupe_key(wanted.source, wanted.id);
    let mut reading = Reading {
        found: Vec::new(),
        fences: Vec::new(),
        original: None,
        partition,
        records_read: 0,
    };
    for (topic, role) in topics {
        let key = match role {
            Role::Delivered => marker_key.as_str(),
            _ => wanted.id,
        };
        scan(&consumer, topic, partition, wanted.since_ms, |message| {
            reading.records_read += 1;
            if role == &Role::Delivered && header(message, h::REPLAY_FENCE).is_some() {
                if let MarkerRead::Fence(fence) = marker::codec::read_message(message) {
                    reading.fences.push(fence);
                }
                return;
            }
            if message.key() != Some(key.as_bytes()) {
                return;
            }
            let found = found(role, message);
            if role == &Role::Delivered || source_of(message).as_deref() == Some(wanted.source) {
                if role == &Role::Main && reading.original.is_none() {
                    reading.original = Some(original(message));
                }
                reading.found.push(found);
            }
        })?;
    }
    Ok(reading)
}

/// Reads `partition` of `topic` from `since_ms` to its end, handing each
/// record to `visit`.
fn scan(
    consumer: &BaseConsumer<KafkaLog>,
    topic: &str,
    partition: i32,
    since_ms: i64,
    mut visit: impl FnMut(&rdkafka::message::BorrowedMessage<'_>),
) -> Result<(), OpsError> {
    let mut start = TopicPartitionList::new();
    start.add_partition_offset(topic, partition, Offset::Offset(since_ms))?;
    let start = consumer.offsets_for_times(start, TIMEOUT)?;
    consumer.assign(&start)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if Instant::now() > deadline {
            return Err(OpsError::Failed(format!(
                "reading partition {partition} of {topic} did not reach its end within 2 minutes"
            )));
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Err(error)) => return Err(error.into()),
            Some(Ok(message)) => visit(&message),
        }
    }
    consumer.unassign()?;
    Ok(())
}

fn header(message: &rdkafka::message::BorrowedMessage<'_>, name: &str) -> Option<String> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|hd| hd.key == name)
        .and_then(|hd| hd.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The record's source: its header, else its envelope's.
fn source_of(message: &rdkafka::message::BorrowedMessage<'_>) -> Option<String> {
    header(message, h::SOURCE).or_else(|| {
        let value = message.payload().filter(|v| !v.is_empty())?;
        Envelope::decode(value).ok().map(|e| e.source)
    })
}

fn found(role: &Role, message: &rdkafka::message::BorrowedMessage<'_>) -> Found {
    let headers: Vec<(&str, &[u8])> = message
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|hd| (hd.key, hd.value.unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let hop = HopState::decode(headers);
    let value = message.payload().unwrap_or_default();
    let envelope = (!value.is_empty() && role != &Role::Delivered)
        .then(|| Envelope::decode(value).ok())
        .flatten();
    let delivered = (role == &Role::Delivered)
        .then(|| serde_json::from_slice::<serde_json::Value>(value).ok())
        .flatten()
        .map(|marker| Delivery {
            stage: marker["stage"].as_str().unwrap_or("?").to_owned(),
            attempt: marker["attempt"].as_u64().unwrap_or(0) as u32,
            member: marker["member"].as_str().map(str::to_owned),
        });
    Found {
        role: role.clone(),
        topic: message.topic().to_owned(),
        redelivery_at_ms: header(message, h::REDELIVERY_AT).and_then(|at| at.parse().ok()),
        partition: message.partition(),
        offset: message.offset(),
        at_ms: message.timestamp().to_millis().unwrap_or(0),
        pointer: value.is_empty() && hop.dlt_reason == Some(DltReason::Unroutable),
        hop,
        gateway: envelope
            .map(|e| e.gateway_instance)
            .filter(|g| !g.is_empty()),
        delivered,
    }
}

fn original(message: &rdkafka::message::BorrowedMessage<'_>) -> Original {
    let headers = crate::ops::owned_headers(message);
    Original {
        origin: switchboard_proto::hop::Origin {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp_ms: message.timestamp().to_millis().unwrap_or(0),
        },
        value: message.payload().unwrap_or_default().to_vec(),
        headers,
    }
}
