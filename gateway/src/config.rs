//! Gateway configuration: built-in defaults, then an optional TOML file, then
//! environment variables (so a container runs on env alone). Authentication
//! that is misconfigured refuses to start: a source is never silently
//! unverified.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::Deserialize;

use crate::signature::{SignatureEncoding, Verifier};
use crate::source::{IdFallback, IdLocator, Source};

/// Environment variables the gateway reads.
pub mod env {
    pub use switchboard_proto::kafka_env::{KAFKA_BROKERS, KAFKA_PREFIX};
    /// Listen address.
    pub const LISTEN: &str = "GATEWAY_LISTEN";
    /// Default target topic.
    pub const TOPIC: &str = "SWITCHBOARD_TOPIC";
    /// Path of the TOML configuration file.
    pub const CONFIG: &str = "GATEWAY_CONFIG";
    /// Broker-ack deadline, milliseconds.
    pub const DEADLINE_MS: &str = "GATEWAY_DEADLINE_MS";
    /// Default largest body, bytes.
    pub const MAX_BODY_BYTES: &str = "GATEWAY_MAX_BODY_BYTES";
    /// Name of this gateway process, written into every envelope.
    pub const INSTANCE_ID: &str = "GATEWAY_INSTANCE_ID";
    /// Every variable above, plus `KAFKA_*` pass-through, `LOG_FORMAT` and
    /// `RUST_LOG`: the whole environment contract (deployment files are
    /// checked against it).
    pub const ALL: &[&str] = &[
        KAFKA_BROKERS,
        LISTEN,
        TOPIC,
        CONFIG,
        DEADLINE_MS,
        MAX_BODY_BYTES,
        INSTANCE_ID,
        "LOG_FORMAT",
        "RUST_LOG",
    ];
}

/// The built-in source that exists when no source is configured.
pub const DEFAULT_SOURCE: &str = "genesys";

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
    /// An environment variable has a value that cannot be used.
    #[error("environment variable {name}={value:?} is invalid: {why}")]
    Env {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        why: String,
    },
    /// A source's settings are wrong.
    #[error("source {source_name:?}: {why}")]
    Source {
        /// The source.
        source_name: String,
        /// What is wrong.
        why: String,
    },
    /// A setting outside any source is wrong.
    #[error("{0}")]
    Invalid(String),
}

/// Limits that keep an internet-facing listener healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// A client must send its request head within this time.
    pub header_read_timeout: Duration,
    /// A whole request (head and body) must arrive within this time.
    pub request_timeout: Duration,
}

