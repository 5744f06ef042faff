//! Records the consumer hands on: to a retry stage, to the dead-letter topic,
//! and delivered markers to the dedupe log. They are written with two of the
//! runtime's [`ReplaceableProducer`]s ([`Producers`]: idempotent, `acks=all`,
//! replaced when its state breaks, flushed when retired); a hop counts only
//! on the broker's acknowledgement, because the source offset is committed
//! on it.
//!
//! [`Handoffs`] owns the consumer's hand-offs: a hop is produced until the
//! broker acknowledges it (a transient error is retried with backoff, a
//! right the broker refuses holds the partition as **stuck**, a topic that
//! can never take it gets a pointer in the dead-letter topic instead), a
//! marker is queued without waiting, and once the record is settled it is
//! reported ([`crate::events::settled`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::FutureRecord;
use switchboard_runtime::kafka::permanent::{error_is_permanent, is_refused_right};
use switchboard_runtime::kafka::{Acked, ReplaceableProducer};
use switchboard_runtime::shutdown::Shutdown;
use tokio::sync::mpsc;
use tracing::{error, warn};

use crate::events::{self, Report};
use crate::metrics;

mod producers;

pub use producers::{replaceable, Producers};

/// One record to hand on.
#[derive(Clone)]
pub struct Handoff<'a> {
    /// Target topic.
    pub topic: &'a str,
    /// Target partition: always the source record's partition number.
    pub partition: i32,
    /// Record key (the event id).
    pub key: Option<&'a [u8]>,
    /// Value.
    pub payload: &'a [u8],
    /// Headers.
    pub headers: OwnedHeaders,
}

impl<'a> Handoff<'a> {
    /// The record as librdkafka takes it.
    pub fn into_record(self) -> FutureRecord<'a, [u8], [u8]> {
        let record = FutureRecord::to(self.topic)
            .partition(self.partition)
            .payload(self.payload)
            .headers(self.headers);
        match self.key {
            Some(key) => record.key(key),
            None => record,
        }
    }
}

/// Produces `handoff` and waits for the broker's acknowledgement.
pub async fn send(producer: &ReplaceableProducer, handoff: Handoff<'_>) -> Result<(), KafkaError> {
    producer.send(handoff.into_record()).await.map(|_| ())
}

/// What one handled record becomes.
pub enum HandOn<'a> {
    /// Its delivery marker: queued without waiting (the event is delivered
    /// either way; a marker lost to a crash can only let a later copy
    /// through).
    Marker(Handoff<'a>),
    /// A hop, produced until acknowledged; if the hop's topic can never
    /// take the record, `pointer` builds its stand-in (no value, the reason
    /// `unroutable`, the error given) for the dead-letter topic.
    Hop {
        /// The record as it hops.
        whole: Handoff<'a>,
        /// Its stand-in, for an error.
        pointer: Box<dyn FnOnce(&str) -> Handoff<'a> + Send + 'a>,
    },
}

/// How a hand-on ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handed {
    /// The marker is queued, or the hop acknowledged.
    Settled,
    /// The hop's topic refused it; its pointer was acknowledged.
    Pointer,
    /// The process began stopping first: nothing may be committed.
    Stopped,
}

/// A queued marker's acknowledgement, and its topic (for the log).
type MarkerAck = (
    String,
    Pin<Box<dyn Future<Output = Result<Acked, KafkaError>> + Send>>,
);

/// The consumer's hand-offs (see the module docs).
pub struct Handoffs {
    producers: Producers,
    stopping: Shutdown,
    stuck: AtomicUsize,
    /// Queued markers' acknowledgements, to the one task that awaits them.
    marker_acks: mpsc::UnboundedSender<MarkerAck>,
}

impl Handoffs {
    /// Hand-offs written by `producers` that stop retrying once `stopping`
    /// has begun. Call it inside the runtime: it starts the task that
    /// awaits the markers' acknowledgements.
    pub fn new(producers: Producers, stopping: Shutdown) -> Self {
        let (marker_acks, acks) = mpsc::unbounded_channel();
        tokio::spawn(await_marker_acks(acks));
        Self {
            producers,
            stopping,
            stuck: AtomicUsize::new(0),
            marker_acks,
        }
    }

    /// The producers (their health, their flushes).
    pub fn producers(&self) -> &Producers {
        &self.producers
    }

    /// The process's stop.
    pub fn stopping(&self) -> &Shutdown {
        &self.stopping
    }

    /// Partitions stuck now: their hand-off refused, held until the broker
    /// takes it (readiness says not ready while there are any).
    pub fn stuck(&self) -> usize {
        self.stuck.load(Ordering::Relaxed)
    }

