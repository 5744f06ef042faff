//! Finished tasks' reports on their way back to the loop, gathered without
//! waking it.
//!
//! A task adds its [`Report`] to one shared list; the loop takes the
//! whole list at each turn. While tasks are started the loop wakes at least
//! every [`TAKEN_EVERY`] to do so, whatever else wakes it (records arriving,
//! commits confirmed). Nothing a delivery waits for depends on it: a
//! report frees partition room and commits an offset, and a started
//! partition has room for many more than its destination takes at once.
//!
//! Each report used to be a notice of its own, so at tens of thousands
//! of events a second the loop slept and was woken about once every five
//! events (BENCHMARKS.md, "sixth sitting").

use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_runtime::lock::lock;

use super::{Report, State};
use crate::deliver::Handler;
use crate::process::Finished;

/// The longest a finished task's report waits for the loop while tasks are
/// started.
pub(super) const TAKEN_EVERY: Duration = Duration::from_millis(1);

/// The list finished tasks add to and the loop empties.
#[derive(Clone, Default)]
pub(super) struct Reports(Arc<Mutex<Vec<Report>>>);

impl Reports {
    /// Adds a finished task's report (from the task, on the runtime).
    pub fn push(&self, report: Report) {
        lock(&self.0).push(report);
    }

    /// Swaps the gathered reports into `taken`, which must be empty: the
    /// loop keeps one buffer and hands it back, so neither side allocates
    /// once warm.
    pub fn take_into(&self, taken: &mut Vec<Report>) {
        debug_assert!(taken.is_empty());
        std::mem::swap(&mut *lock(&self.0), taken);
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
        for done in taken.drain(..) {
            self.complete(done);
        }
        self.taken = taken;
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
