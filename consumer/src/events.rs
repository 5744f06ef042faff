//! Observable events: one function for each thing that happens to a record
//! that an operator may want to see. Each logs it and counts it, in one
//! place, once the outcome is final (in the spirit of vector's
//! `internal_events`, without the trait machinery). Metric names, help texts
//! and label enums are [`crate::metrics`]'; call sites only say what happened.

use std::time::Duration;

use switchboard_proto::DltReason;
use tracing::{debug, warn};

use crate::metrics::{self, Handled, Settlement};
use switchboard_proto::Envelope;

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

/// How a handled record was settled.
#[derive(Debug, Clone, Copy)]
pub enum Settled<'a> {
    /// The destination took it; `age` is the time since the gateway received it.
    Delivered {
        /// Since the gateway received it.
        age: Duration,
    },
    /// The broker acknowledged it on retry stage `next`.
    Retried {
        /// The stage's name.
        next: &'static str,
        /// Why the attempt failed.
        error: &'a str,
    },
    /// The broker acknowledged it on the dead-letter topic.
    DeadLettered {
        /// Why.
        reason: DltReason,
        /// What went wrong.
        error: &'a str,
    },
}

/// A handled record and how it was settled: reported by [`settled`] once
/// the outcome is final.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    /// The record.
    pub record: &'a ConsumedRecord,
    /// Its envelope, when it is one.
    pub event: Option<&'a Envelope>,
    /// The stage it was read from.
    pub stage: &'static str,
    /// How it was settled.
    pub how: Settled<'a>,
}

impl<'a> Report<'a> {
    /// The error that moved the record (empty for a delivery).
    pub fn error(&self) -> &'a str {
        match self.how {
            Settled::Delivered { .. } => "",
            Settled::Retried { error, .. } | Settled::DeadLettered { error, .. } => error,
        }
    }

    /// Its event id (empty when the record is not an envelope).
    pub fn event_id(&self) -> &'a str {
        self.event.map_or("", |event| event.event_id.as_str())
    }

    /// The same record, dead-lettered as a pointer for `error`.
    pub fn unroutable(&self, error: &'a str) -> Self {
        Self {
            how: Settled::DeadLettered {
                reason: DltReason::Unroutable,
                error,
            },
            ..*self
        }
    }
}

/// Logs and counts how `report`'s record was settled (and, the first time a
/// re-driven record is handled, that it was re-driven).
pub fn settled(report: &Report<'_>) {
    let record = report.record;
    let source = report.event.map_or(metrics::UNKNOWN, |event| {
        metrics::source_label(&event.source)
    });
    let counted = match report.how {
        Settled::Delivered { age } => Settlement::Delivered { age },
        Settled::Retried { next, error } => {
            if record.attempt() == 1 {
                warn!(event_id = report.event_id(), source, %error, "delivery failed; retrying through the retry stages");
            } else {
                debug!(event_id = report.event_id(), stage = report.stage, attempt = record.attempt(), %error, "retry failed; next stage");
            }
            Settlement::Retried { next }
        }
        Settled::DeadLettered { reason, error } => {
            let why = match reason {
                DltReason::Poison => "record is not an envelope; dead-lettered",
                DltReason::Rejected => "destination refused the event; dead-lettered",
                DltReason::Exhausted => "last retry failed; dead-lettered",
                DltReason::Unroutable => {
                    "record cannot be handed off; dead-lettered a pointer to it (dlt redrive re-reads the original)"
                }
            };
            warn!(event_id = report.event_id(), source, stage = report.stage, partition = record.partition, offset = record.offset, attempt = record.attempt(), reason = reason.code(), %error, "{why}");
            Settlement::DeadLettered { reason }
        }
    };
    // A re-drive resets the attempts; its later hops keep the stamp (so
    // `dlt list` shows a re-driven event that came back) but count once.
    let redriven = record.hop.redriven_at_ms.is_some() && record.hop.attempts == 0;
    metrics::count_settled(source, report.stage, counted, redriven);
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
