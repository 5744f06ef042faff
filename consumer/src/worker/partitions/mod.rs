//! The partitions a member holds, as the poll loop keeps them
//! (`Partitions`): each one's state (its buffer, started tasks, watermark,
//! slots), which of them a turn visits (`WakeUps`), their limits, and the
//! loop's one scheduling decision for each ([`Turn`]). Pure bookkeeping:
//! nothing here talks to Kafka, so it is tested by tables.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::AbortHandle;

use crate::dedupe::IdHash;
use crate::record::ConsumedRecord;
use crate::stage::StageIndex;
use crate::watermark::Watermark;

use super::limits::PartitionLimits;
use super::wakeups::WakeUps;

/// The hasher of the loop's tables, keyed by offsets and partitions: keys
/// of our own, not outside input, looked up several times per record; std's
/// SipHash is for keys an attacker picks.
type TableHasher = foldhash::fast::RandomState;

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
    pub started: HashMap<i64, Running, TableHasher>,
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
            started: HashMap::default(),
            mark: Watermark::default(),
            ready: false,
            slots: Arc::new(Semaphore::new(slots.max(1))),
        }
    }
}

/// The partitions this member holds (see the module docs).
pub(super) struct Partitions {
    /// Each assigned partition's state.
    pub by_key: HashMap<PartitionKey, PartitionState, TableHasher>,
    /// Which partitions a turn visits, and when the loop wakes.
    pub wake: WakeUps,
    /// Each partition's slots, started and buffered limits.
    pub limits: PartitionLimits,
    /// The epoch the next assigned partition gets: a task's report
    /// names the epoch of its task, so one from before a revocation is
    /// ignored.
    next_epoch: u64,
}

impl Partitions {
    /// None held yet, each to get `limits`.
    pub fn new(limits: PartitionLimits) -> Self {
        Self {
            by_key: HashMap::default(),
            wake: WakeUps::default(),
            limits,
            next_epoch: 0,
        }
    }

    /// Takes `key` on (a new epoch, its markers not loaded yet).
    pub fn assign(&mut self, key: PartitionKey) {
        self.next_epoch += 1;
        let state = PartitionState::new(self.next_epoch, self.limits.slots);
        self.by_key.insert(key, state);
        self.wake.queues_stale = true;
    }

    /// Lets `keys` go.
    pub fn remove(&mut self, keys: &[PartitionKey]) {
        for key in keys {
            self.by_key.remove(key);
        }
        self.wake.queues_stale = true;
    }

    /// How many records `key`'s buffer may still take (none before its
    /// markers are loaded).
    pub fn room(&self, key: &PartitionKey) -> usize {
        match self.by_key.get(key) {
            Some(p) if p.ready => self.limits.buffered.saturating_sub(p.buffer.len()),
            _ => 0,
        }
    }

    /// How long the loop may sleep, from `now`: not at all while a readable
    /// queue's partition has room in its buffer, else until the earliest
    /// waiting retry head falls due, and at most `idle`.
    ///
    /// A readable queue with room holds records that no notice will announce
    /// again (librdkafka reports only a queue's step from empty to
    /// non-empty): a report heeded after the turn's reads, or a buffer that
    /// emptied without starting a task (duplicates, filtered events), would
    /// otherwise leave them waiting for the next task's report or for
    /// `idle`.
    pub fn sleep_for(&self, now: Instant, idle: Duration) -> Duration {
        if self.wake.readable.iter().any(|key| self.room(key) > 0) {
            return Duration::ZERO;
        }
        match self.wake.next_due {
            Some(due) => due.saturating_duration_since(now).min(idle),
            None => idle,
        }
    }

    /// Buffers `record`, read from `key`; false when `key` is not held here.
    pub fn receive(&mut self, key: PartitionKey, record: ConsumedRecord) -> bool {
        let Some(partition) = self.by_key.get_mut(&key) else {
            return false;
        };
        partition.mark.received(record.offset);
        if partition.buffer.is_empty() {
            self.wake.buffered.insert(key);
        }
        partition.buffer.push_back(record);
        true
    }

    /// Tasks started and not finished, on every partition.
    pub fn started_count(&self) -> usize {
        self.by_key.values().map(|p| p.started.len()).sum()
    }

    /// The partition numbers held (each once, in order): whose delivered
    /// markers this member needs.
    pub fn numbers(&self) -> Vec<i32> {
        let mut held: Vec<i32> = self.by_key.keys().map(|k| k.partition).collect();
        held.sort_unstable();
        held.dedup();
        held
    }
}

#[cfg(test)]
mod tests;
