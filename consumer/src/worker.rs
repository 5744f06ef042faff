//! The consumer-group member: one poll loop on its own thread, the work on the
//! tokio runtime.
//!
//! - Each assigned partition (of the main topic and of every retry stage) has
//!   a small buffer of records read but not started, up to `concurrency`
//!   records in flight, and a [`Watermark`] that decides what to commit.
//! - Each partition has its own librdkafka queue; the loop takes records from
//!   it only while the partition's buffer has room, and wakes when a task
//!   finishes or records arrive.
//! - A retry record is started no earlier than its due time. While the head
//!   of a retry partition is not due, the partition is *paused*; the loop
//!   keeps serving every other partition and wakes at the due time. Nothing
//!   sleeps in the loop, so `max.poll.interval.ms` is never at risk.
//! - On revocation the revoked partitions stop, their in-flight work gets a
//!   bounded time to finish, and their watermarks are committed before the
//!   partitions go. On assignment every new partition starts unpaused (pause
//!   state is re-applied from the buffer, never inherited) and its dedupe
//!   markers are loaded before its first record is handled.
//! - On stop: pause everything, let in-flight work finish within the grace
//!   period, commit, leave the group.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use switchboard_proto::Envelope;
use tokio::task::AbortHandle;
use tracing::{debug, info, warn};

use crate::dedupe::{id_hash, Claim, Claims, DeliveredSet, IdHash};
use crate::deliver::Handler;
use crate::health::Health;
use crate::hop::Incoming;
use crate::marker::{unix_ms, MarkerLoader};
use crate::metrics;
use crate::process::{run_job, Finished, Job, Pipeline};
use crate::stage::StageIndex;
use crate::watermark::Watermark;

/// A partition of one stage's topic.
pub type PartitionKey = (StageIndex, i32);

/// Tuning of the loop.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Records in flight per partition.
    pub concurrency: usize,
    /// How often watermarks are committed.
    pub commit_interval: Duration,
    /// How long revoked or stopping partitions wait for in-flight work.
    pub drain_timeout: Duration,
    /// Dedupe window.
    pub dedupe_window: Duration,
    /// Bound on reading the marker log at assignment.
    pub marker_load_timeout: Duration,
}

/// What wakes the loop: a finished task, or records arriving on a partition queue.
enum LoopEvent {
    Done(Completion),
    Wake,
}

/// What a finished task reports to the loop.
struct Completion {
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
    record: Incoming,
    event: Envelope,
}

/// A task working on one record.
struct Running {
    task: AbortHandle,
    id: Option<IdHash>,
    source: &'static str,
}

struct PartitionState {
    epoch: u64,
    buffer: VecDeque<Incoming>,
    in_flight: HashMap<i64, Running>,
    mark: Watermark,
    paused: bool,
}

/// The loop's state. The rebalance callbacks run inside `poll` on the loop's
/// thread and lock it too, so it is behind a mutex that is never contended.
struct State<H: Handler> {
    pipeline: Arc<Pipeline<H>>,
    runtime: tokio::runtime::Handle,
    settings: WorkerSettings,
    partitions: HashMap<PartitionKey, PartitionState>,
    delivered: HashMap<i32, DeliveredSet>,
    claims: HashMap<i32, Claims<Parked>>,
    released: Vec<Parked>,
    in_flight_by_source: HashMap<&'static str, i64>,
    completions: Receiver<LoopEvent>,
    completion_tx: Sender<LoopEvent>,
    loader: MarkerLoader,
    next_epoch: u64,
    last_commit: Instant,
    last_upkeep: Instant,
    next_due: Option<Instant>,
}

/// The consumer context: routes logs and runs the rebalance steps on the state.
pub struct WorkerContext<H: Handler> {
    state: Arc<Mutex<State<H>>>,
}

impl<H: Handler> ClientContext for WorkerContext<H> {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        crate::kafka_log::route_log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        crate::kafka_log::route_error(error, reason);
    }

    fn stats(&self, statistics: rdkafka::Statistics) {
        lock(&self.state).report_lag(&statistics);
    }
}

