//! Every metric the consumer exports, declared once with its unit and help
//! text, and the helpers that record them. Labels are bounded: source names
//! (the first [`MAX_SOURCES`] seen; later ones are `other`), configured stage
//! names, fixed outcomes and reasons, partition numbers. Never an event id.

use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use switchboard_proto::DltReason;

mod destination;
mod labels;
mod resolved;

pub use destination::{BreakerSeries, DestinationSeries};
pub use labels::{
    dead_lettered_help, delivery_duration_help, destination_answers_help,
    destination_breaker_open_help, destination_failures_help, destination_token_fetches_help,
    handled_help, AnswerClass, ExchangeOutcome, FailureCause, Handled, TokenFetch,
};

/// Events finished by a stage, by `source`, `stage` and `outcome`
/// (`delivered`, `retried`, `dead_lettered`, `duplicate`).
pub const HANDLED: &str = "switchboard_consumer_events_handled_total";
/// Records handed to a retry stage, by `source` and target `stage`.
pub const RETRIES_SCHEDULED: &str = "switchboard_consumer_retries_scheduled_total";
/// Records written to the dead-letter topic, by `source` and `reason`.
pub const DEAD_LETTERED: &str = "switchboard_consumer_dead_lettered_total";
/// Copies suppressed because their event id was already delivered, by `source`.
pub const DEDUPE_HITS: &str = "switchboard_consumer_dedupe_hits_total";
/// Handled-at minus due-at of retry records, by `stage`.
pub const RETRY_LATENESS: &str = "switchboard_consumer_retry_lateness_seconds";
/// One HTTP exchange with a destination, by `outcome`.
pub const DELIVERY_DURATION: &str = "switchboard_consumer_delivery_duration_seconds";
/// Gateway receipt to successful delivery, by `source`.
pub const END_TO_END: &str = "switchboard_consumer_end_to_end_seconds";
/// The label every consumer series carries: its consumer group.
pub const GROUP_LABEL: &str = "group";
/// Records republished from the dead-letter topic and handled again, by `stage`.
pub const REDRIVEN: &str = "switchboard_consumer_redriven_events_total";
/// Tasks started and not finished (delivering, or waiting for their destination), by `source`.
pub const IN_FLIGHT: &str = "switchboard_consumer_events_in_flight";
/// Records not yet committed by the group, by `stage` and `partition`.
pub const LAG: &str = "switchboard_consumer_lag_records";
/// Bytes of records read ahead into this member's partition queues.
pub const PREFETCHED: &str = "switchboard_consumer_prefetched_bytes";
/// Partitions assigned to this process.
pub const ASSIGNED: &str = "switchboard_consumer_assigned_partitions";
/// Assignments this member found lost: the group moved on without it.
pub const PARTITIONS_LOST: &str = "switchboard_consumer_partitions_lost_total";
/// 1 while the broker answers and every topic of the group exists.
pub const BROKER_READY: &str = "switchboard_consumer_broker_ready";
/// Failed attempts to produce a retry, dead-letter or marker record (retried).
pub const HANDOFF_ERRORS: &str = "switchboard_consumer_handoff_errors_total";
/// Producers replaced after a fatal error, a broken idempotence state or a stall.
pub const PRODUCER_REBUILDS: &str = "switchboard_consumer_producer_rebuilds_total";
/// Events waiting for their destination (held, paced, or at its cap), by `destination`.
pub const DESTINATION_WAITING: &str = "switchboard_consumer_destination_waiting";
/// Requests to a destination in flight right now, by `destination`.
pub const DESTINATION_IN_FLIGHT: &str = "switchboard_consumer_destination_in_flight";
/// Unix time until which a destination is held after a `Retry-After`, by
/// `destination` (a time in the past, or 0: not held).
pub const DESTINATION_HELD_UNTIL: &str = "switchboard_consumer_destination_held_until_seconds";
/// Answers from a destination, by `destination` and `class` ([`AnswerClass`]).
pub const DESTINATION_ANSWERS: &str = "switchboard_consumer_destination_answers_total";
/// Destination-level failures, by `destination` and `cause` ([`FailureCause`]).
pub const DESTINATION_FAILURES: &str = "switchboard_consumer_destination_failures_total";
/// 1 while a destination's breaker is open, by `destination` and `cause`
/// ([`FailureCause`]) of its latest failure.
pub const DESTINATION_BREAKER_OPEN: &str = "switchboard_consumer_destination_breaker_open";
/// OAuth2 token fetches, by `destination` and `result` ([`TokenFetch`]).
pub const DESTINATION_TOKEN_FETCHES: &str = "switchboard_consumer_destination_token_fetches_total";
/// The `destination` label of the default destination (a source with a URL
/// of its own is labelled with its name).
pub const DEFAULT_DESTINATION: &str = "default";
/// Hand-offs the broker refuses (this identity is not authorised to write
/// there, or the dead-letter topic refuses a pointer): each holds its partition.
pub const STUCK: &str = "switchboard_consumer_handoffs_stuck";

