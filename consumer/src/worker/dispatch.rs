//! One turn of the poll loop: records into their partition's buffer,
//! through the dedupe gate into tasks, and finished tasks back into the
//! watermarks. A retry partition whose head is not due simply starts
//! nothing until then: it is never paused for it, because librdkafka drops
//! a paused partition's prefetched records and fetches them again on resume,
//! which under a retry backlog would happen at the rate records fall due.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode};
use switchboard_proto::{headers as h, Envelope};
use switchboard_runtime::time::unix_ms;
use tracing::{debug, warn};

use super::commit::{Sending, RESEND_UNCONFIRMED_EVERY};
use super::limits::MEMBER_STARTED;
use super::partitions::Running;
use super::partitions::Turn;
use super::{Notice, Parked, PartitionKey, Queues, Report, State, WorkerContext};
use crate::dedupe::{event_id_hash, Admission, IdHash, ReadAt};
use crate::deliver::Handler;
use crate::events::{self, Subject};
use crate::metrics;
use crate::process::{run_job, Job};
use crate::record::ConsumedRecord;
use crate::stage::DueCorrection;

/// How often the loop expires dedupe ids and looks at every partition's queue.
const UPKEEP_EVERY: Duration = Duration::from_secs(1);

/// Logs a corrected due time once per kind for the process lifetime: a
/// producer writing bad due times would otherwise log once per record.
fn warn_once(correction: DueCorrection) {
    static CLAMPED: AtomicBool = AtomicBool::new(false);
    static UNREADABLE: AtomicBool = AtomicBool::new(false);
    let (flag, what) = match correction {
        DueCorrection::Clamped => (&CLAMPED, "a retry record's sb-due-at is further ahead than its stage's delay; clamped to the delay (logged once)"),
        DueCorrection::Unreadable => (&UNREADABLE, "a retry record's sb-due-at is not a number; handled at once (logged once)"),
    };
    if !flag.swap(true, Ordering::Relaxed) {
        warn!("{what}");
    }
}

impl<H: Handler> State<H> {
    /// One turn of the loop: what woke it, the work that may start, the
    /// commit and upkeep when they are due. Returns how long the next poll
    /// may wait.
    pub(super) fn step(&mut self, consumer: &BaseConsumer<WorkerContext<H>>) -> Duration {
        self.take_reports();
        self.dispatch();
        if self.last_commit.elapsed() >= self.settings.commit_interval {
            self.commit_turn(consumer);
        }
        if self.last_upkeep.elapsed() >= UPKEEP_EVERY {
            self.upkeep();
        }
        // Rebalance callbacks are served at least this often.
        let idle = Duration::from_millis(100);
        self.partitions.sleep_for(Instant::now(), idle)
    }

    /// On the commit interval: commits the watermarks that moved (now and
    /// then every unconfirmed one), and publishes the
    /// in-flight gauge (counted per event, published at this pace).
    fn commit_turn(&mut self, consumer: &BaseConsumer<WorkerContext<H>>) {
        for (source, count) in &self.started_by_source {
            metrics::in_flight(source, *count);
        }
        let sending = if self.last_resend.elapsed() >= RESEND_UNCONFIRMED_EVERY {
            self.last_resend = Instant::now();
            Sending::Unconfirmed
        } else {
            Sending::Moved
        };
        self.commit(consumer, CommitMode::Async, sending, |_| true);
        self.last_commit = Instant::now();
    }

    /// Now and then: forgets expired dedupe claims, and marks every queue
    /// readable, a safety net under librdkafka's empty-to-non-empty report
    /// (a report missed for any reason costs at most this long).
    fn upkeep(&mut self) {
        self.gate.expire(unix_ms());
        self.partitions
            .wake
            .readable
            .extend(self.partitions.by_key.keys().copied());
        self.last_upkeep = Instant::now();
    }

    /// Blocks until a notice comes (records arriving, a commit confirmed,
    /// markers loaded, a report when reports are few) or `wait` passes; a
    /// busy loop's wait ends in time to take its reports.
    pub(super) fn wait(&mut self, wait: Duration) {
        let wait = self.sleep_with_reports(wait);
        if let Ok(notice) = self.notices.recv_timeout(wait) {
            self.heed(notice);
        }
    }

