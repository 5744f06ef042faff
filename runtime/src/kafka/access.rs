//! The start-up check of a process's Kafka identity: can it connect
//! (TLS and SASL), and may it do its job (the rights on its topics)? Each
//! refusal becomes one [`AccessError`], a one-line message naming the
//! cause and the identity, with an exit code of its own, instead of a
//! retry loop behind a `503` or a misleading "topic does not exist".
//!
//! A broker that does not answer at all is not an access error: the
//! process starts and its readiness reports the outage, as before.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer as _, ProducerContext};

use super::log::{route_error, route_log};
use super::rights::{topic_rights, Operation, TopicRights};
use super::KafkaSettings;
use crate::exit;

/// How long the start-up check waits for the broker's first answer.
pub const START_CHECK: Duration = Duration::from_secs(10);

/// One right a process needs: `operation` on `topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// The topic.
    pub topic: String,
    /// What the process does there.
    pub operation: Operation,
}

impl Need {
    /// `operation` on `topic`.
    pub fn new(topic: impl Into<String>, operation: Operation) -> Need {
        Need {
            topic: topic.into(),
            operation,
        }
    }
}

/// Why the broker would not let this process's identity in, or do its job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// SASL failed: wrong password, unknown user, or a mechanism the broker
    /// does not offer (exit [`exit::KAFKA_AUTHENTICATION`]).
    #[error("Kafka refused to authenticate {identity}: {cause} (librdkafka: {detail})")]
    Authentication {
        /// Who tried ([`identity`]).
        identity: String,
        /// The cause in words.
        cause: String,
        /// librdkafka's own words.
        detail: String,
    },
    /// The TLS handshake failed: unknown CA, expired certificate, a
    /// certificate for another host, or a client certificate the broker
    /// refused (exit [`exit::KAFKA_TLS`]).
    #[error("TLS with Kafka failed: {cause} (librdkafka: {detail})")]
    Tls {
        /// The cause in words.
        cause: String,
        /// librdkafka's own words.
        detail: String,
    },
    /// Authenticated, but the authorizer refuses rights the process needs
    /// (exit [`exit::KAFKA_NOT_AUTHORISED`]).
    #[error("{identity} is not authorised to {}; grant it these ACLs (see SECURITY.md)", missing.join(", "))]
    NotAuthorised {
        /// Who asked ([`identity`]).
        identity: String,
        /// Each missing right, `Operation on topic T`.
        missing: Vec<String>,
    },
}

impl AccessError {
    /// The same error with a certificate refusal's exact reason, when
    /// librdkafka gave none ([`super::tls_check`]).
    fn explained(self, settings: &KafkaSettings) -> AccessError {
        match self {
            AccessError::Tls { cause, detail } if cause == GENERIC_VERIFY => {
                let cause = match super::tls_check::verify_failure(settings) {
                    Some(reason) => format!("{} ({reason})", verify_cause(&reason)),
                    None => cause,
                };
                AccessError::Tls { cause, detail }
            }
            other => other,
        }
    }

    /// The process's exit code for this refusal.
    pub fn exit_code(&self) -> u8 {
        match self {
            AccessError::Authentication { .. } => exit::KAFKA_AUTHENTICATION,
            AccessError::Tls { .. } => exit::KAFKA_TLS,
            AccessError::NotAuthorised { .. } => exit::KAFKA_NOT_AUTHORISED,
        }
    }
}

/// Who `settings` make this process to the broker, in words: the SASL
/// user, the client certificate, or the anonymous principal.
pub fn identity(settings: &KafkaSettings) -> String {
    let protocol = settings
        .get("security.protocol")
        .unwrap_or("plaintext")
        .to_ascii_lowercase();
    if protocol.starts_with("sasl") {
        let mechanism = settings
            .get("sasl.mechanisms")
            .or(settings.get("sasl.mechanism"));
        match settings.get("sasl.username") {
            Some(user) => format!("user {user:?} (SASL {})", mechanism.unwrap_or("GSSAPI")),
            None => format!("the SASL {} identity", mechanism.unwrap_or("GSSAPI")),
        }
    } else if let Some(cert) = settings.get("ssl.certificate.location") {
        match certificate_subject(cert) {
            Some(subject) => format!("the client certificate {subject} ({cert})"),
            None => format!("the client certificate {cert}"),
        }
    } else {
        format!("the anonymous principal ({protocol})")
    }
}