    /// Hands on `hand_on` and, once it is settled, reports it as `report`
    /// says (a pointer as dead-lettered `unroutable`).
    pub async fn hand_on(&self, hand_on: HandOn<'_>, report: Report<'_>) -> Handed {
        let error: String;
        let (handed, report) = match hand_on {
            HandOn::Marker(marker) => {
                self.detached(marker);
                (Handed::Settled, report)
            }
            HandOn::Hop { whole, pointer } => {
                let topic = whole.topic;
                match self.until_acknowledged(whole, Refusal::GivesUp).await {
                    Acknowledged::Yes => (Handed::Settled, report),
                    Acknowledged::Stopped => return Handed::Stopped,
                    Acknowledged::Refused(why) => {
                        error =
                            format!("{}; then {topic} refused the record: {why}", report.error());
                        match self
                            .until_acknowledged(pointer(&error), Refusal::Holds)
                            .await
                        {
                            Acknowledged::Yes => (Handed::Pointer, report.unroutable(&error)),
                            Acknowledged::Stopped | Acknowledged::Refused(_) => {
                                return Handed::Stopped
                            }
                        }
                    }
                }
            }
        };
        events::settled(&report);
        handed
    }

    /// Queues `handoff` without waiting: a failure is logged and counted
    /// (by the one task awaiting every marker's acknowledgement, not a
    /// task per marker: a batch's acknowledgements wake it once).
    fn detached(&self, handoff: Handoff<'_>) {
        let topic = handoff.topic;
        match self
            .producers
            .markers()
            .send_detached(handoff.into_record())
        {
            Ok(acknowledged) => {
                let queued = self
                    .marker_acks
                    .send((topic.to_owned(), Box::pin(acknowledged)));
                if queued.is_err() {
                    // Only if that task is gone: the marker is queued all the same.
                    warn!(topic, "a marker's acknowledgement is not awaited");
                }
            }
            Err(error) => detached_lost(topic, &error),
        }
    }

    /// Produces `handoff` until the broker acknowledges it, retrying
    /// transient errors with backoff. A right the broker refuses is the
    /// operator's to grant, not the record's fault: the partition is stuck
    /// until it is granted; so is a pointer the dead-letter topic refuses
    /// (`refusal`), as nothing stands behind it.
    async fn until_acknowledged(&self, handoff: Handoff<'_>, refusal: Refusal) -> Acknowledged {
        let mut backoff = Duration::from_millis(100);
        let mut logged = false;
        let mut stuck = Stuck::new(&self.stuck);
        let topic = handoff.topic;
        loop {
            match send(self.producers.hops(), handoff.clone()).await {
                Ok(()) => return Acknowledged::Yes,
                Err(error) if refusal == Refusal::Holds && error_is_permanent(&error) => {
                    stuck.count(|stuck| {
                        error!(topic, %error, stuck, "the dead-letter topic refuses even a pointer; holding the partition until it takes one");
                    });
                }
                Err(error) if is_refused_right(&error) => {
                    stuck.count(|stuck| {
                        error!(topic, %error, stuck, "the broker refuses this consumer's identity the Write on this topic; holding the partition until the ACL is granted (see SECURITY.md)");
                    });
                }
                Err(error) if error_is_permanent(&error) => {
                    metrics::handoff_failed();
                    return Acknowledged::Refused(error.to_string());
                }
                Err(error) => {
                    if !logged {
                        warn!(topic, %error, "cannot hand the record off yet; retrying (its offset stays uncommitted)");
                        logged = true;
                    }
                    metrics::handoff_failed();
                }
            }
            if self.stopping.has_begun() {
                return Acknowledged::Stopped;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// How producing until acknowledged ended.
enum Acknowledged {
    /// The broker acknowledged it.
    Yes,
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
    /// Holds the partition until the broker takes it.
    Holds,
}

/// A partition stuck behind a refused hand-off: counted in the stuck count
/// (readiness, the stuck gauge) from the first refusal until it is dropped.
struct Stuck<'a> {
    count: &'a AtomicUsize,
    counted: bool,
}

impl<'a> Stuck<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        Stuck {
            count,
            counted: false,
        }
    }

    /// Counts a refusal, and the partition as stuck the first time (`first`
    /// is told how many are stuck then).
    fn count(&mut self, first: impl FnOnce(usize)) {
        metrics::handoff_failed();
        if !self.counted {
            self.counted = true;
            let now = self.count.fetch_add(1, Ordering::Relaxed) + 1;
            metrics::stuck(now);
            first(now);
        }
    }
}

impl Drop for Stuck<'_> {
    fn drop(&mut self) {
        if self.counted {
            metrics::stuck(self.count.fetch_sub(1, Ordering::Relaxed) - 1);
        }
    }
}

/// Awaits queued markers' acknowledgements in the order they were queued
/// (a producer acknowledges a partition's records in order, and a late one
/// only delays a log line), until the hand-offs are dropped.
async fn await_marker_acks(mut acks: mpsc::UnboundedReceiver<MarkerAck>) {
    while let Some((topic, acknowledged)) = acks.recv().await {
        if let Err(error) = acknowledged.await {
            detached_lost(&topic, &error);
        }
    }
}

/// A record queued without waiting (a delivered marker) was not queued or
/// not acknowledged: a later copy of its event may be delivered again.
fn detached_lost(topic: &str, error: &dyn std::fmt::Display) {
    warn!(topic, %error, "record not acknowledged; a later copy of its event may be delivered again");
    metrics::handoff_failed();
}
