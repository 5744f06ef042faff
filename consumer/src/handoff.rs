//! Records the consumer hands on: to a retry stage, to the dead-letter topic,
//! and delivered markers to the dedupe log. They are written with the
//! runtime's [`ReplaceableProducer`] (idempotent, `acks=all`, replaced when
//! its state breaks, flushed when retired); a hand-off counts only on the
//! broker's acknowledgement, because the source offset is committed on it.

use std::sync::Arc;

use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::FutureRecord;
use switchboard_runtime::kafka::{KafkaSettings, RebuildPolicy, ReplaceableProducer};

/// One record to hand on.
pub struct Handoff<'a> {
    /// Target topic.
    pub topic: &'a str,
    /// Target partition: always the source record's partition number.
    pub partition: i32,
    /// Record key (the event id).
    pub key: Option<&'a [u8]>,
    /// Value.
    pub payload: &'a [u8],
    /// Headers.
    pub headers: OwnedHeaders,
}

impl<'a> Handoff<'a> {
    /// The record as librdkafka takes it.
    pub fn into_record(self) -> FutureRecord<'a, [u8], [u8]> {
        let record = FutureRecord::to(self.topic)
            .partition(self.partition)
            .payload(self.payload)
            .headers(self.headers);
        match self.key {
            Some(key) => record.key(key),
            None => record,
        }
    }
}

/// Builds the hand-off producer from `settings`, replaced by the runtime's
/// standard policy when it breaks or stalls.
pub fn producer(settings: &KafkaSettings) -> Result<Arc<ReplaceableProducer>, KafkaError> {
    ReplaceableProducer::new(
        "hand-off",
        settings,
        RebuildPolicy::standard(settings),
        crate::metrics::PRODUCER_REBUILDS,
    )
    .map(Arc::new)
}

/// Produces `handoff` and waits for the broker's acknowledgement.
pub async fn send(producer: &ReplaceableProducer, handoff: Handoff<'_>) -> Result<(), KafkaError> {
    producer.send(handoff.into_record()).await.map(|_| ())
}

/// Queues `handoff` without waiting: a failure is logged and counted. For
/// records nothing waits on (delivered markers); a flush at shutdown waits
/// for the rest.
pub fn send_detached(producer: &Arc<ReplaceableProducer>, handoff: Handoff<'_>) {
    let topic = handoff.topic.to_owned();
    match producer.send_detached(handoff.into_record()) {
        Ok(acknowledged) => {
            tokio::spawn(async move {
                if let Err(error) = acknowledged.await {
                    crate::events::detached_hand_off_lost(&topic, &error);
                }
            });
        }
        Err(error) => crate::events::detached_hand_off_lost(&topic, &error),
    }
}