impl<H: Handler> ConsumerContext for WorkerContext<H> {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(revoked) = rebalance {
            lock(&self.state).revoke(consumer, revoked);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(assigned) = rebalance {
            lock(&self.state).assign(consumer, assigned);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// A group member ready to run.
pub struct Worker<H: Handler> {
    consumer: Arc<BaseConsumer<WorkerContext<H>>>,
    state: Arc<Mutex<State<H>>>,
}

impl<H: Handler> Worker<H> {
    /// Creates the group consumer with `kafka` settings and subscribes it to
    /// every stage of `pipeline.ladder`.
    pub fn new(
        kafka: &std::collections::BTreeMap<String, String>,
        pipeline: Arc<Pipeline<H>>,
        settings: WorkerSettings,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, KafkaError> {
        let loader = MarkerLoader::new(kafka, pipeline.ladder.delivered_topic())?;
        let (completion_tx, completions) = std::sync::mpsc::channel();
        let topics: Vec<String> = pipeline.ladder.consumed_topics().to_vec();
        let state = Arc::new(Mutex::new(State {
            pipeline,
            runtime,
            settings,
            partitions: HashMap::new(),
            delivered: HashMap::new(),
            claims: HashMap::new(),
            released: Vec::new(),
            in_flight_by_source: HashMap::new(),
            completions,
            completion_tx,
            loader,
            next_epoch: 0,
            last_commit: Instant::now(),
            last_upkeep: Instant::now(),
            next_due: None,
        }));
        let mut config = rdkafka::ClientConfig::new();
        for (key, value) in kafka {
            config.set(key, value);
        }
        let consumer: BaseConsumer<WorkerContext<H>> =
            config.create_with_context(WorkerContext {
                state: state.clone(),
            })?;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names)?;
        Ok(Self {
            consumer: Arc::new(consumer),
            state,
        })
    }

    /// Gives every assigned partition its own queue, and drops the queues of
    /// partitions no longer assigned (or assigned anew).
    fn sync_queues(
        &self,
        queues: &mut HashMap<PartitionKey, (u64, PartitionQueue<WorkerContext<H>>)>,
    ) {
        let state = lock(&self.state);
        queues
            .retain(|key, (epoch, _)| state.partitions.get(key).is_some_and(|p| p.epoch == *epoch));
        for (key, partition) in &state.partitions {
            if queues.contains_key(key) {
                continue;
            }
            let topic = state.pipeline.ladder.topic(key.0);
            if let Some(mut queue) = self.consumer.split_partition_queue(topic, key.1) {
                let wake = state.completion_tx.clone();
                queue.set_nonempty_callback(move || {
                    let _ = wake.send(LoopEvent::Wake);
                });
                queues.insert(*key, (partition.epoch, queue));
            }
        }
    }

    /// The consumer, for metadata probes from other threads.
    pub fn client(&self) -> Arc<BaseConsumer<WorkerContext<H>>> {
        self.consumer.clone()
    }

    /// Runs the poll loop on the calling thread until `stop` is set, then
    /// drains, commits and leaves the group.
    ///
    /// Each assigned partition gets its own queue (librdkafka keeps
    /// prefetching into it, bounded by `queued.max.messages.kbytes`); the loop
    /// takes records from a queue only while that partition's buffer has
    /// room. Capacity is therefore never managed by pausing, which would
    /// throw the prefetched records away and fetch them again.
    pub fn run(self, stop: &AtomicBool, health: &Health) {
        let consumer = &*self.consumer;
        let mut queues: HashMap<PartitionKey, (u64, PartitionQueue<WorkerContext<H>>)> =
            HashMap::new();
        loop {
            health.beat();
            if stop.load(Ordering::Relaxed) {
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
            self.sync_queues(&mut queues);
            let mut state = lock(&self.state);
            for (key, (_, queue)) in &queues {
                for _ in 0..state.room(key) {
                    match queue.poll(Duration::ZERO) {
                        None => break,
                        Some(Ok(message)) => state.accept(&message),
                        Some(Err(error)) => warn!(%error, "consumer error"),
                    }
                }
            }
            let wait = state.step(consumer);
            state.wait(wait);
        }
        lock(&self.state).stop(consumer);
        consumer.unsubscribe();
        if let Err(error) = consumer.close_queue() {
            warn!(%error, "could not start leaving the group");
        }
        let leave_by = Instant::now() + Duration::from_secs(10);
        while !consumer.closed() && Instant::now() < leave_by {
            let _ = consumer.poll(Duration::from_millis(100));
        }
        info!("left the consumer group");
    }
}

impl<H: Handler> State<H> {
    /// One turn of the loop: finished work, new work, pauses, commits and
    /// upkeep. Returns how long the next poll may wait.
    fn step(&mut self, consumer: &BaseConsumer<WorkerContext<H>>) -> Duration {
        while let Ok(event) = self.completions.try_recv() {
            if let LoopEvent::Done(done) = event {
                self.complete(done);
            }
        }
        self.dispatch(consumer);
        if self.last_commit.elapsed() >= self.settings.commit_interval {
            for (source, count) in &self.in_flight_by_source {
                metrics::in_flight(source, *count);
            }
            self.commit(consumer, CommitMode::Async, |_| true);
            self.last_commit = Instant::now();
        }
        if self.last_upkeep.elapsed() >= Duration::from_secs(5) {
            self.upkeep();
            self.last_upkeep = Instant::now();
        }
        // Rebalance callbacks are served at least this often.
        let idle = Duration::from_millis(100);
        match self.next_due {
            Some(due) => due.saturating_duration_since(Instant::now()).min(idle),
            None => idle,
        }
    }

    /// Blocks until a task finishes, records arrive, or `wait` passes.
    fn wait(&mut self, wait: Duration) {
        match self.completions.recv_timeout(wait) {
            Ok(LoopEvent::Done(done)) => self.complete(done),
            Ok(LoopEvent::Wake) | Err(_) => {}
        }
    }

    /// How many records `key`'s buffer may still take.
    fn room(&self, key: &PartitionKey) -> usize {
        match self.partitions.get(key) {
            Some(p) if !p.paused => {
                let high = (self.settings.concurrency * 2).max(64);
                high.saturating_sub(p.buffer.len())
            }
            _ => 0,
        }
    }

    fn in_flight(&self) -> usize {
        self.partitions.values().map(|p| p.in_flight.len()).sum()
    }

    /// Takes a polled record into its partition's buffer.
    fn accept(&mut self, message: &rdkafka::message::BorrowedMessage<'_>) {
        use rdkafka::message::Message;
        let Some(stage) = self.pipeline.ladder.stage_of_topic(message.topic()) else {
            return;
        };
        let Some(partition) = self.partitions.get_mut(&(stage, message.partition())) else {
            debug!(
                topic = message.topic(),
                partition = message.partition(),
                "record for a partition not assigned here; ignored"
            );
            return;
        };
        partition.mark.received(message.offset());
        partition
            .buffer
            .push_back(Incoming::from_message(message, stage));
    }

    /// Starts every record that may start, and pauses or resumes partitions.
    fn dispatch(&mut self, consumer: &BaseConsumer<WorkerContext<H>>) {
        for parked in std::mem::take(&mut self.released) {
            self.start_or_park(parked.key, parked.epoch, parked.record, Ok(parked.event));
        }
        let now_ms = unix_ms();
        let now = Instant::now();
        let concurrency = self.settings.concurrency;
        self.next_due = None;
        let mut to_pause = TopicPartitionList::new();
        let mut to_resume = TopicPartitionList::new();
        let keys: Vec<PartitionKey> = self.partitions.keys().copied().collect();
        for key in keys {
            let mut head_waits = false;
            while let Some(partition) = self.partitions.get_mut(&key) {
                if partition.in_flight.len() >= concurrency {
                    break;
                }
                let Some(head) = partition.buffer.front() else {
                    break;
                };
                if key.0 > 0 {
                    let due_ms = head.hop.due_at_ms.unwrap_or_else(|| {
                        head.timestamp_ms + self.pipeline.ladder.delay(key.0).as_millis() as i64
                    });
                    if due_ms > now_ms {
                        let wait = Duration::from_millis((due_ms - now_ms) as u64);
                        self.next_due =
                            Some(self.next_due.map_or(now + wait, |d| d.min(now + wait)));
                        head_waits = true;
                        break;
                    }
                    let late = Duration::from_millis((now_ms - due_ms) as u64);
                    metrics::retry_lateness(self.pipeline.ladder.static_name(key.0), late);
                }
                let Some(record) = partition.buffer.pop_front() else {
                    break;
                };
                let epoch = partition.epoch;
                let event = Envelope::decode(record.payload.clone()).map_err(|e| e.to_string());
                self.start_or_park(key, epoch, record, event);
            }
            let Some(partition) = self.partitions.get_mut(&key) else {
                continue;
            };
            // Paused only while its head waits for its due time; capacity is
            // managed by not taking from its queue.
            let should_pause = head_waits;
            if should_pause != partition.paused {
                let list = if should_pause {
                    &mut to_pause
                } else {
                    &mut to_resume
                };
                list.add_partition(self.pipeline.ladder.topic(key.0), key.1);
                partition.paused = should_pause;
            }
        }
        if to_pause.count() > 0 {
            if let Err(error) = consumer.pause(&to_pause) {
                warn!(%error, "could not pause partitions");
            }
        }
        if to_resume.count() > 0 {
            if let Err(error) = consumer.resume(&to_resume) {
                warn!(%error, "could not resume partitions");
            }
        }
    }

    /// Suppresses a duplicate, parks a copy behind one in flight, or starts a task.
    fn start_or_park(
        &mut self,
        key: PartitionKey,
        epoch: u64,
        record: Incoming,
        event: Result<Envelope, String>,
    ) {
        if self.partitions.get(&key).is_none_or(|p| p.epoch != epoch) {
            return;
        }
        let event = match event {
            Ok(event) => event,
            Err(why) => return self.spawn(key, epoch, None, record, Err(why)),
        };
        let id = id_hash(&event.event_id);
        let window = self.settings.dedupe_window;
        let set = self
            .delivered
            .entry(key.1)
            .or_insert_with(|| DeliveredSet::new(window));
        if set.contains(id, unix_ms()) {
            let stage_name = self.pipeline.ladder.static_name(key.0);
            metrics::duplicate(metrics::source_label(&event.source), stage_name);
            debug!(
                event_id = event.event_id,
                stage = stage_name,
                "already delivered; suppressed"
            );
            if let Some(partition) = self.partitions.get_mut(&key) {
                partition.mark.done(record.offset);
            }
            return;
        }
        let parked = Parked {
            key,
            epoch,
            record,
            event,
        };
        if let Claim::Claimed(Parked { record, event, .. }) = self
            .claims
            .entry(key.1)
            .or_default()
            .claim_or_park(id, parked)
        {
            self.spawn(key, epoch, Some(id), record, Ok(event));
        }
    }

    fn spawn(
        &mut self,
        key: PartitionKey,
        epoch: u64,
        id: Option<IdHash>,
        record: Incoming,
        event: Result<Envelope, String>,
    ) {
        let offset = record.offset;
        let source = match &event {
            Ok(envelope) => metrics::source_label(&envelope.source),
            Err(_) => metrics::UNKNOWN,
        };
        let pipeline = self.pipeline.clone();
        let done = self.completion_tx.clone();
        let task = self.runtime.spawn(async move {
            let finished = run_job(&pipeline, Job { record, event }).await;
            let _ = done.send(LoopEvent::Done(Completion {
                key,
                epoch,
                offset,
                id,
                finished,
            }));
        });
        if let Some(partition) = self.partitions.get_mut(&key) {
            let running = Running {
                task: task.abort_handle(),
                id,
                source,
            };
            partition.in_flight.insert(offset, running);
            *self.in_flight_by_source.entry(source).or_insert(0) += 1;
        }
    }

    fn complete(&mut self, done: Completion) {
        if let Some(id) = done.id {
            if let Finished::Delivered { at_ms } = done.finished {
                self.delivered
                    .entry(done.key.1)
                    .or_insert_with(|| DeliveredSet::new(self.settings.dedupe_window))
                    .insert(id, at_ms);
            }
            if let Some(claims) = self.claims.get_mut(&done.key.1) {
                self.released.extend(claims.release(id));
            }
        }
        let Some(partition) = self
            .partitions
            .get_mut(&done.key)
            .filter(|p| p.epoch == done.epoch)
        else {
            return;
        };
        if let Some(running) = partition.in_flight.remove(&done.offset) {
            if let Some(count) = self.in_flight_by_source.get_mut(running.source) {
                *count -= 1;
            }
        }
        if done.finished != Finished::Abandoned {
            partition.mark.done(done.offset);
        }
    }

    /// Commits the watermark of every partition `include` selects.
    fn commit(
        &mut self,
        consumer: &BaseConsumer<WorkerContext<H>>,
        mode: CommitMode,
        include: impl Fn(&PartitionKey) -> bool,
    ) {
        let mut offsets = TopicPartitionList::new();
        let mut marks = Vec::new();
        for (key, partition) in &self.partitions {
            if !include(key) {
                continue;
            }
            if let Some(offset) = partition.mark.to_commit() {
                let topic = self.pipeline.ladder.topic(key.0);
                if offsets
                    .add_partition_offset(topic, key.1, Offset::Offset(offset))
                    .is_ok()
                {
                    marks.push((*key, offset));
                }
            }
        }
        if marks.is_empty() {
            return;
        }
        match consumer.commit(&offsets, mode) {
            Ok(()) => {
                for (key, offset) in marks {
                    if let Some(partition) = self.partitions.get_mut(&key) {
                        partition.mark.committed(offset);
                    }
                }
            }
            Err(error) => warn!(%error, "offset commit failed; will retry"),
        }
    }

    /// Dedupe expiry.
    fn upkeep(&mut self) {
        let now_ms = unix_ms();
        for set in self.delivered.values_mut() {
            set.expire(now_ms);
        }
    }

    /// Lag per partition: the broker's high watermark (from librdkafka's
    /// statistics, cached from fetch responses) minus the commit watermark.
    fn report_lag(&self, statistics: &rdkafka::Statistics) {
        for (key, partition) in &self.partitions {
            let topic = self.pipeline.ladder.topic(key.0);
            let Some(stats) = statistics
                .topics
                .get(topic)
                .and_then(|t| t.partitions.get(&key.1))
            else {
                continue;
            };
            let position = partition
                .mark
                .watermark()
                .or(partition.mark.last_committed());
            if let (true, Some(position)) = (stats.hi_offset >= 0, position) {
                metrics::lag(
                    self.pipeline.ladder.static_name(key.0),
                    key.1,
                    (stats.hi_offset - position).max(0),
                );
            }
        }
    }

    /// Waits for the in-flight work of the partitions `include` selects, at
    /// most `timeout`, aborting what is left; returns how many were aborted.
    fn drain(&mut self, timeout: Duration, include: impl Fn(&PartitionKey) -> bool) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let pending: usize = self
                .partitions
                .iter()
                .filter(|(k, _)| include(k))
                .map(|(_, p)| p.in_flight.len())
                .sum();
            if pending == 0 {
                return 0;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.completions.recv_timeout(left) {
                Ok(LoopEvent::Done(done)) => self.complete(done),
                Ok(LoopEvent::Wake) => {}
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    let mut aborted = 0;
                    for (key, partition) in self.partitions.iter_mut() {
                        if !include(key) {
                            continue;
                        }
                        for (_, running) in partition.in_flight.drain() {
                            running.task.abort();
                            aborted += 1;
                            if let Some(count) = self.in_flight_by_source.get_mut(running.source) {
                                *count -= 1;
                            }
                            if let (Some(id), Some(claims)) =
                                (running.id, self.claims.get_mut(&key.1))
                            {
                                self.released.extend(claims.release(id));
                            }
                        }
                    }
                    return aborted;
                }
            }
        }
    }

    fn revoke(&mut self, consumer: &BaseConsumer<WorkerContext<H>>, revoked: &TopicPartitionList) {
        let keys: Vec<PartitionKey> = revoked
            .elements()
            .iter()
            .filter_map(|e| {
                let stage = self.pipeline.ladder.stage_of_topic(e.topic())?;
                Some((stage, e.partition()))
            })
            .collect();
        let is_revoked = |key: &PartitionKey| keys.contains(key);
        for key in &keys {
            if let Some(partition) = self.partitions.get_mut(key) {
                partition.buffer.clear();
            }
        }
        let aborted = self.drain(self.settings.drain_timeout, is_revoked);
        if aborted > 0 {
            warn!(
                aborted,
                "in-flight work on revoked partitions did not finish in time; it will be redone by the next owner"
            );
        }
        self.commit(consumer, CommitMode::Sync, is_revoked);
        for key in &keys {
            self.partitions.remove(key);
        }
        for claims in self.claims.values_mut() {
            claims.retain(|parked| !keys.contains(&parked.key));
        }
        self.released.retain(|parked| !keys.contains(&parked.key));
        metrics::assigned(self.partitions.len());
        info!(
            revoked = keys.len(),
            remaining = self.partitions.len(),
            "partitions revoked"
        );
    }

    fn assign(&mut self, consumer: &BaseConsumer<WorkerContext<H>>, assigned: &TopicPartitionList) {
        let mut fresh = TopicPartitionList::new();
        for element in assigned.elements() {
            let Some(stage) = self.pipeline.ladder.stage_of_topic(element.topic()) else {
                continue;
            };
            self.next_epoch += 1;
            self.partitions.insert(
                (stage, element.partition()),
                PartitionState {
                    epoch: self.next_epoch,
                    buffer: VecDeque::new(),
                    in_flight: HashMap::new(),
                    mark: Watermark::default(),
                    paused: false,
                },
            );
            fresh.add_partition(element.topic(), element.partition());
        }
        // A partition starts unpaused whatever librdkafka remembers; the
        // loop pauses it again from its own buffer if it must.
        if fresh.count() > 0 {
            if let Err(error) = consumer.resume(&fresh) {
                warn!(%error, "could not resume newly assigned partitions");
            }
        }
        self.load_markers();
        metrics::assigned(self.partitions.len());
        info!(
            assigned = fresh.count(),
            total = self.partitions.len(),
            "partitions assigned"
        );
    }

    /// Loads or catches up the dedupe markers of every partition number held,
    /// and forgets those of partition numbers no longer held.
    fn load_markers(&mut self) {
        let held: Vec<i32> = {
            let mut numbers: Vec<i32> = self.partitions.keys().map(|k| k.1).collect();
            numbers.sort_unstable();
            numbers.dedup();
            numbers
        };
        self.delivered.retain(|p, _| held.contains(p));
        let window = self.settings.dedupe_window;
        for number in &held {
            self.delivered
                .entry(*number)
                .or_insert_with(|| DeliveredSet::new(window));
        }
        let started = Instant::now();
        let mut sets: Vec<(i32, &mut DeliveredSet)> = self
            .delivered
            .iter_mut()
            .map(|(p, set)| (*p, set))
            .collect();
        match self
            .loader
            .load(&mut sets, window, self.settings.marker_load_timeout)
        {
            Ok(read) => info!(
                partitions = held.len(),
                markers = read,
                took = ?started.elapsed(),
                "dedupe markers loaded"
            ),
            Err(error) => warn!(
                %error,
                "could not read the delivered markers; duplicates of events delivered before this assignment may be delivered again"
            ),
        }
    }

    /// Stops taking work, lets in-flight work finish within the drain
    /// timeout, and commits.
    fn stop(&mut self, consumer: &BaseConsumer<WorkerContext<H>>) {
        self.pipeline.stopping.store(true, Ordering::Relaxed);
        let mut all = TopicPartitionList::new();
        for (key, partition) in self.partitions.iter_mut() {
            partition.buffer.clear();
            all.add_partition(self.pipeline.ladder.topic(key.0), key.1);
        }
        if all.count() > 0 {
            let _ = consumer.pause(&all);
        }
        let in_flight = self.in_flight();
        info!(in_flight, "stopping: finishing in-flight work");
        let aborted = self.drain(self.settings.drain_timeout, |_| true);
        if aborted > 0 {
            warn!(
                aborted,
                "in-flight work did not finish within the grace period; it stays uncommitted and will be redone"
            );
        }
        self.commit(consumer, CommitMode::Sync, |_| true);
        for (source, count) in &self.in_flight_by_source {
            metrics::in_flight(source, *count);
        }
    }
}
