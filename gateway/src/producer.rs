//! The gateway's side of producing: an event becomes one keyed record with
//! the gateway's headers, and a send resolves only when the broker
//! acknowledged it, or fails at the deadline. Replacing a producer whose
//! idempotence state broke is the runtime's [`ReplaceableProducer`].

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
pub use switchboard_runtime::kafka::Acked;
use switchboard_runtime::kafka::{KafkaSettings, RebuildPolicy, ReplaceableProducer};

/// Why a record was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// librdkafka's local queue is full.
    #[error("producer queue is full")]
    QueueFull,
    /// No acknowledgement within the deadline; the record may still land later.
    #[error("no broker acknowledgement within {0:?}")]
    Deadline(Duration),
    /// The record is larger than the client or the topic takes: no retry
    /// can help (answered 413, so the sender stops).
    #[error("record too large for Kafka: {0}")]
    TooLarge(KafkaError),
    /// The broker or client refused the record.
    #[error("produce failed: {0}")]
    Broker(KafkaError),
}

impl ProduceError {
    fn from_kafka(error: KafkaError) -> Self {
        match error.rdkafka_error_code() {
            Some(
                RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::MessageBatchTooLarge,
            ) => ProduceError::TooLarge(error),
            _ => ProduceError::Broker(error),
        }
    }
}

impl ProduceError {
    /// A bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ProduceError::QueueFull => "queue_full",
            ProduceError::Deadline(_) => "deadline",
            ProduceError::TooLarge(_) => "too_large",
            ProduceError::Broker(_) => "broker",
        }
    }
}

/// One record to produce. Borrowed, so the hot path copies the payload once
/// (into librdkafka).
pub struct OutgoingRecord<'a> {
    /// Target topic.
    pub topic: &'a str,
    /// The event id: record key and `sb-event-id` header.
    pub key: &'a str,
    /// Encoded envelope.
    pub payload: &'a [u8],
    /// Source name for the `sb-source` header.
    pub source: &'a str,
    /// W3C traceparent, if any.
    pub traceparent: Option<&'a str>,
}

const SCHEMA_VERSION_TEXT: &str = "1";
const _: () = assert!(
    switchboard_proto::SCHEMA_VERSION == 1,
    "update SCHEMA_VERSION_TEXT"
);

/// The gateway's producer.
pub struct EventProducer {
    inner: ReplaceableProducer,
}

impl EventProducer {
    /// Builds the producer from librdkafka `settings`; `stall_after` is how
    /// long pending records may go unacknowledged, with the broker
    /// reachable, before the producer is replaced.
    pub fn new(settings: &KafkaSettings, stall_after: Duration) -> Result<Self, KafkaError> {
        let policy = RebuildPolicy::for_settings(stall_after, settings);
        let inner = ReplaceableProducer::new(
            "gateway",
            settings,
            policy,
            crate::metrics::PRODUCER_REBUILDS,
        )?;
        Ok(Self { inner })
    }

    /// Produces `record` and waits for the broker's acknowledgement, at most `deadline`.
    pub async fn send(
        &self,
        record: OutgoingRecord<'_>,
        deadline: Duration,
    ) -> Result<Acked, ProduceError> {
        let mut headers = OwnedHeaders::new_with_capacity(4)
            .insert(Header {
                key: switchboard_proto::headers::EVENT_ID,
                value: Some(record.key),
            })
            .insert(Header {
                key: switchboard_proto::headers::SOURCE,
                value: Some(record.source),
            })
            .insert(Header {
                key: switchboard_proto::headers::SCHEMA_VERSION,
                value: Some(SCHEMA_VERSION_TEXT),
            });
        if let Some(traceparent) = record.traceparent {
            headers = headers.insert(Header {
                key: switchboard_proto::headers::TRACEPARENT,
                value: Some(traceparent),
            });
        }
        let kafka_record = FutureRecord::to(record.topic)
            .key(record.key)
            .payload(record.payload)
            .headers(headers);
        let pending = match self.inner.enqueue(kafka_record) {
            Ok(pending) => pending,
            Err(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)) => {
                return Err(ProduceError::QueueFull)
            }
            Err(error) => return Err(ProduceError::from_kafka(error)),
        };
        match tokio::time::timeout(deadline, pending.acknowledged()).await {
            Err(_) => Err(ProduceError::Deadline(deadline)),
            Ok(result) => result.map_err(ProduceError::from_kafka),
        }
    }

    /// Ready when the broker answers and every topic exists (blocking). Also
    /// replaces a producer that turned fatal or stalled while the broker
    /// answers: every record older than the deadline was already answered
    /// 503, so replacing it loses nothing acknowledged.
    pub fn probe(&self, topics: &[String], timeout: Duration) -> Result<(), String> {
        self.inner.require_topics(topics, timeout)?;
        self.inner.check()
    }

    /// Waits (blocking) until queued records are delivered or `timeout` passes.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.inner.flush(timeout)
    }
}
