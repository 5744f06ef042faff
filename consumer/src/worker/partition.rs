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

impl PartitionState {
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
