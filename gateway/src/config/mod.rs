//! Gateway configuration. Loading (defaults → TOML file → environment) is
//! the runtime crate's; this module declares the settings with their
//! defaults and environment variables, then validates them into a
//! [`GatewayConfig`]. Authentication that is misconfigured refuses to start:
//! a source is never silently unverified.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use switchboard_proto::limits::{main_record_limit, DEFAULT_MAX_BODY_BYTES};
use switchboard_runtime::config::{self as layering, ConfigError};
use switchboard_runtime::kafka::KafkaSettings;

use crate::source::{Source, SourceSettings};

/// Environment variables the gateway reads.
pub mod env {
    use switchboard_runtime::config::EnvVar;
    pub use switchboard_runtime::kafka::settings::{KAFKA_BROKERS, KAFKA_PREFIX};
    use switchboard_runtime::logging::{LOG_FORMAT, RUST_LOG};

    /// Listen address.
    pub const LISTEN: &str = "GATEWAY_LISTEN";
    /// Listen address of the admin endpoints (`/metrics`, `/livez`, `/readyz`).
    pub const ADMIN_LISTEN: &str = "GATEWAY_ADMIN_LISTEN";
    /// Default target topic.
    pub const TOPIC: &str = "SWITCHBOARD_TOPIC";
    /// Path of the TOML configuration file.
    pub const CONFIG: &str = "GATEWAY_CONFIG";
    /// Broker-ack deadline (`2s`).
    pub const DEADLINE: &str = "GATEWAY_DEADLINE";
    /// `Retry-After` on 429/503 (`1s`, whole seconds on the wire).
    pub const RETRY_AFTER: &str = "GATEWAY_RETRY_AFTER";
    /// Default largest body, bytes.
    pub const MAX_BODY_BYTES: &str = "GATEWAY_MAX_BODY_BYTES";
    /// Name of this gateway process, written into every envelope.
    pub const INSTANCE_ID: &str = "GATEWAY_INSTANCE_ID";
    /// Drain time on shutdown (`10s`).
    pub const SHUTDOWN_GRACE: &str = "GATEWAY_SHUTDOWN_GRACE";
    /// Connections served at once.
    pub const MAX_CONNECTIONS: &str = "GATEWAY_HTTP_MAX_CONNECTIONS";
    /// Time allowed for a request head (`5s`).
    pub const HEADER_READ_TIMEOUT: &str = "GATEWAY_HTTP_HEADER_READ_TIMEOUT";
    /// Time allowed for a whole request (`10s`).
    pub const REQUEST_TIMEOUT: &str = "GATEWAY_HTTP_REQUEST_TIMEOUT";
    /// Body bytes read or held at once, across all requests.
    pub const BODY_BUDGET_BYTES: &str = "GATEWAY_HTTP_BODY_BUDGET_BYTES";

    /// Each variable and the configuration key it sets.
    pub const VARIABLES: &[EnvVar] = &[
        EnvVar::text(LISTEN, "listen"),
        EnvVar::text(ADMIN_LISTEN, "admin_listen"),
        EnvVar::text(TOPIC, "topic"),
        EnvVar::text(DEADLINE, "deadline"),
        EnvVar::text(RETRY_AFTER, "retry_after"),
        EnvVar::scalar(MAX_BODY_BYTES, "max_body_bytes"),
        EnvVar::text(INSTANCE_ID, "instance_id"),
        EnvVar::text(SHUTDOWN_GRACE, "shutdown_grace"),
        EnvVar::scalar(MAX_CONNECTIONS, "http.max_connections"),
        EnvVar::text(HEADER_READ_TIMEOUT, "http.header_read_timeout"),
        EnvVar::text(REQUEST_TIMEOUT, "http.request_timeout"),
        EnvVar::scalar(BODY_BUDGET_BYTES, "http.body_budget_bytes"),
    ];

    /// Variables that were renamed, with what to set instead.
    pub const RENAMED: &[(&str, &str)] = &[("GATEWAY_DEADLINE_MS", "GATEWAY_DEADLINE=2s")];

    /// Every variable above, plus `KAFKA_*` pass-through, `LOG_FORMAT` and
    /// `RUST_LOG`: the whole environment contract (deployment files are
    /// checked against it).
    pub const ALL: &[&str] = &[
        KAFKA_BROKERS,
        CONFIG,
        LISTEN,
        ADMIN_LISTEN,
        TOPIC,
        DEADLINE,
        RETRY_AFTER,
        MAX_BODY_BYTES,
        INSTANCE_ID,
        SHUTDOWN_GRACE,
        MAX_CONNECTIONS,
        HEADER_READ_TIMEOUT,
        REQUEST_TIMEOUT,
        BODY_BUDGET_BYTES,
        LOG_FORMAT,
        RUST_LOG,
    ];
}

