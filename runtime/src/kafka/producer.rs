//! The one producer every component writes with: the gateway's events, the
//! consumer's retry, dead-letter and marker hand-offs, and `dlt redrive`.
//! Idempotent with `acks=all` as configured by its owner; a record counts as
//! written only on the broker's acknowledgement.
//!
//! It is *replaceable*: when [`super::rebuild`] says its state is broken, a
//! fresh producer is swapped in and the old one is *retired*: flushed within
//! [`RebuildPolicy::retire_within`], on its own thread, and only then closed,
//! so a record queued in it is delivered or fails on its own terms, never
//! purged.

use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::message::ToBytes;
use rdkafka::producer::FutureRecord;
use rdkafka::ClientConfig;
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use super::acks::{Ack, Acked, AckedProducer};
use super::rebuild::{error_breaks_producer, RebuildPolicy, StallWatch};
use super::KafkaSettings;

type Inner = AckedProducer;

/// A replaceable idempotent producer (see the module docs).
pub struct ReplaceableProducer {
    name: &'static str,
    settings: ClientConfig,
    policy: RebuildPolicy,
    current: RwLock<Arc<Inner>>,
    rebuild: Mutex<()>,
    stall: StallWatch,
    rebuilds_metric: &'static str,
    /// What supervision last found ([`super::supervise`]).
    health: Mutex<Result<(), String>>,
}

/// A record queued in the producer, not yet acknowledged.
#[must_use = "a record counts as written only once acknowledged"]
pub struct Pending<'a> {
    owner: &'a ReplaceableProducer,
    producer: Arc<Inner>,
    delivery: oneshot::Receiver<Ack>,
}

impl Pending<'_> {
    /// Waits for the broker's answer. An error that breaks the producer
    /// replaces it before this returns.
    pub async fn acknowledged(self) -> Result<Acked, KafkaError> {
        let result = match self.delivery.await {
            Ok(ack) => ack,
            // The report was dropped unsent: the producer is gone.
            Err(_closed) => Err(KafkaError::Canceled),
        };
        match &result {
            Ok(_) => self.owner.stall.acked(),
            Err(error) => self.owner.replace_if_broken(&self.producer, error),
        }
        result
    }
}

impl ReplaceableProducer {
    /// Builds a producer named `name` (in logs) from `settings`; each
    /// replacement increments the counter `rebuilds_metric`.
    pub fn new(
        name: &'static str,
        settings: &KafkaSettings,
        policy: RebuildPolicy,
        rebuilds_metric: &'static str,
    ) -> Result<Self, KafkaError> {
        let settings = settings.client_config();
        let producer = AckedProducer::new(&settings)?;
        Ok(Self {
            name,
            settings,
            policy,
            current: RwLock::new(Arc::new(producer)),
            rebuild: Mutex::new(()),
            stall: StallWatch::new(policy.stall_after),
            rebuilds_metric,
            health: Mutex::new(Err(format!("{name} producer not checked yet"))),
        })
    }

    fn current(&self) -> Arc<Inner> {
        crate::lock::read(&self.current).clone()
    }

    /// Queues `record`. Fails at once when librdkafka refuses it (a full
    /// queue is `MessageProduction(QueueFull)`).
    pub fn enqueue<K, P>(&self, record: FutureRecord<'_, K, P>) -> Result<Pending<'_>, KafkaError>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let producer = self.current();
        match producer.send(record) {
            Ok(delivery) => Ok(Pending {
                owner: self,
                producer,
                delivery,
            }),
            Err(error) => {
                self.replace_if_broken(&producer, &error);
                Err(error)
            }
        }
    }

    /// Queues `record` and waits for the broker's acknowledgement.
    pub async fn send<K, P>(&self, record: FutureRecord<'_, K, P>) -> Result<Acked, KafkaError>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        self.enqueue(record)?.acknowledged().await
    }