/// The resolved configuration the gateway runs with.
#[derive(Clone)]
pub struct GatewayConfig {
    /// Listen address.
    pub listen: SocketAddr,
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
    pub kafka: BTreeMap<String, String>,
    /// Configured sources by name.
    pub sources: BTreeMap<String, Source>,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets: kafka settings may hold SASL passwords, sources hold keys.
        f.debug_struct("GatewayConfig")
            .field("listen", &self.listen)
            .field("deadline", &self.deadline)
            .field("instance_id", &self.instance_id)
            .field("sources", &self.sources.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    topic: Option<String>,
    deadline_ms: Option<u64>,
    retry_after_secs: Option<u64>,
    max_body_bytes: Option<usize>,
    instance_id: Option<String>,
    shutdown_grace_ms: Option<u64>,
    #[serde(default)]
    http: HttpFile,
    #[serde(default)]
    kafka: BTreeMap<String, toml::Value>,
    #[serde(default)]
    sources: BTreeMap<String, SourceFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    max_connections: Option<usize>,
    header_read_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceFile {
    topic: Option<String>,
    event_id: Option<Vec<String>>,
    id_fallback: Option<IdFallbackFile>,
    max_body_bytes: Option<usize>,
    forward_headers: Option<Vec<String>>,
    auth: Option<AuthFile>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum IdFallbackFile {
    BodySha256,
    Reject,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum EncodingFile {
    Hex,
    Base64,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "scheme", rename_all = "kebab-case", deny_unknown_fields)]
enum AuthFile {
    None,
    ApiKey {
        header: String,
        #[serde(default)]
        secrets: Vec<String>,
        #[serde(default)]
        secrets_env: Vec<String>,
    },
    Basic {
        header: Option<String>,
        #[serde(default)]
        secrets: Vec<String>,
        #[serde(default)]
        secrets_env: Vec<String>,
    },
    HmacSha256 {
        header: String,
        encoding: EncodingFile,
        prefix: Option<String>,
        #[serde(default)]
        secrets: Vec<String>,
        #[serde(default)]
        secrets_env: Vec<String>,
    },
    StandardWebhooks {
        tolerance_secs: Option<u64>,
        #[serde(default)]
        secrets: Vec<String>,
        #[serde(default)]
        secrets_env: Vec<String>,
    },
    Github {
        #[serde(default)]
        secrets: Vec<String>,
        #[serde(default)]
        secrets_env: Vec<String>,
    },
    Stripe {
        tolerance_secs: Option<u64>,
        #[serde(default)]
        secrets: Vec<String>,
        #[serde(default)]
        secrets_env: Vec<String>,
    },
}

const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
const DEFAULT_BROKERS: &str = "localhost:9092";
const DEFAULT_DEADLINE_MS: u64 = 2_000;
const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
const DEFAULT_SIGNATURE_TOLERANCE_SECS: u64 = 300;
/// Headers that carry credentials: never copied into an envelope.
const NEVER_FORWARDED: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// Producer settings chosen for low latency with full durability. `linger.ms`
/// is kept low because a request waits for its batch: at 64 connections a
/// 5 ms linger alone would cap a gateway near 10k requests/s.
fn default_kafka_settings(instance_id: &str) -> BTreeMap<String, String> {
    [
        ("bootstrap.servers", DEFAULT_BROKERS.to_owned()),
        ("client.id", format!("switchboard-gateway-{instance_id}")),
        ("enable.idempotence", "true".into()),
        ("acks", "all".into()),
        // Topics are created by set-up with the partition count the consumer
        // group expects; a producer must never create one with broker defaults.
        ("allow.auto.create.topics", "false".into()),
        ("linger.ms", "1".into()),
        ("message.timeout.ms", "30000".into()),
        ("queue.buffering.max.kbytes", "262144".into()),
        ("socket.nagle.disable", "true".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

impl GatewayConfig {
    /// Reads the file (when given) and applies `vars` (normally `std::env::vars()`).
    pub fn load(path: Option<&Path>, vars: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let file = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                Self::parse_file(&text, &path.display().to_string())?
            }
            None => FileConfig::default(),
        };
        Self::resolve(file, vars)
    }

    /// Parses TOML text (exposed for tests and `--check`).
    pub fn from_toml(text: &str, vars: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        Self::resolve(Self::parse_file(text, "<inline>")?, vars)
    }

    fn parse_file(text: &str, path: &str) -> Result<FileConfig, ConfigError> {
        toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    fn resolve(file: FileConfig, vars: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let var = |name: &str| vars.get(name).filter(|v| !v.is_empty()).cloned();

        let listen = match var(env::LISTEN) {
            Some(v) => v.parse().map_err(|e| ConfigError::Env {
                name: env::LISTEN,
                value: v.clone(),
                why: format!("{e}"),
            })?,
            None => match file.listen {
                Some(l) => l,
                None => DEFAULT_LISTEN
                    .parse()
                    .map_err(|_| ConfigError::Invalid("bad default listen".into()))?,
            },
        };
        let default_topic = var(env::TOPIC)
            .or(file.topic)
            .unwrap_or_else(|| switchboard_proto::DEFAULT_MAIN_TOPIC.to_owned());
        let deadline_ms = parse_env_num(vars, env::DEADLINE_MS)?
            .or(file.deadline_ms)
            .unwrap_or(DEFAULT_DEADLINE_MS);
        if deadline_ms == 0 {
            return Err(ConfigError::Invalid(
                "deadline_ms must be greater than 0".into(),
            ));
        }
        let max_body_bytes = parse_env_num(vars, env::MAX_BODY_BYTES)?
            .map(|v| v as usize)
            .or(file.max_body_bytes)
            .unwrap_or(DEFAULT_MAX_BODY_BYTES);
        let instance_id = var(env::INSTANCE_ID)
            .or(file.instance_id)
            .or_else(|| var("HOSTNAME"))
            .unwrap_or_else(|| format!("gateway-{}", std::process::id()));

        let mut kafka = default_kafka_settings(&instance_id);
        for (key, value) in file.kafka {
            let value = match value {
                toml::Value::String(s) => s,
                other => other.to_string(),
            };
            kafka.insert(key, value);
        }
        switchboard_proto::kafka_env::apply_overrides(&mut kafka, vars);
        match kafka.get("acks").map(String::as_str) {
            Some("all") | Some("-1") => {}
            other => {
                return Err(ConfigError::Invalid(format!(
                    "kafka acks={other:?} would let the gateway answer 202 for an event that is not durable; only acks=all is allowed"
                )))
            }
        }

        let mut file_sources = file.sources;
        if file_sources.is_empty() {
            file_sources.insert(DEFAULT_SOURCE.to_owned(), SourceFile::default());
        }
        let mut sources = BTreeMap::new();
        for (name, source) in file_sources {
            let resolved = resolve_source(&name, source, &default_topic, max_body_bytes, vars)
                .map_err(|why| ConfigError::Source {
                    source_name: name.clone(),
                    why,
                })?;
            sources.insert(name, resolved);
        }

        Ok(GatewayConfig {
            listen,
            deadline: Duration::from_millis(deadline_ms),
            retry_after_secs: file.retry_after_secs.unwrap_or(1).max(1),
            instance_id,
            shutdown_grace: Duration::from_millis(file.shutdown_grace_ms.unwrap_or(10_000)),
            http: HttpLimits {
                max_connections: file.http.max_connections.unwrap_or(4096).max(1),
                header_read_timeout: Duration::from_millis(
                    file.http.header_read_timeout_ms.unwrap_or(5_000),
                ),
                request_timeout: Duration::from_millis(
                    file.http.request_timeout_ms.unwrap_or(10_000),
                ),
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

fn parse_env_num(
    vars: &BTreeMap<String, String>,
    name: &'static str,
) -> Result<Option<u64>, ConfigError> {
    match vars.get(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|e| ConfigError::Env {
            name,
            value: v.clone(),
            why: format!("{e}"),
        }),
    }
}

fn resolve_source(
    name: &str,
    file: SourceFile,
    default_topic: &str,
    default_max_body: usize,
    vars: &BTreeMap<String, String>,
) -> Result<Source, String> {
    switchboard_proto::topics::validate_name("source name", name).map_err(|e| e.to_string())?;
    let topic = file.topic.unwrap_or_else(|| default_topic.to_owned());
    switchboard_proto::topics::validate_name("topic", &topic).map_err(|e| e.to_string())?;

    let id_specs = file.event_id.unwrap_or_else(|| vec!["/id".to_owned()]);
    let mut id_locators = Vec::with_capacity(id_specs.len());
    for spec in id_specs {
        id_locators.push(parse_locator(&spec)?);
    }
    let id_fallback = match file.id_fallback.unwrap_or(IdFallbackFile::BodySha256) {
        IdFallbackFile::BodySha256 => IdFallback::BodySha256,
        IdFallbackFile::Reject => IdFallback::Reject,
    };
    let verifier = resolve_auth(file.auth.unwrap_or(AuthFile::None), vars)?;

    let mut credential_headers: Vec<String> =
        NEVER_FORWARDED.iter().map(|h| (*h).to_owned()).collect();
    match &verifier {
        Verifier::ApiKey { header, .. } | Verifier::Basic { header, .. } => {
            credential_headers.push((*header).to_owned())
        }
        _ => {}
    }
    let mut forward: Vec<String> = file
        .forward_headers
        .unwrap_or_else(|| vec!["user-agent".to_owned()]);
    forward.extend(verifier.signature_headers().iter().map(|h| (*h).to_owned()));
    forward.extend(id_locators.iter().filter_map(|l| match l {
        IdLocator::Header(h) => Some(h.as_str().to_owned()),
        IdLocator::Pointer(_) => None,
    }));
    let mut forward_headers = Vec::new();
    for header in forward {
        let parsed = http::HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| format!("invalid header name {header:?}"))?;
        if credential_headers
            .iter()
            .any(|c| c.eq_ignore_ascii_case(parsed.as_str()))
        {
            continue;
        }
        if !forward_headers.contains(&parsed) {
            forward_headers.push(parsed);
        }
    }

    Ok(Source {
        name: Box::leak(name.to_owned().into_boxed_str()),
        topic,
        id_locators,
        id_fallback,
        max_body_bytes: file.max_body_bytes.unwrap_or(default_max_body),
        verifier,
        forward_headers,
    })
}

fn parse_locator(spec: &str) -> Result<IdLocator, String> {
    if let Some(header) = spec.strip_prefix("header:") {
        let name = http::HeaderName::from_bytes(header.trim().as_bytes())
            .map_err(|_| format!("event_id entry {spec:?} names an invalid header"))?;
        Ok(IdLocator::Header(name))
    } else if spec.starts_with('/') {
        Ok(IdLocator::Pointer(spec.to_owned()))
    } else {
        Err(format!(
            "event_id entry {spec:?} is neither a JSON pointer (\"/id\") nor a header (\"header:X-Event-Id\")"
        ))
    }
}

/// Literal secrets plus the values of the named environment variables. A
/// named variable that is unset or empty, or no secret at all, is an error.
fn collect_secrets(
    literal: Vec<String>,
    from_env: Vec<String>,
    vars: &BTreeMap<String, String>,
) -> Result<Vec<Vec<u8>>, String> {
    let mut secrets: Vec<Vec<u8>> = literal
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(String::into_bytes)
        .collect();
    for name in from_env {
        match vars.get(&name).filter(|v| !v.is_empty()) {
            Some(value) => secrets.push(value.clone().into_bytes()),
            None => {
                return Err(format!(
                    "secret environment variable {name} is unset or empty"
                ))
            }
        }
    }
    if secrets.is_empty() {
        return Err("auth scheme needs at least one secret (secrets or secrets_env)".into());
    }
    Ok(secrets)
}

/// Leaks a header name once at start-up; sources live as long as the process.
fn static_header(header: &str) -> Result<&'static str, String> {
    let parsed = http::HeaderName::from_bytes(header.trim().as_bytes())
        .map_err(|_| format!("invalid header name {header:?}"))?;
    Ok(Box::leak(parsed.as_str().to_owned().into_boxed_str()))
}

fn resolve_auth(auth: AuthFile, vars: &BTreeMap<String, String>) -> Result<Verifier, String> {
    Ok(match auth {
        AuthFile::None => Verifier::None,
        AuthFile::ApiKey {
            header,
            secrets,
            secrets_env,
        } => Verifier::ApiKey {
            header: static_header(&header)?,
            keys: collect_secrets(secrets, secrets_env, vars)?,
        },
        AuthFile::Basic {
            header,
            secrets,
            secrets_env,
        } => {
            let credentials = collect_secrets(secrets, secrets_env, vars)?;
            if credentials.iter().any(|c| !c.contains(&b':')) {
                return Err("basic credentials must be written user:password".into());
            }
            Verifier::Basic {
                header: static_header(header.as_deref().unwrap_or("authorization"))?,
                credentials,
            }
        }
        AuthFile::HmacSha256 {
            header,
            encoding,
            prefix,
            secrets,
            secrets_env,
        } => Verifier::Hmac {
            header: static_header(&header)?,
            prefix: prefix.filter(|p| !p.is_empty()),
            encoding: match encoding {
                EncodingFile::Hex => SignatureEncoding::Hex,
                EncodingFile::Base64 => SignatureEncoding::Base64,
            },
            secrets: collect_secrets(secrets, secrets_env, vars)?,
        },
        AuthFile::StandardWebhooks {
            tolerance_secs,
            secrets,
            secrets_env,
        } => {
            let mut keys = Vec::new();
            for secret in collect_secrets(secrets, secrets_env, vars)? {
                let text = String::from_utf8(secret)
                    .map_err(|_| "standard-webhooks secret is not text".to_owned())?;
                let encoded = text.strip_prefix("whsec_").unwrap_or(&text);
                keys.push(
                    BASE64.decode(encoded).map_err(|_| {
                        "standard-webhooks secret must be whsec_<base64>".to_owned()
                    })?,
                );
            }
            Verifier::StandardWebhooks {
                secrets: keys,
                tolerance_secs: tolerance_secs.unwrap_or(DEFAULT_SIGNATURE_TOLERANCE_SECS),
            }
        }
        AuthFile::Github {
            secrets,
            secrets_env,
        } => Verifier::github(collect_secrets(secrets, secrets_env, vars)?),
        AuthFile::Stripe {
            tolerance_secs,
            secrets,
            secrets_env,
        } => Verifier::Stripe {
            secrets: collect_secrets(secrets, secrets_env, vars)?,
            tolerance_secs: tolerance_secs.unwrap_or(DEFAULT_SIGNATURE_TOLERANCE_SECS),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn no_config_gives_the_genesys_source_keyed_by_id() {
        let config = GatewayConfig::from_toml("", &vars(&[])).expect("valid");
        let genesys = &config.sources[DEFAULT_SOURCE];
        assert_eq!(genesys.topic, "webhooks");
        assert_eq!(genesys.id_locators, vec![IdLocator::Pointer("/id".into())]);
        assert_eq!(genesys.id_fallback, IdFallback::BodySha256);
        assert!(genesys.verifier.is_none());
        assert_eq!(config.deadline, Duration::from_secs(2));
        assert_eq!(genesys.max_body_bytes, 1024 * 1024);
        assert_eq!(config.kafka["acks"], "all");
        assert_eq!(config.kafka["enable.idempotence"], "true");
    }

    #[test]
    fn environment_overrides_file_and_passes_kafka_settings_through() {
        let toml = r#"
            listen = "127.0.0.1:1"
            topic = "from-file"
            [kafka]
            "linger.ms" = 2
        "#;
        let config = GatewayConfig::from_toml(
            toml,
            &vars(&[
                ("GATEWAY_LISTEN", "127.0.0.1:9999"),
                ("SWITCHBOARD_TOPIC", "from-env"),
                ("KAFKA_BROKERS", "b1:9092,b2:9092"),
                ("KAFKA_SASL_USERNAME", "user"),
                ("GATEWAY_DEADLINE_MS", "750"),
            ]),
        )
        .expect("valid");
        assert_eq!(config.listen, "127.0.0.1:9999".parse().expect("addr"));
        assert_eq!(config.sources[DEFAULT_SOURCE].topic, "from-env");
        assert_eq!(config.kafka["bootstrap.servers"], "b1:9092,b2:9092");
        assert_eq!(config.kafka["sasl.username"], "user");
        assert_eq!(config.kafka["linger.ms"], "2");
        assert!(!config.kafka.contains_key("brokers"));
        assert_eq!(config.deadline, Duration::from_millis(750));
    }

    #[test]
    fn misconfigured_auth_refuses_to_start() {
        let missing_env = r#"
            [sources.om.auth]
            scheme = "hmac-sha256"
            header = "X-Hub-Signature-256"
            encoding = "base64"
            secrets_env = ["OM_SECRET"]
        "#;
        let err = GatewayConfig::from_toml(missing_env, &vars(&[])).expect_err("refused");
        assert!(err.to_string().contains("OM_SECRET"), "{err}");
        let ok =
            GatewayConfig::from_toml(missing_env, &vars(&[("OM_SECRET", "s")])).expect("valid");
        assert!(!ok.sources["om"].verifier.is_none());
        assert!(ok.sources["om"]
            .forward_headers
            .iter()
            .any(|h| h == "x-hub-signature-256"));

        let no_secret = "[sources.gh.auth]\nscheme = \"github\"\n";
        assert!(GatewayConfig::from_toml(no_secret, &vars(&[])).is_err());
        let unknown_scheme = "[sources.x.auth]\nscheme = \"magic\"\n";
        assert!(GatewayConfig::from_toml(unknown_scheme, &vars(&[])).is_err());
        let bad_basic = "[sources.x.auth]\nscheme = \"basic\"\nsecrets = [\"nocolon\"]\n";
        assert!(GatewayConfig::from_toml(bad_basic, &vars(&[])).is_err());
        let weak_acks = "[kafka]\nacks = \"1\"\n";
        assert!(GatewayConfig::from_toml(weak_acks, &vars(&[])).is_err());
    }

    #[test]
    fn credentials_are_never_forwarded() {
        let toml = r#"
            [sources.eb]
            forward_headers = ["authorization", "x-api-key", "user-agent"]
            [sources.eb.auth]
            scheme = "api-key"
            header = "X-Api-Key"
            secrets = ["k"]
        "#;
        let config = GatewayConfig::from_toml(toml, &vars(&[])).expect("valid");
        let forwarded: Vec<&str> = config.sources["eb"]
            .forward_headers
            .iter()
            .map(|h| h.as_str())
            .collect();
        assert_eq!(forwarded, vec!["user-agent"]);
        assert!(
            !config.sources.contains_key(DEFAULT_SOURCE),
            "configured sources replace the default"
        );
    }

    #[test]
    fn shipped_example_config_is_valid() {
        let text = include_str!("../../deploy/config/gateway.example.toml");
        let config = GatewayConfig::from_toml(
            text,
            &vars(&[("GENESYS_OM_SECRET", "s"), ("EVENTBRIDGE_BASIC", "eb:pw")]),
        )
        .expect("example config is valid");
        assert!(config.sources.contains_key("genesys"));
        assert!(config.sources.contains_key("genesys-open-messaging"));
    }
}
