//! Consumer configuration: built-in defaults, then an optional TOML file
//! (`CONSUMER_CONFIG`), then environment variables, so a container runs on
//! env alone.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use http::Uri;
use serde::Deserialize;
use switchboard_proto::GroupTopics;

use crate::deliver::HttpSettings;
use crate::stage::{default_retry_stages, parse_retry_stages, Ladder};
use crate::worker::WorkerSettings;

/// Environment variables the consumer reads.
pub mod env {
    pub use switchboard_proto::kafka_env::{KAFKA_BROKERS, KAFKA_PREFIX};
    /// Main topic.
    pub const TOPIC: &str = "SWITCHBOARD_TOPIC";
    /// Consumer group (also part of the retry and dead-letter topic names).
    pub const GROUP: &str = "CONSUMER_GROUP";
    /// Downstream URL for sources without their own.
    pub const DOWNSTREAM_URL: &str = "DOWNSTREAM_URL";
    /// Per-request downstream timeout (`5s`, `1500ms`).
    pub const DOWNSTREAM_TIMEOUT: &str = "DOWNSTREAM_TIMEOUT";
    /// Retry stages and delays, `retry-1m=60s,retry-10m=10m`.
    pub const RETRY_STAGES: &str = "RETRY_STAGES";
    /// Records in flight per partition.
    pub const CONCURRENCY: &str = "CONSUMER_CONCURRENCY";
    /// Address of `/metrics`, `/livez`, `/readyz`.
    pub const METRICS_LISTEN: &str = "CONSUMER_METRICS_LISTEN";
    /// Path of the TOML configuration file.
    pub const CONFIG: &str = "CONSUMER_CONFIG";
    /// Dedupe window (`24h`).
    pub const DEDUPE_WINDOW: &str = "CONSUMER_DEDUPE_WINDOW";
    /// Every variable above, plus `KAFKA_*` pass-through, `LOG_FORMAT` and
    /// `RUST_LOG`: the whole environment contract (deployment files are
    /// checked against it).
    pub const ALL: &[&str] = &[
        KAFKA_BROKERS,
        TOPIC,
        GROUP,
        DOWNSTREAM_URL,
        DOWNSTREAM_TIMEOUT,
        RETRY_STAGES,
        CONCURRENCY,
        METRICS_LISTEN,
        CONFIG,
        DEDUPE_WINDOW,
        "LOG_FORMAT",
        "RUST_LOG",
    ];
}

/// Why the configuration cannot be used. The process exits with code 64.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The path given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The path given.
        path: String,
        /// The TOML error.
        source: Box<toml::de::Error>,
    },
    /// A setting has a value that cannot be used.
    #[error("{setting}={value:?} is invalid: {why}")]
    Invalid {
        /// The variable or key.
        setting: String,
        /// Its value.
        value: String,
        /// What is wrong.
        why: String,
    },
    /// Something required is missing.
    #[error("{0}")]
    Missing(String),
}

/// The resolved configuration the consumer runs with.
#[derive(Clone)]
pub struct ConsumerConfig {
    /// Topics and retry stages.
    pub ladder: Ladder,
    /// Address of the metrics and health endpoints.
    pub metrics_listen: SocketAddr,
    /// Downstream delivery.
    pub http: HttpSettings,
    /// Poll-loop tuning.
    pub worker: WorkerSettings,
    /// librdkafka settings of the group consumer (and the marker reader).
    pub consumer_kafka: BTreeMap<String, String>,
    /// librdkafka settings of the hand-off producer.
    pub producer_kafka: BTreeMap<String, String>,
}

impl std::fmt::Debug for ConsumerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print kafka settings: they may hold SASL passwords.
        f.debug_struct("ConsumerConfig")
            .field("topics", &self.ladder.consumed_topics())
            .field("group", &self.ladder.topics().group())
            .field("metrics_listen", &self.metrics_listen)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    topic: Option<String>,
    group: Option<String>,
    concurrency: Option<usize>,
    metrics_listen: Option<SocketAddr>,
    retry_stages: Option<String>,
    dedupe_window: Option<String>,
    commit_interval: Option<String>,
    shutdown_grace: Option<String>,
    #[serde(default)]
    downstream: DownstreamFile,
    #[serde(default)]
    kafka: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DownstreamFile {
    url: Option<String>,
    timeout: Option<String>,
    max_hold: Option<String>,
    #[serde(default)]
    sources: BTreeMap<String, String>,
}

