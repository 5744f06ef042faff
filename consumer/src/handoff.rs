//! The producer that hands records on: to a retry stage, to the dead-letter
//! topic, and delivered markers to the dedupe log. Idempotent with `acks=all`;
//! a send resolves only on the broker's acknowledgement, because the source
//! offset is committed on that acknowledgement. A producer whose idempotence
//! state broke (fatal error, fenced or unknown producer id, or records timing
//! out while the broker lost its state) is replaced by a fresh one.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;
use tracing::{error, info, warn};

use crate::kafka_log::LogContext;

type Inner = FutureProducer<LogContext>;

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
    fn into_future_record(self) -> FutureRecord<'a, [u8], [u8]> {
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

/// A replaceable idempotent producer.
pub struct HandoffProducer {
    settings: ClientConfig,
    current: RwLock<Arc<Inner>>,
    rebuild: Mutex<()>,
}

impl HandoffProducer {
    /// Builds a producer from librdkafka `settings`.
    pub fn new(settings: &BTreeMap<String, String>) -> Result<Self, KafkaError> {
        let mut config = ClientConfig::new();
        for (key, value) in settings {
            config.set(key, value);
        }
        let producer: Inner = config.create_with_context(LogContext)?;
        Ok(Self {
            settings: config,
            current: RwLock::new(Arc::new(producer)),
            rebuild: Mutex::new(()),
        })
    }

    fn current(&self) -> Arc<Inner> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Produces `record` and waits for the broker's acknowledgement.
    pub async fn send(&self, record: Handoff<'_>) -> Result<(), KafkaError> {
        let producer = self.current();
        let kafka_record = record.into_future_record();
        let result = match producer.send_result(kafka_record) {
            Ok(delivery) => match delivery.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err((error, _))) => Err(error),
                Err(_canceled) => Err(KafkaError::Canceled),
            },
            Err((error, _)) => Err(error),
        };
        if let Err(error) = &result {
            self.replace_if_broken(&producer, error);
        }
        result
    }

    /// Queues `record` without waiting for the acknowledgement: failures are
    /// logged and counted, and a flush at shutdown waits for the rest. For
    /// records nothing waits on (delivered markers).
    pub fn send_detached(&self, record: Handoff<'_>) {
        let producer = self.current();
        let topic = record.topic.to_owned();
        let kafka_record = record.into_future_record();
        match producer.send_result(kafka_record) {
            Ok(delivery) => {
                tokio::spawn(async move {
                    match delivery.await {
                        Ok(Ok(_)) => {}
                        Ok(Err((error, _))) => {
                            crate::metrics::handoff_failed();
                            warn!(topic, %error, "record not acknowledged");
                        }
                        Err(_canceled) => crate::metrics::handoff_failed(),
                    }
                });
            }
            Err((error, _)) => {
                crate::metrics::handoff_failed();
                warn!(topic, %error, "record not queued");
                self.replace_if_broken(&producer, &error);
            }
        }
    }

    /// Waits (blocking) until queued records are delivered or `timeout` passes.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.current().flush(timeout)
    }

    fn replace_if_broken(&self, producer: &Arc<Inner>, error: &KafkaError) {
        if let Some((code, reason)) = producer.client().fatal_error() {
            self.replace(producer, &format!("fatal {code:?}: {reason}"));
            return;
        }
        if let Some(code) = error.rdkafka_error_code() {
            // Records timing out are replaced too: after a broker lost its
            // producer-id state librdkafka retries for ever without a fatal
            // error, and every record times out.
            if matches!(
                code,
                RDKafkaErrorCode::ProducerFenced
                    | RDKafkaErrorCode::InvalidProducerEpoch
                    | RDKafkaErrorCode::UnknownProducerId
                    | RDKafkaErrorCode::OutOfOrderSequenceNumber
                    | RDKafkaErrorCode::MessageTimedOut
            ) {
                self.replace(producer, &format!("{code:?}"));
            }
        }
    }

    fn replace(&self, broken: &Arc<Inner>, why: &str) {
        let Ok(_guard) = self.rebuild.lock() else {
            return;
        };
        if !Arc::ptr_eq(broken, &self.current()) {
            return;
        }
        match self.settings.create_with_context::<_, Inner>(LogContext) {
            Ok(fresh) => {
                let old = match self.current.write() {
                    Ok(mut guard) => std::mem::replace(&mut *guard, Arc::new(fresh)),
                    Err(poisoned) => {
                        std::mem::replace(&mut *poisoned.into_inner(), Arc::new(fresh))
                    }
                };
                warn!(reason = why, "hand-off producer replaced");
                crate::metrics::producer_rebuilt();
                retire(old);
            }
            Err(error) => error!(%error, "could not build a replacement producer"),
        }
    }
}

/// Drops a replaced producer on its own thread: its Drop flushes and blocks.
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
