//! Routes librdkafka's logs and client errors into `tracing` without the
//! flood a broker outage causes: connection failures are debug (readiness
//! reports the outage once), everything else keeps its level.

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use tracing::{debug, error, trace, warn};

/// The client context of every plain client (producers, operator tools,
/// readers). Contexts with more to do call [`route_log`] and [`route_error`].
#[derive(Clone, Copy, Default)]
pub struct KafkaLog;

impl ClientContext for KafkaLog {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        route_log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        route_error(error, reason);
    }
}

impl ConsumerContext for KafkaLog {}

/// Logs one librdkafka log line at its level (connection failures at debug).
pub fn route_log(level: RDKafkaLogLevel, fac: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error
            if fac != "FAIL" =>
        {
            error!(target: "librdkafka", fac, message)
        }
        RDKafkaLogLevel::Warning if fac != "FAIL" => warn!(target: "librdkafka", fac, message),
        RDKafkaLogLevel::Debug => trace!(target: "librdkafka", fac, message),
        _ => debug!(target: "librdkafka", fac, message),
    }
}

/// The first authorisation refusal any client of this process was told of
/// (`GroupAuthorizationFailed` while finding a coordinator, say), for a
/// command that then only sees a timeout to say what really happened.
static REFUSED: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// The first authorisation refusal a client error reported, in librdkafka's words.
pub fn authorization_refused() -> Option<String> {
    crate::lock::lock(&REFUSED).clone()
}

/// Logs a client error (connection failures and partition ends at debug).
pub fn route_error(error: KafkaError, reason: &str) {
    let code = error.rdkafka_error_code();
    if let Some(
        RDKafkaErrorCode::GroupAuthorizationFailed
        | RDKafkaErrorCode::TopicAuthorizationFailed
        | RDKafkaErrorCode::ClusterAuthorizationFailed
        | RDKafkaErrorCode::TransactionalIdAuthorizationFailed,
    ) = code
    {
        crate::lock::lock(&REFUSED).get_or_insert_with(|| format!("{error}: {reason}"));
    }
    match code {
        Some(
            RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::PartitionEOF,
        ) => debug!(target: "librdkafka", %error, reason, "broker connection failed"),
        _ => warn!(target: "librdkafka", %error, reason, "client error"),
    }
}