/// Settings that only a consumer understands; not given to the producer.
const CONSUMER_ONLY: &[&str] = &[
    "group.",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "auto.offset.reset",
    "enable.auto.",
    "auto.commit.",
    "partition.assignment.strategy",
    "fetch.",
    "isolation.level",
    "queued.",
    "enable.partition.eof",
    "check.crcs",
];
/// Settings that only a producer understands; not given to the consumers.
const PRODUCER_ONLY: &[&str] = &[
    "acks",
    "linger.ms",
    "enable.idempotence",
    "queue.buffering.",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "compression.",
    "batch.",
    "retries",
    "retry.backoff.ms",
    "transactional.id",
    "request.timeout.ms",
];

fn matches_any(key: &str, prefixes: &[&str]) -> bool {
    prefixes
        .iter()
        .any(|p| key == *p || (p.ends_with('.') && key.starts_with(p)))
}

impl ConsumerConfig {
    /// Reads the file (when given) and applies `vars` (normally `std::env::vars()`).
    pub fn load(path: Option<&Path>, vars: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let file = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.display().to_string(),
                    source: Box::new(source),
                })?
            }
            None => FileConfig::default(),
        };
        Self::resolve(file, vars)
    }

    fn resolve(file: FileConfig, vars: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let var = |name: &str| vars.get(name).filter(|v| !v.is_empty()).cloned();
        let invalid = |setting: &str, value: &str, why: String| ConfigError::Invalid {
            setting: setting.to_owned(),
            value: value.to_owned(),
            why,
        };
        let duration = |setting: &str, value: Option<String>, default: Duration| match value {
            None => Ok(default),
            Some(text) => humantime::parse_duration(text.trim())
                .map_err(|e| invalid(setting, &text, format!("{e} (examples: 500ms, 5s, 24h)"))),
        };

        let main = var(env::TOPIC)
            .or(file.topic)
            .unwrap_or_else(|| switchboard_proto::DEFAULT_MAIN_TOPIC.to_owned());
        let group = var(env::GROUP)
            .or(file.group)
            .unwrap_or_else(|| "switchboard".to_owned());
        let topics = GroupTopics::new(&main, &group)
            .map_err(|e| invalid("topic/group", &format!("{main}/{group}"), e.to_string()))?;
        let retries = match var(env::RETRY_STAGES).or(file.retry_stages) {
            Some(spec) => parse_retry_stages(&spec)
                .map_err(|e| invalid(env::RETRY_STAGES, &spec, e.to_string()))?,
            None => default_retry_stages(),
        };
        let ladder = Ladder::new(topics, retries);

        let concurrency = match var(env::CONCURRENCY) {
            Some(text) => text
                .trim()
                .parse::<usize>()
                .map_err(|e| invalid(env::CONCURRENCY, &text, e.to_string()))?,
            None => file.concurrency.unwrap_or(32),
        };
        if concurrency == 0 {
            return Err(invalid(env::CONCURRENCY, "0", "must be at least 1".into()));
        }
        let metrics_listen = match var(env::METRICS_LISTEN) {
            Some(text) => text
                .parse()
                .map_err(|e| invalid(env::METRICS_LISTEN, &text, format!("{e}")))?,
            None => file
                .metrics_listen
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 9091))),
        };

        let parse_url = |setting: &str, text: &str| -> Result<Uri, ConfigError> {
            let uri: Uri = text
                .parse()
                .map_err(|e| invalid(setting, text, format!("{e}")))?;
            match (uri.scheme_str(), uri.authority()) {
                (Some("http" | "https"), Some(_)) => Ok(uri),
                _ => Err(invalid(
                    setting,
                    text,
                    "must be an absolute http:// or https:// URL".into(),
                )),
            }
        };
        let default_url = match var(env::DOWNSTREAM_URL).or(file.downstream.url) {
            Some(text) => Some(parse_url(env::DOWNSTREAM_URL, &text)?),
            None => None,
        };
        let mut source_urls = BTreeMap::new();
        for (source, text) in &file.downstream.sources {
            source_urls.insert(
                source.clone(),
                parse_url(&format!("downstream.sources.{source}"), text)?,
            );
        }
        let http = HttpSettings {
            default_url,
            source_urls,
            timeout: duration(
                env::DOWNSTREAM_TIMEOUT,
                var(env::DOWNSTREAM_TIMEOUT).or(file.downstream.timeout),
                Duration::from_secs(5),
            )?,
            max_hold: duration(
                "downstream.max_hold",
                file.downstream.max_hold,
                Duration::from_secs(300),
            )?,
        };
        let worker = WorkerSettings {
            concurrency,
            commit_interval: duration(
                "commit_interval",
                file.commit_interval,
                Duration::from_millis(500),
            )?,
            drain_timeout: duration(
                "shutdown_grace",
                file.shutdown_grace,
                http.timeout + Duration::from_secs(5),
            )?,
            dedupe_window: duration(
                env::DEDUPE_WINDOW,
                var(env::DEDUPE_WINDOW).or(file.dedupe_window),
                Duration::from_secs(24 * 3600),
            )?,
            marker_load_timeout: Duration::from_secs(60),
        };

        let mut kafka = BTreeMap::new();
        for (key, value) in file.kafka {
            let value = match value {
                toml::Value::String(s) => s,
                other => other.to_string(),
            };
            kafka.insert(key, value);
        }
        switchboard_proto::kafka_env::apply_overrides(&mut kafka, vars);
        let client_id = var("HOSTNAME").unwrap_or_else(|| format!("pid-{}", std::process::id()));
        let mut consumer_kafka = consumer_defaults(&group, &client_id);
        let mut producer_kafka = producer_defaults(&client_id);
        for (key, value) in kafka {
            if !matches_any(&key, PRODUCER_ONLY) {
                consumer_kafka.insert(key.clone(), value.clone());
            }
            if !matches_any(&key, CONSUMER_ONLY) {
                producer_kafka.insert(key, value);
            }
        }
        // What the at-least-once design rests on is not configurable.
        for (key, value) in [
            ("group.id", group.as_str()),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
        ] {
            consumer_kafka.insert(key.into(), value.into());
        }
        match producer_kafka.get("acks").map(String::as_str) {
            Some("all" | "-1") => {}
            other => {
                return Err(invalid(
                    "kafka acks",
                    other.unwrap_or_default(),
                    "a retry or dead-letter record must be durable before its source offset is committed; only acks=all is allowed".into(),
                ))
            }
        }

        Ok(Self {
            ladder,
            metrics_listen,
            http,
            worker,
            consumer_kafka,
            producer_kafka,
        })
    }
}

