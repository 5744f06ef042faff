//! One event's journey through one stage: handle it, then either record the
//! delivery or hand the record on to the next retry stage or the dead-letter
//! topic. A task resolves only when its offset may be committed (or when the
//! process is stopping and the work was abandoned, uncommitted).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use switchboard_proto::{DltReason, Envelope};
use switchboard_runtime::kafka::permanent::{error_is_permanent, is_refused_right};
use switchboard_runtime::kafka::ReplaceableProducer;
use switchboard_runtime::shutdown::Shutdown;
use tokio::sync::Semaphore;

use crate::deliver::{Handler, Outcome};
use crate::events::{self, Subject};
use crate::handoff::{self, Handoff};
use crate::marker::Marker;
use crate::metrics;
use crate::record::{hop_headers, ConsumedRecord, HopFailure, HopTo};
use crate::stage::Ladder;
use switchboard_runtime::time::unix_ms;

/// Everything a task needs, shared by all tasks.
pub struct Pipeline<H> {
    /// Does the work.
    pub handler: H,
    /// Hands records on.
    pub producer: Arc<ReplaceableProducer>,
    /// Stages and topic names.
    pub ladder: Ladder,
    /// The process's stop: once begun, hand-offs stop retrying.
    pub stopping: Shutdown,
    /// Dead-letter pointers the broker refuses right now: their partitions
    /// are held, and the consumer reports not ready.
    pub stuck: AtomicUsize,
    /// Which events each destination takes.
    pub filters: crate::filter::Filters,
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

/// Runs `job` through its stage.
pub async fn run_job<H: Handler>(pipeline: &Pipeline<H>, job: Job) -> Finished {
    let stage = job.record.stage;
    let stage_name = pipeline.ladder.static_name(stage);
    // A re-drive resets the attempts; its later hops keep the stamp (so
    // `dlt list` shows a re-driven event that came back) but count once.
    if job.record.hop.redriven_at_ms.is_some() && job.record.hop.attempts == 0 {
        metrics::redriven(stage_name);
    }
    let event = match job.event {
        Ok(event) => event,
        Err(why) => {
            let subject = Subject::of(&job.record, metrics::UNKNOWN, stage_name, "");
            return dead_letter(pipeline, &job.record, &subject, DltReason::Poison, &why).await;
        }
    };
    let source = metrics::source_label(&event.source);
    let subject = Subject::of(&job.record, source, stage_name, &event.event_id);
    match pipeline
        .handler
        .handle(&event, subject.attempt, &job.slots)
        .await
    {
        Outcome::Delivered => {
            let at_ms = unix_ms();
            crate::marker::record_delivery(
                &pipeline.producer,
                pipeline.ladder.delivered_topic(),
                job.record.partition,
                &event,
                &Marker {
                    stage: pipeline.ladder.name(stage),
                    attempt: subject.attempt,
                    member: &pipeline.member,
                },
            );
            let age_ms = u64::try_from(at_ms - event.received_at_unix_ms).unwrap_or(0);
            events::delivered(&subject, Duration::from_millis(age_ms));
            Finished::Delivered { at_ms }
        }
        Outcome::Permanent(error) => {
            dead_letter(pipeline, &job.record, &subject, DltReason::Rejected, &error).await
        }
        Outcome::Retryable(error) => match pipeline.ladder.next(stage) {
            Some(next) => {
                let now_ms = unix_ms();
                let delay = pipeline.ladder.delay(next).as_millis() as i64;
                let destination = HopTo::Retry {
                    stage: next,
                    due_at_ms: now_ms + delay,
                };
                let topic = pipeline.ladder.topic(next);
                let hop = Hop {
                    topic,
                    destination,
                    error: &error,
                    now_ms,
                };
                match hand_on(pipeline, &job.record, &subject, hop).await {
                    Ok(()) => {
                        events::retry_scheduled(
                            &subject,
                            pipeline.ladder.static_name(next),
                            &error,
                        );
                        Finished::Retried
                    }
                    Err(finished) => finished,
                }
            }
            None => {
                dead_letter(
                    pipeline,
                    &job.record,
                    &subject,
                    DltReason::Exhausted,
                    &error,
                )
                .await
            }
        },
    }
}

async fn dead_letter<H>(
    pipeline: &Pipeline<H>,
    record: &ConsumedRecord,
    subject: &Subject<'_>,
    reason: DltReason,
    error: &str,
) -> Finished {
    let hop = Hop {
        topic: pipeline.ladder.dlt_topic(),
        destination: HopTo::DeadLetter { reason },
        error,
        now_ms: unix_ms(),
    };
    match hand_on(pipeline, record, subject, hop).await {
        Ok(()) => {
            events::dead_lettered(subject, reason, error);
            Finished::DeadLettered
        }
        Err(finished) => finished,
    }
}

/// One hop of a record: where to, as what, after which error, when.
struct Hop<'a> {
    topic: &'a str,
    destination: HopTo,
    error: &'a str,
    now_ms: i64,
}

