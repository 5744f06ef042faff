//! What a destination's filter costs the consumer: its CPU per event (and
//! events per CPU-second) when the filter takes 5 % of the stream and when
//! it takes all of it, beside the same consumer without a filter, on the
//! same records of a real broker (one group each, alternating, same
//! sitting). A filtered event is decided by its `sb-event-type` header: no
//! decode, no delivery. Prints numbers; asserts nothing.
//!
//! `cargo bench -p switchboard-tests --bench filter` (BENCH_EVENTS,
//! BENCH_PARTITIONS, BENCH_ROUNDS to change).

use std::time::{Duration, Instant};

use downstream::Downstream;
use harness::process::cpu_time_us;
use harness::{eventually, log_dir, Kafka};
use pipeline::ConsumerProcess;
use pipeline::{create_group_topics, create_topics_of_group, envelope, produce_envelopes};
use switchboard_consumer::metrics::HANDLED;
use switchboard_tests::{downstream, harness, pipeline};

/// One in twenty events has the taken type.
const TAKEN_EVERY: usize = 20;

/// What one run cost.
struct Run {
    /// The consumer process's CPU time per event handled, µs.
    cpu_us_per_event: f64,
    /// From the consumer's spawn to the last event handled.
    wall: Duration,
    /// Events the downstream received.
    delivered: usize,
}

/// Runs one group over the whole topic with `filter` (TOML, or none).
async fn run(
    bootstrap: &str,
    main: &str,
    group: &str,
    filter: Option<&str>,
    events: usize,
    partitions: i32,
) -> Run {
    create_topics_of_group(bootstrap, main, group, partitions).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let path = log_dir().join(format!("{group}.toml"));
    std::fs::write(&path, filter.unwrap_or_default()).expect("config");
    let path = path.to_string_lossy().into_owned();
    let env = [("RUST_LOG", "info"), ("CONSUMER_CONFIG", path.as_str())];
    let spawned = Instant::now();
    let consumer = ConsumerProcess::start(bootstrap, main, group, &downstream.url(), &env).await;
    // A filtered stream is read before the process even reports ready, so
    // the figures are the consumer's own CPU per event (start-up included,
    // a few ms) and the wall time from its spawn (the group join included).
    eventually("every event handled", Duration::from_secs(600), || async {
        let delivered = consumer.metric(HANDLED, &["outcome=\"delivered\""]).await;
        let filtered = consumer.metric(HANDLED, &["outcome=\"filtered\""]).await;
        (delivered + filtered >= events as f64).then_some(())
    })
    .await;
    let wall = spawned.elapsed();
    let cpu_us = cpu_time_us(consumer.pid());
    Run {
        cpu_us_per_event: cpu_us / events as f64,
        wall,
        delivered: downstream.success_count(),
    }
}

#[tokio::main]
async fn main() {
    let events: usize = harness::bench_setting("BENCH_EVENTS", 200_000);
    let partitions: i32 = harness::bench_setting("BENCH_PARTITIONS", 3);
    let rounds: usize = harness::bench_setting("BENCH_ROUNDS", 2);
    let broker = Kafka::start().await;
    let bootstrap = broker.bootstrap();
    let main = "bench-filter";
    create_group_topics(&bootstrap, main, "bench-filter-setup", partitions).await;
    let all: Vec<_> = (0..events)
        .map(|n| {
            let mut event = envelope(&format!("f-{n}"), "genesys");
            event.event_type = if n % TAKEN_EVERY == 0 {
                "v2.detail.events.conversation.{id}.customer.end".into()
            } else {
                "v2.users.{id}.presence".into()
            };
            event
        })
        .collect();
    for chunk in all.chunks(5_000) {
        produce_envelopes(&bootstrap, main, chunk).await;
    }
    let five = "[destination.filter]\ntypes = [\"v2.detail.events.conversation.*.customer.end\"]\n";
    let every = "[destination.filter]\ntypes = [\"v2.*\"]\n";
    let runs: [(&str, Option<&str>); 3] = [
        ("no filter", None),
        ("5 % taken", Some(five)),
        ("100 % taken", Some(every)),
    ];
    println!("filter: {events} events, {partitions} partitions, downstream answering 200 at once");
    for round in 0..rounds {
        for (n, (name, filter)) in runs.iter().enumerate() {
            let group = format!("bench-filter-{round}-{n}");
            let run = run(&bootstrap, main, &group, *filter, events, partitions).await;
            println!(
                "  {name:<12} consumer CPU {:>5.1} us/event = {:>7.0} events per CPU-second; {:>5.2?} from spawn to the last (group join included); {} delivered (round {})",
                run.cpu_us_per_event,
                1e6 / run.cpu_us_per_event,
                run.wall,
                run.delivered,
                round + 1
            );
        }
    }
}
