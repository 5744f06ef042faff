//! What tells the loop where work may be, so that a turn visits only the
//! partitions with something to do and the loop sleeps until the earliest
//! moment something can change.

use std::collections::HashSet;
use std::time::Instant;

use super::PartitionKey;

/// The loop's wake-up bookkeeping.
#[derive(Debug, Default)]
pub(super) struct WakeUps {
    /// Partitions whose queue may hold records. librdkafka reports only a
    /// queue's step from empty to non-empty, so a partition stays here until
    /// a poll finds its queue empty (a full buffer leaves records behind);
    /// the loop does not sleep while one of them has buffer room
    /// ([`super::partitions::Partitions::sleep_for`]).
    pub readable: HashSet<PartitionKey>,
    /// Partitions with records in their buffer (a superset: a partition
    /// leaves it when the dispatcher finds its buffer empty).
    pub buffered: HashSet<PartitionKey>,
    /// When the earliest retry record waiting at the head of a buffer falls
    /// due (the loop wakes then at the latest).
    pub next_due: Option<Instant>,
    /// The assignment changed since the partition queues were matched to it.
    pub queues_stale: bool,
}
