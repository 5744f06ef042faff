//! End-to-end latency at a constant offered rate: an open-loop generator
//! posts webhooks to the gateway at a fixed rate (the next request does not
//! wait for the previous answer), a consumer delivers them to a downstream
//! that answers at once, and each event's latency is the time from the
//! gateway's `202` reaching the sender to the downstream receiving the
//! event. A second pass makes 10 % of deliveries fail once and reads the
//! consumer's retry-lateness histogram. Prints numbers; asserts nothing.
//!
//! `cargo bench -p switchboard-tests --bench e2e` (BENCH_SECS per rate,
//! BENCH_RATES="500,5000", BENCH_WARMUP_SECS of unmeasured load at the highest rate first; E2E_HANDOFF_LINGER=<ms> and E2E_GATEWAY_LINGER=<ms>
//! try another linger than the product's for the consumer's hand-off
//! producer and for the gateway; E2E_GATEWAY_ENV="KAFKA_A=1 KAFKA_B=2" passes
//! more settings to the gateway, E2E_CONSUMER_ENV to the consumer).
//!
//! The consumer keeps librdkafka's fetch settings: Kafka answers a long-poll
//! fetch as soon as data arrives, so `fetch.wait.max.ms` bounds only idle
//! fetches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use downstream::{unix_us, Answer, Downstream};
use harness::http::HttpClient;
use harness::process::cpu_time_us;
use harness::{Gateway, Kafka};
use pipeline::{create_group_topics, ConsumerProcess};
use switchboard_consumer::metrics;
use switchboard_tests::{downstream, harness, pipeline};

const PARTITIONS: i32 = 3;
/// Every tenth event fails once in the second pass.
const FAIL_ONCE_EVERY: u64 = 10;

/// What one pass offered and got back.
struct Pass {
    /// Event id → when its `202` arrived, unix µs.
    accepted: HashMap<String, i64>,
    /// Time from sending each accepted request to its `202`, µs, sorted.
    answered_in: Vec<i64>,
    /// Answers other than `202`, by status.
    refused: HashMap<u16, u64>,
    /// Requests that got no answer (connection errors).
    failed: u64,
    offered: u64,
}

