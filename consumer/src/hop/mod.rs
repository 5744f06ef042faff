//! One hop of a record along the ladder, to the next retry stage or to the
//! dead-letter topic: where it goes ([`HopTo`]), its new hop headers
//! (attempt, due time, error chain, origin; the gateway's own headers kept)
//! and the record handed on, with the pointer that stands in for it if the
//! topic can never take it.

use rdkafka::message::OwnedHeaders;
use switchboard_proto::hop::HopState;
use switchboard_proto::DltReason;

use crate::handoff::{HandOn, Handoff};
use crate::record::{rebuild_headers, ConsumedRecord};
use crate::stage::{Ladder, StageIndex};

/// Where a failed record goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopTo {
    /// A retry stage, handled no earlier than `due_at_ms`.
    Retry {
        /// The stage.
        stage: StageIndex,
        /// Unix milliseconds.
        due_at_ms: i64,
    },
    /// The dead-letter topic, for `reason`.
    DeadLetter {
        /// Why.
        reason: DltReason,
    },
}

/// Everything a hop writes besides the carried headers.
pub struct HopFailure<'a> {
    /// Name of the stage whose attempt failed.
    pub failed_stage: &'a str,
    /// What went wrong on this attempt.
    pub error: &'a str,
    /// The consumer group moving the record.
    pub group: &'a str,
    /// Now, unix milliseconds.
    pub now_ms: i64,
}

/// Builds the headers of `record`'s next hop to `destination`.
pub fn hop_headers(
    record: &ConsumedRecord,
    failure: &HopFailure<'_>,
    destination: HopTo,
) -> OwnedHeaders {
    let attempt = record.attempt();
    let chain = match &record.hop.last_error {
        Some(previous) if !previous.is_empty() => format!(
            "{} attempt {attempt}: {}; {previous}",
            failure.failed_stage, failure.error
        ),
        _ => format!(
            "{} attempt {attempt}: {}",
            failure.failed_stage, failure.error
        ),
    };
    let (due_at_ms, dlt_reason) = match destination {
        HopTo::Retry { due_at_ms, .. } => (Some(due_at_ms), None),
        HopTo::DeadLetter { reason } => (None, Some(reason)),
    };
    let next = HopState {
        attempts: attempt,
        due_at_ms,
        first_failure_at_ms: Some(record.hop.first_failure_at_ms.unwrap_or(failure.now_ms)),
        last_error: Some(chain),
        dlt_reason,
        failed_stage: Some(failure.failed_stage.to_owned()),
        origin: Some(record.origin()),
        group: Some(failure.group.to_owned()),
        redriven_at_ms: record.hop.redriven_at_ms,
        ..HopState::default()
    };
    rebuild_headers(record.carried.iter(), &next)
}

/// `record` (read from the stage named `stage`) hopping to `to` after
/// `error`, on `ladder`: the record handed on, and the pointer that stands
/// in for it if the topic can never take it.
pub fn hop<'a>(
    record: &'a ConsumedRecord,
    stage: &'a str,
    to: HopTo,
    error: &'a str,
    ladder: &'a Ladder,
) -> HandOn<'a> {
    let (group, now_ms) = (
        ladder.topics().group(),
        switchboard_runtime::time::unix_ms(),
    );
    let failure = |error| HopFailure {
        failed_stage: stage,
        error,
        group,
        now_ms,
    };
    let topic = match to {
        HopTo::Retry { stage, .. } => ladder.topic(stage),
        HopTo::DeadLetter { .. } => ladder.dlt_topic(),
    };
    let whole = Handoff {
        topic,
        partition: record.partition,
        key: record.key.as_deref(),
        payload: &record.payload,
        headers: hop_headers(record, &failure(error), to),
    };
    let pointer = move |error: &str| {
        let to = HopTo::DeadLetter {
            reason: DltReason::Unroutable,
        };
        Handoff {
            topic: ladder.dlt_topic(),
            partition: record.partition,
            key: record.key.as_deref(),
            payload: &[],
            headers: hop_headers(
                record,
                &HopFailure {
                    failed_stage: stage,
                    error,
                    group,
                    now_ms,
                },
                to,
            ),
        }
    };
    HandOn::Hop {
        whole,
        pointer: Box::new(pointer),
    }
}

#[cfg(test)]
mod tests;
