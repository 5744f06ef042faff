//! The consumer-group member: one poll loop on its own thread, the work on the
//! tokio runtime.
//!
//! - Each assigned partition (of the main topic and of every retry stage) has
//!   a small buffer of records read but not started, delivery slots, tasks
//!   started (within the [`limits`]), and a [`Watermark`] that decides what
//!   to commit.
//! - Each partition has its own librdkafka queue; the loop takes records from
//!   it only while the partition's buffer has room, and wakes when records
//!   arrive or tasks finish: at the first report when reports are few, every
//!   [`reports::TAKEN_EVERY`] when they are many ([`reports`]).
//! - A turn visits only the partitions that have something to do: those whose
//!   queue said it has records (and has not been found empty since), and those
//!   with records buffered. An idle partition costs the loop nothing, however
//!   many are assigned.
//! - A retry record is started no earlier than its due time
//!   ([`crate::stage::Ladder::due_at`]). While the head of a retry partition
//!   is not due, that partition starts nothing (its buffer fills, then the
//!   loop stops taking from its queue); the loop keeps serving every other
//!   partition and wakes at the due time. It is not paused: librdkafka drops
//!   a paused partition's prefetched records and fetches them again on
//!   resume. Nothing sleeps in the loop, so `max.poll.interval.ms` is never
//!   at risk.
//! - Every record passes the [`DedupeGate`] before it starts.
//! - On revocation the revoked partitions stop, their in-flight work gets a
//!   bounded time to finish, and their watermarks are committed before the
//!   partitions go. On assignment every new partition starts resumed
//!   (whatever librdkafka remembers from a stop) and its dedupe markers are
//!   loaded, off the poll thread, before its first record is handled; other
//!   partitions keep flowing meanwhile.
//! - On stop: pause everything, let in-flight work finish within the grace
//!   period, flush the markers, commit, leave the group, each wait on the
//!   broker within a deadline (a watchdog backs them up): a broker that is
//!   down or frozen at the same time cannot hold the process.
//!
//! # Life of a record
//! Where the loop does each thing, in the order one record meets them:
//! 1. [`Worker::run`] turns the loop: `take_readable` (dispatch.rs) moves
//!    records from each readable partition queue into its buffer, up to
//!    `room`; records polled before their queue existed come through
//!    `accept` (dispatch.rs).
//! 2. `step` (dispatch.rs) heeds the loop's notices (`heed`: finished
//!    tasks, confirmed commits, loaded markers, readable queues), then
//!    `dispatch` → `start_buffered` starts each partition's due records
//!    while it has slots.
//! 3. `start_or_park` asks the [`DedupeGate`]: a duplicate is finished at
//!    once, a copy of an event in progress is parked behind it, anything
//!    else is spawned (`spawn`) as a task on the tokio runtime.
//! 4. The task is [`crate::process::run_job`]: the record's destination
//!    delivers ([`crate::destination`]); then it is handed on
//!    ([`crate::handoff::Handoffs`]): a delivery's marker queued, a
//!    failure's hop ([`crate::hop`]) to the next stage or the DLT
//!    acknowledged by the broker; then reported ([`crate::events`]).
//! 5. The task's `Report` joins the loop's [`reports`] list, which
//!    the next turn takes; `complete` (reports.rs) marks the offset done
//!    in the partition's [`Watermark`] and releases parked copies.
//! 6. `commit` (commit.rs) commits each watermark on the commit interval;
//!    the broker's confirmation arrives in `commit_callback` (context.rs)
//!    and `confirm_commits` records it.
//! 7. On a partition move, `revoke` (rebalance.rs) drains the partition's
//!    tasks, flushes markers and commits; `assign` starts the new
//!    partitions once `load_markers` (markers.rs, off this thread) is done.
//!
//! # Layout
//! - this file: settings, the loop's state and the poll loop itself;
//! - [`partitions`]: the partitions held (each one's state and key, wake-ups,
//!   limits) and the one scheduling decision ([`partitions::Turn`]), pure and
//!   table-tested;
//! - [`limits`]: each partition's slots, started and buffered limits;
//! - `dispatch`: records into buffers, through the gate, into tasks, and back;
//! - [`reports`]: finished tasks' reports, and when they wake the loop;
//! - `commit`: watermark commits and lag;
//! - `context`: librdkafka's callbacks (logs, rebalances, commits, statistics);
//! - `rebalance`: assignment, revocation and draining;
//! - `stop`: the bounded stop: drain, markers, the final commit confirmed, leaving;
//! - `markers`: delivered markers loaded off the poll thread;
//! - `wakeups`: which partitions a turn visits, and when the loop wakes.

mod commit;
mod context;
mod dispatch;
pub mod limits;
mod markers;
pub mod partitions;
mod rebalance;
mod reports;
mod stop;
mod wakeups;

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, Consumer};
use switchboard_proto::Envelope;
use switchboard_runtime::admin::Health;
use switchboard_runtime::kafka::KafkaSettings;
use switchboard_runtime::lock::lock;
use switchboard_runtime::shutdown::Shutdown;
use tracing::warn;

