//! Wires a configured gateway together and runs it to a clean stop: producer,
//! readiness probe, admin endpoints, webhook server, and on shutdown a
//! bounded producer flush.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use switchboard_runtime::admin::{self, Health};
use switchboard_runtime::exit::{Started, StopIncomplete};
use switchboard_runtime::kafka::access::{self, Need};
use switchboard_runtime::kafka::rights::Operation;
use tracing::{info, warn};

use crate::body::BodyBudget;
use crate::config::GatewayConfig;
use crate::http::{serve, App, Route};
use crate::ingest::IngestSettings;
use crate::metrics::SourceSeries;
use crate::producer::EventProducer;

/// How often readiness asks the broker about the target topics.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// The producer's flush once every connection is closed: what is still
/// queued then was answered `503` (its deadline passed) or its connection
/// closed at the end of the grace period, so its sender retries; the
/// flush only spares it the retry.
const FINAL_FLUSH: Duration = Duration::from_secs(5);
/// The watchdog's slack past the grace period and the final flush.
const STOP_SLACK: Duration = Duration::from_secs(5);

/// Runs the gateway on the started listener until its shutdown resolves.
pub async fn run(config: GatewayConfig, started: Started) -> anyhow::Result<()> {
    let Started {
        admin: admin_listener,
        public,
        metrics,
        shutdown,
    } = started;
    let listener = public.context("the gateway needs its webhook listener")?;
    for source in config.sources.values() {
        if source.verifier.is_none() {
            warn!(
                source = source.name,
                "source accepts unauthenticated requests (auth scheme none)"
            );
        }
    }
    let topics = config.topics();
    // Refuse to start on credentials, TLS or rights that cannot work, each
    // named, rather than answer 503 for ever.
    let (settings, needs) = (
        config.kafka.clone(),
        topics
            .iter()
            .map(|topic| Need::new(topic.clone(), Operation::Write))
            .collect::<Vec<_>>(),
    );
    tokio::task::spawn_blocking(move || access::check(&settings, &needs))
        .await?
        .map_err(switchboard_runtime::exit::Coded::from)?;
    let producer = EventProducer::new(&config.kafka, crate::metrics::PRODUCER_REBUILDS)?;
    // Ready from the first good probe until shutdown: during a broker outage
    // every gateway answers 503 with Retry-After itself (docs/gateway.md, "Behaviour under failure").
    let health = Arc::new(Health::always_live().staying_ready_through_outages());
    let app = Arc::new(App {
        sources: config
            .sources
            .iter()
            .map(|(name, source)| (name.clone(), Route::new(source.clone())))
            .collect(),
        unknown_source: SourceSeries::new(crate::metrics::UNKNOWN_SOURCE),
        in_flight: crate::metrics::in_flight_gauge(),
        settings: IngestSettings {
            deadline: config.deadline,
            retry_after_secs: config.retry_after_secs,
            instance_id: config.instance_id.clone(),
        },
        producer,
        health: health.clone(),
        limits: config.http.clone(),
        budget: BodyBudget::new(config.http.body_budget_bytes, config.retry_after_secs),
    });

    // Supervision replaces a producer that turned fatal or stalled (every
    // record older than the deadline was already answered 503, so replacing
    // it loses nothing acknowledged); readiness reports what it found.
    let supervised = app.clone();
    let timeout = config.deadline;
    let supervision = tokio::spawn(async move {
        supervised
            .producer
            .supervise(topics, PROBE_INTERVAL, timeout)
            .await
    });
    let probe_app = app.clone();
    let probe = tokio::spawn(admin::watch_readiness(
        health,
        crate::metrics::BROKER_READY,
        PROBE_INTERVAL,
        move || probe_app.producer.health(),
    ));
    let upkeep = tokio::spawn(admin::metrics_upkeep(metrics.clone()));
    let admin = tokio::spawn(admin::serve(admin_listener, app.health.clone(), metrics));
    info!(listen = %listener.local_addr()?, sources = ?config.sources.keys().collect::<Vec<_>>(), "gateway listening");

    let grace = config.shutdown_grace;
    let shutdown = async {
        shutdown.await;
        // From the signal on, the whole stop is bounded: the grace period
        // for in-flight requests, the final flush, and a little slack.
        switchboard_runtime::exit::arm_stop_watchdog("gateway", grace + FINAL_FLUSH + STOP_SLACK);
    };
    serve(listener, app.clone(), shutdown, grace).await;
    probe.abort();
    supervision.abort();
    upkeep.abort();

    let flush = grace.min(FINAL_FLUSH);
    let flushed = tokio::task::spawn_blocking(move || app.producer.flush(flush)).await?;
    admin.abort();
    match flushed {
        Ok(()) => {
            info!("producer flushed; bye");
            Ok(())
        }
        Err(error) => Err(StopIncomplete(format!(
            "the producer flush did not finish ({error}); records answered 202 are in Kafka, the rest were answered 503 and are retried by their senders"
        ))
        .into()),
    }
}
