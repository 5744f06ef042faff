//! One record's way through one stage, top to bottom: its destination
//! handles the event ([`crate::deliver`]), the outcome picks what comes next
//! ([`Next`]: a marker, the next retry stage or the dead-letter topic), the
//! record is handed on ([`crate::handoff`]) and, once that is settled,
//! reported ([`crate::events`]). A task resolves only when its offset may be
//! committed (or when the process is stopping and the work was abandoned,
//! uncommitted).

use std::sync::Arc;
use std::time::Duration;

use switchboard_proto::{DltReason, Envelope};
use switchboard_runtime::time::unix_ms;
use tokio::sync::Semaphore;

use crate::deliver::{Handler, Outcome};
use crate::events::{Report, Settled};
use crate::filter::Filters;
use crate::handoff::{HandOn, Handed, Handoff, Handoffs};
use crate::hop::{hop, HopTo};
use crate::marker::{Marker, MarkerRecord};
use crate::record::ConsumedRecord;
use crate::stage::{Ladder, StageIndex};

/// Everything a task needs, shared by all tasks.
pub struct Pipeline<H> {
    /// Does the work.
    pub handler: H,
    /// Hands records on (and knows the process's stop).
    pub handoffs: Handoffs,
    /// Stages and topic names.
    pub ladder: Ladder,
    /// Which events each destination takes.
    pub filters: Filters,
    /// Who this process is in the group (its `group.instance.id`, else its
    /// `client.id`): written into each delivery marker, shown by `trace`.
    pub member: String,
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Delivered at this time (unix ms).
    Delivered {
        /// When.
        at_ms: i64,
    },
    /// Handed to a retry stage.
    Retried,
    /// Handed to the dead-letter topic.
    DeadLettered,
    /// Stopped before it was done: the offset must not be committed.
    Abandoned,
}

/// One record to work on; `event` is the decoded envelope or why it did not decode.
pub struct Job {
    /// The record.
    pub record: ConsumedRecord,
    /// Its envelope.
    pub event: Result<Envelope, String>,
    /// The delivery slots of its partition.
    pub slots: Arc<Semaphore>,
}

/// What comes after a record's attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Delivered: its marker.
    Marker,
    /// The next retry stage, after `error`.
    Retry {
        /// That stage.
        stage: StageIndex,
        /// Why the attempt failed.
        error: String,
    },
    /// The dead-letter topic, for `reason`.
    DeadLetter {
        /// Why.
        reason: DltReason,
        /// What went wrong.
        error: String,
    },
}

/// Runs `job` through its stage.
pub async fn run_job<H: Handler>(pipeline: &Pipeline<H>, job: Job) -> Finished {
    let ladder = &pipeline.ladder;
    let stage = ladder.static_name(job.record.stage);
    let next = match &job.event {
        Err(why) => Next::DeadLetter {
            reason: DltReason::Poison,
            error: why.clone(),
        },
        Ok(event) => match pipeline
            .handler
            .handle(event, job.record.attempt(), &job.slots)
            .await
        {
            Outcome::Delivered => Next::Marker,
            Outcome::Permanent(error) => Next::DeadLetter {
                reason: DltReason::Rejected,
                error,
            },
            Outcome::Retryable(error) => match ladder.next(job.record.stage) {
                Some(stage) => Next::Retry { stage, error },
                None => Next::DeadLetter {
                    reason: DltReason::Exhausted,
                    error,
                },
            },
        },
    };
    let now_ms = unix_ms();
    let event = job.event.as_ref().ok();
    // A delivery's marker is built here and lent to its hand-off.
    let (marker_key, marker_value): (String, Vec<u8>);
    let (hand_on, how) = match (&next, event) {
        (Next::Marker, Some(event)) => {
            let age_ms = u64::try_from(now_ms - event.received_at_unix_ms).unwrap_or(0);
            let marker = Marker {
                stage,
                attempt: job.record.attempt(),
                member: &pipeline.member,
            };
            let MarkerRecord {
                key,
                value,
                headers,
            } = MarkerRecord::delivery(event, &marker);
            (marker_key, marker_value) = (key, value);
            let handoff = Handoff {
                topic: ladder.delivered_topic(),
                partition: job.record.partition,
                key: Some(marker_key.as_bytes()),
                payload: &marker_value,
                headers,
            };
            let age = Duration::from_millis(age_ms);
            (HandOn::Marker(handoff), Settled::Delivered { age })
        }
        (Next::Retry { stage: next, error }, _) => {
            let due_at_ms = now_ms + ladder.delay(*next).as_millis() as i64;
            let to = HopTo::Retry {
                stage: *next,
                due_at_ms,
            };
            let next = ladder.static_name(*next);
            let how = Settled::Retried { next, error };
            (hop(&job.record, stage, to, error, ladder), how)
        }
        (Next::DeadLetter { reason, error }, _) => {
            let to = HopTo::DeadLetter { reason: *reason };
            let how = Settled::DeadLettered {
                reason: *reason,
                error,
            };
            (hop(&job.record, stage, to, error, ladder), how)
        }
        // Only an envelope is ever delivered.
        (Next::Marker, None) => return Finished::Abandoned,
    };
    let report = Report {
        record: &job.record,
        event,
        stage,
        how,
    };
    match pipeline.handoffs.hand_on(hand_on, report).await {
        Handed::Stopped => Finished::Abandoned,
        Handed::Pointer => Finished::DeadLettered,
        Handed::Settled => match next {
            Next::Marker => Finished::Delivered { at_ms: now_ms },
            Next::Retry { .. } => Finished::Retried,
            Next::DeadLetter { .. } => Finished::DeadLettered,
        },
    }
}
