//! Wires a configured consumer together and runs it to a clean stop: topic
//! check, hand-off producer, HTTP handler, group member on its own thread,
//! admin endpoints, readiness probe.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use switchboard_runtime::admin::{self, Health};
use switchboard_runtime::exit::{Started, StopIncomplete};
use switchboard_runtime::kafka::access::{self, Need};
use switchboard_runtime::kafka::metadata::{partition_counts, topic_config};
use switchboard_runtime::kafka::rights::Operation;
use switchboard_runtime::kafka::{KafkaLog, KafkaSettings};
use switchboard_runtime::shutdown::Shutdown;
use tracing::{debug, info, warn};

use crate::config::ConsumerConfig;
use crate::destination::Destinations;
use crate::handoff::{Handoffs, Producers};
use crate::prefetch;
use crate::process::Pipeline;
use crate::topics::{check_group_topics, smaller_message_limits};
use crate::worker::{Stopped, Worker};

const PROBE_INTERVAL: Duration = Duration::from_secs(2);
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// The hand-off producer's last flush: the loop flushed the markers before
/// its final commit already, so this only catches stragglers.
const FINAL_FLUSH: Duration = Duration::from_secs(2);
/// A poll loop silent for longer than this is reported not live.
pub const LIVENESS_LIMIT: Duration = Duration::from_secs(60);

/// This process's name in the group, as delivery markers record it.
fn member(config: &ConsumerConfig) -> String {
    let kafka = &config.consumer_kafka;
    kafka
        .get("group.instance.id")
        .or_else(|| kafka.get("client.id"))
        .unwrap_or("unnamed")
        .to_owned()
}

/// Runs the consumer until the started shutdown resolves; it serves only
/// the admin endpoints.
pub async fn run(config: ConsumerConfig, started: Started) -> anyhow::Result<()> {
    let Started {
        admin: admin_listener,
        metrics,
        shutdown,
        ..
    } = started;
    for deprecation in &config.deprecations {
        warn!(%deprecation, "deprecated setting");
    }
    for stage in 0..config.ladder.len() {
        crate::metrics::init_stage(config.ladder.static_name(stage));
    }
    // Refuse to start on credentials, TLS or rights that cannot work, each
    // named (a topic it may not describe is not "missing").
    let (settings, needs) = (config.consumer_kafka.clone(), needs(&config));
    tokio::task::spawn_blocking(move || access::check(&settings, &needs))
        .await?
        .map_err(switchboard_runtime::exit::Coded::from)?;
    let producers = Producers::new(&config).context("cannot create the hand-off producers")?;
    // One stop, read by readiness, the poll loop and the hand-offs.
    let stop = Shutdown::new();
    let pipeline = Arc::new(Pipeline {
        handler: Destinations::new(config.http.clone()),
        handoffs: Handoffs::new(producers, stop.clone()),
        ladder: config.ladder.clone(),
        member: member(&config),
        filters: config.http.filters.clone(),
    });
    // Refuse to start on missing topics or mismatched partition counts; the
    // counts size each partition queue's share of the prefetch budget.
    let topics = config.ladder.all_topics();
    let partitions = main_partitions(&config, topics.clone()).await?;
    let consumer_kafka = sized_prefetch(&config, partitions);
    let worker = Worker::new(
        &consumer_kafka,
        pipeline.clone(),
        config.worker.clone(),
        tokio::runtime::Handle::current(),
    )
    .context("cannot create the group consumer")?;

    warn_about_message_limits(&config).await;

    let health = Arc::new(Health::beating_within(LIVENESS_LIMIT).stopping_with(&stop));
    // The trace endpoint, when enabled, answers beside /metrics and the probes.
    let trace = config
        .trace_endpoint
        .then(|| crate::ops::events::endpoint::extra(config.clone()));
    let server = tokio::spawn(admin::serve_with(
        admin_listener,
        health.clone(),
        metrics.clone(),
        trace,
    ));
    // Supervision keeps the hand-off producers usable and warm for their
    // first write; readiness reports what it found.
    let supervision: Vec<_> = pipeline
        .handoffs
        .producers()
        .each()
        .into_iter()
        .map(|producer| {
            tokio::spawn(switchboard_runtime::kafka::supervise(
                producer,
                topics.clone(),
                PROBE_INTERVAL,
                METADATA_TIMEOUT,
            ))
        })
        .collect();
    let probe_pipeline = pipeline.clone();
    let probe = tokio::spawn(admin::watch_readiness(
        health.clone(),
        crate::metrics::BROKER_READY,
        PROBE_INTERVAL,
        move || {
            probe_pipeline.handoffs.producers().health()?;
            match probe_pipeline.handoffs.stuck() {
                0 => Ok(()),
                stuck => Err(format!(
                    "the broker refuses {stuck} hand-off(s) (this identity is not authorised to write there, or the dead-letter topic refuses a pointer); their partitions are held (see the log)"
                )),
            }
        },
    ));
    let upkeep = tokio::spawn(admin::metrics_upkeep(metrics));

    info!(
        group = config.ladder.topics().group(),
        topics = ?config.ladder.consumed_topics(),
        concurrency = config.worker.concurrency,
        "consumer starting"
    );
    let loop_stop = stop.clone();
    let loop_health = health.clone();
    let (finished_tx, finished) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("poll-loop".into())
        .spawn(move || {
            let _ = finished_tx.send(worker.run(&loop_stop, &loop_health));
        })
        .context("cannot start the poll loop")?;

    // Until SIGTERM, or until the loop ends by itself (a fatal error).
    tokio::pin!(finished);
    let early = tokio::select! {
        _ = shutdown => None,
        outcome = &mut finished => Some(outcome),
    };
    info!(bound = ?config.worker.stop_bound(), "stopping");
    stop.begin();
    switchboard_runtime::exit::arm_stop_watchdog("consumer", config.worker.stop_bound());
    let outcome = match early {
        Some(outcome) => outcome,
        None => finished.await,
    }
    .unwrap_or_else(|_| Err("the poll loop panicked".to_owned()));
    probe.abort();
    for supervision in &supervision {
        supervision.abort();
    }
    upkeep.abort();
    server.abort();
    let flushed =
        tokio::task::spawn_blocking(move || pipeline.handoffs.producers().flush(FINAL_FLUSH))
            .await?;
    if let Err(error) = flushed {
        warn!(%error, "hand-off producer flush did not finish; unacknowledged hand-offs were not committed and will be redone");
    }
    match outcome.map_err(anyhow::Error::msg)? {
        Stopped::Clean => {
            info!("bye");
            Ok(())
        }
        Stopped::Incomplete(why) => Err(StopIncomplete(why).into()),
    }
}