/// Label for events whose source is unknown (records that do not decode).
pub const UNKNOWN: &str = "unknown";
/// Distinct source labels kept; later ones are recorded as `other`.
pub const MAX_SOURCES: usize = 64;

const DELIVERY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Retry lateness: the target is p99 <= 100 ms, so the buckets start at 1 ms.
const LATENESS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Gateway receipt to delivery: fine from 1 ms (the target is p99 <= 25 ms
/// on a healthy path), coarse up to an hour (events that went through the
/// retry stages or waited out an outage).
const END_TO_END_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 3600.0,
];

/// Installs the Prometheus recorder and describes every metric.
pub fn install(group: &str) -> Result<PrometheusHandle, metrics_exporter_prometheus::BuildError> {
    let handle = PrometheusBuilder::new()
        // Several groups may read one main topic: every series says whose
        // it is, so the ledger closes per group.
        .add_global_label(GROUP_LABEL, group)
        .set_buckets_for_metric(Matcher::Full(DELIVERY_DURATION.into()), DELIVERY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(RETRY_LATENESS.into()), LATENESS_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(END_TO_END.into()), END_TO_END_BUCKETS)?
        .install_recorder()?;
    describe_counter!(HANDLED, handled_help());
    describe_counter!(
        RETRIES_SCHEDULED,
        "Records handed to a retry stage, by source and target stage."
    );
    describe_counter!(DEAD_LETTERED, dead_lettered_help());
    describe_counter!(
        DEDUPE_HITS,
        "Copies not delivered because their event id already was, by source and stage."
    );
    describe_histogram!(
        RETRY_LATENESS,
        Unit::Seconds,
        "Time a retry record was handled after its due time, by stage."
    );
    describe_histogram!(DELIVERY_DURATION, Unit::Seconds, delivery_duration_help());
    describe_histogram!(
        END_TO_END,
        Unit::Seconds,
        "Time from gateway receipt to successful delivery, by source."
    );
    describe_gauge!(
        IN_FLIGHT,
        "Tasks started and not finished (delivering, or waiting for their destination), by source."
    );
    describe_counter!(
        REDRIVEN,
        "Records re-driven from the dead-letter topic and handled again, by stage."
    );
    describe_gauge!(
        LAG,
        "Records after the committed offset, by stage and partition."
    );
    describe_gauge!(
        PREFETCHED,
        Unit::Bytes,
        "Bytes of records librdkafka holds read ahead in this member's partition queues (bounded by CONSUMER_PREFETCH_BUDGET_BYTES: each queue may pass its share by one fetch)."
    );
    gauge!(PREFETCHED).set(0.0);
    describe_gauge!(ASSIGNED, "Partitions assigned to this process.");
    describe_counter!(
        PARTITIONS_LOST,
        "Times this member found its assignment lost: its session expired (cut off from the group coordinator, or stalled past session.timeout.ms) and the group gave its partitions to others, who redo its unfinished work."
    );
    counter!(PARTITIONS_LOST).absolute(0);
    describe_gauge!(
        BROKER_READY,
        "1 while the broker answers and every topic of the group exists."
    );
    describe_counter!(
        HANDOFF_ERRORS,
        "Failed attempts to produce a retry, dead-letter or marker record."
    );
    describe_counter!(
        PRODUCER_REBUILDS,
        "Hand-off producers replaced after a fatal error, an error that broke their idempotence state, or a stall."
    );
    // At zero from the start, so dashboards and alerts see them before the first failure.
    counter!(HANDOFF_ERRORS).absolute(0);
    counter!(PRODUCER_REBUILDS).absolute(0);
    describe_gauge!(
        DESTINATION_WAITING,
        "Events waiting for their destination (held, paced, or at its max_in_flight), by destination."
    );
    describe_gauge!(
        DESTINATION_IN_FLIGHT,
        "Requests to a destination in flight right now, by destination."
    );
    describe_gauge!(
        DESTINATION_HELD_UNTIL,
        Unit::Seconds,
        "Unix time until which a destination is held after a Retry-After, by destination; held while above time()."
    );
    describe_counter!(DESTINATION_ANSWERS, destination_answers_help());
    describe_counter!(DESTINATION_FAILURES, destination_failures_help());
    describe_gauge!(DESTINATION_BREAKER_OPEN, destination_breaker_open_help());
    describe_counter!(DESTINATION_TOKEN_FETCHES, destination_token_fetches_help());
    describe_gauge!(
        STUCK,
        "Dead-letter pointers the broker refuses; each holds its partition and makes the consumer not ready."
    );
    gauge!(STUCK).set(0.0);
    Ok(handle)
}

/// Counts one OAuth2 token fetch for `destination`.
pub fn token_fetched(destination: &str, result: TokenFetch) {
    counter!(DESTINATION_TOKEN_FETCHES, "destination" => destination.to_owned(), "result" => result.code())
        .increment(1);
}