/// Posts `rate` webhooks a second for `duration`, each on its own task, over
/// a pooled keep-alive client; ids are `{prefix}-{n}`.
async fn offer(gateway: &Gateway, prefix: &str, rate: u64, duration: Duration) -> Pass {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build_http();
    let uri = format!("http://{}/webhooks/genesys", gateway.addr);
    let accepted = Arc::new(Mutex::new(HashMap::new()));
    let answered_in = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(Mutex::new(HashMap::new()));
    let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let total = rate * duration.as_secs();
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for n in 0..total {
        // Open loop: the n-th request leaves at n × period, whatever the
        // answers so far (tokio's timer has 1 ms resolution, so at 5 k/s
        // requests leave in groups of five each millisecond).
        let due = started + period * n as u32;
        tokio::time::sleep_until(due.into()).await;
        let (client, uri, accepted, answered_in, refused, failed) = (
            client.clone(),
            uri.clone(),
            accepted.clone(),
            answered_in.clone(),
            refused.clone(),
            failed.clone(),
        );
        let id = format!("{prefix}-{n}");
        tasks.push(tokio::spawn(async move {
            let body = format!(
                "{{\"id\":\"{id}\",\"detail-type\":\"v2.detail.events.conversation.customer.end\",\"detail\":{{\"pad\":\"{}\"}}}}",
                "x".repeat(600)
            );
            let request = Request::post(&uri)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .expect("request");
            let sent = unix_us();
            match client.request(request).await {
                Ok(response) if response.status() == StatusCode::ACCEPTED => {
                    let at = unix_us();
                    answered_in.lock().expect("lock").push(at - sent);
                    let _ = response.into_body().collect().await;
                    accepted.lock().expect("lock").insert(id, at);
                }
                Ok(response) => {
                    *refused
                        .lock()
                        .expect("lock")
                        .entry(response.status().as_u16())
                        .or_insert(0) += 1;
                }
                Err(_) => {
                    failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let accepted = std::mem::take(&mut *accepted.lock().expect("lock"));
    let mut answered_in = std::mem::take(&mut *answered_in.lock().expect("lock"));
    answered_in.sort_unstable();
    let refused = std::mem::take(&mut *refused.lock().expect("lock"));
    Pass {
        accepted,
        answered_in,
        refused,
        failed: failed.load(std::sync::atomic::Ordering::Relaxed),
        offered: total,
    }
}

fn percentile(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

/// Latency from `202` to the downstream's first successful receipt, ms,
/// for the accepted events `include` admits.
fn latencies(pass: &Pass, downstream: &Downstream, include: impl Fn(&str) -> bool) -> Vec<i64> {
    let mut first_success: HashMap<String, i64> = HashMap::new();
    for seen in downstream.seen() {
        if (200..300).contains(&seen.answered) {
            first_success
                .entry(seen.event_id)
                .and_modify(|at| *at = (*at).min(seen.at_us))
                .or_insert(seen.at_us);
        }
    }
    let mut out: Vec<i64> = pass
        .accepted
        .iter()
        .filter(|(id, _)| include(id))
        .filter_map(|(id, acked)| first_success.get(id).map(|at| (at - acked).max(0)))
        .collect();
    out.sort_unstable();
    out
}

/// The smallest bucket bound of histogram `name` (with `labels`) under which
/// at least `p` of the samples fall, and the share under `bound_s`.
async fn histogram_summary(
    consumer: &ConsumerProcess,
    name: &str,
    labels: &[&str],
    p: f64,
    bound_s: f64,
) -> (Option<f64>, f64) {
    let text = HttpClient::new()
        .get(&consumer.url("/metrics"))
        .await
        .map(|reply| String::from_utf8_lossy(&reply.body).into_owned())
        .unwrap_or_default();
    let bucket = format!("{name}_bucket");
    let mut buckets: Vec<(f64, f64)> = text
        .lines()
        .filter(|line| line.starts_with(&bucket) && labels.iter().all(|l| line.contains(l)))
        .filter_map(|line| {
            let le = line.split("le=\"").nth(1)?.split('"').next()?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            let count: f64 = line.rsplit(' ').next()?.parse().ok()?;
            Some((bound, count))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Several label sets (stages): add the counts of equal bounds.
    let mut merged: Vec<(f64, f64)> = Vec::new();
    for (bound, count) in buckets {
        match merged.last_mut() {
            Some(last) if last.0 == bound => last.1 += count,
            _ => merged.push((bound, count)),
        }
    }
    let total = merged.last().map_or(0.0, |b| b.1);
    if total == 0.0 {
        return (None, f64::NAN);
    }
    let at_p = merged.iter().find(|b| b.1 >= p * total).map(|b| b.0);
    let under = merged
        .iter()
        .filter(|b| b.0 <= bound_s)
        .map(|b| b.1)
        .fold(0.0, f64::max);
    (at_p, under / total)
}

fn report(name: &str, pass: &Pass, sorted: &[i64], undelivered: usize) {
    println!(
        "{name:<40} offered {:>6}  accepted {:>6}  refused {:?}  no answer {}  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  not delivered {undelivered}",
        pass.offered,
        pass.accepted.len(),
        pass.refused,
        pass.failed,
        percentile(sorted, 0.50),
        percentile(sorted, 0.99),
        percentile(sorted, 1.0),
    );
}

/// The settings a run tries beside the product's, as `KEY=value` pairs.
fn settings_tried(env: &[(&str, &str)]) -> String {
    let tried: Vec<String> = env
        .iter()
        .filter(|(key, _)| *key != "RUST_LOG")
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    if tried.is_empty() {
        "the product's".to_owned()
    } else {
        tried.join(" ")
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: u64 = harness::bench_setting("BENCH_SECS", 10);
    let rates: Vec<u64> = std::env::var("BENCH_RATES")
        .unwrap_or_else(|_| "500,5000".into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect();
    let broker = Kafka::start().await;
    let bootstrap = broker.bootstrap();
    let (main, group) = ("bench-e2e", "bench-e2e-group");
    create_group_topics(&bootstrap, main, group, PARTITIONS).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    // The hand-off producer keeps the product's linger unless
    // E2E_HANDOFF_LINGER (ms) asks for another, to compare.
    let handoff_linger = std::env::var("E2E_HANDOFF_LINGER").ok();
    let mut consumer_env = vec![("RUST_LOG", "info")];
    if let Some(linger) = &handoff_linger {
        consumer_env.push(("KAFKA_LINGER_MS", linger));
    }
    // E2E_CONSUMER_ENV="KAFKA_A=1 KAFKA_B=2" passes more settings to the consumer.
    let consumer_extra = std::env::var("E2E_CONSUMER_ENV").unwrap_or_default();
    consumer_env.extend(
        consumer_extra
            .split_whitespace()
            .filter_map(|pair| pair.split_once('=')),
    );
    let consumer =
        ConsumerProcess::start(&bootstrap, main, group, &downstream.url(), &consumer_env).await;
    consumer.wait_assigned(3 * PARTITIONS as usize).await;
    // E2E_GATEWAY_LINGER (ms) likewise tries another linger for the gateway.
    let gateway_linger = std::env::var("E2E_GATEWAY_LINGER").ok();
    let mut gateway_env = vec![("RUST_LOG", "warn")];
    if let Some(linger) = &gateway_linger {
        gateway_env.push(("KAFKA_LINGER_MS", linger));
    }
    // E2E_GATEWAY_ENV="KAFKA_A=1 KAFKA_B=2" passes more settings to the gateway.
    let extra_env = std::env::var("E2E_GATEWAY_ENV").unwrap_or_default();
    gateway_env.extend(
        extra_env
            .split_whitespace()
            .filter_map(|pair| pair.split_once('=')),
    );
    let gateway = Gateway::start(&bootstrap, main, None, &gateway_env).await;
    gateway.wait_ready().await;
    println!(
        "e2e bench: {secs} s per rate, open loop, {PARTITIONS} partitions, ~700 B bodies, downstream answering at once; latency = sender's 202 -> downstream receipt; Kafka {}, one node; gateway settings: {}; consumer settings: {}",
        harness::kafka::Installation::get().version(),
        settings_tried(&gateway_env),
        settings_tried(&consumer_env),
    );

    // A fresh broker is a cold JVM: until its JIT has compiled the hot
    // paths, its first seconds under load answer slowly (first passes at
    // p99 ~400 ms, the same rate a pass later at ~3 ms), and a warm-up at a
    // lower rate leaves the first pass at a higher one slow too (p99 84 ms
    // after 500/s, 6 ms a pass later). A warm-up at the highest rate, not
    // measured, makes every pass meet a warm broker, as a production broker
    // is (BENCH_WARMUP_SECS, 0 to skip).
    let warmup = harness::bench_setting("BENCH_WARMUP_SECS", 10u64);
    if warmup > 0 {
        let rate = rates.iter().copied().max().unwrap_or(500);
        let pass = offer(&gateway, "warmup", rate, Duration::from_secs(warmup)).await;
        let settle_by = Instant::now() + Duration::from_secs(30);
        while downstream
            .seen()
            .iter()
            .filter(|s| s.event_id.starts_with("warmup"))
            .count()
            < pass.accepted.len()
            && Instant::now() < settle_by
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        println!("warm-up: {warmup} s at {rate}/s, not measured");
    }

    for &rate in &rates {
        for failing in [false, true] {
            let prefix = format!("r{rate}-{}", if failing { "fail" } else { "ok" });
            let fails = |id: &str| {
                failing
                    && id
                        .rsplit('-')
                        .next()
                        .and_then(|n| n.parse::<u64>().ok())
                        .is_some_and(|n| n % FAIL_ONCE_EVERY == 0)
            };
            if failing {
                for n in (0..rate * secs).step_by(FAIL_ONCE_EVERY as usize) {
                    downstream.script(&format!("{prefix}-{n}"), &[Answer::status(503)]);
                }
            }
            let pids = [
                gateway.pid(),
                consumer.pid(),
                broker.pid().expect("broker runs"),
            ];
            let cpu_before: Vec<f64> = pids.iter().map(|pid| cpu_time_us(*pid)).collect();
            let pass = offer(&gateway, &prefix, rate, Duration::from_secs(secs)).await;
            let want = pass.accepted.len();
            let delivered = || {
                downstream
                    .seen()
                    .iter()
                    .filter(|s| s.event_id.starts_with(&prefix) && (200..300).contains(&s.answered))
                    .count()
            };
            // Failed-once events wait out the retry stage (1 s in the test
            // ladder) before their second attempt. What is still missing
            // after a minute is reported, not waited for.
            let settle_by = Instant::now() + Duration::from_secs(60);
            while delivered() < want && Instant::now() < settle_by {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let undelivered = want.saturating_sub(delivered());
            let cpu: Vec<f64> = pids
                .iter()
                .zip(&cpu_before)
                .map(|(pid, before)| (cpu_time_us(*pid) - before) / want.max(1) as f64)
                .collect();
            if failing {
                let first_time = latencies(&pass, &downstream, |id| !fails(id));
                report(
                    &format!("{rate}/s, 10 % fail once: others"),
                    &pass,
                    &first_time,
                    undelivered,
                );
                let (p99_bound, under_100ms) =
                    histogram_summary(&consumer, metrics::RETRY_LATENESS, &[], 0.99, 0.1).await;
                println!(
                    "{:<40} retry lateness p99 <= {} s (bucket bound), {:.1} % within 100 ms (consumer histogram, all passes so far)",
                    format!("{rate}/s, 10 % fail once: retries"),
                    p99_bound.map_or("?".into(), |b| b.to_string()),
                    under_100ms * 100.0
                );
            } else {
                let all = latencies(&pass, &downstream, |_| true);
                report(&format!("{rate}/s"), &pass, &all, undelivered);
                println!(
                    "  CPU per event: gateway {:.1} us, consumer {:.1} us, broker {:.1} us",
                    cpu[0], cpu[1], cpu[2]
                );
                println!(
                    "  sender's wait for the 202: p50 {:.2} ms, p99 {:.2} ms",
                    percentile(&pass.answered_in, 0.50),
                    percentile(&pass.answered_in, 0.99)
                );
            }
        }
    }
    drop(gateway);
    drop(consumer);
    drop(broker);
}
