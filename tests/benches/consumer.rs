//! Consumer throughput with a fast downstream, against a real broker, as a
//! ratio of a ceiling measured in the same run on the same machine: a bare
//! librdkafka consumer reading the same records without doing anything.
//! Prints numbers; asserts nothing (speed is measured here, behaviour in the
//! tests).
//!
//! A second run measures deliveries per second against a downstream that
//! answers in a fixed time, beside the README's throughput formula.
//!
//! `cargo bench -p switchboard-tests --bench consumer` (BENCH_EVENTS, BENCH_PARTITIONS to change;
//! BENCH_LATENCY_MS and BENCH_LATENCY_EVENTS for the second run, which BENCH_LATENCY_EVENTS=0
//! skips). Besides the rate and the CPU per event it prints the time from the consumer's start
//! to its first delivery and its peak RSS: with BENCH_PARTITIONS they show how cost grows with
//! the partitions a member holds. BENCH_MEMBERS (default 1) starts that many members of the group at
//! once: the rate is the group's, the CPU per event the members' together, the RSS each member's.
//! `KAFKA_*` and `CONSUMER_*` variables in the bench's environment reach the measured consumer
//! (`CONSUMER_MARKER_LINGER=200ms`, say).
//!
//! The broker is warmed first (BENCH_WARMUP_EVENTS, 0 to skip): the product consumer delivers that
//! many events of a topic and group of their own, so the JVM has compiled the marker-write and
//! commit paths before anything is measured. Without it, a fresh broker's JIT compiler threads took
//! about 40 % of its CPU in the measured window, and 50,000 events of warm-up still left a third. The
//! broker's compiler CPU in each window is printed.

use std::time::{Duration, Instant};
use switchboard_consumer::config::DEFAULT_CONCURRENCY;
use switchboard_consumer::destination::DEFAULT_MAX_IN_FLIGHT;
use switchboard_consumer::metrics;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use downstream::Downstream;
use harness::process::{cpu_time_us, threads_cpu_time_us};
use harness::{eventually, Kafka};
use pipeline::{create_group_topics, ids, produce_events, ConsumerProcess};
use switchboard_tests::{downstream, harness, pipeline};

/// A group-less consumer assigned every partition of `topic` from its start.
fn reading_from_start<C>(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> C
where
    C: rdkafka::config::FromClientConfig + Consumer,
{
    let consumer: C = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
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
    consumer
}

/// Reads `count` records of `topic` with a bare consumer; returns records/s.
fn ceiling(bootstrap: &str, topic: &str, partitions: i32, count: usize) -> f64 {
    let consumer: BaseConsumer = reading_from_start(bootstrap, "bench-ceiling", topic, partitions);
    // From the first record to the last, like the delivered rate (which
    // leaves out the group join): start-up is not throughput.
    let mut started = None;
    let mut read = 0;
    while read < count {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
            started.get_or_insert_with(Instant::now);
            read += 1;
        }
    }
    read as f64 / started.map_or(f64::NAN, |s| s.elapsed().as_secs_f64())
}

