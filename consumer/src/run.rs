//! Wires a configured consumer together and runs it to a clean stop: topic
//! check, hand-off producer, HTTP handler, group member on its own thread,
//! health endpoints, readiness probe.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use metrics_exporter_prometheus::PrometheusHandle;
use rdkafka::consumer::{BaseConsumer, Consumer};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::config::ConsumerConfig;
use crate::deliver::HttpDelivery;
use crate::handoff::HandoffProducer;
use crate::health::Health;
use crate::process::Pipeline;
use crate::topics::{check_group_topics, group_topics, partition_counts};
use crate::worker::{Worker, WorkerContext};

const PROBE_INTERVAL: Duration = Duration::from_secs(2);
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the consumer until `shutdown` resolves; `metrics_listener` serves the
/// health endpoints.
pub async fn run(
    config: ConsumerConfig,
    metrics_listener: TcpListener,
    metrics: PrometheusHandle,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    for stage in 0..config.ladder.len() {
        crate::metrics::init_stage(config.ladder.static_name(stage));
    }
    let producer = HandoffProducer::new(&config.producer_kafka)
        .context("cannot create the hand-off producer")?;
    let pipeline = Arc::new(Pipeline {
        handler: HttpDelivery::new(config.http.clone()),
        producer,
        ladder: config.ladder.clone(),
        stopping: AtomicBool::new(false),
    });
    let worker = Worker::new(
        &config.consumer_kafka,
        pipeline.clone(),
        config.worker.clone(),
        tokio::runtime::Handle::current(),
    )
    .context("cannot create the group consumer")?;

    // Refuse to start on missing topics or mismatched partition counts.
    let client = worker.client();
    let topics = group_topics(&config.ladder);
    let ladder = config.ladder.clone();
    let probe_topics = topics.clone();
    let probe_client = client.clone();
    tokio::task::spawn_blocking(move || {
        let counts = partition_counts(probe_client.client(), &probe_topics, METADATA_TIMEOUT)
            .context("cannot read topic metadata from the broker")?;
        check_group_topics(&ladder, &counts).map_err(anyhow::Error::from)
    })
    .await??;

    let health = Arc::new(Health::default());
    health.beat();
    let server = tokio::spawn(crate::health::serve(
        metrics_listener,
        health.clone(),
        metrics.clone(),
    ));
    let probe = tokio::spawn(probe_readiness(client, topics, health.clone()));
    let upkeep = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            metrics.run_upkeep();
        }
    });

    info!(
        group = config.ladder.topics().group(),
        topics = ?config.ladder.consumed_topics(),
        concurrency = config.worker.concurrency,
        "consumer starting"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let loop_stop = stop.clone();
    let loop_health = health.clone();
    let poll_loop = std::thread::Builder::new()
        .name("poll-loop".into())
        .spawn(move || worker.run(&loop_stop, &loop_health))
        .context("cannot start the poll loop")?;

    shutdown.await;
    info!("stopping");
    stop.store(true, Ordering::Relaxed);
    let joined = tokio::task::spawn_blocking(move || poll_loop.join()).await?;
    if joined.is_err() {
        warn!("the poll loop panicked");
    }
    probe.abort();
    upkeep.abort();
    server.abort();
    let flushed =
        tokio::task::spawn_blocking(move || pipeline.producer.flush(Duration::from_secs(5)))
            .await?;
    if let Err(error) = flushed {
        warn!(%error, "hand-off producer flush did not finish; unacknowledged hand-offs were not committed and will be redone");
    }
    info!("bye");
    Ok(())
}

async fn probe_readiness(
    client: Arc<BaseConsumer<WorkerContext<HttpDelivery>>>,
    topics: Vec<String>,
    health: Arc<Health>,
) {
    let mut was_ready = None;
    loop {
        let probe_client = client.clone();
        let probe_topics = topics.clone();
        let ready = tokio::task::spawn_blocking(move || {
            partition_counts(probe_client.client(), &probe_topics, METADATA_TIMEOUT)
                .map(|counts| counts.len() == probe_topics.len())
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        health.ready.store(ready, Ordering::Relaxed);
        crate::metrics::broker_ready(ready);
        if was_ready != Some(ready) {
            if ready {
                info!("broker reachable; ready");
            } else {
                warn!("broker unreachable or a group topic is missing; not ready");
            }
            was_ready = Some(ready);
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}