/// Hands `record` on as `hop` until the broker acknowledges it (`Ok`), or
/// says how the record finished instead: abandoned at a stop, or, when
/// the topic can never take it, dead-lettered as a pointer.
async fn hand_on<H>(
    pipeline: &Pipeline<H>,
    record: &ConsumedRecord,
    subject: &Subject<'_>,
    hop: Hop<'_>,
) -> Result<(), Finished> {
    let failure = HopFailure {
        failed_stage: pipeline.ladder.name(record.stage),
        error: hop.error,
        group: pipeline.ladder.topics().group(),
        now_ms: hop.now_ms,
    };
    let whole = || Handoff {
        topic: hop.topic,
        partition: record.partition,
        key: record.key.as_deref(),
        payload: &record.payload,
        headers: hop_headers(record, &failure, hop.destination),
    };
    match until_acknowledged(pipeline, hop.topic, whole, Refusal::GivesUp).await {
        HandedOff::Acknowledged => Ok(()),
        HandedOff::Stopped => Err(Finished::Abandoned),
        HandedOff::Refused(why) => {
            let error = format!(
                "{}; then {} refused the record: {why}",
                hop.error, hop.topic
            );
            Err(dead_letter_pointer(pipeline, record, subject, &error).await)
        }
    }
}

/// A partition held while the broker refuses a hand-off: counted in the
/// pipeline's `stuck` (readiness, the stuck gauge) from the first refusal
/// until it is dropped.
struct Held<'a> {
    stuck: &'a std::sync::atomic::AtomicUsize,
    holding: bool,
}

impl<'a> Held<'a> {
    fn new<H>(pipeline: &'a Pipeline<H>) -> Self {
        Held {
            stuck: &pipeline.stuck,
            holding: false,
        }
    }

    /// Counts the partition as held, the first time; `first` is told the
    /// count then.
    fn hold(&mut self, first: impl FnOnce(usize)) {
        metrics::handoff_failed();
        if !self.holding {
            self.holding = true;
            first(self.stuck.fetch_add(1, Ordering::Relaxed) + 1);
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if self.holding {
            metrics::stuck(self.stuck.fetch_sub(1, Ordering::Relaxed) - 1);
        }
    }
}

/// How a hand-off ended.
enum HandedOff {
    /// The broker acknowledged it.
    Acknowledged,
    /// The process started stopping first.
    Stopped,
    /// It can never be written there (see the runtime's `permanent`).
    Refused(String),
}

/// What a hand-off does when the topic can never take the record.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Gives up: the caller dead-letters a pointer instead.
    GivesUp,
    /// Holds the partition until the broker takes it (the pointer itself:
    /// there is nothing behind the dead-letter topic).
    Holds,
}

/// Produces what `handoff` builds until the broker acknowledges it,
/// retrying transient errors with backoff. A right the broker refuses is
/// the operator's to grant, not the record's fault: the partition is held
/// (readiness and the stuck gauge say so) until it is granted.
async fn until_acknowledged<'h, H>(
    pipeline: &Pipeline<H>,
    topic: &str,
    handoff: impl Fn() -> Handoff<'h>,
    refusal: Refusal,
) -> HandedOff {
    let mut backoff = Duration::from_millis(100);
    let mut logged = false;
    let mut held = Held::new(pipeline);
    loop {
        match handoff::send(&pipeline.producer, handoff()).await {
            Ok(()) => return HandedOff::Acknowledged,
            Err(error) if refusal == Refusal::Holds && error_is_permanent(&error) => {
                held.hold(|stuck| events::pointer_refused(topic, &error, stuck));
            }
            Err(error) if is_refused_right(&error) => {
                held.hold(|stuck| events::hand_off_not_authorised(topic, &error, stuck));
            }
            Err(error) if error_is_permanent(&error) => {
                metrics::handoff_failed();
                return HandedOff::Refused(error.to_string());
            }
            Err(error) => {
                events::hand_off_failed(topic, &error, !logged);
                logged = true;
            }
        }
        if pipeline.stopping.has_begun() {
            return HandedOff::Stopped;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Dead-letters a small *pointer* for a record that cannot be written where
/// it must go: no value, the gateway's headers, its origin (topic, partition
/// and offset on the main topic, where the original stays while retention
/// keeps it) and the reason `unroutable`. `dlt redrive` re-reads the
/// original from there. If the dead-letter topic refuses even the pointer,
/// the partition is held (nothing is lost, nothing behind it is committed):
/// the consumer reports not ready and counts it until the broker takes it.
async fn dead_letter_pointer<H>(
    pipeline: &Pipeline<H>,
    record: &ConsumedRecord,
    subject: &Subject<'_>,
    error: &str,
) -> Finished {
    let topic = pipeline.ladder.dlt_topic();
    let reason = DltReason::Unroutable;
    let failure = HopFailure {
        failed_stage: pipeline.ladder.name(record.stage),
        error,
        group: pipeline.ladder.topics().group(),
        now_ms: unix_ms(),
    };
    let pointer = || Handoff {
        topic,
        partition: record.partition,
        key: record.key.as_deref(),
        payload: &[],
        headers: hop_headers(record, &failure, HopTo::DeadLetter { reason }),
    };
    match until_acknowledged(pipeline, topic, pointer, Refusal::Holds).await {
        HandedOff::Acknowledged => {
            events::dead_lettered(subject, reason, error);
            Finished::DeadLettered
        }
        HandedOff::Stopped | HandedOff::Refused(_) => Finished::Abandoned,
    }
}