use crate::dedupe::{DedupeGate, IdHash};
use crate::deliver::Handler;
use crate::marker::MarkerLoader;
use crate::process::{Finished, Pipeline};
use crate::record::ConsumedRecord;
#[cfg(doc)]
use crate::watermark::Watermark;
pub use context::WorkerContext;
use context::UNDELIVERED_REVOKE_AFTER;
use limits::PartitionLimits;
use markers::MarkerLoads;
pub use partitions::PartitionKey;
use partitions::Partitions;
use reports::{ReportRate, Reports};

/// How far past its drain and closing budgets a stop may run before the
/// watchdog ends the process: the hand-off producer's last flush and the
/// runtime's close.
const STOP_SLACK: Duration = Duration::from_secs(5);

/// Tuning of the loop.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Records started at once per partition (its delivery slots).
    pub concurrency: usize,
    /// How often watermarks are committed.
    pub commit_interval: Duration,
    /// How long revoked or stopping partitions wait for started work.
    pub drain_timeout: Duration,
    /// Dedupe window.
    pub dedupe_window: Duration,
    /// Bound on reading the marker log at assignment.
    pub marker_load_timeout: Duration,
}

impl WorkerSettings {
    /// The longest a stop takes, whatever the broker does: the drain
    /// (`shutdown_grace`), then `stop::CLOSING` for markers, commit
    /// and leaving the group, then a few seconds for the rest.
    pub fn stop_bound(&self) -> Duration {
        self.drain_timeout + stop::CLOSING + STOP_SLACK
    }
}

/// How a member's stop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// Everything finished was committed and the member left its group.
    Clean,
    /// Within its bound, but the broker did not confirm the final commit
    /// (or the leave): that work is redone by the group.
    Incomplete(String),
}

/// What wakes the loop (over its one channel, `notices`): a commit the
/// broker confirmed, markers loaded, records arriving on a partition's
/// empty queue, or a finished task's report when the loop asked for one
/// (the reports themselves wait in [`reports`]).
enum Notice {
    Committed(Vec<CommittedOffset>),
    Reported,
    MarkersLoaded(markers::Loaded),
    Readable(PartitionKey),
}

/// An offset the broker confirmed as committed: topic, partition, offset.
type CommittedOffset = (String, i32, i64);

/// What a finished task reports to the loop ([`reports`]).
struct Report {
    key: PartitionKey,
    epoch: u64,
    offset: i64,
    id: Option<IdHash>,
    finished: Finished,
}

/// A copy waiting for another copy of the same event id to finish.
struct Parked {
    key: PartitionKey,
    epoch: u64,
    record: ConsumedRecord,
    event: Envelope,
}

/// The loop's state. The rebalance callbacks run inside `poll` on the loop's
/// thread and lock it too, so it is behind a mutex that is never contended.
struct State<H: Handler> {
    pipeline: Arc<Pipeline<H>>,
    runtime: tokio::runtime::Handle,
    settings: WorkerSettings,
    /// The partitions held: their state, wake-ups and limits.
    partitions: Partitions,
    gate: DedupeGate<Parked>,
    started_by_source: HashMap<&'static str, i64>,
    /// What wakes the loop: commits, marker loads, queues, and a report
    /// when the loop asked for one.
    notices: Receiver<Notice>,
    notices_tx: Sender<Notice>,
    /// Where finished tasks report, the loop's buffer for taking them, and
    /// how fast it takes them.
    reports: Reports,
    taken: Vec<Report>,
    report_rate: ReportRate,
    /// Marker loads asked for and which one each partition number waits for.
    markers: MarkerLoads,
    /// When watermarks were last committed (and the started gauge set).
    last_commit: Instant,
    /// When dedupe claims were last expired and every queue re-checked.
    last_upkeep: Instant,
    /// When every unconfirmed watermark was last sent again.
    last_resend: Instant,
    /// Set once the loop is stopping: when flushes, the final commit and
    /// leaving the group must be over.
    closing_by: Option<Instant>,
}

type Queues<H> = HashMap<PartitionKey, (u64, PartitionQueue<WorkerContext<H>>)>;

/// A group member ready to run.
pub struct Worker<H: Handler> {
    consumer: Arc<BaseConsumer<WorkerContext<H>>>,
    state: Arc<Mutex<State<H>>>,
}

