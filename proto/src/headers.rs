//! Kafka record header names. Every component reads and writes headers through
//! these constants; values are UTF-8 text (numbers in decimal).

/// The event id (also the record key), so tools can filter without decoding.
pub const EVENT_ID: &str = "sb-event-id";
/// The configured source name.
pub const SOURCE: &str = "sb-source";
/// The event's type (a source's `event_type`, such as EventBridge's
/// `detail-type`), when it has one: consumers filter on it without decoding
/// the value.
pub const EVENT_TYPE: &str = "sb-event-type";
/// The envelope schema version of the value.
pub const SCHEMA_VERSION: &str = "sb-schema-version";
/// W3C trace context, copied from the HTTP request when present.
pub const TRACEPARENT: &str = "traceparent";

/// Delivery attempts made so far (1 after the first failure).
pub const ATTEMPT: &str = "sb-attempt";
/// When a retry record may be handled, unix milliseconds.
pub const DUE_AT: &str = "sb-due-at";
/// When the first attempt failed, unix milliseconds.
pub const FIRST_FAILURE_AT: &str = "sb-first-failure-at";
/// The last failure, capped at [`LAST_ERROR_MAX_BYTES`].
pub const LAST_ERROR: &str = "sb-last-error";
/// Why a record was dead-lettered: a short, bounded reason code.
pub const DLT_REASON: &str = "sb-dlt-reason";
/// The stage whose attempt failed (`main`, `retry-1m`, …).
pub const FAILED_STAGE: &str = "sb-failed-stage";
/// Topic, partition, offset and timestamp of the record as it was on the main topic.
pub const ORIGINAL_TOPIC: &str = "sb-original-topic";
/// See [`ORIGINAL_TOPIC`].
pub const ORIGINAL_PARTITION: &str = "sb-original-partition";
/// See [`ORIGINAL_TOPIC`].
pub const ORIGINAL_OFFSET: &str = "sb-original-offset";
/// See [`ORIGINAL_TOPIC`].
pub const ORIGINAL_TIMESTAMP: &str = "sb-original-timestamp";
/// The consumer group that moved the record.
pub const CONSUMER_GROUP: &str = "sb-consumer-group";
/// Set on records republished from a dead-letter topic: when, unix milliseconds.
pub const REDRIVEN_AT: &str = "sb-redriven-at";

/// Set on a copy of a delivered event that `consumer events redeliver`
/// wrote: when, unix milliseconds. Deliveries of the id before that time do
/// not make the copy a duplicate. Not a hop header: it stays on the copy's
/// retry and dead-letter hops.
pub const REDELIVERY_AT: &str = "sb-redelivery-at";

/// On a delivered-marker record: it is a replay fence, not a delivery (its
/// value says which range is delivered again).
pub const REPLAY_FENCE: &str = "sb-replay-fence";

/// Cap on [`LAST_ERROR`], so retried records do not grow hop after hop.
pub const LAST_ERROR_MAX_BYTES: usize = 1024;

/// Headers a retry or dead-letter hop writes; a hop replaces all of them.
pub const HOP_HEADERS: &[&str] = &[
    ATTEMPT,
    DUE_AT,
    FIRST_FAILURE_AT,
    LAST_ERROR,
    DLT_REASON,
    FAILED_STAGE,
    ORIGINAL_TOPIC,
    ORIGINAL_PARTITION,
    ORIGINAL_OFFSET,
    ORIGINAL_TIMESTAMP,
    CONSUMER_GROUP,
    REDRIVEN_AT,
];

/// Cuts `error` to at most [`LAST_ERROR_MAX_BYTES`] without splitting a character.
pub fn cap_last_error(error: &str) -> &str {
    if error.len() <= LAST_ERROR_MAX_BYTES {
        return error;
    }
    let mut end = LAST_ERROR_MAX_BYTES;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    &error[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_error_is_capped_on_a_char_boundary() {
        let long = "é".repeat(LAST_ERROR_MAX_BYTES);
        let capped = cap_last_error(&long);
        assert!(capped.len() <= LAST_ERROR_MAX_BYTES);
        assert!(capped.len() >= LAST_ERROR_MAX_BYTES - 1);
        assert_eq!(cap_last_error("short"), "short");
    }
}
