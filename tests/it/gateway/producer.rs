//! The gateway's producer settings under a steady load: librdkafka's broker
//! thread sleeps while a partition waits at the idempotent producer's
//! in-flight limit, instead of polling its sockets until the answer comes
//! (the patch described in vendor/README.md).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use rdkafka::producer::{
    BaseRecord, DeliveryResult, NoCustomPartitioner, Producer, ProducerContext, ThreadedProducer,
};
use rdkafka::{ClientContext, Statistics};
use switchboard_gateway::config::PRODUCER_LINGER_MS;
use switchboard_runtime::kafka::KafkaSettings;

use super::*;
use crate::harness::{eventually, Pace};

/// Keeps librdkafka's latest statistics, and counts the records it could
/// not deliver (counted, not asserted: a panic in librdkafka's callback
/// would abort the test binary).
#[derive(Default)]
struct LatestStatistics {
    latest: Mutex<Option<Statistics>>,
    /// Reports received so far.
    reports: AtomicU64,
    failed: AtomicUsize,
}

impl ClientContext for LatestStatistics {
    fn stats(&self, statistics: Statistics) {
        *self.latest.lock().expect("not poisoned") = Some(statistics);
        self.reports.fetch_add(1, Ordering::Release);
    }
}

impl ProducerContext<NoCustomPartitioner> for LatestStatistics {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl LatestStatistics {
    /// How often the broker threads of the cluster's nodes (not the
    /// bootstrap connections) have woken, per librdkafka's latest report.
    fn node_wakeups(&self) -> u64 {
        let latest = self.latest.lock().expect("not poisoned");
        let statistics = latest.as_ref().expect("librdkafka reported statistics");
        statistics
            .brokers
            .values()
            .filter(|broker| broker.nodeid >= 0)
            .filter_map(|broker| broker.wakeups)
            .sum()
    }

    /// [`Self::node_wakeups`] from a report made after this call: one
    /// report may already be in the making, so it waits for the second.
    async fn node_wakeups_from_now(&self) -> u64 {
        let seen = self.reports.load(Ordering::Acquire);
        eventually(
            "a fresh statistics report",
            Duration::from_secs(10),
            || async {
                (self.reports.load(Ordering::Acquire) >= seen + 2).then(|| self.node_wakeups())
            },
        )
        .await
    }
}

/// Sends `count` keyed records to `topic` at `rate` per second and waits for their acknowledgements.
fn produce_paced(
    producer: &ThreadedProducer<LatestStatistics>,
    topic: &str,
    count: usize,
    rate: usize,
) {
    let pace = Pace::per_second(rate);
    for i in 0..count {
        pace.until_due(i);
        let key = format!("event-{i:06}");
        let record = BaseRecord::to(topic).key(&key).payload(&b"{}"[..]);
        producer
            .send(record)
            .unwrap_or_else(|(error, _)| panic!("enqueued: {error}"));
    }
    producer.flush(Duration::from_secs(30)).expect("flushed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producers_broker_thread_does_not_busy_poll_behind_its_in_flight_limit() {
    let broker = shared_kafka().await;
    let topic = unique_topic("wakeups");
    // One partition: at 8,000 records a second each round trip of a
    // millisecond or more finds five records in flight and the next batch
    // ready behind them, the case an unpatched librdkafka spins on.
    create_topic(&broker.bootstrap(), &topic, 1).await;
    let mut settings = KafkaSettings::durable_producer("wakeups-test", PRODUCER_LINGER_MS);
    settings.set("bootstrap.servers", broker.bootstrap());
    settings.set("statistics.interval.ms", "100");
    let producer: ThreadedProducer<LatestStatistics> = settings
        .client_config()
        .create_with_context(LatestStatistics::default())
        .expect("producer");

    let (count, rate) = (16_000, 8_000);
    // The connection, the producer id and the broker's first answers.
    tokio::task::block_in_place(|| produce_paced(&producer, &topic, 500, 5_000));
    let before = producer.context().node_wakeups_from_now().await;
    tokio::task::block_in_place(|| produce_paced(&producer, &topic, count, rate));
    let measured = producer
        .context()
        .node_wakeups_from_now()
        .await
        .saturating_sub(before);
    assert_eq!(
        producer.context().failed.load(Ordering::Relaxed),
        0,
        "every record delivered"
    );

    // Measured on the development box: 0.3 wake-ups per record with the
    // patch, 25 without it (a poll() every few microseconds for the rest of
    // each round trip). The bound sits between with a wide margin on both sides.
    let per_record = measured as f64 / count as f64;
    println!("{measured} broker-thread wake-ups for {count} records ({per_record:.2} per record)");
    assert!(
        per_record < 4.0,
        "librdkafka's broker thread woke {measured} times for {count} records ({per_record:.1} per record): it busy-polls behind the idempotent in-flight limit; is vendor/rdkafka-sys's patch applied?"
    );
}