/// The delivery ceiling: the simplest consumer that does the same HTTP work
/// (read each record, POST its payload to `downstream` with 32 requests in
/// flight, as the consumer's default concurrency) and nothing of what makes
/// delivery at-least-once: no dedupe, markers, commits, retries or ordering
/// per partition. Records/s from the first delivery to the last.
async fn delivery_ceiling(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    count: usize,
    downstream: &str,
) -> f64 {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use rdkafka::consumer::StreamConsumer;
    use rdkafka::Message;
    let consumer: StreamConsumer =
        reading_from_start(bootstrap, "bench-delivery-ceiling", topic, partitions);
    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .build_http();
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(32));
    let mut started = None;
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        let message = consumer.recv().await.expect("record");
        started.get_or_insert_with(Instant::now);
        let payload = bytes::Bytes::copy_from_slice(message.payload().unwrap_or_default());
        let permit = permits.clone().acquire_owned().await.expect("permit");
        let (client, uri) = (client.clone(), downstream.to_owned());
        tasks.push(tokio::spawn(async move {
            let request = http::Request::post(uri)
                .body(Full::new(payload))
                .expect("request");
            if let Ok(response) = client.request(request).await {
                let _ = response.into_body().collect().await;
            }
            drop(permit);
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    count as f64 / started.map_or(f64::NAN, |s| s.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() {
    let events: usize = harness::bench_setting("BENCH_EVENTS", 100_000);
    let partitions: i32 = harness::bench_setting("BENCH_PARTITIONS", 3);
    let members: usize = harness::bench_setting("BENCH_MEMBERS", 1);
    let broker = Kafka::start().await;
    let bootstrap = broker.bootstrap();
    let main = "bench-consumer";
    let group = "bench";
    create_group_topics(&bootstrap, main, group, partitions).await;
    let warmup: usize = harness::bench_setting("BENCH_WARMUP_EVENTS", 200_000);
    if warmup > 0 {
        warm_broker(&bootstrap, partitions, warmup).await;
    }
    let event_ids = ids("bench", events);
    for chunk in event_ids.chunks(5_000) {
        produce_events(&bootstrap, main, chunk).await;
    }
    let ceiling_rps = ceiling(&bootstrap, main, partitions, events);
    // CPU per event, µs, of each process while a run delivers: the box has
    // two cores, so what the broker spends is taken from the consumer.
    let broker_pid = broker.pid().expect("broker runs");
    let bench_pid = std::process::id();
    let cpu_of = |pids: &[u32]| -> Vec<f64> { pids.iter().map(|p| cpu_time_us(*p)).collect() };
    let per_event = |before: &[f64], after: &[f64]| -> Vec<f64> {
        after
            .iter()
            .zip(before)
            .map(|(a, b)| (a - b) / events as f64)
            .collect()
    };
    // The broker's JIT compiler threads, µs per event: near zero when warm.
    let compiling = |before: f64| (jit_us(broker_pid) - before) / events as f64;
    let naive_before = cpu_of(&[broker_pid, bench_pid]);
    let naive_jit_before = jit_us(broker_pid);
    let delivery_ceiling_rps = {
        let downstream = Downstream::start(200, Duration::ZERO).await;
        delivery_ceiling(&bootstrap, main, partitions, events, &downstream.url()).await
    };
    let naive_cpu = per_event(&naive_before, &cpu_of(&[broker_pid, bench_pid]));
    let naive_jit = compiling(naive_jit_before);

    let downstream = Downstream::start(200, Duration::ZERO).await;
    // Built before the clock starts: the time to the first delivery is the
    // process's, not cargo's.
    harness::process::workspace_binary("consumer");
    let started = Instant::now();
    // Info, as in production: the harness logs every delivery at debug.
    // KAFKA_* and CONSUMER_* in the bench's environment reach the consumer,
    // to try tuning (CONSUMER_MARKER_LINGER, for one); not the names the
    // harness sets, which would move the measured consumer to another broker,
    // group, config or admin port.
    const HARNESS_SETS: [&str; 4] = [
        "KAFKA_BROKERS",
        "CONSUMER_GROUP",
        "CONSUMER_CONFIG",
        "CONSUMER_ADMIN_LISTEN",
    ];
    let kafka = harness::bench_passthrough(&["KAFKA_", "CONSUMER_"], &HARNESS_SETS);
    let mut env: Vec<(&str, &str)> = kafka
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    env.push(("RUST_LOG", "info"));
    let started_ms = downstream::unix_ms();
    // CPU is counted from before the members start: a member delivers
    // before it reports ready, and counting from readiness missed up to half
    // of a short run's deliveries (CPU per event read ~2x too low). The
    // members' figure is their whole life, start-up included (tens of ms).
    let ours_pids = [broker_pid, bench_pid];
    let ours_before = cpu_of(&ours_pids);
    let ours_jit_before = jit_us(broker_pid);
    // The members start together (a sequential start would rebalance the
    // group once per member while the first one delivers).
    let starting: Vec<_> = (0..members)
        .map(|_| {
            let (bootstrap, url) = (bootstrap.clone(), downstream.url());
            let env: Vec<(String, String)> = env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            tokio::spawn(async move {
                let env: Vec<(&str, &str)> =
                    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                ConsumerProcess::start(&bootstrap, main, group, &url, &env).await
            })
        })
        .collect();
    let mut consumers = Vec::with_capacity(members);
    for member in starting {
        consumers.push(member.await.expect("member started"));
    }
    let consumer = &consumers[0];
    let member_pids: Vec<u32> = consumers.iter().map(ConsumerProcess::pid).collect();
    let delivered_when_ready = downstream.success_count();
    eventually(
        "every event delivered",
        Duration::from_secs(600),
        || async { (downstream.success_count() >= events).then_some(()) },
    )
    .await;
    let took = started.elapsed();
    let ours_cpu = per_event(&ours_before, &cpu_of(&ours_pids));
    let members_cpu = cpu_of(&member_pids).iter().sum::<f64>() / events as f64;
    let ours_jit = compiling(ours_jit_before);
    // The rate over the delivery window, so the group join and marker load
    // do not count against the worker.
    let seen = downstream.seen();
    let first = seen.iter().map(|s| s.at_ms).min().unwrap_or(0);
    let last = seen.iter().map(|s| s.at_ms).max().unwrap_or(0);
    let delivered_rps = events as f64 / ((last - first).max(1) as f64 / 1000.0);
    let duplicates: usize = downstream.successes().values().map(|n| n - 1).sum();
    let peak_rss: Vec<String> = member_pids
        .iter()
        .map(|pid| format!("{:.0}", harness::process::memory_mib("VmHWM", *pid)))
        .collect();
    let peak_rss = peak_rss.join(" / ");
    // What an idle member costs the broker: nothing arrives, the partitions
    // it held stay assigned (commits, fetches, heartbeats).
    let idle = Duration::from_secs(10);
    let (broker_idle_before, consumer_idle_before) = (
        cpu_time_us(broker_pid),
        cpu_of(&member_pids).iter().sum::<f64>(),
    );
    tokio::time::sleep(idle).await;
    let idle_per_s = |before: f64, now: f64| (now - before) / idle.as_secs_f64() / 1e3;
    let broker_idle = idle_per_s(broker_idle_before, cpu_time_us(broker_pid));
    let consumer_idle = idle_per_s(consumer_idle_before, cpu_of(&member_pids).iter().sum());
    let exchange = consumer
        .metric(&format!("{}_sum", metrics::DELIVERY_DURATION), &[])
        .await
        / consumer
            .metric(&format!("{}_count", metrics::DELIVERY_DURATION), &[])
            .await;
    drop(consumers);
    println!(
        "consumer: {events} events, {partitions} partitions, {members} member(s), downstream answering 200 at once"
    );
    println!(
        "  delivered  {delivered_rps:>9.0} events/s from first to last delivery ({took:.2?} with the group join), {duplicates} duplicates"
    );
    println!("  mean downstream exchange {:.2} ms", exchange * 1000.0);
    println!(
        "  first delivery {} ms after the consumer was started (group join, assignment, markers loaded; {delivered_when_ready} delivered before it reported ready); consumer peak RSS {peak_rss} MiB",
        first - started_ms
    );
    println!(
        "  ceiling    {delivery_ceiling_rps:>9.0} events/s (a naive consumer doing the same POSTs, 32 in flight: no dedupe, markers, commits or retries)"
    );
    println!("  ratio      {:>9.2}", delivered_rps / delivery_ceiling_rps);
    println!(
        "  CPU per event: consumer {:.1} us + downstream {:.1} us, broker {:.1} us (naive: consumer and downstream {:.1} us, broker {:.1} us)",
        members_cpu, ours_cpu[1], ours_cpu[0], naive_cpu[1], naive_cpu[0]
    );
    println!(
        "  of the broker's CPU per event, its JIT compiler: {ours_jit:.1} us (naive's run: {naive_jit:.1} us)"
    );
    println!(
        "  idle afterwards: broker {broker_idle:.1} ms of CPU per second, consumer {consumer_idle:.1} ms per second"
    );
    println!("  bare read  {ceiling_rps:>9.0} records/s (a bare consumer doing nothing, from its first record: librdkafka's prefetch)");
    slow_destination(&bootstrap, partitions).await;
}

/// The broker's JIT compiler threads' CPU so far, µs.
fn jit_us(broker_pid: u32) -> f64 {
    threads_cpu_time_us(broker_pid, "Compiler")
}

/// Runs the product consumer over `events` events of a topic and group of
/// their own, unmeasured, so the broker's JVM has compiled what a delivery
/// costs it (fetches, marker writes, commits) before the measured runs.
async fn warm_broker(bootstrap: &str, partitions: i32, events: usize) {
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let topics = ("bench-warmup", "warmup");
    deliver_all(bootstrap, topics, partitions, events, &downstream, "warn").await;
}

/// Creates the topics of `(main, group)`, produces `events` events and has
/// one consumer with the product's defaults deliver them all to `downstream`.
async fn deliver_all(
    bootstrap: &str,
    (main, group): (&str, &str),
    partitions: i32,
    events: usize,
    downstream: &Downstream,
    log: &str,
) {
    create_group_topics(bootstrap, main, group, partitions).await;
    for chunk in ids(group, events).chunks(5_000) {
        produce_events(bootstrap, main, chunk).await;
    }
    let env = [("RUST_LOG", log)];
    let consumer = ConsumerProcess::start(bootstrap, main, group, &downstream.url(), &env).await;
    eventually(
        &format!("{events} events of {main} delivered"),
        Duration::from_secs(600),
        || async { (downstream.success_count() >= events).then_some(()) },
    )
    .await;
    drop(consumer);
}

/// Deliveries per second of one consumer with the product's defaults against
/// a downstream answering in BENCH_LATENCY_MS, beside the README's formula:
/// min(partitions x CONSUMER_CONCURRENCY, max_in_flight) / latency.
async fn slow_destination(bootstrap: &str, partitions: i32) {
    let latency_ms: u64 = harness::bench_setting("BENCH_LATENCY_MS", 200);
    let events: usize = harness::bench_setting("BENCH_LATENCY_EVENTS", 2_000);
    if events == 0 {
        return;
    }
    let downstream = Downstream::start(200, Duration::from_millis(latency_ms)).await;
    let topics = ("bench-latency", "bench-latency");
    deliver_all(bootstrap, topics, partitions, events, &downstream, "info").await;
    let seen = downstream.seen();
    let first = seen.iter().map(|s| s.at_ms).min().unwrap_or(0);
    let last = seen.iter().map(|s| s.at_ms).max().unwrap_or(0);
    let measured = events as f64 / ((last - first).max(1) as f64 / 1000.0);
    let in_flight = (partitions as usize * DEFAULT_CONCURRENCY).min(DEFAULT_MAX_IN_FLIGHT);
    let predicted = in_flight as f64 / (latency_ms as f64 / 1000.0);
    println!(
        "slow destination: {events} events, {partitions} partitions, downstream answering in {latency_ms} ms, product defaults"
    );
    println!(
        "  delivered  {measured:>9.0} events/s; formula min({partitions} x {DEFAULT_CONCURRENCY}, max_in_flight {DEFAULT_MAX_IN_FLIGHT}) / {latency_ms} ms = {predicted:.0}/s; ratio {:.2}",
        measured / predicted
    );
}
