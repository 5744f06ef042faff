//! The Kafka producer: idempotent, `acks=all`, keyed by event id. A send
//! resolves only when the broker acknowledged the record, or fails at the
//! deadline. A producer that hit a fatal error (librdkafka's idempotence
//! guarantees broken: UNKNOWN_PRODUCER_ID, OUT_OF_ORDER_SEQUENCE_NUMBER,
//! PRODUCER_FENCED after a broker lost its state) is replaced by a new one, so
//! the gateway recovers without a restart.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;
use tracing::{debug, error, info, warn};

/// Routes librdkafka's logs and errors into `tracing` without the flood a
/// broker outage causes: connection failures are debug (the readiness probe
/// reports the outage once), everything else keeps its level.
#[derive(Clone, Default)]
pub struct QuietContext;

impl ClientContext for QuietContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
                if fac != "FAIL" =>
            {
                error!(target: "librdkafka", fac, message)
            }
            RDKafkaLogLevel::Warning if fac != "FAIL" => warn!(target: "librdkafka", fac, message),
            RDKafkaLogLevel::Debug => tracing::trace!(target: "librdkafka", fac, message),
            _ => debug!(target: "librdkafka", fac, message),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure) => {
                debug!(target: "librdkafka", %error, reason, "broker connection failed")
            }
            _ => warn!(target: "librdkafka", %error, reason, "client error"),
        }
    }
}

type Inner = FutureProducer<QuietContext>;

/// Milliseconds since `epoch`, for lock-free timestamps.
fn millis_since(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64
}

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
    current: RwLock<Arc<Inner>>,
    rebuild_lock: Mutex<()>,
    /// Reference point of `last_progress_ms`.
    epoch: Instant,
    /// When a record was last acknowledged, or the producer last replaced.
    last_progress_ms: AtomicU64,
    /// Records pending with no acknowledgement for this long, while the broker
    /// answers metadata, mean the producer is stuck (see [`Self::probe`]).
    stall_after: Duration,
}

impl EventProducer {
    /// Builds a producer from librdkafka `settings`; `stall_after` is how long
    /// pending records may go unacknowledged, with the broker reachable,
    /// before the producer is replaced.
    pub fn new(
        settings: &BTreeMap<String, String>,
        stall_after: Duration,
    ) -> Result<Self, KafkaError> {
        let mut config = ClientConfig::new();
        for (key, value) in settings {
            config.set(key, value);
        }
        let producer: Inner = config.create_with_context(QuietContext)?;
        Ok(Self {
            settings: config,
            current: RwLock::new(Arc::new(producer)),
            rebuild_lock: Mutex::new(()),
            epoch: Instant::now(),
            last_progress_ms: AtomicU64::new(0),
            stall_after,
        })
    }

    fn current(&self) -> Arc<Inner> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Produces `record` and waits for the broker's acknowledgement, at most `deadline`.
    pub async fn send(
        &self,
        record: OutgoingRecord<'_>,
        deadline: Duration,
    ) -> Result<Delivered, ProduceError> {
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
            Ok(Ok(Ok(delivery))) => {
                self.last_progress_ms
                    .store(millis_since(self.epoch), Ordering::Relaxed);
                Ok(Delivered {
                    partition: delivery.partition,
                    offset: delivery.offset,
                })
            }
            Ok(Ok(Err((error, _message)))) => {
                self.replace_if_broken(&producer, &error);
                Err(ProduceError::Broker(error))
            }
        }
    }

    /// Checks that the broker answers and every topic exists (blocking: run it
    /// on a blocking thread). Also replaces a producer that turned fatal, or
    /// one that is stuck: the broker answers, yet records have been pending
    /// with no acknowledgement for `stall_after`. librdkafka can loop like that
    /// after a broker lost its producer-id state (it bumps the epoch locally and
    /// retries for ever); every record older than the deadline was already
    /// answered 503, so replacing the producer loses nothing acknowledged.
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
        let idle_for =
            millis_since(self.epoch).saturating_sub(self.last_progress_ms.load(Ordering::Relaxed));
        if producer.in_flight_count() > 0 && Duration::from_millis(idle_for) > self.stall_after {
            self.replace(
                &producer,
                "records pending without acknowledgement while the broker answers",
            );
        }
        Ok(())
    }

    /// Waits (blocking) until queued records are delivered or `timeout` passes.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.current().flush(timeout)
    }

    fn replace_if_broken(&self, producer: &Arc<Inner>, error: &KafkaError) {
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
    fn replace(&self, broken: &Arc<Inner>, why: &str) {
        let Ok(_guard) = self.rebuild_lock.lock() else {
            return;
        };
        if !Arc::ptr_eq(broken, &self.current()) {
            return;
        }
        match self.settings.create_with_context::<_, Inner>(QuietContext) {
            Ok(fresh) => {
                self.last_progress_ms
                    .store(millis_since(self.epoch), Ordering::Relaxed);
                let old = match self.current.write() {
                    Ok(mut guard) => std::mem::replace(&mut *guard, Arc::new(fresh)),
                    Err(poisoned) => {
                        std::mem::replace(&mut *poisoned.into_inner(), Arc::new(fresh))
                    }
                };
                warn!(
                    reason = why,
                    "producer replaced after an unrecoverable error"
                );
                crate::metrics::producer_rebuilt();
                retire(old);
            }
            Err(error) => error!(%error, "could not build a replacement producer"),
        }
    }
}

const SCHEMA_VERSION_TEXT: &str = "1";
const _: () = assert!(
    switchboard_proto::SCHEMA_VERSION == 1,
    "update SCHEMA_VERSION_TEXT"
);

/// Drops a replaced producer on its own thread once no request holds it:
/// dropping purges and flushes, which blocks and must not run on the runtime.
fn retire(old: Arc<Inner>) {
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