impl<H: Handler> Worker<H> {
    /// Creates the group consumer with `kafka` settings and subscribes it to
    /// every stage of `pipeline.ladder`.
    pub fn new(
        kafka: &KafkaSettings,
        pipeline: Arc<Pipeline<H>>,
        settings: WorkerSettings,
        runtime: tokio::runtime::Handle,
    ) -> anyhow::Result<Self> {
        let loader = MarkerLoader::new(kafka, pipeline.ladder.delivered_topic())?;
        let (notices_tx, notices) = std::sync::mpsc::channel();
        let markers = MarkerLoads::start(
            loader,
            settings.dedupe_window,
            settings.marker_load_timeout,
            notices_tx.clone(),
        )?;
        let topics: Vec<String> = pipeline.ladder.consumed_topics().to_vec();
        let state = Arc::new(Mutex::new(State {
            pipeline,
            runtime,
            gate: DedupeGate::new(settings.dedupe_window),
            partitions: Partitions::new(PartitionLimits::for_concurrency(settings.concurrency)),
            settings,
            started_by_source: HashMap::new(),
            notices,
            notices_tx: notices_tx.clone(),
            reports: Reports::new(notices_tx.clone()),
            taken: Vec::new(),
            report_rate: ReportRate::new(Instant::now()),
            markers,
            last_commit: Instant::now(),
            last_upkeep: Instant::now(),
            last_resend: Instant::now(),
            closing_by: None,
        }));
        let context = WorkerContext::new(state.clone(), notices_tx.clone());
        let consumer: BaseConsumer<WorkerContext<H>> =
            kafka.client_config().create_with_context(context)?;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names)?;
        Ok(Self {
            consumer: Arc::new(consumer),
            state,
        })
    }

    /// Gives every assigned partition its own queue, and drops the queues of
    /// partitions no longer assigned (or assigned anew). A new queue counts
    /// as readable: records may have arrived before its callback was set.
    fn sync_queues(&self, queues: &mut Queues<H>, state: &mut State<H>) {
        state.partitions.wake.queues_stale = false;
        queues.retain(|key, (epoch, _)| {
            state
                .partitions
                .by_key
                .get(key)
                .is_some_and(|p| p.epoch == *epoch)
        });
        for (key, partition) in &state.partitions.by_key {
            if queues.contains_key(key) {
                continue;
            }
            let topic = state.pipeline.ladder.topic(key.stage);
            if let Some(mut queue) = self.consumer.split_partition_queue(topic, key.partition) {
                let notices_tx = state.notices_tx.clone();
                let readable = *key;
                queue.set_nonempty_callback(move || {
                    let _ = notices_tx.send(Notice::Readable(readable));
                });
                queues.insert(*key, (partition.epoch, queue));
                state.partitions.wake.readable.insert(*key);
            }
        }
    }

    /// Runs the poll loop on the calling thread until `stop` has begun, then
    /// drains, commits and leaves the group.
    ///
    /// Each assigned partition gets its own queue (librdkafka keeps
    /// prefetching into it, bounded by `queued.max.messages.kbytes`); the loop
    /// takes records from a queue only while that partition's buffer has
    /// room. Capacity is therefore never managed by pausing, which would
    /// throw the prefetched records away and fetch them again.
    ///
    /// Returns [`Stopped::Incomplete`] when the broker did not confirm the
    /// final commit within the stop's budget, and an error when the
    /// consumer hit a fatal error (another member
    /// with the same `group.instance.id` fenced it, for example): it stops
    /// as it would on SIGTERM, and the process should exit non-zero.
    /// The stop is bounded ([`WorkerSettings::stop_bound`]): every wait on
    /// the broker has a deadline (the process adds a watchdog, should a
    /// librdkafka call overstay it).
    pub fn run(self, stop: &Shutdown, health: &Health) -> Result<Stopped, String> {
        let consumer = &*self.consumer;
        let mut queues: Queues<H> = HashMap::new();
        let mut fatal = None;
        loop {
            health.beat();
            if stop.has_begun() {
                break;
            }
            // Serves callbacks (rebalances run here) and takes any record
            // fetched before its partition got its own queue.
            for _ in 0..500 {
                match consumer.poll(Duration::ZERO) {
                    None => break,
                    Some(Ok(message)) => lock(&self.state).accept(&message),
                    Some(Err(error)) => warn!(%error, "consumer error"),
                }
            }
            if let Some((code, reason)) = consumer.client().fatal_error() {
                fatal = Some(fatal_message(code, &reason));
                break;
            }
            let mut state = lock(&self.state);
            if state.partitions.wake.queues_stale {
                self.sync_queues(&mut queues, &mut state);
            }
            state.take_readable(&queues);
            if consumer
                .context()
                .revoke_never_delivered(UNDELIVERED_REVOKE_AFTER)
            {
                state.revoke_undelivered(consumer);
            }
            let wait = state.step(consumer);
            state.wait(wait);
        }
        self.stop_and_leave(fatal)
    }
}

/// What to tell an operator about a fatal consumer error.
fn fatal_message(code: rdkafka::types::RDKafkaErrorCode, reason: &str) -> String {
    use rdkafka::types::RDKafkaErrorCode;
    match code {
        RDKafkaErrorCode::FencedInstanceId => format!(
            "another member of the group uses the same group.instance.id ({reason}); give each consumer process its own CONSUMER_INSTANCE_ID (it defaults to $HOSTNAME, which two processes on one host share)"
        ),
        code => format!("the group consumer hit a fatal error ({code:?}): {reason}"),
    }
}