impl ConsumerConfig {
    /// Checks what only `consumer run` needs: somewhere to deliver to.
    pub fn require_downstream(&self) -> Result<(), ConfigError> {
        if self.http.default_url.is_none() && self.http.source_urls.is_empty() {
            return Err(ConfigError::Missing(format!(
                "no downstream: set {} (or downstream.url / downstream.sources in the config file)",
                env::DOWNSTREAM_URL
            )));
        }
        Ok(())
    }

    /// Switches to another consumer group (its topics and `group.id`).
    pub fn set_group(&mut self, group: &str) -> Result<(), switchboard_proto::TopicNameError> {
        let topics = GroupTopics::new(self.ladder.topics().main(), group)?;
        self.ladder = Ladder::new(topics, self.ladder.retries().to_vec());
        self.consumer_kafka.insert("group.id".into(), group.into());
        Ok(())
    }

    /// The dedupe window (also the delivered-marker topic's retention floor).
    pub fn dedupe_window(&self) -> Duration {
        self.worker.dedupe_window
    }
}

fn consumer_defaults(group: &str, client_id: &str) -> BTreeMap<String, String> {
    [
        ("bootstrap.servers", "localhost:9092".to_owned()),
        ("client.id", format!("switchboard-consumer-{client_id}")),
        ("group.id", group.to_owned()),
        ("auto.offset.reset", "earliest".into()),
        // Topics are created by `consumer topics ensure`, never by a client.
        ("allow.auto.create.topics", "false".into()),
        // Range co-partitions the stages: partition p of every stage topic
        // goes to one member, which holds the dedupe state of p.
        ("partition.assignment.strategy", "range".into()),
        // Lag per partition comes from librdkafka's statistics.
        ("statistics.interval.ms", "5000".into()),
        ("socket.nagle.disable", "true".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn producer_defaults(client_id: &str) -> BTreeMap<String, String> {
    [
        ("bootstrap.servers", "localhost:9092".to_owned()),
        (
            "client.id",
            format!("switchboard-consumer-handoff-{client_id}"),
        ),
        ("enable.idempotence", "true".into()),
        ("acks", "all".into()),
        ("allow.auto.create.topics", "false".into()),
        ("linger.ms", "2".into()),
        ("message.timeout.ms", "30000".into()),
        ("socket.nagle.disable", "true".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_environment_alone_configures_a_consumer() {
        let config = ConsumerConfig::load(
            None,
            &vars(&[
                ("KAFKA_BROKERS", "b1:9092"),
                ("CONSUMER_GROUP", "crm"),
                ("DOWNSTREAM_URL", "http://crm.internal/hook"),
                ("RETRY_STAGES", "retry-1m=1s,retry-10m=2s"),
                ("CONSUMER_CONCURRENCY", "8"),
                ("KAFKA_SESSION_TIMEOUT_MS", "6000"),
                ("KAFKA_LINGER_MS", "0"),
            ]),
        )
        .expect("valid");
        assert_eq!(
            config.ladder.consumed_topics(),
            [
                "webhooks",
                "webhooks.crm.retry-1m",
                "webhooks.crm.retry-10m"
            ]
        );
        assert_eq!(config.ladder.delay(2), Duration::from_secs(2));
        assert_eq!(config.worker.concurrency, 8);
        assert_eq!(config.consumer_kafka["bootstrap.servers"], "b1:9092");
        assert_eq!(config.consumer_kafka["group.id"], "crm");
        assert_eq!(config.consumer_kafka["session.timeout.ms"], "6000");
        assert!(!config.producer_kafka.contains_key("session.timeout.ms"));
        assert_eq!(config.producer_kafka["linger.ms"], "0");
        assert!(!config.consumer_kafka.contains_key("linger.ms"));
        assert_eq!(config.consumer_kafka["enable.auto.commit"], "false");
        assert_eq!(config.http.timeout, Duration::from_secs(5));
        assert_eq!(config.metrics_listen.port(), 9091);
    }

    #[test]
    fn a_consumer_without_a_downstream_refuses_to_start() {
        let config = ConsumerConfig::load(None, &vars(&[])).expect("operators need no downstream");
        let error = config.require_downstream().expect_err("no downstream");
        assert!(error.to_string().contains("DOWNSTREAM_URL"), "{error}");
        let error = ConsumerConfig::load(None, &vars(&[("DOWNSTREAM_URL", "crm.internal")]))
            .expect_err("not absolute");
        assert!(error.to_string().contains("absolute"), "{error}");
    }

    #[test]
    fn auto_commit_and_weak_acks_cannot_be_switched_on() {
        let config = ConsumerConfig::load(
            None,
            &vars(&[
                ("DOWNSTREAM_URL", "http://x/"),
                ("KAFKA_ENABLE_AUTO_COMMIT", "true"),
            ]),
        )
        .expect("valid");
        assert_eq!(config.consumer_kafka["enable.auto.commit"], "false");
        let error = ConsumerConfig::load(
            None,
            &vars(&[("DOWNSTREAM_URL", "http://x/"), ("KAFKA_ACKS", "1")]),
        )
        .expect_err("acks=1");
        assert!(error.to_string().contains("acks=all"), "{error}");
    }

    #[test]
    fn shipped_example_config_is_valid() {
        let text = include_str!("../../deploy/config/consumer.example.toml");
        let file: FileConfig = toml::from_str(text).expect("parses");
        let config = ConsumerConfig::resolve(file, &BTreeMap::new()).expect("valid");
        assert!(config.http.source_urls.contains_key("genesys"));
        assert_eq!(config.ladder.len(), 3);
    }
}
