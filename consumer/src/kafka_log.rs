//! Routes librdkafka's logs and client errors into `tracing`. A broker outage
//! makes librdkafka report every failed connection; those are debug here and
//! readiness (`/readyz`, `switchboard_consumer_broker_ready`) reports the outage.

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use tracing::{debug, error, warn};

/// Context for the consumer's producer (and the base of the worker's context).
#[derive(Clone, Copy, Default)]
pub struct LogContext;

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        route_log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        route_error(error, reason);
    }
}

impl ConsumerContext for LogContext {}

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
        RDKafkaLogLevel::Debug => tracing::trace!(target: "librdkafka", fac, message),
        _ => debug!(target: "librdkafka", fac, message),
    }
}

/// Logs a client error (connection failures at debug).
pub fn route_error(error: KafkaError, reason: &str) {
    match error.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::PartitionEOF,
        ) => {
            debug!(target: "librdkafka", %error, reason, "broker connection failed")
        }
        _ => warn!(target: "librdkafka", %error, reason, "client error"),
    }
}
