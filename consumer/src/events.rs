//! Observable events: one function for each thing that happens to a record
//! that an operator may want to see. Each logs it and counts it, in one
//! place, once the outcome is final (in the spirit of vector's
//! `internal_events`, without the trait machinery). Metric names, help texts
//! and label enums are [`crate::metrics`]'; call sites only say what happened.

use std::time::Duration;

use switchboard_proto::DltReason;
use tracing::{debug, error, warn};

use crate::metrics::{self, Handled};
use crate::record::ConsumedRecord;

/// The record an event is about.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Its source, as a metric label ([`metrics::source_label`]; `unknown`
    /// when the record is not an envelope).
    pub source: &'static str,
    /// The stage it was read from.
    pub stage: &'static str,
    /// Its event id (empty when the record is not an envelope).
    pub event_id: &'a str,
    /// The attempt that was made (1 for the first).
    pub attempt: u32,
    /// Its partition and offset on the stage's topic.
    pub at: (i32, i64),
}

impl<'a> Subject<'a> {
    /// The subject `record` (of `source`, read from `stage`, carrying `event_id`).
    pub fn of(
        record: &ConsumedRecord,
        source: &'static str,
        stage: &'static str,
        event_id: &'a str,
    ) -> Self {
        Self {
            source,
            stage,
            event_id,
            attempt: record.attempt(),
            at: (record.partition, record.offset),
        }
    }
}

/// The downstream took the event; `age` is the time since the gateway received it.
pub fn delivered(subject: &Subject<'_>, age: Duration) {
    metrics::handled(subject.source, subject.stage, Handled::Delivered);
    metrics::end_to_end(subject.source, age);
}

/// An attempt failed and the broker acknowledged the record on retry stage `next`.
pub fn retry_scheduled(subject: &Subject<'_>, next: &'static str, error: &str) {
    if subject.attempt == 1 {
        warn!(event_id = subject.event_id, source = subject.source, %error, "delivery failed; retrying through the retry stages");
    } else {
        debug!(event_id = subject.event_id, stage = subject.stage, attempt = subject.attempt, %error, "retry failed; next stage");
    }
    metrics::handled(subject.source, subject.stage, Handled::Retried);
    metrics::retry_scheduled(subject.source, next);
}

/// The broker acknowledged the record on the dead-letter topic, for `reason`.
pub fn dead_lettered(subject: &Subject<'_>, reason: DltReason, error: &str) {
    let why = match reason {
        DltReason::Poison => "record is not an envelope; dead-lettered",
        DltReason::Rejected => "downstream refused the event; dead-lettered",
        DltReason::Exhausted => "last retry failed; dead-lettered",
        DltReason::Unroutable => {
            "record cannot be handed off; dead-lettered a pointer to it (dlt redrive re-reads the original)"
        }
    };
    let (partition, offset) = subject.at;
    warn!(event_id = subject.event_id, source = subject.source, stage = subject.stage, partition, offset, attempt = subject.attempt, reason = reason.code(), %error, "{why}");
    metrics::handled(subject.source, subject.stage, Handled::DeadLettered);
    metrics::dead_lettered(subject.source, subject.stage, reason);
}

/// A copy of an event delivered within the dedupe window, not delivered again.
pub fn duplicate(subject: &Subject<'_>) {
    debug!(
        event_id = subject.event_id,
        stage = subject.stage,
        "already delivered; suppressed"
    );
    metrics::handled(subject.source, subject.stage, Handled::Duplicate);
    metrics::dedupe_hit(subject.source, subject.stage);
}

/// `subject` is not taken by `destination`'s filter: committed without a
/// delivery.
pub fn filtered(subject: &Subject<'_>, destination: &str) {
    debug!(
        event_id = subject.event_id,
        stage = subject.stage,
        destination,
        "not taken by the destination's filter; committed without a delivery"
    );
    metrics::handled(subject.source, subject.stage, Handled::Filtered);
}

/// A hand-off to `topic` failed; it is tried again (`first`: the first
/// failure of this record, which is logged).
pub fn hand_off_failed(topic: &str, error: &dyn std::fmt::Display, first: bool) {
    if first {
        warn!(topic, %error, "cannot hand the record off yet; retrying (its offset stays uncommitted)");
    }
    metrics::handoff_failed();
}

/// The broker refuses this consumer's identity a hand-off to `topic`: the
/// record's partition is held (now `stuck` of them) until the ACL is granted.
pub fn hand_off_not_authorised(topic: &str, error: &dyn std::fmt::Display, stuck: usize) {
    error!(topic, %error, "the broker refuses this consumer's identity the Write on this topic; holding the partition until the ACL is granted (see SECURITY.md)");
    metrics::stuck(stuck);
}

/// The dead-letter topic refuses even a pointer: the record's partition is
/// held (now `stuck` of them) until it takes one.
pub fn pointer_refused(topic: &str, error: &dyn std::fmt::Display, stuck: usize) {
    error!(topic, %error, "the dead-letter topic refuses even a pointer; holding the partition until it takes one");
    metrics::stuck(stuck);
}

/// A record written without waiting (a delivered marker) was not queued or
/// not acknowledged: a later copy of its event may be delivered again.
pub fn detached_hand_off_lost(topic: &str, error: &dyn std::fmt::Display) {
    warn!(topic, %error, "record not acknowledged; a later copy of its event may be delivered again");
    metrics::handoff_failed();
}