/// The label for `source`: interned, bounded by [`MAX_SOURCES`]. Called per
/// event, so a known source costs a shared read lock and a short scan.
pub fn source_label(source: &str) -> &'static str {
    static SEEN: OnceLock<RwLock<Vec<&'static str>>> = OnceLock::new();
    if source.is_empty() {
        return UNKNOWN;
    }
    let seen = SEEN.get_or_init(Default::default);
    {
        let known = switchboard_runtime::lock::read(seen);
        if let Some(found) = known.iter().find(|s| **s == source) {
            return found;
        }
    }
    let mut known = switchboard_runtime::lock::write(seen);
    if let Some(found) = known.iter().find(|s| **s == source) {
        return found;
    }
    if known.len() >= MAX_SOURCES {
        return "other";
    }
    // Interned once per distinct source for the process lifetime (bounded above).
    let leaked: &'static str = Box::leak(source.to_owned().into_boxed_str());
    known.push(leaked);
    leaked
}

/// A stage finished with a record of `source`.
pub fn handled(source: &'static str, stage: &'static str, outcome: Handled) {
    counter!(HANDLED, "source" => source, "stage" => stage, "outcome" => outcome.code())
        .increment(1);
}

/// How a handled record was settled, as counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Settlement {
    /// Delivered, `age` after the gateway received it.
    Delivered {
        /// Since the gateway received it.
        age: Duration,
    },
    /// Handed to the retry stage `next`.
    Retried {
        /// That stage's name.
        next: &'static str,
    },
    /// Handed to the dead-letter topic for `reason`.
    DeadLettered {
        /// Why.
        reason: DltReason,
    },
}

/// Counts a record of `source` read from `stage` and settled as
/// `settlement`; `redriven` when it is a re-driven record handled for the
/// first time since its re-drive.
pub fn count_settled(
    source: &'static str,
    stage: &'static str,
    settlement: Settlement,
    redriven: bool,
) {
    if redriven {
        redriven_handled(stage);
    }
    match settlement {
        Settlement::Delivered { age } => {
            let series = resolved::delivered(source, stage);
            series.handled.increment(1);
            series.end_to_end.record(age.as_secs_f64());
        }
        Settlement::Retried { next } => {
            handled(source, stage, Handled::Retried);
            counter!(RETRIES_SCHEDULED, "source" => source, "stage" => next).increment(1);
        }
        Settlement::DeadLettered { reason } => {
            handled(source, stage, Handled::DeadLettered);
            counter!(DEAD_LETTERED, "source" => source, "stage" => stage, "reason" => reason.code())
                .increment(1);
        }
    }
}

/// A copy suppressed by dedupe.
pub fn dedupe_hit(source: &'static str, stage: &'static str) {
    counter!(DEDUPE_HITS, "source" => source, "stage" => stage).increment(1);
}

/// A retry record handled `late` after its due time.
pub fn retry_lateness(stage: &'static str, late: Duration) {
    histogram!(RETRY_LATENESS, "stage" => stage).record(late.as_secs_f64());
}

/// One destination exchange finished with `outcome`.
pub fn delivery_finished(elapsed: Duration, outcome: ExchangeOutcome) {
    resolved::exchange_duration(outcome).record(elapsed.as_secs_f64());
}

/// Sets the in-flight gauge of `source`.
pub fn in_flight(source: &'static str, count: i64) {
    gauge!(IN_FLIGHT, "source" => source).set(count.max(0) as f64);
}

/// Counts a re-driven record handled in `stage`.
fn redriven_handled(stage: &'static str) {
    counter!(REDRIVEN, "stage" => stage).increment(1);
}

/// Creates the per-stage series at zero, so dashboards and alerts see them
/// before the first event.
pub fn init_stage(stage: &'static str) {
    counter!(REDRIVEN, "stage" => stage).increment(0);
}

/// Sets the lag of one partition.
pub fn lag(stage: &'static str, partition: i32, records: i64) {
    gauge!(LAG, "stage" => stage, "partition" => partition.to_string()).set(records as f64);
}

/// Sets the bytes read ahead in this member's partition queues.
pub fn prefetched(bytes: u64) {
    gauge!(PREFETCHED).set(bytes as f64);
}

/// Sets the number of assigned partitions.
pub fn assigned(count: usize) {
    gauge!(ASSIGNED).set(count as f64);
}

/// Counts an assignment found lost.
pub fn partitions_lost() {
    counter!(PARTITIONS_LOST).increment(1);
}

/// Counts a failed hand-off attempt.
pub fn handoff_failed() {
    counter!(HANDOFF_ERRORS).increment(1);
}

/// Sets how many dead-letter pointers the broker refuses right now.
pub fn stuck(count: usize) {
    gauge!(STUCK).set(count as f64);
}
