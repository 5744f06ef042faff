//! One assigned partition of one stage's topic, as the poll loop holds it.

use std::collections::{HashMap, VecDeque};

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::AbortHandle;

use crate::dedupe::IdHash;
use crate::record::ConsumedRecord;
use crate::stage::StageIndex;
use crate::watermark::Watermark;

/// A partition of one stage's topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartitionKey {
    /// The stage whose topic it is (0 is the main topic).
    pub stage: StageIndex,
    /// The partition number (the same number in every stage for one event id).
    pub partition: i32,
}

/// A task working on one record.
pub struct Running {
    /// Aborts the task when its partition goes.
    pub task: AbortHandle,
    /// The event id it holds the dedupe claim of, if it decoded.
    pub id: Option<IdHash>,
    /// Its source, for the in-flight gauge.
    pub source: &'static str,
}

/// The loop's state of one assigned partition.
pub struct PartitionState {
    /// Which assignment this is: work from an older one is ignored.
    pub epoch: u64,
    /// Records read but not started, in offset order.
    pub buffer: VecDeque<ConsumedRecord>,
    /// Tasks started and not finished, by offset (see [`super::limits`]).
    pub started: HashMap<i64, Running>,
    /// What may be committed.
    pub mark: Watermark,
    /// Its partition number's delivered markers are loaded: records may start.
    pub ready: bool,
    /// Its delivery slots (see [`super::limits`]): a task holds one only
    /// while its request is out, not while it waits for its destination.
    pub slots: Arc<Semaphore>,
}

/// What a partition's buffer allows now: the poll loop's one scheduling
/// decision, made without side effects ([`PartitionState::turn`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Its delivered markers are not loaded yet: nothing may start.
    NotReady,
    /// As many records are started as it may have.
    Full,
    /// Nothing is buffered.
    Empty,
    /// Its head is a retry record due at `at_ms`, later than now: nothing
    /// behind it starts either (records of one partition start in order).
    NotDue {
        /// When the head falls due, unix ms.
        at_ms: i64,
    },
    /// Its head may start, `late_ms` after it fell due (a retry record).
    Start {
        /// How late (`None` on the main stage, which has no due time).
        late_ms: Option<u64>,
    },
}

impl PartitionState {
    /// What may happen now (`now_ms`), with at most `started_limit`
    /// records started; `due_at` says when a record may start (`None`: at
    /// once).
    pub fn turn(
        &self,
        started_limit: usize,
        now_ms: i64,
        due_at: impl FnOnce(&ConsumedRecord) -> Option<i64>,
    ) -> Turn {
        if !self.ready {
            return Turn::NotReady;
        }
        if self.started.len() >= started_limit {
            return Turn::Full;
        }
        let Some(head) = self.buffer.front() else {
            return Turn::Empty;
        };
        match due_at(head) {
            Some(at_ms) if at_ms > now_ms => Turn::NotDue { at_ms },
            Some(at_ms) => Turn::Start {
                late_ms: Some(now_ms.abs_diff(at_ms)),
            },
            None => Turn::Start { late_ms: None },
        }
    }

    /// A freshly assigned partition of assignment `epoch` with `slots`
    /// delivery slots.
    pub fn new(epoch: u64, slots: usize) -> Self {
        Self {
            epoch,
            buffer: VecDeque::new(),
            started: HashMap::new(),
            mark: Watermark::default(),
            ready: false,
            slots: Arc::new(Semaphore::new(slots.max(1))),
        }
    }
}

#[cfg(test)]
mod tests;