    /// Queues `record` and returns a future that resolves with the broker's
    /// answer without borrowing `self`, for work nothing waits on.
    pub fn send_detached<K, P>(
        self: &Arc<Self>,
        record: FutureRecord<'_, K, P>,
    ) -> Result<impl Future<Output = Result<Acked, KafkaError>> + Send + 'static, KafkaError>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let producer = self.current();
        let delivery = match producer.send(record) {
            Ok(delivery) => delivery,
            Err(error) => {
                self.replace_if_broken(&producer, &error);
                return Err(error);
            }
        };
        let owner = self.clone();
        Ok(async move {
            Pending {
                owner: &owner,
                producer,
                delivery,
            }
            .acknowledged()
            .await
        })
    }

    /// Checks the producer's health (blocking: run it on a blocking thread):
    /// replaces it when librdkafka reports a fatal error or when it is
    /// stalled. Call it only while the broker answers, or an outage would
    /// look like a stall.
    pub fn check(&self) -> Result<(), String> {
        let producer = self.current();
        if let Some((code, reason)) = producer.client().fatal_error() {
            self.replace(&producer, &format!("fatal {code:?}: {reason}"));
            return Err(format!(
                "{} producer had a fatal error: {reason}",
                self.name
            ));
        }
        if self
            .stall
            .is_stalled(producer.in_flight_count().max(0) as usize)
        {
            self.replace(
                &producer,
                "records pending without acknowledgement while the broker answers",
            );
        }
        Ok(())
    }

    /// Ok when the broker answers and every one of `topics` exists
    /// (blocking; see [`super::metadata::require_topics`]). The first time
    /// it is, the producer is warmed up for writing without a wait (see
    /// `AckedProducer::warm_up`): a readiness probe built on this says
    /// ready only once a record sent would go out at once.
    pub fn require_topics(&self, topics: &[String], timeout: Duration) -> Result<(), String> {
        let producer = self.current();
        super::metadata::require_topics(producer.client(), topics, timeout)?;
        producer.warm_up(topics, timeout)
    }

    /// What supervision last found: Ok while the broker answers, the
    /// producer's topics exist and the producer is usable; the reason
    /// otherwise. What readiness reads.
    pub fn health(&self) -> Result<(), String> {
        crate::lock::lock(&self.health).clone()
    }

    /// Records what supervision found.
    pub(super) fn record_health(&self, found: Result<(), String>) {
        *crate::lock::lock(&self.health) = found;
    }

    /// Waits (blocking) until everything queued is acknowledged or `timeout` passes.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.current().flush(timeout)
    }

    fn replace_if_broken(&self, producer: &Arc<Inner>, error: &KafkaError) {
        if let Some((code, reason)) = producer.client().fatal_error() {
            self.replace(producer, &format!("fatal {code:?}: {reason}"));
        } else if let Some(code) = error.rdkafka_error_code() {
            if error_breaks_producer(code) {
                self.replace(producer, &format!("{code:?}"));
            }
        }
    }

    /// Swaps in a new producer unless `broken` was already replaced.
    fn replace(&self, broken: &Arc<Inner>, why: &str) {
        let Ok(_guard) = self.rebuild.lock() else {
            return;
        };
        if !Arc::ptr_eq(broken, &self.current()) {
            return;
        }
        match AckedProducer::new(&self.settings) {
            Ok(fresh) => {
                let old =
                    std::mem::replace(&mut *crate::lock::write(&self.current), Arc::new(fresh));
                self.stall.reset();
                warn!(producer = self.name, reason = why, "producer replaced");
                metrics::counter!(self.rebuilds_metric).increment(1);
                retire(self.name, old, self.policy.retire_within);
            }
            Err(error) => {
                error!(producer = self.name, %error, "could not build a replacement producer")
            }
        }
    }
}

/// Closes a replaced producer on its own thread: first flushes what it holds
/// (bounded by `within`), then waits for the requests still holding it, then
/// drops it. librdkafka's drop purges whatever is left, so the flush comes
/// first.
fn retire(name: &'static str, old: Arc<Inner>, within: Duration) {
    let spawned = std::thread::Builder::new()
        .name("retire-producer".into())
        .spawn(move || {
            let deadline = Instant::now() + within;
            if let Err(error) = old.flush(within) {
                warn!(producer = name, %error, left = old.in_flight_count(), "retired producer could not deliver everything it held");
            }
            while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            drop(old);
            info!(producer = name, "retired producer closed");
        });
    if let Err(error) = spawned {
        error!(%error, "could not start a thread to retire the replaced producer");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::mocking::MockCluster;

    fn producer_on(bootstrap: &str, linger_ms: &str) -> ReplaceableProducer {
        let settings = KafkaSettings::from_pairs([
            ("bootstrap.servers", bootstrap),
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", linger_ms),
            ("message.timeout.ms", "10000"),
        ]);
        let policy =
            RebuildPolicy::for_message_timeout(Duration::from_secs(5), Duration::from_secs(10));
        ReplaceableProducer::new("test", &settings, policy, "test_rebuilds_total")
            .expect("producer")
    }

    #[tokio::test]
    async fn a_retired_producer_delivers_what_it_held() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic("t", 1, 1).expect("topic");
        // A long linger keeps the record queued in the client when the
        // producer is replaced. Nothing else holds the old producer (as with
        // a request that gave up at its deadline), so closing it at once
        // would purge the record (PurgeQueue).
        let producer = producer_on(&cluster.bootstrap_servers(), "3000");
        let Pending {
            producer: held,
            delivery,
            ..
        } = producer
            .enqueue(FutureRecord::to("t").key("k").payload("held"))
            .expect("queued");
        producer.replace(&held, "test");
        assert!(!Arc::ptr_eq(&producer.current(), &held));
        drop(held);
        let delivered = tokio::time::timeout(Duration::from_secs(10), delivery)
            .await
            .expect("a report within the retire bound")
            .expect("a delivery report")
            .expect("delivered, not purged");
        assert_eq!(delivered.partition, 0);
        let next = producer
            .send(FutureRecord::to("t").key("k").payload("after"))
            .await
            .expect("the fresh producer writes");
        assert!(next.offset > delivered.offset);
    }

    #[tokio::test]
    async fn a_producer_that_is_only_idle_is_kept() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic("t", 1, 1).expect("topic");
        let producer = producer_on(&cluster.bootstrap_servers(), "0");
        producer
            .send(FutureRecord::to("t").key("k").payload("x"))
            .await
            .expect("delivered");
        let before = producer.current();
        // Nothing pending: however often it is checked, it is not replaced.
        for _ in 0..3 {
            assert_eq!(producer.check(), Ok(()));
        }
        assert!(Arc::ptr_eq(&before, &producer.current()));
    }
}
