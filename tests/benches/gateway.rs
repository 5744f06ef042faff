//! Gateway throughput and latency at 64 keep-alive connections, against a real
//! broker, as a ratio of a ceiling measured in the same run on the same
//! machine: the same load generator against a bare hyper server that answers
//! 202 without Kafka. Prints numbers; asserts nothing (speed is measured
//! here, behaviour in the tests).
//!
//! `cargo bench -p switchboard-tests --bench gateway` (BENCH_SECS, BENCH_CONNECTIONS,
//! BENCH_PARTITIONS, BENCH_WARMUP_SECS to change; `KAFKA_*` producer settings such as
//! `KAFKA_LINGER_MS` or `KAFKA_COMPRESSION_TYPE` reach both the gateway and the
//! bare producer).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use harness::process::{cpu_time_us, threads_cpu_time_us};
use harness::{create_topic, Gateway, Kafka};
use switchboard_tests::harness;

/// Whose CPU time a run samples.
#[derive(Clone, Copy)]
enum Sampled {
    /// A whole process.
    Process(u32),
    /// The threads of this process whose name contains this.
    OwnThreads(&'static str),
}

impl Sampled {
    fn cpu_time_us(self) -> f64 {
        match self {
            Sampled::Process(pid) => cpu_time_us(pid),
            Sampled::OwnThreads(name) => threads_cpu_time_us(std::process::id(), name),
        }
    }
}

/// The ceiling server's thread names (at most 15 bytes: Linux's `comm`).
const CEILING_THREADS: &str = "bench-ceiling";

struct Run {
    requests: u64,
    errors: u64,
    seconds: f64,
    latencies_us: Vec<u32>,
    /// CPU time each sampled process spent during the measured window, µs.
    cpu_us: Vec<f64>,
}

impl Run {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.latencies_us[index]) / 1000.0
    }
}

/// `connections` keep-alive connections, each sending the next request as soon
/// as the previous answer arrived, for `duration` after a one-second warm-up.
async fn load(
    addr: SocketAddr,
    path: &str,
    connections: usize,
    duration: Duration,
    sampled: &[Sampled],
) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for connection in 0..connections {
        let (stop, measuring) = (stop.clone(), measuring.clone());
        let uri = format!("http://{addr}{path}");
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(conn);
            let (mut ok, mut errors, mut latencies) = (0u64, 0u64, Vec::with_capacity(200_000));
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                // ~700 B, the size of a Genesys detail event.
                let body = format!(
                    "{{\"id\":\"bench-{connection}-{n}\",\"detail-type\":\"v2.detail.events.conversation.customer.end\",\"detail\":{{\"pad\":\"{}\"}}}}",
                    "x".repeat(600)
                );
                let request = Request::post(&uri)
                    .header("content-type", "application/json")
                    .header("host", "bench")
                    .body(Full::new(Bytes::from(body)))
                    .expect("request");
                let started = Instant::now();
                let status = match sender.send_request(request).await {
                    Ok(response) => {
                        let status = response.status();
                        let _ = response.into_body().collect().await;
                        status
                    }
                    Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
                };
                if measuring.load(Ordering::Relaxed) {
                    if status == StatusCode::ACCEPTED {
                        ok += 1;
                        latencies.push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    } else {
                        errors += 1;
                    }
                }
            }
            (ok, errors, latencies)
        }));
    }
    measure(tasks, stop, measuring, duration, sampled).await
}

