//! Produce errors that no retry can cure for *this record*: the record is too
//! large for the topic or the client, the topic or partition does not exist
//! (librdkafka reports it only after its metadata propagation wait), the
//! principal may not write there, or the broker refuses the record itself.
//! Everything else (timeouts, leaders moving, brokers down, a full queue) is
//! transient and worth waiting for.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Whether a record that failed with `code` will fail again however often
/// it is sent.
pub fn is_permanent(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::MessageBatchTooLarge
            | RDKafkaErrorCode::InvalidRecord
            | RDKafkaErrorCode::UnknownTopicOrPartition
            | RDKafkaErrorCode::UnknownTopic
            | RDKafkaErrorCode::UnknownPartition
            | RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::InvalidTopic
    )
}

/// Whether `error` is the broker's authorizer refusing this identity (a
/// topic or cluster right): permanent for the record as things stand, but
/// cured by an operator granting the ACL, so worth holding for rather than
/// giving up on.
pub fn is_refused_right(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
        )
    )
}

/// [`is_permanent`] for a client error.
pub fn error_is_permanent(error: &KafkaError) -> bool {
    error.rdkafka_error_code().is_some_and(is_permanent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_existence_and_authorisation_errors_are_permanent() {
        for code in [
            RDKafkaErrorCode::MessageSizeTooLarge,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::InvalidRecord,
        ] {
            assert!(is_permanent(code), "{code:?}");
        }
        for code in [
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::QueueFull,
            RDKafkaErrorCode::NotLeaderForPartition,
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::RequestTimedOut,
            RDKafkaErrorCode::ProducerFenced,
        ] {
            assert!(!is_permanent(code), "{code:?}");
        }
        assert!(error_is_permanent(&KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageSizeTooLarge
        )));
        assert!(!error_is_permanent(&KafkaError::Canceled));
    }
}
