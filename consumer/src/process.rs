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
    let mut report = Report {
        record: &job.record,
        event: job.event.as_ref().ok(),
        stage,
        how: Settled::Delivered {
            age: Duration::ZERO,
        },
    };
    let marker;
    let hand_on = match (&next, report.event) {
        (Next::Marker, Some(event)) => {
            let age_ms = u64::try_from(now_ms - event.received_at_unix_ms).unwrap_or(0);
            report.how = Settled::Delivered {
                age: Duration::from_millis(age_ms),
            };
            marker = MarkerRecord::delivery(
                event,
                &Marker {
                    stage,
                    attempt: job.record.attempt(),
                    member: &pipeline.member,
                },
            );
            HandOn::Marker(Handoff {
                topic: ladder.delivered_topic(),
                partition: job.record.partition,
                key: Some(marker.key.as_bytes()),
                payload: &marker.value,
                headers: marker.headers.clone(),
            })
        }
        (Next::Retry { stage: next, error }, _) => {
            report.how = Settled::Retried {
                next: ladder.static_name(*next),
                error,
            };
            let due_at_ms = now_ms + ladder.delay(*next).as_millis() as i64;
            let to = HopTo::Retry {
                stage: *next,
                due_at_ms,
            };
            hop(&job.record, stage, to, error, ladder)
        }
        (Next::DeadLetter { reason, error }, _) => {
            report.how = Settled::DeadLettered {
                reason: *reason,
                error,
            };
            let to = HopTo::DeadLetter { reason: *reason };
            hop(&job.record, stage, to, error, ladder)
        }
        // Only an envelope is ever delivered.
        (Next::Marker, None) => return Finished::Abandoned,
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