/// The broker's own floor: `concurrency` tasks, each producing one ~700 B
/// keyed record with a bare librdkafka producer configured as the gateway's
/// (idempotent, `acks=all`, the gateway's linger, then every `KAFKA_*`
/// setting of the bench's environment, as the gateway takes them) and
/// awaiting its acknowledgement before the next. What the gateway adds on
/// top of this is HTTP and its own code.
async fn produce_load(
    bootstrap: &str,
    topic: &str,
    concurrency: usize,
    duration: Duration,
    broker_pid: u32,
) -> Run {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use switchboard_gateway::config::PRODUCER_LINGER_MS;
    use switchboard_runtime::kafka::KafkaSettings;
    let mut settings = KafkaSettings::durable_producer("bench-bare-producer", PRODUCER_LINGER_MS);
    settings.apply_env(&std::env::vars().collect());
    settings.set("bootstrap.servers", bootstrap);
    let producer: FutureProducer = settings.client_config().create().expect("producer");
    let producer = Arc::new(producer);
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for task in 0..concurrency {
        let (stop, measuring, producer) = (stop.clone(), measuring.clone(), producer.clone());
        let topic = topic.to_owned();
        tasks.push(tokio::spawn(async move {
            let payload = "x".repeat(700);
            let (mut ok, mut errors, mut latencies) = (0u64, 0u64, Vec::with_capacity(200_000));
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let key = format!("bare-{task}-{n}");
                let started = Instant::now();
                let result = producer
                    .send(
                        FutureRecord::to(&topic).key(&key).payload(&payload),
                        Duration::from_secs(5),
                    )
                    .await;
                if measuring.load(Ordering::Relaxed) {
                    if result.is_ok() {
                        ok += 1;
                        latencies
                            .push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    } else {
                        errors += 1;
                    }
                }
            }
            (ok, errors, latencies)
        }));
    }
    // This process is the producer's client side (and its small load tasks).
    measure(
        tasks,
        stop,
        measuring,
        duration,
        &[
            Sampled::Process(std::process::id()),
            Sampled::Process(broker_pid),
        ],
    )
    .await
}

/// Lets `tasks` warm up for a second, measures for `duration` (with the CPU
/// time of `sampled` processes), stops them and sums what they counted.
async fn measure(
    tasks: Vec<tokio::task::JoinHandle<(u64, u64, Vec<u32>)>>,
    stop: Arc<AtomicBool>,
    measuring: Arc<AtomicBool>,
    duration: Duration,
    sampled: &[Sampled],
) -> Run {
    tokio::time::sleep(Duration::from_secs(1)).await;
    measuring.store(true, Ordering::Relaxed);
    let cpu_before: Vec<f64> = sampled.iter().map(|s| s.cpu_time_us()).collect();
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    measuring.store(false, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    let cpu_us: Vec<f64> = sampled
        .iter()
        .zip(&cpu_before)
        .map(|(s, before)| s.cpu_time_us() - before)
        .collect();
    stop.store(true, Ordering::Relaxed);
    let mut run = Run {
        requests: 0,
        errors: 0,
        seconds,
        latencies_us: Vec::new(),
        cpu_us,
    };
    for task in tasks {
        let (ok, errors, latencies) = task.await.expect("load task");
        run.requests += ok;
        run.errors += errors;
        run.latencies_us.extend(latencies);
    }
    run.latencies_us.sort_unstable();
    run
}

/// The ceiling: hyper answering 202 with a small JSON body after reading the
/// request body, no Kafka. Runs on its own 2-thread runtime, like the gateway,
/// on threads named [`CEILING_THREADS`] so that its CPU time can be told from
/// the load generator's.
fn start_ceiling_server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let thread = std::thread::Builder::new().name(CEILING_THREADS.into());
    thread
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name(CEILING_THREADS)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(async move {
                        let service =
                            service_fn(|request: Request<hyper::body::Incoming>| async move {
                                let _ = request.into_body().collect().await;
                                let mut response = Response::new(Full::new(Bytes::from_static(
                            b"{\"id\":\"x\",\"topic\":\"webhooks\",\"partition\":0,\"offset\":0}",
                        )));
                                *response.status_mut() = StatusCode::ACCEPTED;
                                Ok::<_, Infallible>(response)
                            });
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        })
        .expect("ceiling thread");
    addr
}

fn report(name: &str, run: &Run) {
    println!(
        "{name:<34} {:>9.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   non-202 {}",
        run.rps(),
        run.percentile_ms(0.50),
        run.percentile_ms(0.99),
        run.errors
    );
}

