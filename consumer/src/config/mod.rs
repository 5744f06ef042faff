//! Consumer configuration. Loading (defaults → TOML file `CONSUMER_CONFIG` →
//! environment) is the runtime crate's; this module declares the settings
//! with their defaults and environment variables, then validates them into
//! a [`ConsumerConfig`].

mod destination;
pub mod env;
mod kafka;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use switchboard_proto::GroupTopics;
use switchboard_runtime::config::{self as layering, ConfigError, RenamedTable};
use switchboard_runtime::kafka::KafkaSettings;

use crate::destination::HttpSettings;
use crate::prefetch::{DEFAULT_PREFETCH_BUDGET_BYTES, MIN_PREFETCH_BUDGET_BYTES};
use crate::stage::{default_retry_stages, parse_retry_stages, Ladder};
use crate::worker::WorkerSettings;
use destination::DestinationTable;

/// Tables renamed, read under their old names too for one release (with a
/// warning): `[downstream]` is `[destination]`, and `DOWNSTREAM_*` are
/// `DESTINATION_*`.
const RENAMED: &[RenamedTable] = &[RenamedTable {
    old: "downstream",
    new: "destination",
}];

/// The consumer group when none is configured.
pub const DEFAULT_GROUP: &str = "switchboard";

/// Delivery slots per partition when `CONSUMER_CONCURRENCY` is not set.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// The marker producer's default linger ([`env::MARKER_LINGER`]).
pub const DEFAULT_MARKER_LINGER: Duration = Duration::from_millis(50);

/// The longest marker linger allowed: a crash loses the markers still
/// waiting, and each lost one can let a copy of its event through.
pub const MAX_MARKER_LINGER: Duration = Duration::from_secs(1);

/// The settings as written (file and environment), before validation.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ConsumerSettings {
    topic: String,
    group: String,
    concurrency: usize,
    admin_listen: Option<SocketAddr>,
    /// Deprecated name of `admin_listen`.
    metrics_listen: Option<SocketAddr>,
    retry_stages: Option<String>,
    #[serde(with = "humantime_serde")]
    dedupe_window: Duration,
    #[serde(with = "humantime_serde")]
    commit_interval: Duration,
    #[serde(with = "humantime_serde")]
    marker_linger: Duration,
    #[serde(with = "humantime_serde")]
    shutdown_grace: Option<Duration>,
    instance_id: Option<String>,
    trace_endpoint: bool,
    prefetch_budget_bytes: u64,
    destination: DestinationTable,
    kafka: KafkaSettings,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        Self {
            topic: switchboard_proto::DEFAULT_MAIN_TOPIC.to_owned(),
            group: DEFAULT_GROUP.to_owned(),
            concurrency: DEFAULT_CONCURRENCY,
            admin_listen: None,
            metrics_listen: None,
            retry_stages: None,
            dedupe_window: Duration::from_secs(24 * 3600),
            commit_interval: Duration::from_millis(500),
            marker_linger: DEFAULT_MARKER_LINGER,
            shutdown_grace: None,
            instance_id: None,
            trace_endpoint: false,
            prefetch_budget_bytes: DEFAULT_PREFETCH_BUDGET_BYTES,
            destination: DestinationTable::default(),
            kafka: KafkaSettings::default(),
        }
    }
}

/// The admin listener's address: `admin_listen`, else its deprecated name
/// `metrics_listen` (with a deprecation to warn about), else `0.0.0.0:9091`.
fn admin_listen(settings: &ConsumerSettings) -> Result<(SocketAddr, Vec<String>), ConfigError> {
    let default = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 9091));
    match (settings.admin_listen, settings.metrics_listen) {
        (Some(new), Some(old)) if new != old => Err(ConfigError::invalid(
            env::ADMIN_LISTEN,
            format!("{new} differs from {old} given by its deprecated name ({} / metrics_listen); set only {} / admin_listen", env::METRICS_LISTEN, env::ADMIN_LISTEN),
        )),
        (Some(new), _) => Ok((new, Vec::new())),
        (None, Some(old)) => Ok((
            old,
            vec![format!(
                "{} / metrics_listen is deprecated and will be removed in the next release: set {} / admin_listen (the same address, {old})",
                env::METRICS_LISTEN,
                env::ADMIN_LISTEN
            )],
        )),
        (None, None) => Ok((default, Vec::new())),
    }
}

/// The validated configuration the consumer runs with.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Topics and retry stages.
    pub ladder: Ladder,
    /// Address of the admin listener (metrics, health, trace endpoint).
    pub admin_listen: SocketAddr,
    /// Deprecated settings that were used, each with what to write instead:
    /// warned about at start.
    pub deprecations: Vec<String>,
    /// Whether the admin listener answers `GET /events/{source}/{id}`.
    pub trace_endpoint: bool,
    /// Downstream delivery.
    pub http: HttpSettings,
    /// Poll-loop tuning.
    pub worker: WorkerSettings,
    /// Bytes of records this member may prefetch, all its partition queues
    /// together ([`crate::prefetch`]).
    pub prefetch_budget_bytes: u64,
    /// librdkafka settings of the group consumer (and the marker reader).
    pub consumer_kafka: KafkaSettings,
    /// librdkafka settings of the hand-off producer (hops, pointers).
    pub producer_kafka: KafkaSettings,
    /// librdkafka settings of the marker producer: the hand-off producer's,
    /// with the marker linger and a client id of its own.
    pub marker_kafka: KafkaSettings,
}

