//! Consumer throughput with a fast downstream, against a real broker, as a
//! ratio of a ceiling measured in the same run on the same machine: a bare
//! librdkafka consumer reading the same records without doing anything.
//! Prints numbers; asserts nothing (speed is measured here, behaviour in the
//! tests).
//!
//! `cargo bench -p switchboard-tests --bench consumer` (BENCH_EVENTS, BENCH_PARTITIONS to change).

#[allow(dead_code, unused_imports)]
#[path = "../it/downstream.rs"]
mod downstream;
#[allow(dead_code, unused_imports)]
#[path = "../it/harness/mod.rs"]
mod harness;
#[allow(dead_code, unused_imports)]
#[path = "../it/pipeline.rs"]
mod pipeline;

use std::time::{Duration, Instant};
use switchboard_consumer::metrics;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use downstream::Downstream;
use harness::{eventually, Broker};
use pipeline::{create_group_topics, ids, produce_events, ConsumerProcess};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Reads `count` records of `topic` with a bare consumer; returns records/s.
fn ceiling(bootstrap: &str, topic: &str, partitions: i32, count: usize) -> f64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-ceiling")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&assignment).expect("assign");
    let started = Instant::now();
    let mut read = 0;
    while read < count {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
            read += 1;
        }
    }
    read as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let events = env_number("BENCH_EVENTS", 30_000);
    let partitions = env_number("BENCH_PARTITIONS", 3) as i32;
    let broker = Broker::start().await;
    let bootstrap = broker.bootstrap();
    let main = "bench-consumer";
    let group = "bench";
    create_group_topics(&bootstrap, main, group, partitions).await;
    let event_ids = ids("bench", events);
    for chunk in event_ids.chunks(5_000) {
        produce_events(&bootstrap, main, chunk).await;
    }
    let ceiling_rps = ceiling(&bootstrap, main, partitions, events);

    let downstream = Downstream::start(200, Duration::ZERO).await;
    let started = Instant::now();
    let consumer = ConsumerProcess::start(&bootstrap, main, group, &downstream.url(), &[]).await;
    eventually(
        "every event delivered",
        Duration::from_secs(600),
        || async { (downstream.successes().len() >= events).then_some(()) },
    )
    .await;
    let took = started.elapsed();
    // The rate over the delivery window, so the group join (seconds on tansu)
    // does not count against the worker.
    let seen = downstream.seen();
    let first = seen.iter().map(|s| s.at_ms).min().unwrap_or(0);
    let last = seen.iter().map(|s| s.at_ms).max().unwrap_or(0);
    let delivered_rps = events as f64 / ((last - first).max(1) as f64 / 1000.0);
    let duplicates: usize = downstream.successes().values().map(|n| n - 1).sum();
    let exchange = consumer
        .metric(&format!("{}_sum", metrics::DELIVERY_DURATION), &[])
        .await
        / consumer
            .metric(&format!("{}_count", metrics::DELIVERY_DURATION), &[])
            .await;
    drop(consumer);
    println!(
        "consumer: {events} events, {partitions} partitions, downstream answering 200 at once"
    );
    println!(
        "  delivered  {delivered_rps:>9.0} events/s from first to last delivery ({took:.2?} with the group join), {duplicates} duplicates"
    );
    println!("  mean downstream exchange {:.2} ms", exchange * 1000.0);
    println!("  ceiling    {ceiling_rps:>9.0} records/s (bare consumer, no work)");
    println!("  ratio      {:>9.2}", delivered_rps / ceiling_rps);
}
