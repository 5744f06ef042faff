//! What a member holds is bounded for the member, not only per partition:
//! - the prefetch: a member holding many partitions reads ahead no more than
//!   `CONSUMER_PREFETCH_BUDGET_BYTES` (each queue may pass its share by one
//!   fetch), where a fixed per-queue limit let it read the whole backlog;
//! - the started tasks: at most 4,096, where 256 per partition let a member
//!   start tens of thousands for a destination taking 32 at a time.

use super::*;
use crate::pipeline::produce_envelopes_in_batches;

const PARTITIONS: i32 = 12;
const EVENTS: usize = 10_000;
/// Padding per body: with the rest of the envelope ~2.1 KB a record, so
/// the backlog (~21 MB) is five times what the member may hold.
const PADDING_BYTES: usize = 2_000;
const BUDGET_BYTES: u64 = 4 * 1024 * 1024;

/// Hex that lz4 cannot shrink much, so the bytes fetched are the bytes held.
fn padding(seed: usize) -> String {
    let mut state = seed as u64 ^ 0x9E37_79B9_7F4A_7C15;
    let mut text = String::with_capacity(PADDING_BYTES);
    while text.len() < PADDING_BYTES {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        text.push_str(&format!("{:016x}", state >> 1));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_prefetches_within_its_budget_and_still_delivers_everything() {
    let setup = fresh_group("prefetch", PARTITIONS).await;
    let wanted = ids("prefetch", EVENTS);
    let events: Vec<Envelope> = wanted
        .iter()
        .enumerate()
        .map(|(n, id)| {
            let mut event = envelope(id, "genesys");
            event.body = format!(r#"{{"id":"{id}","pad":"{}"}}"#, padding(n))
                .into_bytes()
                .into();
            event
        })
        .collect();
    // In batches of the gateway's size: a fetch carries at least one whole
    // producer batch, whatever the queue's share.
    produce_envelopes_in_batches(&setup.bootstrap, &setup.main, &events, 16 * 1024).await;

    // Every answer is held for 3 s, so one delivery per partition is in
    // flight, the member's own buffers fill, and librdkafka reads ahead as
    // far as it is let.
    let destination = Downstream::start(200, Duration::from_secs(3)).await;
    let budget = BUDGET_BYTES.to_string();
    let consumer = setup
        .consumer(
            &destination,
            &[
                ("CONSUMER_PREFETCH_BUDGET_BYTES", budget.as_str()),
                ("CONSUMER_CONCURRENCY", "1"),
                ("KAFKA_STATISTICS_INTERVAL_MS", "500"),
            ],
        )
        .await;
    // 12 partitions in 3 stages share 4 MiB: 113 KiB a queue.
    assert!(
        consumer.log_text().contains("queue_kib=113"),
        "the member logs each queue's share:\n{}",
        consumer.log_text()
    );
    eventually(
        "the member to prefetch",
        Duration::from_secs(20),
        || async { (consumer.metric(metrics::PREFETCHED, &[]).await > 0.0).then_some(()) },
    )
    .await;
    let mut most = 0.0_f64;
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        most = most.max(consumer.metric(metrics::PREFETCHED, &[]).await);
    }
    assert!(
        most <= 2.0 * BUDGET_BYTES as f64,
        "the member read ahead {most} bytes against a budget of {BUDGET_BYTES} (at most twice it while fetches land)"
    );
    assert!(
        destination.success_count() < EVENTS / 10,
        "the destination held its answers while the prefetch was measured"
    );

    // The small queues still carry every event once the destination answers.
    destination.set_delay(Duration::ZERO);
    destination
        .wait_delivered(&wanted, Duration::from_secs(60))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_starts_at_most_its_bound_of_tasks_whatever_its_partitions() {
    use switchboard_consumer::worker::limits::{MEMBER_STARTED, STARTED_PER_SLOT};
    // 24 partitions may start 256 each: 6,144, past the member's 4,096.
    let setup = fresh_group("started", 24).await;
    let wanted = ids("started", 8_000);
    produce_events(&setup.bootstrap, &setup.main, &wanted).await;
    // Every answer is held for 8 s: tasks start and wait for the
    // destination's 32 requests in flight.
    let destination = Downstream::start(200, Duration::from_secs(8)).await;
    let consumer = setup
        .consumer(&destination, &[("DESTINATION_TIMEOUT", "30s")])
        .await;
    const { assert!(24 * 32 * STARTED_PER_SLOT > MEMBER_STARTED) };
    let started = || async { consumer.metric(metrics::IN_FLIGHT, &[]).await };
    eventually(
        "the member to start as many tasks as it may",
        Duration::from_secs(20),
        || async { (started().await >= (MEMBER_STARTED - 64) as f64).then_some(()) },
    )
    .await;
    for _ in 0..6 {
        let now = started().await;
        assert!(
            now <= MEMBER_STARTED as f64,
            "{now} tasks started against the member's bound of {MEMBER_STARTED}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    destination.set_delay(Duration::ZERO);
    destination
        .wait_delivered(&wanted, Duration::from_secs(60))
        .await;
}
