//! The Kafka producer: idempotent, `acks=all`, keyed by event id. A send
//! resolves only when the broker acknowledged the record, or fails at the
//! deadline. A producer that hit a fatal error (librdkafka's idempotence
//! guarantees broken: UNKNOWN_PRODUCER_ID, OUT_OF_ORDER_SEQUENCE_NUMBER,
//! PRODUCER_FENCED after a broker lost its state) is replaced by a new one, so
//! the gateway recovers without a restart.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;
use tracing::{error, info, warn};

/// Where a record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Partition written.
    pub partition: i32,
    /// Offset of the record.
    pub offset: i64,
}

/// Why a record was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// librdkafka's local queue is full.
    #[error("producer queue is full")]
    QueueFull,
    /// No acknowledgement within the deadline; the record may still land later.
    #[error("no broker acknowledgement within {0:?}")]
    Deadline(Duration),
    /// The broker or client refused the record.
    #[error("produce failed: {0}")]
    Broker(KafkaError),
}

impl ProduceError {
    /// A bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ProduceError::QueueFull => "queue_full",
            ProduceError::Deadline(_) => "deadline",
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

/// A replaceable idempotent producer.
pub struct EventProducer {
    settings: ClientConfig,
    current: RwLock<Arc<FutureProducer>>,
    rebuild_lock: Mutex<()>,
}

impl EventProducer {
    /// Builds a producer from librdkafka `settings`.
    pub fn new(settings: &BTreeMap<String, String>) -> Result<Self, KafkaError> {
        let mut config = ClientConfig::new();
        for (key, value) in settings {
            config.set(key, value);
        }
        let producer: FutureProducer = config.create()?;
        Ok(Self {
            settings: config,
            current: RwLock::new(Arc::new(producer)),
            rebuild_lock: Mutex::new(()),
        })
    }

    fn current(&self) -> Arc<FutureProducer> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Produces `record` and waits for the broker's acknowledgement, at most `deadline`.
    pub async fn send(&self, record: OutgoingRecord<'_>, deadline: Duration) -> Result<Delivered, ProduceError> {
        let producer = self.current();
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
        let delivery = match producer.send_result(kafka_record) {
            Ok(delivery) => delivery,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                return Err(ProduceError::QueueFull)
            }
            Err((error, _)) => {
                self.replace_if_broken(&producer, &error);
                return Err(ProduceError::Broker(error));
            }
        };
        match tokio::time::timeout(deadline, delivery).await {
            Err(_) => Err(ProduceError::Deadline(deadline)),
            Ok(Err(_canceled)) => Err(ProduceError::Broker(KafkaError::Canceled)),
            Ok(Ok(Ok(delivery))) => Ok(Delivered {
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Ok(Ok(Err((error, _message)))) => {
                self.replace_if_broken(&producer, &error);
                Err(ProduceError::Broker(error))
            }
        }
    }

    /// Checks that the broker answers and every topic exists (blocking: run it
    /// on a blocking thread). Also replaces a producer that turned fatal while idle.
    pub fn probe(&self, topics: &[String], timeout: Duration) -> Result<(), String> {
        let producer = self.current();
        if let Some((code, reason)) = producer.client().fatal_error() {
            self.replace(&producer, &format!("{code:?}: {reason}"));
            return Err(format!("producer had a fatal error: {reason}"));
        }
        for topic in topics {
            let metadata = producer
                .client()
                .fetch_metadata(Some(topic), timeout)
                .map_err(|e| format!("metadata request failed: {e}"))?;
            let found = metadata.topics().iter().find(|t| t.name() == topic);
            match found {
                Some(t) if t.error().is_none() && !t.partitions().is_empty() => {}
                _ => return Err(format!("topic {topic} does not exist")),
            }
        }
        Ok(())
    }

    /// Waits (blocking) until queued records are delivered or `timeout` passes.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.current().flush(timeout)
    }

    fn replace_if_broken(&self, producer: &Arc<FutureProducer>, error: &KafkaError) {
        if let Some((code, reason)) = producer.client().fatal_error() {
            self.replace(producer, &format!("fatal {code:?}: {reason}"));
        } else if let Some(code) = error.rdkafka_error_code() {
            if matches!(
                code,
                RDKafkaErrorCode::ProducerFenced
                    | RDKafkaErrorCode::InvalidProducerEpoch
                    | RDKafkaErrorCode::UnknownProducerId
                    | RDKafkaErrorCode::OutOfOrderSequenceNumber
            ) {
                self.replace(producer, &format!("{code:?}"));
            }
        }
    }

    /// Swaps in a new producer unless `broken` was already replaced.
    fn replace(&self, broken: &Arc<FutureProducer>, why: &str) {
        let Ok(_guard) = self.rebuild_lock.lock() else {
            return;
        };
        if !Arc::ptr_eq(broken, &self.current()) {
            return;
        }
        match self.settings.create::<FutureProducer>() {
            Ok(fresh) => {
                let old = match self.current.write() {
                    Ok(mut guard) => std::mem::replace(&mut *guard, Arc::new(fresh)),
                    Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), Arc::new(fresh)),
                };
                warn!(reason = why, "producer replaced after an unrecoverable error");
                crate::metrics::producer_rebuilt();
                retire(old);
            }
            Err(error) => error!(%error, "could not build a replacement producer"),
        }
    }
}

const SCHEMA_VERSION_TEXT: &str = "1";
const _: () = assert!(switchboard_proto::SCHEMA_VERSION == 1, "update SCHEMA_VERSION_TEXT");

/// Drops a replaced producer on its own thread once no request holds it:
/// dropping purges and flushes, which blocks and must not run on the runtime.
fn retire(old: Arc<FutureProducer>) {
    let spawned = std::thread::Builder::new()
        .name("retire-producer".into())
        .spawn(move || {
            for _ in 0..600 {
                if Arc::strong_count(&old) == 1 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            drop(old);
            info!("replaced producer closed");
        });
    if let Err(error) = spawned {
        error!(%error, "could not start a thread to close the replaced producer");
    }
}