/// The built-in source that exists when no source is configured.
pub const DEFAULT_SOURCE: &str = "genesys";

/// Connection hygiene of the HTTP server (`[http]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpLimits {
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// A client must send its request head within this time.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A whole request (head and body) must arrive within this time.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Body bytes being read or held at once, across all requests; past it
    /// a request is answered `503` with `Retry-After` without its body being
    /// read. Sized for the pod's memory limit: slow senders cannot grow the
    /// process past it.
    pub body_budget_bytes: usize,
}

/// The default body budget: 128 MiB, a quarter of the 512 MiB pod limit in
/// `deploy/k8s` (the producer's queue may hold up to 256 MiB more).
pub const DEFAULT_BODY_BUDGET_BYTES: usize = 128 * 1024 * 1024;

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            body_budget_bytes: DEFAULT_BODY_BUDGET_BYTES,
        }
    }
}

/// The settings as written (file and environment), before validation.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySettings {
    listen: SocketAddr,
    admin_listen: SocketAddr,
    topic: String,
    #[serde(with = "humantime_serde")]
    deadline: Duration,
    #[serde(with = "humantime_serde")]
    retry_after: Duration,
    max_body_bytes: usize,
    instance_id: Option<String>,
    #[serde(with = "humantime_serde")]
    shutdown_grace: Duration,
    http: HttpLimits,
    kafka: KafkaSettings,
    sources: BTreeMap<String, SourceSettings>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8080)),
            admin_listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8081)),
            topic: switchboard_proto::DEFAULT_MAIN_TOPIC.to_owned(),
            deadline: Duration::from_secs(2),
            retry_after: Duration::from_secs(1),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            instance_id: None,
            shutdown_grace: Duration::from_secs(10),
            http: HttpLimits::default(),
            kafka: KafkaSettings::default(),
            sources: BTreeMap::new(),
        }
    }
}

