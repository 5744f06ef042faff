//! Finished tasks' reports on their way back to the loop, gathered so that
//! a busy loop is not woken by each.
//!
//! A task adds its [`Report`] to one shared list; the loop takes the whole
//! list at each turn. How the loop learns of new reports depends on the
//! rate they come at:
//! - **busy** (it took at least [`BUSY_AT`] reports per [`TAKEN_EVERY`]
//!   since it last looked, at least that long ago): no report wakes it; it
//!   sleeps at most [`TAKEN_EVERY`] and takes what gathered.
//!   Each report used to wake the loop, and at tens of thousands of events a
//!   second it slept and was woken about once every five events
//!   (BENCHMARKS.md, "sixth sitting").
//! - **quiet** (fewer): the next report wakes it, as a notice. A loop
//!   waking every millisecond while a slow destination takes 200 ms per
//!   event would cost more than the reports it takes.
//!
//! Nothing a delivery waits for depends on it: a report frees partition
//! room, releases parked copies and lets an offset be committed, and a
//! partition has room for many more started records than its destination
//! takes at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_runtime::lock::lock;

use super::{Notice, Report, State};
use crate::deliver::Handler;
use crate::process::Finished;

/// The longest a finished task's report waits for a busy loop.
pub(super) const TAKEN_EVERY: Duration = Duration::from_millis(1);

/// Reports per [`TAKEN_EVERY`] that make the loop busy: 2,000 a second.
const BUSY_AT: u32 = 2;

/// The list finished tasks add to and the loop empties, and whether the
/// next report must wake the loop.
#[derive(Clone)]
pub(super) struct Reports(Arc<Shared>);

struct Shared {
    list: Mutex<Vec<Report>>,
    /// Set while a quiet loop sleeps: the next report wakes it.
    wake_on_next: AtomicBool,
    notices: Sender<Notice>,
}

impl Reports {
    /// Reports that wake the loop over `notices` when it asks.
    pub fn new(notices: Sender<Notice>) -> Self {
        Self(Arc::new(Shared {
            list: Mutex::new(Vec::new()),
            wake_on_next: AtomicBool::new(false),
            notices,
        }))
    }

    /// Adds a finished task's report (from the task, on the runtime), and
    /// wakes the loop if it asked.
    pub fn push(&self, report: Report) {
        lock(&self.0.list).push(report);
        if self.0.wake_on_next.swap(false, Ordering::SeqCst) {
            let _ = self.0.notices.send(Notice::Reported);
        }
    }

    /// Swaps the gathered reports into `taken`, which must be empty: the
    /// loop keeps one buffer and hands it back, so neither side allocates
    /// once warm.
    pub fn take_into(&self, taken: &mut Vec<Report>) {
        debug_assert!(taken.is_empty());
        std::mem::swap(&mut *lock(&self.0.list), taken);
    }

    /// Asks the next report to wake the loop; false when one is already
    /// waiting (it came after the turn's take), and the loop must not sleep.
    /// The flag is set before the list is looked at, and a task pushes
    /// before it looks at the flag, so a report is either seen here or
    /// wakes the loop.
    fn wake_on_next(&self) -> bool {
        self.0.wake_on_next.store(true, Ordering::SeqCst);
        let waiting = !lock(&self.0.list).is_empty();
        if waiting {
            self.0.wake_on_next.store(false, Ordering::SeqCst);
        }
        !waiting
    }

    /// The loop takes reports on its own clock: none need wake it.
    fn wake_by_clock(&self) {
        self.0.wake_on_next.store(false, Ordering::SeqCst);
    }
}

/// How fast the loop takes reports, judged over spans of at least
/// [`TAKEN_EVERY`]: whether it is busy.
#[derive(Debug)]
pub(super) struct ReportRate {
    since: Instant,
    counted: usize,
    busy: bool,
}

impl ReportRate {
    /// Quiet, counting from `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            since: now,
            counted: 0,
            busy: false,
        }
    }

    /// Counts reports taken.
    fn count(&mut self, taken: usize) {
        self.counted += taken;
    }

    /// Whether the loop is busy: once at least [`TAKEN_EVERY`] has passed
    /// since the last judgement, judges again from the reports taken in
    /// that span; until then, the last judgement holds.
    fn busy(&mut self, now: Instant) -> bool {
        let span = now.saturating_duration_since(self.since);
        if span >= TAKEN_EVERY {
            let needed = span.as_secs_f64() / TAKEN_EVERY.as_secs_f64() * f64::from(BUSY_AT);
            self.busy = self.counted as f64 >= needed;
            self.since = now;
            self.counted = 0;
        }
        self.busy
    }
}

