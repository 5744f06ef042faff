//! The gateway's side of producing: an event becomes one keyed record with
//! the gateway's headers, and a send resolves only when the broker
//! acknowledged it, or fails at the deadline. Replacing a producer whose
//! idempotence state broke is the runtime's [`ReplaceableProducer`].

use std::sync::Arc;
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
    /// The broker's authorizer refused this identity the write: answered
    /// 503, so the sender retries while an operator grants the ACL.
    #[error("{identity} is not authorised to Write topic {topic} ({error}); grant the ACL (see SECURITY.md)")]
    NotAuthorised {
        /// Who the gateway is to the broker.
        identity: Arc<str>,
        /// The topic it may not write.
        topic: String,
        /// The broker's refusal.
        error: KafkaError,
    },
    /// The broker or client refused the record.
    #[error("produce failed: {0}")]
    Broker(KafkaError),
}

impl ProduceError {
    fn from_kafka(error: KafkaError, topic: &str, identity: &Arc<str>) -> Self {
        match error.rdkafka_error_code() {
            Some(
                RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::MessageBatchTooLarge,
            ) => ProduceError::TooLarge(error),
            Some(
                RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed,
            ) => ProduceError::NotAuthorised {
                identity: identity.clone(),
                topic: topic.to_owned(),
                error,
            },
            _ => ProduceError::Broker(error),
        }
    }
}

impl ProduceError {
    /// Its kind, the bounded metric label.
    pub fn kind(&self) -> ProduceErrorKind {
        match self {
            ProduceError::QueueFull => ProduceErrorKind::QueueFull,
            ProduceError::Deadline(_) => ProduceErrorKind::Deadline,
            ProduceError::TooLarge(_) => ProduceErrorKind::TooLarge,
            ProduceError::NotAuthorised { .. } => ProduceErrorKind::NotAuthorised,
            ProduceError::Broker(_) => ProduceErrorKind::Broker,
        }
    }
}

/// The kinds of [`ProduceError`]: the `kind` label of the produce-error counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProduceErrorKind {
    /// No acknowledgement within the deadline (answered 503).
    Deadline,
    /// librdkafka's queue is full (answered 429).
    QueueFull,
    /// The record is larger than the client or the topic takes (answered 413).
    TooLarge,
    /// The broker's authorizer refused the write (answered 503).
    NotAuthorised,
    /// The broker or the client refused the record (answered 503).
    Broker,
}

impl ProduceErrorKind {
    /// Every kind, in the order docs and metrics list them.
    pub const ALL: [ProduceErrorKind; 5] = [
        ProduceErrorKind::Deadline,
        ProduceErrorKind::QueueFull,
        ProduceErrorKind::TooLarge,
        ProduceErrorKind::NotAuthorised,
        ProduceErrorKind::Broker,
    ];

    /// The label value.
    pub const fn code(self) -> &'static str {
        match self {
            ProduceErrorKind::Deadline => "deadline",
            ProduceErrorKind::QueueFull => "queue_full",
            ProduceErrorKind::TooLarge => "too_large",
            ProduceErrorKind::NotAuthorised => "not_authorised",
            ProduceErrorKind::Broker => "broker",
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
    /// The event type for the `sb-event-type` header, when it has one.
    pub event_type: Option<&'a str>,
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
    inner: Arc<ReplaceableProducer>,
    /// Who the gateway is to the broker, for refusals.
    identity: Arc<str>,
}

impl EventProducer {
    /// Builds the producer from librdkafka `settings`, replaced by the
    /// runtime's standard policy when it breaks or stalls; each replacement
    /// counts on the counter `rebuilds`.
    pub fn new(settings: &KafkaSettings, rebuilds: &'static str) -> Result<Self, KafkaError> {
        let inner = ReplaceableProducer::new(
            "gateway",
            settings,
            RebuildPolicy::standard(settings),
            rebuilds,
        )?;
        Ok(Self {
            inner: Arc::new(inner),
            identity: switchboard_runtime::kafka::access::identity(settings).into(),
        })
    }

    /// Supervises the producer for writing to `topics` (see the runtime's
    /// `supervise`); runs until aborted.
    pub async fn supervise(&self, topics: Vec<String>, every: Duration, timeout: Duration) {
        switchboard_runtime::kafka::supervise(self.inner.clone(), topics, every, timeout).await;
    }

    /// What supervision last found (what readiness reports).
    pub fn health(&self) -> Result<(), String> {
        self.inner.health()
    }

    /// Produces `record` and waits for the broker's acknowledgement, at most `deadline`.
    pub async fn send(
        &self,
        record: OutgoingRecord<'_>,
        deadline: Duration,
    ) -> Result<Acked, ProduceError> {
        let mut headers = OwnedHeaders::new_with_capacity(5)
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
        if let Some(event_type) = record.event_type {
            headers = headers.insert(Header {
                key: switchboard_proto::headers::EVENT_TYPE,
                value: Some(event_type),
            });
        }
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
            Err(error) => {
                return Err(ProduceError::from_kafka(
                    error,
                    record.topic,
                    &self.identity,
                ))
            }
        };
        match tokio::time::timeout(deadline, pending.acknowledged()).await {
            Err(_) => Err(ProduceError::Deadline(deadline)),
            Ok(result) => result
                .map_err(|error| ProduceError::from_kafka(error, record.topic, &self.identity)),
        }
    }

    /// Waits (blocking) until queued records are delivered or `timeout` passes.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.inner.flush(timeout)
    }
}
