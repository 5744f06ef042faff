//! What one delivered marker costs the broker, by the marker producer's
//! settings: the consumer writes one marker per delivered event, and on a
//! shared box the broker's CPU for them is taken from delivery.
//!
//! A producer writes real delivery markers ([`MarkerRecord::delivery`]) to a
//! group's compacted marker topic at a paced rate (the consumer's delivery
//! rate on this box), one variant of its settings at a time, alternating,
//! each to a marker topic of its own; the figure is the broker's CPU per
//! marker over the run, and its JIT compiler's share (near zero once warm).
//! Prints numbers; asserts nothing.
//!
//! `cargo bench -p switchboard-tests --bench marker_writes` (BENCH_MARKER_RATE, default 24,000/s;
//! BENCH_MARKERS per run, default 200,000; BENCH_ROUNDS, default 2; BENCH_PARTITIONS, default 3:
//! the markers of a member holding that many partitions, spread evenly over them).

use std::time::Duration;

use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use switchboard_consumer::config::DEFAULT_MARKER_LINGER;
use switchboard_consumer::marker::{Marker, MarkerRecord};
use switchboard_proto::GroupTopics;
use switchboard_runtime::kafka::KafkaSettings;

use harness::process::{cpu_time_us, threads_cpu_time_us};
use harness::{Kafka, Pace};
use pipeline::{create_group_topics, create_topics_of_group, envelope};
use switchboard_tests::{harness, pipeline};

/// One way of writing the markers.
struct Variant {
    name: &'static str,
    /// Settings over the marker producer's (the hand-off producer's:
    /// idempotent, `acks=all`, lz4; lingering `CONSUMER_MARKER_LINGER`'s
    /// default). Each row prints the linger it ran with.
    settings: &'static [(&'static str, &'static str)],
}

const VARIANTS: &[Variant] = &[
    Variant {
        name: "product: lz4",
        settings: &[],
    },
    Variant {
        name: "uncompressed",
        settings: &[("compression.type", "none")],
    },
    Variant {
        name: "lz4, as the hand-off's",
        settings: &[("linger.ms", "10")],
    },
    Variant {
        name: "lz4",
        settings: &[("linger.ms", "25")],
    },
    Variant {
        name: "lz4",
        settings: &[("linger.ms", "100")],
    },
    Variant {
        name: "lz4",
        settings: &[("linger.ms", "250")],
    },
];

/// The producer settings of `variant`.
fn settings_of(bootstrap: &str, variant: &Variant) -> KafkaSettings {
    let linger = DEFAULT_MARKER_LINGER.as_millis() as u32;
    let mut settings = KafkaSettings::durable_producer("bench-marker-writes", linger);
    settings.set("bootstrap.servers", bootstrap);
    for (key, value) in variant.settings {
        settings.set(*key, *value);
    }
    settings
}

/// Writes `count` markers at `rate` per second to the marker topic of
/// `group`; returns the broker's CPU per marker, µs, and its JIT's share.
fn write(
    settings: &KafkaSettings,
    broker_pid: u32,
    marker_topic: &str,
    partitions: i32,
    count: usize,
    rate: usize,
) -> (f64, f64) {
    let producer: ThreadedProducer<DefaultProducerContext> =
        settings.client_config().create().expect("producer");
    let marker = Marker {
        stage: "main",
        attempt: 1,
        member: "bench-member-0",
    };
    let (cpu_before, jit_before) = (
        cpu_time_us(broker_pid),
        threads_cpu_time_us(broker_pid, "Compiler"),
    );
    let pace = Pace::per_second(rate);
    for i in 0..count {
        pace.until_due(i);
        // Each run writes to its own marker topic: the ids need no prefix of their own.
        let event = envelope(&format!("marker-{i:09}"), "genesys");
        let record = MarkerRecord::delivery(&event, &marker);
        let mut pending = BaseRecord::to(marker_topic)
            .partition(i as i32 % partitions)
            .key(&record.key)
            .payload(&record.value)
            .headers(record.headers);
        loop {
            match producer.send(pending) {
                Ok(()) => break,
                Err((_, back)) => {
                    pending = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flushed");
    let per = |after: f64, before: f64| (after - before) / count as f64;
    (
        per(cpu_time_us(broker_pid), cpu_before),
        per(threads_cpu_time_us(broker_pid, "Compiler"), jit_before),
    )
}

#[tokio::main]
async fn main() {
    let rate: usize = harness::bench_setting("BENCH_MARKER_RATE", 24_000);
    let count: usize = harness::bench_setting("BENCH_MARKERS", 200_000);
    let rounds: usize = harness::bench_setting("BENCH_ROUNDS", 2);
    let partitions: i32 = harness::bench_setting("BENCH_PARTITIONS", 3);
    let broker = Kafka::start().await;
    let bootstrap = broker.bootstrap();
    let broker_pid = broker.pid().expect("broker runs");
    let main = "bench-marker-writes";
    create_group_topics(&bootstrap, main, "warmup", partitions).await;
    let topic_of = |group: &str| GroupTopics::new(main, group).expect("names").delivered();
    // Unmeasured: the JVM compiles the produce path first.
    let warmup = topic_of("warmup");
    let product = settings_of(&bootstrap, &VARIANTS[0]);
    tokio::task::block_in_place(|| write(&product, broker_pid, &warmup, partitions, count, rate));
    println!("marker writes: {count} markers per run at {rate}/s, {partitions} partitions, broker CPU per marker (of which its JIT compiler)");
    for round in 1..=rounds {
        for (v, variant) in VARIANTS.iter().enumerate() {
            let group = format!("r{round}v{v}");
            create_topics_of_group(&bootstrap, main, &group, partitions).await;
            let topic = topic_of(&group);
            let settings = settings_of(&bootstrap, variant);
            let (cpu, jit) = tokio::task::block_in_place(|| {
                write(&settings, broker_pid, &topic, partitions, count, rate)
            });
            let linger = settings.get("linger.ms").unwrap_or_default();
            let name = format!("{}, linger {linger} ms", variant.name);
            println!("  round {round}  {name:<38} {cpu:>6.1} us ({jit:.1})");
        }
    }
}
