//! Switchboard on a Kafka that enforces security (TLS, SASL, mutual TLS,
//! `StandardAuthorizer` with no access without an ACL), each process signed
//! in as its own identity with exactly the ACLs of `deploy/strimzi`:
//! - [`rights`]: each identity does its job and is refused the others'.
//! - [`revoked`]: a right revoked while running is refused, counted and
//!   held for, and resumes when granted again.
//! - [`manifests`]: the deployment files sign in as these tests do.
//! - [`startup`]: credentials and certificates that cannot work end the
//!   process at start, in one line naming the cause, with its exit code.

mod manifests;
mod revoked;
mod rights;
mod startup;

use std::path::PathBuf;

use tokio::sync::OnceCell;

use crate::harness::kafka::acl::{create_acls, strimzi_acls};
use crate::harness::kafka::secured::{shared_secured_kafka, SecuredKafka};

/// The identities of `deploy/strimzi/switchboard.yaml`, with test passwords.
pub const GATEWAY: (&str, &str) = ("switchboard-gateway", "gateway-secret");
pub const CONSUMER: (&str, &str) = ("switchboard-consumer", "consumer-secret");
pub const OPERATOR: (&str, &str) = ("switchboard-operator", "operator-secret");

/// How every process signs in on the secured cluster, as the deployment
/// files do (checked by [`manifests`]).
pub const SECURITY_PROTOCOL: &str = "SASL_SSL";
pub const SASL_MECHANISM: &str = "SCRAM-SHA-512";

/// The names the Strimzi file's ACLs grant: its main topic and group.
pub const MAIN: &str = "webhooks";
pub const GROUP: &str = "crm-sync";

/// The secured cluster of this binary, with the Strimzi file's ACLs.
pub async fn cluster() -> &'static SecuredKafka {
    static ACLS: OnceCell<()> = OnceCell::const_new();
    let kafka = shared_secured_kafka(&[GATEWAY, CONSUMER, OPERATOR]).await;
    ACLS.get_or_init(|| async {
        create_acls(&kafka.super_user(), strimzi_acls(&strimzi_file())).await;
    })
    .await;
    kafka
}

/// The deployment's Strimzi resources: where the ACLs are written once.
pub fn strimzi_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/strimzi/switchboard.yaml")
}

/// SCRAM-SHA-512 over TLS as `identity`.
pub fn scram(kafka: &SecuredKafka, identity: (&str, &str)) -> Vec<(String, String)> {
    kafka.sasl_env(SASL_MECHANISM, identity.0, identity.1)
}

/// The names of the Strimzi file's KafkaUsers.
pub fn strimzi_users() -> Vec<String> {
    let mut users: Vec<String> = strimzi_acls(&strimzi_file())
        .into_iter()
        .filter_map(|rule| rule.principal.strip_prefix("User:").map(str::to_owned))
        .collect();
    users.dedup();
    users
}

/// `env` as the harness takes it.
pub fn borrowed(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}