    /// Heeds one notice: a confirmed commit, loaded markers, or a readable
    /// queue (a report's notice only woke the loop: the turn takes reports).
    pub(super) fn heed(&mut self, notice: Notice) {
        match notice {
            Notice::Reported => {}
            Notice::Committed(offsets) => self.confirm_commits(&offsets),
            Notice::MarkersLoaded(loaded) => self.markers_loaded(loaded),
            Notice::Readable(key) => {
                self.partitions.wake.readable.insert(key);
            }
        }
    }

    /// Takes records from each readable partition's queue while its buffer
    /// has room. A queue found empty stops being readable until librdkafka
    /// reports records again; one left with records (its buffer is full)
    /// stays readable.
    pub(super) fn take_readable(&mut self, queues: &Queues<H>) {
        let mut readable = std::mem::take(&mut self.partitions.wake.readable);
        readable.retain(|key| {
            let Some((_, queue)) = queues.get(key) else {
                return false;
            };
            for _ in 0..self.partitions.room(key) {
                match queue.poll(Duration::ZERO) {
                    None => return false,
                    Some(Ok(message)) => self.accept(&message),
                    Some(Err(error)) => warn!(%error, "consumer error"),
                }
            }
            true
        });
        let reported_meanwhile = std::mem::replace(&mut self.partitions.wake.readable, readable);
        self.partitions.wake.readable.extend(reported_meanwhile);
    }

    /// Takes a polled record into its partition's buffer.
    pub(super) fn accept(&mut self, message: &rdkafka::message::BorrowedMessage<'_>) {
        use rdkafka::message::Message;
        let Some(stage) = self.pipeline.ladder.stage_of_topic(message.topic()) else {
            return;
        };
        let key = PartitionKey {
            stage,
            partition: message.partition(),
        };
        let record = ConsumedRecord::from_message(message, stage);
        if !self.partitions.receive(key, record) {
            debug!(
                topic = message.topic(),
                partition = message.partition(),
                "record for a partition not assigned here; ignored"
            );
        }
    }

    /// Starts every record that may start, and notes when the earliest
    /// waiting head falls due.
    fn dispatch(&mut self) {
        for parked in self.gate.take_released() {
            self.start_or_park(parked.key, parked.epoch, parked.record, Ok(parked.event));
        }
        let now_ms = unix_ms();
        let now = Instant::now();
        let outstanding = self.partitions.limits.started;
        let mut member_room = MEMBER_STARTED.saturating_sub(self.started_total());
        self.partitions.wake.next_due = None;
        let mut buffered = std::mem::take(&mut self.partitions.wake.buffered);
        buffered
            .retain(|key| self.start_buffered(*key, (outstanding, &mut member_room), now_ms, now));
        let added_meanwhile = std::mem::replace(&mut self.partitions.wake.buffered, buffered);
        self.partitions.wake.buffered.extend(added_meanwhile);
    }

    /// Starts the records of `key`'s buffer that may start, in order, with
    /// at most `outstanding` started on the partition and `member_room` more
    /// on the member, and notes when its head falls due. Returns whether
    /// records are left.
    fn start_buffered(
        &mut self,
        key: PartitionKey,
        (outstanding, member_room): (usize, &mut usize),
        now_ms: i64,
        now: Instant,
    ) -> bool {
        while let Some(partition) = self.partitions.by_key.get_mut(&key) {
            if *member_room == 0 {
                return !partition.buffer.is_empty();
            }
            let ladder = &self.pipeline.ladder;
            let turn = partition.turn(outstanding, now_ms, |head| {
                let due = ladder.due_at(key.stage, head.timestamp_ms, &head.hop)?;
                if let Some(correction) = due.corrected {
                    warn_once(correction);
                }
                Some(due.at_ms)
            });
            match turn {
                Turn::NotReady | Turn::Full => return true,
                Turn::Empty => return false,
                Turn::NotDue { at_ms } => {
                    let wait = Duration::from_millis(at_ms.abs_diff(now_ms));
                    self.partitions.wake.next_due = Some(
                        self.partitions
                            .wake
                            .next_due
                            .map_or(now + wait, |d| d.min(now + wait)),
                    );
                    return true;
                }
                Turn::Start { late_ms } => {
                    if let Some(late) = late_ms {
                        let late = Duration::from_millis(late);
                        metrics::retry_lateness(ladder.static_name(key.stage), late);
                    }
                }
            }
            let Some(record) = partition.buffer.pop_front() else {
                return false;
            };
            let epoch = partition.epoch;
            // A destination's filter decides by the headers when it can, so
            // an event it does not take costs no decode. Without filters,
            // nothing is looked at (and the pipeline is not cloned).
            let filtering = (!self.pipeline.filters.is_empty()).then(|| self.pipeline.clone());
            let filters = filtering.as_ref().map(|pipeline| &pipeline.filters);
            if let Some(destination) = filters.and_then(|f| f.skips_by_headers(&record)) {
                let source = record.header(h::SOURCE).unwrap_or_default();
                let event_id = record.header(h::EVENT_ID).unwrap_or_default();
                self.filtered(key, &record, (source, event_id), destination);
                continue;
            }
            let event = switchboard_proto::envelope::decode_known(record.payload.clone());
            if let (Some(filters), Ok(e)) = (filters, &event) {
                if let Some(destination) = filters.skips(e) {
                    self.filtered(key, &record, (&e.source, &e.event_id), destination);
                    continue;
                }
            }
            self.start_or_park(key, epoch, record, event);
            *member_room -= 1;
        }
        false
    }