impl<H: Handler> State<H> {
    /// Heeds every notice waiting and takes every finished task's report.
    pub(super) fn take_reports(&mut self) {
        while let Ok(notice) = self.notices.try_recv() {
            self.heed(notice);
        }
        let mut taken = std::mem::take(&mut self.taken);
        self.reports.take_into(&mut taken);
        self.report_rate.count(taken.len());
        for done in taken.drain(..) {
            self.complete(done);
        }
        self.taken = taken;
    }

    /// How long the loop may sleep, at most `wait`, given the reports to
    /// come: a busy loop's sleep ends in time to take them, a quiet one is
    /// woken by the next.
    pub(super) fn sleep_with_reports(&mut self, wait: Duration) -> Duration {
        if self.started_total() == 0 {
            // No task runs that could report.
            wait
        } else if self.report_rate.busy(Instant::now()) {
            self.reports.wake_by_clock();
            wait.min(TAKEN_EVERY)
        } else if self.reports.wake_on_next() {
            wait
        } else {
            Duration::ZERO
        }
    }

    /// Records started and not yet reported finished, on every partition.
    pub(super) fn started_total(&self) -> usize {
        let started: i64 = self.started_by_source.values().sum();
        started.max(0) as usize
    }

    /// Takes a finished task's report: its claim ends, and its offset is done
    /// unless the work was abandoned.
    pub(super) fn complete(&mut self, done: Report) {
        if let Some(id) = done.id {
            let delivered_at = match done.finished {
                Finished::Delivered { at_ms } => Some(at_ms),
                _ => None,
            };
            // The epoch is the claim's owner: a report from an older
            // assignment records its delivery but releases no newer claim.
            self.gate
                .finished(done.key.partition, id, done.epoch, delivered_at);
        }
        let Some(partition) = self
            .partitions
            .by_key
            .get_mut(&done.key)
            .filter(|p| p.epoch == done.epoch)
        else {
            return;
        };
        if let Some(running) = partition.started.remove(&done.offset) {
            if let Some(count) = self.started_by_source.get_mut(running.source) {
                *count -= 1;
            }
        }
        if done.finished != Finished::Abandoned {
            partition.mark.done(done.offset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::PartitionKey;

    fn report(offset: i64) -> Report {
        Report {
            key: PartitionKey {
                stage: 0,
                partition: 0,
            },
            epoch: 1,
            offset,
            id: None,
            finished: Finished::Retried,
        }
    }

    fn woken(notices: &std::sync::mpsc::Receiver<Notice>) -> usize {
        notices
            .try_iter()
            .filter(|n| matches!(n, Notice::Reported))
            .count()
    }

    #[test]
    fn a_quiet_loop_is_woken_by_the_next_report_only() {
        let (tx, notices) = std::sync::mpsc::channel();
        let reports = Reports::new(tx);
        reports.push(report(1));
        assert_eq!(woken(&notices), 0, "nobody asked to be woken");
        let mut taken = Vec::new();
        reports.take_into(&mut taken);
        assert_eq!(taken.len(), 1);
        taken.clear();

        assert!(reports.wake_on_next(), "nothing waits: the loop may sleep");
        reports.push(report(2));
        reports.push(report(3));
        assert_eq!(woken(&notices), 1, "the first report wakes it, once");
    }

    #[test]
    fn a_report_after_the_take_keeps_a_quiet_loop_awake() {
        let (tx, notices) = std::sync::mpsc::channel();
        let reports = Reports::new(tx);
        reports.push(report(1));
        assert!(!reports.wake_on_next(), "a report waits: do not sleep");
        reports.push(report(2));
        assert_eq!(woken(&notices), 0, "the loop is awake: no notice");
    }

    #[test]
    fn a_busy_loop_is_not_woken() {
        let (tx, notices) = std::sync::mpsc::channel();
        let reports = Reports::new(tx);
        assert!(reports.wake_on_next());
        reports.wake_by_clock();
        reports.push(report(1));
        assert_eq!(woken(&notices), 0);
    }

    #[test]
    fn the_loop_is_busy_from_two_thousand_reports_a_second() {
        let start = Instant::now();
        let mut rate = ReportRate::new(start);
        assert!(!rate.busy(start), "quiet at first");
        // One report a turn, a turn every 100 µs: 10,000 a second.
        for turn in 1..=10 {
            rate.count(1);
            let busy = rate.busy(start + Duration::from_micros(100 * turn));
            assert_eq!(busy, turn == 10, "judged once a millisecond has passed");
        }
        // Then one report in 5 ms: 200 a second.
        rate.count(1);
        assert!(!rate.busy(start + Duration::from_millis(6)));
        // Two in exactly a millisecond: busy again.
        rate.count(2);
        assert!(rate.busy(start + Duration::from_millis(7)));
    }
}
