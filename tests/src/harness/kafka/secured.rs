//! A cluster that enforces security as production Kafka does: a `SASL_SSL`
//! listener (SCRAM-SHA-512 users created at format time, and PLAIN, the
//! managed services' mechanism), an `SSL` listener that demands a client
//! certificate, Kafka's `StandardAuthorizer` with no access without an ACL,
//! and the `PLAINTEXT` listener kept for the brokers themselves and for the
//! tests' own set-up as the super-user (`User:ANONYMOUS`), never for the
//! processes under test.

use std::path::Path;

use tokio::sync::OnceCell;

use super::pki::Pki;
use super::{Kafka, KafkaSpec};
use crate::harness::process::{log_dir, probably_free_port};

/// The secured listeners' ports of one node.
#[derive(Debug, Clone, Copy)]
pub struct SecuredPorts {
    /// `SASL_SSL`: SCRAM-SHA-512 or PLAIN over TLS.
    pub sasl_ssl: u16,
    /// `SSL` with a client certificate (mutual TLS).
    pub ssl: u16,
}

impl SecuredPorts {
    pub(super) fn free() -> SecuredPorts {
        SecuredPorts {
            sasl_ssl: probably_free_port(),
            ssl: probably_free_port(),
        }
    }

    /// Each listener's name (its security protocol too) and port.
    pub(super) fn listeners(&self) -> [(&'static str, u16); 2] {
        [("SASL_SSL", self.sasl_ssl), ("SSL", self.ssl)]
    }
}

/// What makes a cluster secured: its certificates and its users.
#[derive(Debug, Clone)]
pub struct Security {
    /// The CA and certificates.
    pub pki: Pki,
    /// `(user, password)`: SCRAM-SHA-512 and PLAIN credentials alike.
    pub users: Vec<(String, String)>,
}

impl Security {
    /// Certificates made under `dir`, and `users` with their passwords.
    pub fn new(dir: &Path, users: &[(&str, &str)]) -> Security {
        Security {
            pki: Pki::new(dir),
            users: users
                .iter()
                .map(|(u, p)| ((*u).to_owned(), (*p).to_owned()))
                .collect(),
        }
    }

    /// The brokers' security settings.
    pub(super) fn broker_settings(&self) -> Vec<(String, String)> {
        let plain_users: String = self
            .users
            .iter()
            .map(|(user, password)| format!(" user_{user}=\"{password}\""))
            .collect();
        let path = |p: &Path| p.to_string_lossy().into_owned();
        [
            ("sasl.enabled.mechanisms", "SCRAM-SHA-512,PLAIN".to_owned()),
            (
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required;".to_owned(),
            ),
            (
                "listener.name.sasl_ssl.plain.sasl.jaas.config",
                format!("org.apache.kafka.common.security.plain.PlainLoginModule required{plain_users};"),
            ),
            ("ssl.keystore.type", "PEM".to_owned()),
            ("ssl.keystore.location", path(&self.pki.broker_keystore())),
            ("ssl.truststore.type", "PEM".to_owned()),
            ("ssl.truststore.location", path(&self.pki.ca())),
            ("listener.name.ssl.ssl.client.auth", "required".to_owned()),
            // A client certificate's principal is its CN (`User:<cn>`).
            (
                "ssl.principal.mapping.rules",
                "RULE:^CN=([^,]*)$/$1/,DEFAULT".to_owned(),
            ),
            (
                "authorizer.class.name",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_owned(),
            ),
            ("allow.everyone.if.no.acl.found", "false".to_owned()),
            // The PLAINTEXT and controller listeners' principal.
            ("super.users", "User:ANONYMOUS".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The storage tool's arguments that create the SCRAM users.
    pub(super) fn format_args(&self) -> Vec<String> {
        self.users
            .iter()
            .flat_map(|(user, password)| {
                [
                    "--add-scram".to_owned(),
                    format!("SCRAM-SHA-512=[name={user},password={password}]"),
                ]
            })
            .collect()
    }
}

/// A running secured cluster (one node) and the way in for each identity.
pub struct SecuredKafka {
    /// The cluster; its `bootstrap()` is the super-user's PLAINTEXT door.
    pub kafka: Kafka,
    /// Its certificates.
    pub pki: Pki,
    ports: SecuredPorts,
}

impl SecuredKafka {
    /// A one-node secured cluster with `users`.
    pub async fn start(users: &[(&str, &str)]) -> SecuredKafka {
        let dir = log_dir().join(crate::harness::unique_topic("secured"));
        let security = Security::new(&dir.join("pki"), users);
        let pki = security.pki.clone();
        let mut spec = KafkaSpec::for_tests(1).secured(security);
        spec.dir = Some(dir.join("kafka"));
        let kafka = Kafka::start_with(spec).await;
        let ports = kafka.nodes()[0].address().secured.expect("a secured node");
        SecuredKafka { kafka, pki, ports }
    }

    /// The super-user's bootstrap (PLAINTEXT, for the tests' set-up only).
    pub fn super_user(&self) -> String {
        self.kafka.bootstrap()
    }

    /// The environment of a process that signs in as `user` with SASL
    /// `mechanism` (`SCRAM-SHA-512` or `PLAIN`) over TLS.
    pub fn sasl_env(&self, mechanism: &str, user: &str, password: &str) -> Vec<(String, String)> {
        vec![
            (
                "KAFKA_BROKERS".into(),
                format!("127.0.0.1:{}", self.ports.sasl_ssl),
            ),
            ("KAFKA_SECURITY_PROTOCOL".into(), "SASL_SSL".into()),
            ("KAFKA_SASL_MECHANISM".into(), mechanism.into()),
            ("KAFKA_SASL_USERNAME".into(), user.into()),
            ("KAFKA_SASL_PASSWORD".into(), password.into()),
            (
                "KAFKA_SSL_CA_LOCATION".into(),
                self.pki.ca().to_string_lossy().into_owned(),
            ),
        ]
    }

    /// The environment of a process that presents a client certificate
    /// for `common_name` (mutual TLS, principal `User:<common_name>`).
    pub fn mtls_env(&self, common_name: &str) -> Vec<(String, String)> {
        let (cert, key) = self.pki.client(common_name);
        vec![
            (
                "KAFKA_BROKERS".into(),
                format!("127.0.0.1:{}", self.ports.ssl),
            ),
            ("KAFKA_SECURITY_PROTOCOL".into(), "SSL".into()),
            (
                "KAFKA_SSL_CA_LOCATION".into(),
                self.pki.ca().to_string_lossy().into_owned(),
            ),
            (
                "KAFKA_SSL_CERTIFICATE_LOCATION".into(),
                cert.to_string_lossy().into_owned(),
            ),
            (
                "KAFKA_SSL_KEY_LOCATION".into(),
                key.to_string_lossy().into_owned(),
            ),
        ]
    }
}

/// The secured cluster shared by this binary's tests, with `users` (the
/// first caller's list wins: every caller passes the same one).
pub async fn shared_secured_kafka(users: &[(&str, &str)]) -> &'static SecuredKafka {
    static SHARED: OnceCell<SecuredKafka> = OnceCell::const_new();
    SHARED.get_or_init(|| SecuredKafka::start(users)).await
}
