//! librdkafka settings as every binary takes them: built-in defaults, then
//! the config file's `[kafka]` table, then the environment, where
//! `KAFKA_BROKERS` sets `bootstrap.servers` and every other `KAFKA_*`
//! variable is passed through (`KAFKA_SASL_USERNAME=u` sets `sasl.username`).
//! Values that hold credentials never appear in `Debug` output.

use std::collections::BTreeMap;
use std::fmt;

use rdkafka::ClientConfig;
use serde::{Deserialize, Deserializer};

/// Comma-separated bootstrap brokers.
pub const KAFKA_BROKERS: &str = "KAFKA_BROKERS";
/// Prefix of librdkafka pass-through settings.
pub const KAFKA_PREFIX: &str = "KAFKA_";

/// Parts of a setting name whose value is a credential.
const SECRET_MARKERS: &[&str] = &[
    "password",
    "secret",
    "oauthbearer.config",
    "key.pem",
    "ssl.key",
];

/// A set of librdkafka settings, each remembering where it was set (the
/// environment variable or the file key), so a bad one can be named as the
/// operator wrote it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaSettings(BTreeMap<String, String>, BTreeMap<String, String>);

/// Whether `name` is one of the variables Kubernetes injects for a Service
/// called `kafka` (`KAFKA_PORT=tcp://…`, `KAFKA_SERVICE_HOST`, …): never a
/// librdkafka setting, so it is skipped, with a warning.
pub fn is_service_link(name: &str) -> bool {
    name == "KAFKA_PORT" || name.starts_with("KAFKA_PORT_") || name.starts_with("KAFKA_SERVICE_")
}

