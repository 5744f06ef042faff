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

mod identity;
mod refusal;
#[cfg(test)]
mod tests;

pub use identity::identity;
pub use refusal::{classify, AccessError};

use super::log::{route_error, route_log};
use super::rights::{topic_rights, Operation, TopicRights};
use super::KafkaSettings;
use refusal::refused_after_handshake;

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
        crate::lock::lock(&self.seen).clone()
    }
}

impl ClientContext for Watch {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        route_log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        let found = code.and_then(|code| classify(code, reason, &self.identity));
        let mut seen = crate::lock::lock(&self.seen);
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
