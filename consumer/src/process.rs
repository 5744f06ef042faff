//! One event's journey through one stage: handle it, then either record the
//! delivery or hand the record on to the next retry stage or the dead-letter
//! topic. A task resolves only when its offset may be committed (or when the
//! process is stopping and the work was abandoned, uncommitted).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use switchboard_proto::{headers as h, Envelope};
use switchboard_runtime::kafka::ReplaceableProducer;
use tracing::{debug, warn};

use crate::dedupe::dedupe_key;
use crate::deliver::{Handler, Outcome};
use crate::handoff::{self, Handoff};
use crate::hop::{hop_headers, Destination, HopFailure, Incoming};
use crate::marker::Marker;
use crate::metrics;
use crate::stage::Ladder;
use switchboard_runtime::time::unix_ms;

/// Why a record was dead-lettered (a bounded set, used as a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DltReason {
    /// The value is not a Switchboard envelope.
    Poison,
    /// The handler said it will never work (a 4xx, no downstream configured).
    Rejected,
    /// Every retry stage failed.
    Exhausted,
}

impl DltReason {
    /// The code written to the `sb-dlt-reason` header.
    pub fn code(self) -> &'static str {
        match self {
            DltReason::Poison => "poison",
            DltReason::Rejected => "rejected",
            DltReason::Exhausted => "exhausted",
        }
    }
}

/// Everything a task needs, shared by all tasks.
pub struct Pipeline<H> {
    /// Does the work.
    pub handler: H,
    /// Hands records on.
    pub producer: Arc<ReplaceableProducer>,
    /// Stages and topic names.
    pub ladder: Ladder,
    /// Set when the process is stopping: hand-offs stop retrying.
    pub stopping: AtomicBool,
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
    pub record: Incoming,
    /// Its envelope.
    pub event: Result<Envelope, String>,
}

/// Runs `job` through its stage.
pub async fn run_job<H: Handler>(pipeline: &Pipeline<H>, job: Job) -> Finished {
    let stage = job.record.stage;
    let stage_name = pipeline.ladder.static_name(stage);
    if job.record.hop.redriven_at_ms.is_some() {
        metrics::redriven(stage_name);
    }
    let event = match job.event {
        Ok(event) => event,
        Err(why) => {
            warn!(topic = job.record.topic, partition = job.record.partition, offset = job.record.offset, %why, "record is not an envelope; dead-lettering it");
            return dead_letter(
                pipeline,
                &job.record,
                metrics::UNKNOWN,
                DltReason::Poison,
                &why,
            )
            .await;
        }
    };
    let source = metrics::source_label(&event.source);
    let attempt = job.record.attempt();
    match pipeline.handler.handle(&event, attempt).await {
        Outcome::Delivered => {
            let at_ms = unix_ms();
            record_delivery(pipeline, &job.record, &event, attempt);
            metrics::delivered(source, stage_name, at_ms - event.received_at_unix_ms);
            Finished::Delivered { at_ms }
        }
        Outcome::Permanent(error) => {
            warn!(event_id = event.event_id, source = event.source, stage = stage_name, attempt, %error, "downstream refused the event; dead-lettering it");
            dead_letter(pipeline, &job.record, source, DltReason::Rejected, &error).await
        }
        Outcome::Retryable(error) => match pipeline.ladder.next(stage) {
            Some(next) => {
                if attempt == 1 {
                    warn!(event_id = event.event_id, source = event.source, %error, "delivery failed; retrying through the retry stages");
                } else {
                    debug!(event_id = event.event_id, stage = stage_name, attempt, %error, "retry failed; next stage");
                }
                let now_ms = unix_ms();
                let delay = pipeline.ladder.delay(next).as_millis() as i64;
                let destination = Destination::Retry {
                    stage: next,
                    due_at_ms: now_ms + delay,
                };
                let topic = pipeline.ladder.topic(next);
                if hand_on(pipeline, &job.record, topic, destination, &error, now_ms).await {
                    metrics::retried(source, stage_name, pipeline.ladder.static_name(next));
                    Finished::Retried
                } else {
                    Finished::Abandoned
                }
            }
            None => {
                warn!(event_id = event.event_id, source = event.source, attempt, %error, "last retry failed; dead-lettering the event");
                dead_letter(pipeline, &job.record, source, DltReason::Exhausted, &error).await
            }
        },
    }
}

async fn dead_letter<H>(
    pipeline: &Pipeline<H>,
    record: &Incoming,
    source: &'static str,
    reason: DltReason,
    error: &str,
) -> Finished {
    let topic = pipeline.ladder.dlt_topic();
    let destination = Destination::DeadLetter {
        reason: reason.code(),
    };
    if hand_on(pipeline, record, topic, destination, error, unix_ms()).await {
        metrics::dead_lettered(
            source,
            pipeline.ladder.static_name(record.stage),
            reason.code(),
        );
        Finished::DeadLettered
    } else {
        Finished::Abandoned
    }
}

/// Produces the hop of `record` to `topic` until the broker acknowledges it;
/// false when the process started stopping first.
async fn hand_on<H>(
    pipeline: &Pipeline<H>,
    record: &Incoming,
    topic: &str,
    destination: Destination,
    error: &str,
    now_ms: i64,
) -> bool {
    let group = pipeline.ladder.topics().group();
    let failure = HopFailure {
        failed_stage: pipeline.ladder.name(record.stage),
        error,
        group,
        now_ms,
    };
    let mut backoff = Duration::from_millis(100);
    let mut logged = false;
    loop {
        let handoff = Handoff {
            topic,
            partition: record.partition,
            key: record.key.as_deref(),
            payload: &record.payload,
            headers: hop_headers(record, &failure, destination),
        };
        match handoff::send(&pipeline.producer, handoff).await {
            Ok(()) => return true,
            Err(error) => {
                metrics::handoff_failed();
                if !logged {
                    warn!(topic, %error, "cannot hand the record on yet; retrying (its offset stays uncommitted)");
                    logged = true;
                }
            }
        }
        if pipeline.stopping.load(Ordering::Relaxed) {
            return false;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Writes the delivered marker that dedupe reads back, without waiting: the
/// event is delivered either way (its offset may be committed), and this
/// process already remembers the id. A marker lost to a crash in the next
/// milliseconds can only let a later duplicate through.
fn record_delivery<H>(pipeline: &Pipeline<H>, record: &Incoming, event: &Envelope, attempt: u32) {
    let value = Marker {
        stage: pipeline.ladder.name(record.stage),
        attempt,
    }
    .to_bytes();
    let headers = OwnedHeaders::new_with_capacity(2)
        .insert(Header {
            key: h::EVENT_ID,
            value: Some(event.event_id.as_bytes()),
        })
        .insert(Header {
            key: h::SOURCE,
            value: Some(event.source.as_bytes()),
        });
    let key = dedupe_key(&event.source, &event.event_id);
    handoff::send_detached(
        &pipeline.producer,
        Handoff {
            topic: pipeline.ladder.delivered_topic(),
            partition: record.partition,
            key: Some(key.as_bytes()),
            payload: &value,
            headers,
        },
    );
}