impl KafkaSettings {
    /// Settings from `(name, value)` pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            BTreeMap::new(),
        )
    }

    /// What every Switchboard client starts from: a local broker, a client
    /// id, Nagle off (requests wait on acks), and never creating a topic
    /// (set-up creates them with the partition count the group expects).
    pub fn client_defaults(client_id: &str) -> Self {
        Self::from_pairs([
            ("bootstrap.servers", "localhost:9092".to_owned()),
            ("client.id", client_id.to_owned()),
            ("allow.auto.create.topics", "false".into()),
            ("socket.nagle.disable", "true".into()),
        ])
    }

    /// [`KafkaSettings::client_defaults`] for a producer whose records must
    /// be durable before anyone is told so: idempotent, `acks=all`, a record
    /// fails in the client after 30 s, and `linger_ms` of batching.
    ///
    /// Batches are lz4-compressed: webhook JSON shrinks severalfold, so the
    /// broker stores, replicates and serves fewer bytes, and on the test
    /// broker it cost less CPU per record (4.7 → 3.0 µs at 256 connections)
    /// for ~1 µs more in the producer (BENCHMARKS.md). lz4 is built into
    /// librdkafka; `zstd` is not (rdkafka is built without libzstd).
    pub fn durable_producer(client_id: &str, linger_ms: u32) -> Self {
        let mut settings = Self::client_defaults(client_id);
        settings.merge(&Self::from_pairs([
            ("enable.idempotence", "true".to_owned()),
            ("acks", "all".into()),
            ("message.timeout.ms", "30000".into()),
            ("linger.ms", linger_ms.to_string()),
            ("compression.type", "lz4".into()),
        ]));
        settings
    }

    /// How long a record may wait in the client before it fails
    /// (`message.timeout.ms`; librdkafka's default when unset is 300 s).
    pub fn message_timeout(&self) -> std::time::Duration {
        self.get("message.timeout.ms")
            .and_then(|ms| ms.parse().ok())
            .map_or(
                std::time::Duration::from_secs(300),
                std::time::Duration::from_millis,
            )
    }

    /// Sets `name` to `value`, replacing what was there.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every setting, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Applies `other` on top (its values, and where they were set, win).
    pub fn merge(&mut self, other: &KafkaSettings) {
        for (name, value) in other.iter() {
            self.set(name, value);
            match other.1.get(name) {
                Some(origin) => self.1.insert(name.to_owned(), origin.clone()),
                None => self.1.remove(name),
            };
        }
    }

    /// Whether the operator set `name` (file or environment), rather than a
    /// built-in default.
    pub fn set_by_operator(&self, name: &str) -> bool {
        self.1.contains_key(name)
    }

    /// Where `name` was set: the environment variable or file key, else
    /// `kafka setting NAME` for a built-in default.
    pub fn origin(&self, name: &str) -> String {
        self.1
            .get(name)
            .cloned()
            .unwrap_or_else(|| format!("kafka setting {name}"))
    }

    /// Checks every setting against librdkafka itself (unknown properties,
    /// values it refuses), naming where each bad one was set.
    pub fn check(&self) -> Result<(), String> {
        let problems: Vec<String> = self
            .iter()
            .filter_map(|(name, value)| {
                let mut one = ClientConfig::new();
                one.set(name, value);
                one.create_native_config()
                    .err()
                    .map(|error| format!("{}: {error}", self.origin(name)))
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Applies the `KAFKA_*` variables of `vars` on top. An empty
    /// `KAFKA_BROKERS` is ignored, and so are Kubernetes' service-link
    /// variables ([`is_service_link`]), with a warning.
    pub fn apply_env(&mut self, vars: &BTreeMap<String, String>) {
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix(KAFKA_PREFIX) else {
                continue;
            };
            if name == KAFKA_BROKERS || rest.is_empty() {
                continue;
            }
            if is_service_link(name) {
                tracing::warn!(variable = name.as_str(), "ignored: Kubernetes sets it for a Service named kafka, it is no librdkafka setting (set enableServiceLinks: false in the pod spec)");
                continue;
            }
            let property = rest.to_ascii_lowercase().replace('_', ".");
            self.1.insert(property.clone(), name.clone());
            self.set(property, value.clone());
        }
        if let Some(brokers) = vars.get(KAFKA_BROKERS).filter(|v| !v.is_empty()) {
            self.1
                .insert("bootstrap.servers".into(), KAFKA_BROKERS.into());
            self.set("bootstrap.servers", brokers.clone());
        }
    }

    /// The settings whose names `keep` accepts.
    pub fn filtered(&self, keep: impl Fn(&str) -> bool) -> KafkaSettings {
        Self(
            self.0
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            self.1
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// The settings of a client that is not a member of the group (admin
    /// clients, operator tools, the marker reader): every connection and
    /// security setting, without `group.*` (membership, static identity) and
    /// without statistics.
    pub fn plain_client(&self) -> KafkaSettings {
        self.filtered(|key| !key.starts_with("group.") && key != "statistics.interval.ms")
    }

    /// A librdkafka client configuration with every setting.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (name, value) in &self.0 {
            config.set(name, value);
        }
        config
    }

    /// Whether `acks` is `all` (or `-1`): what a record answered as durable needs.
    pub fn acks_all(&self) -> bool {
        matches!(self.get("acks"), Some("all" | "-1"))
    }
}

/// Whether a setting's value is a credential to keep out of logs.
pub fn is_secret(name: &str) -> bool {
    SECRET_MARKERS.iter().any(|marker| name.contains(marker))
}

impl fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let shown = if is_secret(k) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k, shown)
            }))
            .finish()
    }
}

/// A value in the file's `[kafka]` table: text, number or boolean, all
/// passed to librdkafka as text.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl<'de> Deserialize<'de> for KafkaSettings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let table = BTreeMap::<String, Scalar>::deserialize(deserializer)?;
        let origins = table
            .keys()
            .map(|name| (name.clone(), format!("[kafka] {name:?}")))
            .collect();
        let values = table
            .into_iter()
            .map(|(name, value)| {
                let text = match value {
                    Scalar::Text(text) => text,
                    Scalar::Integer(n) => n.to_string(),
                    Scalar::Float(x) => x.to_string(),
                    Scalar::Bool(b) => b.to_string(),
                };
                (name, text)
            })
            .collect();
        Ok(Self(values, origins))
    }
}

impl serde::Serialize for KafkaSettings {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brokers_and_pass_through_settings_are_applied() {
        let mut settings = KafkaSettings::from_pairs([("linger.ms", "1")]);
        let vars = BTreeMap::from([
            ("KAFKA_BROKERS".to_owned(), "b1:9092".to_owned()),
            ("KAFKA_SASL_USERNAME".to_owned(), "user".to_owned()),
            ("KAFKA_LINGER_MS".to_owned(), "2".to_owned()),
            ("PATH".to_owned(), "/bin".to_owned()),
        ]);
        settings.apply_env(&vars);
        assert_eq!(settings.get("bootstrap.servers"), Some("b1:9092"));
        assert_eq!(settings.get("sasl.username"), Some("user"));
        assert_eq!(settings.get("linger.ms"), Some("2"));
        assert_eq!(settings.iter().count(), 3);
    }