fn main() {
    let secs: u64 = harness::bench_setting("BENCH_SECS", 5);
    let connections: usize = harness::bench_setting("BENCH_CONNECTIONS", 64);
    let partitions: i32 = harness::bench_setting("BENCH_PARTITIONS", 3);
    // A fresh broker's JVM compiles its produce path for the first ~10 s
    // under load, and costs several times its warm CPU per record meanwhile.
    let warmup_secs: u64 = harness::bench_setting("BENCH_WARMUP_SECS", 10);
    let duration = Duration::from_secs(secs);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let ceiling_addr = start_ceiling_server();
        let broker = Kafka::start().await;
        create_topic(&broker.bootstrap(), "bench", partitions).await;
        // KAFKA_* (producer tuning) and TOKIO_* (TOKIO_WORKER_THREADS) in the
        // bench's environment reach the gateway, but not the broker the
        // harness points it at.
        let kafka = harness::bench_passthrough(&["KAFKA_", "TOKIO_"], &["KAFKA_BROKERS"]);
        let mut env: Vec<(&str, &str)> = kafka.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        env.push(("RUST_LOG", "warn"));
        let gateway = Gateway::start(&broker.bootstrap(), "bench", None, &env).await;
        gateway.wait_ready().await;

        println!("gateway bench: {connections} connections, {partitions} partitions, {secs} s per run, ~700 B bodies, broker = Kafka {} (one node) on loopback", harness::kafka::Installation::get().version());
        if warmup_secs > 0 {
            let warmup = Duration::from_secs(warmup_secs);
            let warmed = produce_load(&broker.bootstrap(), "bench", connections, warmup, broker.pid().expect("broker runs")).await;
            println!("broker warm-up: {warmup_secs} s of bare producing, {:.0} records/s", warmed.rps());
        }
        let ceiling = load(ceiling_addr, "/webhooks/genesys", connections, duration, &[Sampled::OwnThreads(CEILING_THREADS)]).await;
        report("ceiling (hyper, 202, no Kafka)", &ceiling);
        let hyper_us = ceiling.cpu_us[0] / ceiling.requests.max(1) as f64;
        println!("CPU per ceiling request: hyper {hyper_us:.1} us");
        let bare = produce_load(&broker.bootstrap(), "bench", connections, duration, broker.pid().expect("broker runs")).await;
        report("bare producer (ack, no HTTP)", &bare);
        let per_record = |cpu: f64| cpu / bare.requests.max(1) as f64;
        println!(
            "CPU per bare record: producer process {:.1} us, broker {:.1} us",
            per_record(bare.cpu_us[0]),
            per_record(bare.cpu_us[1])
        );
        let sampled = [
            Sampled::Process(gateway.pid()),
            Sampled::Process(broker.pid().expect("broker runs")),
        ];
        let measured = load(gateway.addr, "/webhooks/genesys", connections, duration, &sampled).await;
        report("gateway (202 after broker ack)", &measured);
        let peak_rss = harness::process::memory_mib("VmHWM", gateway.pid());
        println!("gateway peak RSS so far: {peak_rss:.1} MiB (target <= 64 MiB)");
        let per_request = |cpu: f64| cpu / measured.requests.max(1) as f64;
        println!(
            "CPU per accepted request: gateway {:.1} us, broker {:.1} us, together {:.1} us",
            per_request(measured.cpu_us[0]),
            per_request(measured.cpu_us[1]),
            per_request(measured.cpu_us[0] + measured.cpu_us[1])
        );
        // Issue 32's bars: the gateway's own CPU at most hyper's + 6 us, the
        // broker's at most 4 us at 256 connections.
        println!(
            "gateway CPU over hyper's: {:+.1} us per request (bar: <= +6 us)",
            per_request(measured.cpu_us[0]) - hyper_us
        );
        // Issue 13's bars: >= 0.40 of the ceiling with p99 <= 10 ms at 64
        // connections, >= 0.60 with p99 <= 15 ms at 256.
        let bar = match connections {
            64 => Some((0.40, 10.0)),
            256 => Some((0.60, 15.0)),
            _ => None,
        };
        let ratio = measured.rps() / ceiling.rps();
        println!(
            "ratio gateway/ceiling: {ratio:.2}   {}",
            bar.map_or("(no bar at this concurrency)".into(), |(r, p99)| format!(
                "(bar: >= {r:.2} with p99 <= {p99} ms: {})",
                if ratio >= r && measured.percentile_ms(0.99) <= p99 { "met" } else { "not met" }
            ))
        );
        println!(
            "ratio gateway/bare producer: {:.2}   (what HTTP and the gateway's own work leave of the broker's floor)",
            measured.rps() / bare.rps()
        );
        drop(gateway);
        drop(broker);
    });
}