/// Checks that the group's `topics` exist with the main topic's partition
/// count, on a client of its own (only the poll loop may hold the group
/// consumer at the end: its drop waits for the group to be left), and
/// returns that count.
async fn main_partitions(config: &ConsumerConfig, topics: Vec<String>) -> anyhow::Result<usize> {
    let (settings, ladder) = (config.consumer_kafka.plain_client(), config.ladder.clone());
    tokio::task::spawn_blocking(move || {
        let client: BaseConsumer<KafkaLog> = settings
            .client_config()
            .create_with_context(KafkaLog)
            .context("cannot create a client to read topic metadata")?;
        let counts = partition_counts(client.client(), &topics, METADATA_TIMEOUT)
            .context("cannot read topic metadata from the broker")?;
        check_group_topics(&ladder, &counts)?;
        Ok(counts.get(ladder.topics().main()).copied().unwrap_or(0))
    })
    .await?
}

/// The group consumer's settings with the prefetch budget shared by the
/// partition queues of every consumed topic ([`prefetch`]). Partitions added
/// to the topics later are not counted until the next start.
fn sized_prefetch(config: &ConsumerConfig, partitions: usize) -> KafkaSettings {
    let queues = partitions * config.ladder.consumed_topics().len();
    if prefetch::set_by_operator(&config.consumer_kafka) {
        info!(queues, "prefetch per partition queue as set (KAFKA_QUEUED_MAX_MESSAGES_KBYTES); the prefetch budget does not apply");
        return config.consumer_kafka.clone();
    }
    let share = prefetch::queue_share(config.prefetch_budget_bytes, queues);
    if share.floored {
        warn!(queues, budget_bytes = config.prefetch_budget_bytes, queue_kib = share.kib, "the prefetch budget is too small for this many partition queues: each prefetches its floor, together more than the budget (raise CONSUMER_PREFETCH_BUDGET_BYTES)");
    } else {
        info!(
            queues,
            budget_bytes = config.prefetch_budget_bytes,
            queue_kib = share.kib,
            "prefetch budget shared by the partition queues"
        );
    }
    prefetch::with_share(&config.consumer_kafka, share)
}

/// The topic rights a member needs: read what it consumes and the marker
/// log, write every hop, the dead-letter topic and the marker log.
fn needs(config: &ConsumerConfig) -> Vec<Need> {
    let ladder = &config.ladder;
    let mut needs: Vec<Need> = config
        .ladder
        .consumed_topics()
        .iter()
        .map(|topic| Need::new(topic.clone(), Operation::Read))
        .collect();
    needs.push(Need::new(ladder.delivered_topic(), Operation::Read));
    needs.extend(
        ladder
            .topics_beside_main()
            .into_iter()
            .map(|topic| Need::new(topic, Operation::Write)),
    );
    needs
}

/// Warns when a retry stage or the dead-letter topic takes smaller records
/// than the main topic (a record that fits the main topic would then become
/// an unroutable pointer at its first hop). Brokers that do not describe
/// topic configs are not asked twice.
async fn warn_about_message_limits(config: &ConsumerConfig) {
    let topics = config.ladder.topics_carrying_records();
    match topic_config(
        &config.consumer_kafka,
        &topics,
        "max.message.bytes",
        METADATA_TIMEOUT,
    )
    .await
    {
        Ok(limits) => {
            for (topic, limit, main) in smaller_message_limits(&config.ladder, &limits) {
                warn!(topic, limit, main, "this topic takes smaller records than the main topic: a record near the main topic's limit cannot be handed to it and is dead-lettered as a pointer; raise its max.message.bytes (consumer topics ensure adds 64 KiB of headroom)");
            }
        }
        Err(error) => debug!(%error, "could not compare the topics' max.message.bytes"),
    }
}
