//! Operator commands beside the worker: topic set-up, replay by resetting a
//! group's committed offsets, dead-letter inspection and re-drive. Every
//! command that changes something is a dry run unless `--execute` is given.
//!
//! One module per command, each with its arguments, what they ask for, its
//! plan and its run:
//! - [`topics`]: `consumer topics ensure`.
//! - [`offsets`]: `consumer offsets reset`, modelled on `kafka-consumer-groups --reset-offsets`.
//! - [`dlt`]: `consumer dlt list` and `consumer dlt redrive`, pointers included.
//! - [`events`]: `consumer events trace` and `consumer events redeliver` (and the trace endpoint).
//! - [`command`]: what they share: exit codes, the group, errors.

pub mod command;
pub mod dlt;
pub mod events;
pub mod offsets;
pub mod topics;

use rdkafka::error::KafkaError;
use rdkafka::ClientConfig;
use switchboard_runtime::kafka::metadata::partitions;
use switchboard_runtime::kafka::KafkaSettings;

/// How long an operator command waits for one broker request.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The group id of the operator's readers (`dlt list`, `dlt redrive`,
/// `events trace`): they assign partitions themselves and never commit, but
/// librdkafka needs a group to assign. The operator's ACLs grant Read on it.
pub const READER_GROUP: &str = "switchboard-dlt-reader";

/// Why an operator command did not do what was asked. Exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// Refused on purpose (active group, mismatched topics); the message says what to do.
    #[error("refused: {0}")]
    Refused(String),
    /// Something failed on the way.
    #[error("{0}")]
    Failed(String),
    /// The broker or client failed.
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
}

impl OpsError {
    /// The broker's authorisation refusal behind this error, in its words:
    /// the error itself, or one a client was told of on the way (a command
    /// whose group coordinator refused it sees only a timeout).
    pub fn refused_right(&self) -> Option<String> {
        use rdkafka::types::RDKafkaErrorCode as Code;
        if let OpsError::Kafka(error) = self {
            if let Some(
                Code::GroupAuthorizationFailed
                | Code::TopicAuthorizationFailed
                | Code::ClusterAuthorizationFailed,
            ) = error.rdkafka_error_code()
            {
                return Some(error.to_string());
            }
        }
        switchboard_runtime::kafka::log::authorization_refused()
    }

    /// Whether the brokers could not be reached (or refused the connection's
    /// security handshake): the fix is in the connection settings.
    pub fn is_unreachable(&self) -> bool {
        use rdkafka::types::RDKafkaErrorCode as Code;
        let OpsError::Kafka(error) = self else {
            return false;
        };
        matches!(
            error.rdkafka_error_code(),
            Some(
                Code::BrokerTransportFailure
                    | Code::AllBrokersDown
                    | Code::OperationTimedOut
                    | Code::RequestTimedOut
                    | Code::Resolve
                    | Code::Authentication
                    | Code::SaslAuthenticationFailed
                    | Code::SSL
            )
        )
    }
}

/// What to check when the brokers cannot be reached: the bootstrap address
/// as configured, and the security settings a TLS or SASL listener needs.
pub fn unreachable_hint(kafka: &KafkaSettings) -> String {
    let bootstrap = kafka.get("bootstrap.servers").unwrap_or("localhost:9092");
    let protocol = kafka.get("security.protocol").unwrap_or("plaintext");
    format!(
        "hint: no broker answered at {bootstrap} (KAFKA_BROKERS) over {protocol}. Check the address and port; \
         a TLS or SASL listener needs KAFKA_SECURITY_PROTOCOL=SSL|SASL_SSL, KAFKA_SASL_MECHANISM, \
         KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD and, for a private CA, KAFKA_SSL_CA_LOCATION"
    )
}

/// Client settings for an operator tool: the connection and security settings
/// of `kafka`, without the worker's group membership.
pub fn client_config(kafka: &KafkaSettings) -> ClientConfig {
    kafka.plain_client().client_config()
}

/// The settings of an operator's reader ([`READER_GROUP`]): it assigns
/// partitions itself, never commits, and is told when it reaches a
/// partition's end.
pub fn reader_config(kafka: &KafkaSettings) -> ClientConfig {
    let mut config = client_config(kafka);
    config
        .set("group.id", READER_GROUP)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true");
    config
}

/// The partitions of `topic`, or a clear error when it does not exist.
pub fn partitions_of<C: rdkafka::consumer::ConsumerContext>(
    consumer: &rdkafka::consumer::BaseConsumer<C>,
    topic: &str,
    timeout: std::time::Duration,
) -> Result<Vec<i32>, OpsError> {
    use rdkafka::consumer::Consumer as _;
    partitions(consumer.client(), topic, timeout)?
        .ok_or_else(|| OpsError::Failed(format!("topic {topic} does not exist")))
}

/// Renders rows as an aligned plain-text table (first row is the header).
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 < row.len() {
                line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A consumed record's headers, owned, in order (a header without a value
/// has an empty one).
pub fn owned_headers(message: &rdkafka::message::BorrowedMessage<'_>) -> Vec<(String, Vec<u8>)> {
    use rdkafka::message::{Headers, Message};
    message
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|hd| (hd.key.to_owned(), hd.value.unwrap_or_default().to_vec()))
                .collect()
        })
        .unwrap_or_default()
}

/// A unix-ms time as RFC 3339 (UTC, seconds).
pub fn instant(ms: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64),
    )
    .to_string()
}

/// Parses a point in time: RFC 3339 (`2026-11-23T09:05:00Z`) or a duration
/// ago (`30m`, `2h`), as unix milliseconds relative to `now_ms`.
pub fn parse_time(text: &str, now_ms: i64) -> Result<i64, String> {
    if humantime::parse_rfc3339_weak(text.trim()).is_ok() {
        return parse_instant(text);
    }
    match humantime::parse_duration(text.trim()) {
        Ok(ago) => Ok(now_ms - ago.as_millis() as i64),
        Err(_) => Err(format!(
            "{text:?} is neither an RFC 3339 time (2026-11-23T09:05:00Z) nor a duration (30m)"
        )),
    }
}

/// An RFC 3339 time (`2026-11-23T09:05:00Z`), unix milliseconds.
pub fn parse_instant(text: &str) -> Result<i64, String> {
    let at = humantime::parse_rfc3339_weak(text.trim())
        .map_err(|e| format!("{text:?} is not an RFC 3339 time (2026-11-23T09:05:00Z): {e}"))?;
    at.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .map_err(|_| format!("{text:?} is before 1970"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_a_duration_ago() {
        assert_eq!(parse_time("2026-11-23T09:05:00Z", 0), Ok(1_795_424_700_000));
        assert_eq!(parse_time("30m", 10_000_000), Ok(10_000_000 - 1_800_000));
        assert!(parse_time("yesterday", 0).is_err());
    }

    #[test]
    fn tables_align_columns() {
        let rows = vec![
            vec!["A".to_owned(), "LONG HEADER".into(), "X".into()],
            vec!["wide cell".to_owned(), "b".into(), "y".into()],
        ];
        assert_eq!(
            table(&rows),
            "A          LONG HEADER  X\nwide cell  b            y\n"
        );
    }
}