impl ConsumerConfig {
    /// Reads the file (when given) and the environment `vars`, then validates.
    pub fn load(path: Option<&Path>, vars: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let loaded = layering::load_renaming(path, env::VARIABLES, vars, RENAMED)?;
        Self::validate(loaded, vars)
    }

    /// Like [`ConsumerConfig::load`] with TOML text instead of a file.
    pub fn from_toml(text: &str, vars: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let loaded = layering::load_str_renaming(text, env::VARIABLES, vars, RENAMED)?;
        Self::validate(loaded, vars)
    }

    fn validate(
        (settings, renamed): (ConsumerSettings, Vec<String>),
        vars: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let topics = GroupTopics::new(&settings.topic, &settings.group).map_err(|e| {
            ConfigError::invalid(format!("{}/{}", env::TOPIC, env::GROUP), e.to_string())
        })?;
        let retries = match &settings.retry_stages {
            Some(spec) => parse_retry_stages(spec)
                .map_err(|e| ConfigError::invalid(env::RETRY_STAGES, e.to_string()))?,
            None => default_retry_stages(),
        };
        let ladder = Ladder::new(topics, retries);
        let (admin_listen, mut deprecations) = admin_listen(&settings)?;
        deprecations.extend(renamed);
        if settings.concurrency == 0 {
            return Err(ConfigError::invalid(env::CONCURRENCY, "must be at least 1"));
        }
        if settings.prefetch_budget_bytes < MIN_PREFETCH_BUDGET_BYTES {
            return Err(ConfigError::invalid(
                env::PREFETCH_BUDGET_BYTES,
                format!("must be at least {MIN_PREFETCH_BUDGET_BYTES} (1 MiB)"),
            ));
        }

        let http = destination::http_settings(&settings.destination, vars)?;
        let worker = WorkerSettings {
            concurrency: settings.concurrency,
            commit_interval: settings.commit_interval,
            drain_timeout: settings
                .shutdown_grace
                .unwrap_or(http.timeout + Duration::from_secs(5)),
            dedupe_window: settings.dedupe_window,
            marker_load_timeout: Duration::from_secs(60),
        };

        let mut given = settings.kafka;
        given.apply_env(vars);
        let client_id = vars
            .get("HOSTNAME")
            .filter(|h| !h.is_empty())
            .cloned()
            .unwrap_or_else(|| format!("pid-{}", std::process::id()));
        let mut consumer_kafka = kafka::consumer_settings(&settings.group, &client_id, &given);
        // Static membership: a restarted member with the same identity gets
        // its partitions back without a rebalance. An explicit empty value
        // turns it off.
        let instance_id = settings
            .instance_id
            .or_else(|| vars.get("HOSTNAME").cloned())
            .filter(|id| !id.trim().is_empty());
        if let Some(id) = instance_id {
            consumer_kafka.set("group.instance.id", id.trim());
        }
        let producer_kafka = kafka::producer_settings(&client_id, &given);
        if settings.marker_linger > MAX_MARKER_LINGER {
            return Err(ConfigError::invalid(
                env::MARKER_LINGER,
                format!(
                    "{:?} is over {MAX_MARKER_LINGER:?}: a crash loses the markers still waiting, and each can let a copy of its event through",
                    settings.marker_linger
                ),
            ));
        }
        let marker_kafka =
            kafka::marker_producer_settings(&client_id, &producer_kafka, settings.marker_linger);
        kafka::require_co_partitioning(&consumer_kafka)?;
        for settings in [&consumer_kafka, &producer_kafka, &marker_kafka] {
            settings
                .check()
                .map_err(|why| ConfigError::invalid("librdkafka settings", why))?;
        }
        if !producer_kafka.acks_all() {
            return Err(ConfigError::invalid(
                "kafka acks",
                format!(
                    "{:?}: a retry or dead-letter record must be durable before its source offset is committed; only acks=all is allowed",
                    producer_kafka.get("acks").unwrap_or("(unset)")
                ),
            ));
        }

        Ok(Self {
            ladder,
            admin_listen,
            deprecations,
            trace_endpoint: settings.trace_endpoint,
            http,
            worker,
            prefetch_budget_bytes: settings.prefetch_budget_bytes,
            consumer_kafka,
            producer_kafka,
            marker_kafka,
        })
    }

    /// Checks what only `consumer run` needs: somewhere to deliver to.
    pub fn require_destination(&self) -> Result<(), ConfigError> {
        if self.http.default.is_none() && self.http.sources.is_empty() {
            return Err(ConfigError::invalid(
                env::DESTINATION_URL,
                "no destination: set it (or destination.url / destination.sources in the config file)",
            ));
        }
        Ok(())
    }

    /// Switches to another consumer group (its topics and `group.id`).
    pub fn set_group(&mut self, group: &str) -> Result<(), switchboard_proto::TopicNameError> {
        let topics = GroupTopics::new(self.ladder.topics().main(), group)?;
        self.ladder = Ladder::new(topics, self.ladder.retries().to_vec());
        self.consumer_kafka.set("group.id", group);
        Ok(())
    }

    /// The dedupe window (also the delivered-marker topic's retention floor).
    pub fn dedupe_window(&self) -> Duration {
        self.worker.dedupe_window
    }
}

/// An environment of `pairs`, for the unit tests that load settings.
#[cfg(test)]
pub(crate) use layering::vars;

#[cfg(test)]
mod tests;