    #[test]
    fn service_links_are_ignored_and_bad_settings_are_named_by_their_variable() {
        let mut settings = KafkaSettings::from_pairs([("acks", "all")]);
        let vars = BTreeMap::from([
            ("KAFKA_PORT".to_owned(), "tcp://10.0.0.1:9092".to_owned()),
            ("KAFKA_PORT_9092_TCP_ADDR".to_owned(), "10.0.0.1".to_owned()),
            ("KAFKA_SERVICE_HOST".to_owned(), "10.0.0.1".to_owned()),
            ("KAFKA_SECURITY_PROTOCL".to_owned(), "SSL".to_owned()),
            ("KAFKA_LINGER_MS".to_owned(), "soon".to_owned()),
        ]);
        settings.apply_env(&vars);
        assert_eq!(settings.get("port"), None);
        assert_eq!(settings.get("service.host"), None);
        let problems = settings.check().expect_err("a typo and a bad value");
        assert!(problems.contains("KAFKA_SECURITY_PROTOCL"), "{problems}");
        assert!(problems.contains("KAFKA_LINGER_MS"), "{problems}");
        assert!(!problems.contains("acks"), "{problems}");
        let file: KafkaSettings = serde_json::from_str(r#"{"lingr.ms": 5}"#).expect("parses");
        let problems = file.check().expect_err("unknown");
        assert!(problems.contains(r#"[kafka] "lingr.ms""#), "{problems}");
        assert!(KafkaSettings::durable_producer("x", 1).check().is_ok());
    }

    #[test]
    fn durable_producers_compress_with_a_codec_librdkafka_has_built_in() {
        let settings = KafkaSettings::durable_producer("x", 1);
        assert_eq!(settings.get("compression.type"), Some("lz4"));
        let producer: Result<rdkafka::producer::BaseProducer, _> =
            settings.client_config().create();
        assert!(producer.is_ok(), "{:?}", producer.err());
    }

    #[test]
    fn managed_service_shapes_reach_librdkafka() {
        // SASL/PLAIN over TLS: Confluent Cloud, Azure Event Hubs' Kafka endpoint.
        let plain = KafkaSettings::from_pairs([
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "$ConnectionString"),
            (
                "sasl.password",
                "Endpoint=sb://example.servicebus.windows.net/;SharedAccessKey=x",
            ),
        ]);
        // SASL/OAUTHBEARER with OIDC client credentials: Strimzi with
        // Keycloak, Confluent Cloud. It needs librdkafka built with libcurl.
        let oidc = KafkaSettings::from_pairs([
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "OAUTHBEARER"),
            ("sasl.oauthbearer.method", "oidc"),
            ("sasl.oauthbearer.client.id", "switchboard-gateway"),
            ("sasl.oauthbearer.client.secret", "s3cret"),
            (
                "sasl.oauthbearer.token.endpoint.url",
                "https://keycloak.example/realms/kafka/protocol/openid-connect/token",
            ),
            ("sasl.oauthbearer.scope", "kafka"),
        ]);
        for settings in [plain, oidc] {
            assert_eq!(settings.check(), Ok(()), "{settings:?}");
            let client: Result<rdkafka::producer::BaseProducer, _> =
                settings.client_config().create();
            assert!(client.is_ok(), "{:?}", client.err());
            let shown = format!("{settings:?}");
            assert!(
                !shown.contains("s3cret") && !shown.contains("SharedAccessKey"),
                "{shown}"
            );
        }
    }

    #[test]
    fn credentials_never_show_in_debug_output() {
        let settings =
            KafkaSettings::from_pairs([("sasl.password", "hunter2"), ("sasl.username", "u")]);
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("\"u\""), "{shown}");
    }

    #[test]
    fn file_values_of_any_scalar_type_become_text() {
        let settings: KafkaSettings =
            serde_json::from_str(r#"{"linger.ms": 5, "enable.idempotence": true, "acks": "all"}"#)
                .expect("parses");
        assert_eq!(settings.get("linger.ms"), Some("5"));
        assert_eq!(settings.get("enable.idempotence"), Some("true"));
        assert!(settings.acks_all());
    }
}