/// The subject of the PEM certificate at `path` (`CN=…`), which brokers
/// map to the principal.
fn certificate_subject(path: &str) -> Option<String> {
    let pem = std::fs::read(path).ok()?;
    let cert = openssl::x509::X509::from_pem(&pem).ok()?;
    let parts: Vec<String> = cert
        .subject_name()
        .entries()
        .filter_map(|entry| {
            let key = entry.object().nid().short_name().ok()?;
            Some(format!("{key}={}", entry.data().to_string().ok()?))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

/// The access error a librdkafka client error stands for, if any: SASL
/// and TLS failures are; a broker that is down, slow or restarting is not.
pub fn classify(code: RDKafkaErrorCode, reason: &str, identity: &str) -> Option<AccessError> {
    let lower = reason.to_ascii_lowercase();
    let detail = reason.to_owned();
    if code == RDKafkaErrorCode::Authentication || lower.contains("sasl authentication error") {
        let cause = if lower.contains("unsupported sasl mechanism") {
            "the broker does not offer this SASL mechanism (sasl.mechanism); the reason lists those it does"
        } else if lower.contains("invalid credentials") || lower.contains("authentication failed") {
            "wrong user name or password"
        } else {
            "the broker refused the handshake"
        };
        return Some(AccessError::Authentication {
            identity: identity.to_owned(),
            cause: cause.to_owned(),
            detail,
        });
    }
    let tls = code == RDKafkaErrorCode::SSL
        || lower.contains("ssl handshake failed")
        || lower.contains("certificate verify failed");
    if !tls {
        return None;
    }
    // librdkafka gives no reason (or a guess: "could not be verified" for
    // an expired certificate too): `explained` asks OpenSSL.
    let cause = if lower.contains("certificate verify failed")
        || lower.contains("could not be verified")
    {
        GENERIC_VERIFY
    } else if lower.contains("alert") || lower.contains("disconnected") {
        "the broker refused this process's client certificate (ssl.certificate.location, ssl.key.location)"
    } else {
        "the TLS handshake failed"
    };
    Some(AccessError::Tls {
        cause: cause.to_owned(),
        detail,
    })
}

/// librdkafka's cause when it gives no reason for refusing a certificate.
const GENERIC_VERIFY: &str = "the broker's certificate was refused";

/// The cause of a certificate refusal, from OpenSSL's verification error.
fn verify_cause(reason: &str) -> &'static str {
    let reason = reason.to_ascii_lowercase();
    if reason.contains("expired") {
        "the broker's certificate has expired"
    } else if reason.contains("not yet valid") {
        "the broker's certificate is not valid yet (check the clocks)"
    } else if reason.contains("mismatch") {
        "the broker's certificate is for another host name than the one in bootstrap.servers"
    } else if reason.contains("issuer")
        || reason.contains("self-signed")
        || reason.contains("self signed")
    {
        "the broker's certificate is not signed by a CA this process trusts (ssl.ca.location)"
    } else {
        GENERIC_VERIFY
    }
}

/// A client context that remembers the first access error it was told
/// of, and whether every broker was found down.
#[derive(Clone, Default)]
struct Watch {
    identity: String,
    seen: Arc<Mutex<Seen>>,
}

#[derive(Clone, Default)]
struct Seen {
    refused: Option<AccessError>,
    all_down: bool,
}

impl Watch {
    fn seen(&self) -> Seen {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl ClientContext for Watch {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        route_log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        let found = code.and_then(|code| classify(code, reason, &self.identity));
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match found {
            Some(found) => {
                seen.refused.get_or_insert(found);
            }
            None => {
                seen.all_down |= code == Some(RDKafkaErrorCode::AllBrokersDown);
                drop(seen);
                route_error(error, reason);
            }
        }
    }
}

impl ProducerContext for Watch {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

/// Checks that `settings` let this process in and that its identity has
/// every one of `needs`, within [`START_CHECK`]. A broker that does not
/// answer (every one down, or silent that long) passes: readiness reports
/// the outage. So does one that does not report authorized operations.
/// Blocks: call it on a blocking thread.
pub fn check(settings: &KafkaSettings, needs: &[Need]) -> Result<(), AccessError> {
    let identity = identity(settings);
    let watch = Watch {
        identity: identity.clone(),
        ..Watch::default()
    };
    // The client only connects; it never produces.
    let Ok(client) = connection_settings(settings)
        .client_config()
        .create_with_context::<_, BaseProducer<Watch>>(watch.clone())
    else {
        // Bad settings are the settings check's to report.
        return Ok(());
    };
    let deadline = Instant::now() + START_CHECK;
    let answered = loop {
        let answer = client
            .client()
            .fetch_metadata(None, Duration::from_millis(500));
        client.poll(Duration::from_millis(100));
        let seen = watch.seen();
        if let Some(refused) = seen.refused {
            return Err(refused.explained(settings));
        }
        if answer.is_ok() {
            break true;
        }
        if seen.all_down {
            // Down, or a broker that ends the connection after the TLS
            // handshake (it refused the client certificate).
            if let Some(refused) = refused_after_handshake(settings) {
                return Err(refused);
            }
            break false;
        }
        if Instant::now() >= deadline {
            break false;
        }
    };
    if !answered || needs.is_empty() {
        return Ok(());
    }
    let topics: Vec<String> = needs
        .iter()
        .map(|n| n.topic.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let rights = match topic_rights(client.client(), &topics, Duration::from_secs(5)) {
        Ok(rights) => rights,
        Err(why) => {
            tracing::warn!(%why, "could not ask the broker for this identity's rights; starting without that check");
            return Ok(());
        }
    };
    tracing::debug!(?rights, "this identity's rights");
    let missing = missing_rights(needs, &rights);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(AccessError::NotAuthorised { identity, missing })
    }
}

/// The TLS refusal behind brokers that all look down, when the protocol is
/// TLS and a handshake of our own finds one.
fn refused_after_handshake(settings: &KafkaSettings) -> Option<AccessError> {
    let protocol = settings.get("security.protocol")?.to_ascii_uppercase();
    if !protocol.ends_with("SSL") {
        return None;
    }
    let reason = super::tls_check::verify_failure(settings)?;
    let cause = if reason.contains("alert") {
        "the broker refused this process's client certificate (ssl.certificate.location, ssl.key.location)"
    } else {
        verify_cause(&reason)
    };
    Some(AccessError::Tls {
        cause: format!("{cause} ({reason})"),
        detail: "every broker closed the connection".into(),
    })
}

/// Each of `needs` the broker's answer `rights` does not grant, in words.
/// A topic the broker may not even describe lacks `Describe` and the
/// needed right; an unknown topic or unknown rights grant nothing to
/// conclude from, so they are not listed.
pub fn missing_rights(
    needs: &[Need],
    rights: &std::collections::BTreeMap<String, TopicRights>,
) -> Vec<String> {
    let mut missing = Vec::new();
    for need in needs {
        let lacks = match rights.get(&need.topic) {
            Some(TopicRights::Allowed(ops)) => !ops.contains(&need.operation),
            Some(TopicRights::Refused(RDKafkaErrorCode::TopicAuthorizationFailed)) => true,
            _ => false,
        };
        let line = format!("{} topic {}", need.operation.name(), need.topic);
        if lacks && !missing.contains(&line) {
            missing.push(line);
        }
    }
    missing
}

/// Only what connecting needs: brokers, TLS, SASL, socket and client id.
fn connection_settings(settings: &KafkaSettings) -> KafkaSettings {
    const KEEP: &[&str] = &[
        "bootstrap.servers",
        "client.id",
        "security.protocol",
        "sasl.",
        "ssl.",
        "ssl_",
        "enable.ssl.",
        "enable.sasl.",
        "https.",
        "socket.",
        "broker.address.",
        "client.dns.lookup",
    ];
    settings.filtered(|key| KEEP.iter().any(|keep| key.starts_with(keep)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn sasl_and_tls_failures_are_named_and_outages_are_not_access_errors() {
        let who = "user \"x\" (SASL SCRAM-SHA-512)";
        let wrong = classify(
            RDKafkaErrorCode::Authentication,
            "sasl_ssl://127.0.0.1:1/bootstrap: SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512",
            who,
        )
        .expect("an access error");
        assert!(
            wrong.to_string().contains("wrong user name or password"),
            "{wrong}"
        );
        assert_eq!(wrong.exit_code(), exit::KAFKA_AUTHENTICATION);
        let unknown_ca = classify(
            RDKafkaErrorCode::SSL,
            "ssl://127.0.0.1:1/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified, verify that ssl.ca.location is correctly configured",
            who,
        )
        .expect("a TLS error");
        assert!(
            unknown_ca.to_string().contains(GENERIC_VERIFY),
            "{unknown_ca}"
        );
        assert_eq!(unknown_ca.exit_code(), exit::KAFKA_TLS);
        assert!(verify_cause("certificate has expired").contains("expired"));
        assert!(verify_cause("hostname mismatch").contains("another host"));
        assert_eq!(
            classify(
                RDKafkaErrorCode::BrokerTransportFailure,
                "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused",
                who
            ),
            None
        );
    }

    #[test]
    fn missing_rights_name_the_operation_and_topic_once() {
        let needs = [
            Need::new("webhooks", Operation::Write),
            Need::new("webhooks", Operation::Describe),
            Need::new("hidden", Operation::Read),
            Need::new("gone", Operation::Read),
            Need::new("old-broker", Operation::Read),
        ];
        let rights = BTreeMap::from([
            (
                "webhooks".to_owned(),
                TopicRights::Allowed(vec![Operation::Read, Operation::Describe]),
            ),
            (
                "hidden".to_owned(),
                TopicRights::Refused(RDKafkaErrorCode::TopicAuthorizationFailed),
            ),
            (
                "gone".to_owned(),
                TopicRights::Refused(RDKafkaErrorCode::UnknownTopicOrPartition),
            ),
            ("old-broker".to_owned(), TopicRights::Unknown),
        ]);
        assert_eq!(
            missing_rights(&needs, &rights),
            vec!["Write topic webhooks", "Read topic hidden"]
        );
    }

    #[test]
    fn identities_are_described_without_secrets() {
        let sasl = KafkaSettings::from_pairs([
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "switchboard-gateway"),
            ("sasl.password", "hunter2"),
        ]);
        let named = identity(&sasl);
        assert_eq!(named, "user \"switchboard-gateway\" (SASL SCRAM-SHA-512)");
        let tls = KafkaSettings::from_pairs([
            ("security.protocol", "SSL"),
            ("ssl.certificate.location", "/etc/tls/client.pem"),
        ]);
        assert_eq!(identity(&tls), "the client certificate /etc/tls/client.pem");
        assert_eq!(
            identity(&KafkaSettings::default()),
            "the anonymous principal (plaintext)"
        );
    }
}