/// The validated configuration the gateway runs with.
#[derive(Clone)]
pub struct GatewayConfig {
    /// Listen address of the webhooks (the public port).
    pub listen: SocketAddr,
    /// Listen address of `/metrics`, `/livez` and `/readyz` (not public).
    pub admin_listen: SocketAddr,
    /// How long a request waits for the broker's ack before `503`.
    pub deadline: Duration,
    /// `Retry-After` seconds on `503` and `429`.
    pub retry_after_secs: u64,
    /// Written into every envelope.
    pub instance_id: String,
    /// How long shutdown waits for in-flight requests, then again for the producer's flush.
    pub shutdown_grace: Duration,
    /// Connection hygiene.
    pub http: HttpLimits,
    /// librdkafka producer settings.
    pub kafka: KafkaSettings,
    /// Configured sources by name.
    pub sources: BTreeMap<String, Source>,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("listen", &self.listen)
            .field("admin_listen", &self.admin_listen)
            .field("deadline", &self.deadline)
            .field("instance_id", &self.instance_id)
            .field("kafka", &self.kafka)
            .field("sources", &self.sources.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The producer's `linger.ms`, kept low because a request waits for its
/// batch: at 64 connections a 5 ms linger alone would cap a gateway near
/// 10k requests/s.
pub const PRODUCER_LINGER_MS: u32 = 1;

/// Producer settings chosen for low latency with full durability.
fn default_kafka_settings(instance_id: &str) -> KafkaSettings {
    let mut settings = KafkaSettings::durable_producer(
        &format!("switchboard-gateway-{instance_id}"),
        PRODUCER_LINGER_MS,
    );
    settings.set("queue.buffering.max.kbytes", "262144");
    settings
}

/// Makes the producer take the largest record a source can accept: its
/// largest body plus the envelope's headroom ([`main_record_limit`]). librdkafka's own default
/// (1,000,000 bytes) is below the default body limit (1 MiB), and a body in
/// between would be answered 503 for ever. The default is raised; a value
/// the operator set too low refuses to start rather than silently lowering
/// the public body limit.
fn fit_records_to_bodies(
    kafka: &mut KafkaSettings,
    sources: &BTreeMap<String, Source>,
) -> Result<(), ConfigError> {
    let Some(largest) = sources.values().max_by_key(|s| s.max_body_bytes) else {
        return Ok(());
    };
    let needed = main_record_limit(largest.max_body_bytes);
    const SETTING: &str = "message.max.bytes";
    if !kafka.set_by_operator(SETTING) {
        kafka.set(SETTING, needed.to_string());
        return Ok(());
    }
    let set: usize = kafka.get(SETTING).and_then(|v| v.parse().ok()).unwrap_or(0);
    if set < needed {
        return Err(ConfigError::invalid(
            kafka.origin(SETTING),
            format!(
                "{set} bytes, but source {} accepts bodies up to {} bytes, which need records of up to {needed}: raise it (and the topic's max.message.bytes) or lower max_body_bytes",
                largest.name, largest.max_body_bytes
            ),
        ));
    }
    Ok(())
}

impl GatewayConfig {
    /// Reads the file (when given) and the environment `vars`, then validates.
    pub fn load(path: Option<&Path>, vars: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        layering::refuse_renamed(vars, env::RENAMED)?;
        Self::validate(layering::load(path, env::VARIABLES, vars)?, vars)
    }

    /// Like [`GatewayConfig::load`] with TOML text instead of a file.
    pub fn from_toml(text: &str, vars: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        layering::refuse_renamed(vars, env::RENAMED)?;
        Self::validate(layering::load_str(text, env::VARIABLES, vars)?, vars)
    }

    /// Turns loaded settings into the configuration the gateway runs with.
    fn validate(
        settings: GatewaySettings,
        vars: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        if settings.deadline.is_zero() {
            return Err(ConfigError::invalid(env::DEADLINE, "must be longer than 0"));
        }
        let instance_id = settings
            .instance_id
            .filter(|id| !id.is_empty())
            .or_else(|| vars.get("HOSTNAME").filter(|h| !h.is_empty()).cloned())
            .unwrap_or_else(|| format!("gateway-{}", std::process::id()));

        let mut kafka = default_kafka_settings(&instance_id);
        kafka.merge(&settings.kafka);
        kafka.apply_env(vars);
        if !kafka.acks_all() {
            return Err(ConfigError::invalid(
                "kafka acks",
                format!(
                    "{:?} would let the gateway answer 202 for an event that is not durable; only acks=all is allowed",
                    kafka.get("acks").unwrap_or("(unset)")
                ),
            ));
        }

        kafka
            .check()
            .map_err(|why| ConfigError::invalid("librdkafka settings", why))?;

        let mut source_settings = settings.sources;
        let builtin = source_settings.is_empty();
        if builtin {
            source_settings.insert(DEFAULT_SOURCE.to_owned(), SourceSettings::default());
        }
        let mut sources = BTreeMap::new();
        for (name, source) in source_settings {
            let resolved = Source::from_settings(
                &name,
                source,
                &settings.topic,
                settings.max_body_bytes,
                vars,
            )
            .map_err(|why| {
                let which = if builtin {
                    format!("source {name} (built in, as no [sources.NAME] is configured)")
                } else {
                    format!("source {name}")
                };
                ConfigError::invalid(which, why)
            })?;
            sources.insert(name, resolved);
        }

        fit_records_to_bodies(&mut kafka, &sources)?;
        let largest_body = sources
            .values()
            .map(|s| s.max_body_bytes)
            .max()
            .unwrap_or(0);
        if settings.http.body_budget_bytes < largest_body {
            return Err(ConfigError::invalid(
                "http.body_budget_bytes",
                format!(
                    "{} bytes is less than the largest body a source accepts ({largest_body}): such a body could never be read; raise it",
                    settings.http.body_budget_bytes
                ),
            ));
        }

        if settings.admin_listen == settings.listen && settings.listen.port() != 0 {
            return Err(ConfigError::invalid(
                "admin_listen",
                format!(
                    "{} is also the webhook address; the admin endpoints need a port of their own",
                    settings.admin_listen
                ),
            ));
        }
        Ok(GatewayConfig {
            listen: settings.listen,
            admin_listen: settings.admin_listen,
            deadline: settings.deadline,
            retry_after_secs: settings.retry_after.as_secs_f64().ceil().max(1.0) as u64,
            instance_id,
            shutdown_grace: settings.shutdown_grace,
            http: HttpLimits {
                max_connections: settings.http.max_connections.max(1),
                ..settings.http
            },
            kafka,
            sources,
        })
    }

    /// Every topic some source produces to.
    pub fn topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.sources.values().map(|s| s.topic.clone()).collect();
        topics.sort();
        topics.dedup();
        topics
    }
}

#[cfg(test)]
mod tests;