    /// Commits `record` (of `event`: source and id) without a delivery:
    /// `destination`'s filter does not take it.
    fn filtered(
        &mut self,
        key: PartitionKey,
        record: &ConsumedRecord,
        event: (&str, &str),
        destination: &str,
    ) {
        let stage = self.pipeline.ladder.static_name(key.stage);
        let subject = Subject::of(record, metrics::source_label(event.0), stage, event.1);
        events::filtered(&subject, destination);
        if let Some(partition) = self.partitions.by_key.get_mut(&key) {
            partition.mark.done(record.offset);
        }
    }

    /// Suppresses a duplicate, parks a copy behind one in flight, or starts a task.
    fn start_or_park(
        &mut self,
        key: PartitionKey,
        epoch: u64,
        record: ConsumedRecord,
        event: Result<Envelope, String>,
    ) {
        if self
            .partitions
            .by_key
            .get(&key)
            .is_none_or(|p| p.epoch != epoch)
        {
            return;
        }
        let event = match event {
            Ok(event) => event,
            Err(why) => return self.spawn(key, epoch, None, record, Err(why)),
        };
        let id = event_id_hash(&event.source, &event.event_id);
        let (offset, redelivery_at_ms) = (record.offset, record.redelivery_at_ms());
        let copy = Parked {
            key,
            epoch,
            record,
            event,
        };
        let at = ReadAt {
            topic: self.pipeline.ladder.topic(key.stage),
            offset,
            redelivery_at_ms,
        };
        match self
            .gate
            .admit(key.partition, id, epoch, unix_ms(), at, copy)
        {
            Admission::Start(Parked { record, event, .. }) => {
                self.spawn(key, epoch, Some(id), record, Ok(event))
            }
            Admission::Parked => {}
            Admission::Duplicate(Parked { record, event, .. }) => {
                let source = metrics::source_label(&event.source);
                let stage = self.pipeline.ladder.static_name(key.stage);
                events::duplicate(&Subject::of(&record, source, stage, &event.event_id));
                if let Some(partition) = self.partitions.by_key.get_mut(&key) {
                    partition.mark.done(record.offset);
                }
            }
        }
    }

    fn spawn(
        &mut self,
        key: PartitionKey,
        epoch: u64,
        id: Option<IdHash>,
        record: ConsumedRecord,
        event: Result<Envelope, String>,
    ) {
        let offset = record.offset;
        let source = match &event {
            Ok(envelope) => metrics::source_label(&envelope.source),
            Err(_) => metrics::UNKNOWN,
        };
        let pipeline = self.pipeline.clone();
        let reports = self.reports.clone();
        let Some(slots) = self.partitions.by_key.get(&key).map(|p| p.slots.clone()) else {
            return;
        };
        // Boxed: the job's future is ~3 KB, and tokio copies a task's
        // future into its cell and writes its stage over it twice more
        // (output, then consumed); boxed, those copies are of a pointer.
        let task = self.runtime.spawn(Box::pin(async move {
            let finished = run_job(
                &pipeline,
                Job {
                    record,
                    event,
                    slots,
                },
            )
            .await;
            reports.push(Report {
                key,
                epoch,
                offset,
                id,
                finished,
            });
        }));
        if let Some(partition) = self.partitions.by_key.get_mut(&key) {
            let running = Running {
                task: task.abort_handle(),
                id,
                source,
            };
            partition.started.insert(offset, running);
            *self.started_by_source.entry(source).or_insert(0) += 1;
        }
    }
}
