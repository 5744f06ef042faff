//! What a refusal of the broker's is, in words and an exit code: SASL and
//! TLS failures from librdkafka's errors, made precise with OpenSSL's own
//! verification when librdkafka gives no reason.

use rdkafka::error::RDKafkaErrorCode;

use super::super::KafkaSettings;
use crate::exit;

/// Why the broker would not let this process's identity in, or do its job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// SASL failed: wrong password, unknown user, or a mechanism the broker
    /// does not offer (exit [`exit::KAFKA_AUTHENTICATION`]).
    #[error("Kafka refused to authenticate {identity}: {cause} (librdkafka: {detail})")]
    Authentication {
        /// Who tried (`identity`).
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
        /// Who asked (`identity`).
        identity: String,
        /// Each missing right, `Operation on topic T`.
        missing: Vec<String>,
    },
}

impl AccessError {
    /// The same error with a certificate refusal's exact reason, when
    /// librdkafka gave none ([`super::tls_check`]).
    pub(super) fn explained(self, settings: &KafkaSettings) -> AccessError {
        match self {
            AccessError::Tls { cause, detail } if cause == GENERIC_VERIFY => {
                let cause = match super::super::tls_check::verify_failure(settings) {
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
pub(super) const GENERIC_VERIFY: &str = "the broker's certificate was refused";

/// The cause of a certificate refusal, from OpenSSL's verification error.
pub(super) fn verify_cause(reason: &str) -> &'static str {
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

/// The TLS refusal behind brokers that all look down, when the protocol is
/// TLS and a handshake of our own finds one.
pub(super) fn refused_after_handshake(settings: &KafkaSettings) -> Option<AccessError> {
    let protocol = settings.get("security.protocol")?.to_ascii_uppercase();
    if !protocol.ends_with("SSL") {
        return None;
    }
    let reason = super::super::tls_check::verify_failure(settings)?;
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

impl From<AccessError> for exit::Coded {
    fn from(refused: AccessError) -> exit::Coded {
        exit::Coded {
            code: refused.exit_code(),
            message: refused.to_string(),
        }
    }
}
