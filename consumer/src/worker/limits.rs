//! The three limits on one partition's work, computed here only. Each
//! assigned partition (of the main topic or a retry stage) has:
//!
//! - **slots** (`CONSUMER_CONCURRENCY`): deliveries in progress at once. A
//!   task holds a slot only while it talks to the destination.
//! - **started**: tasks started and not finished, up to
//!   [`STARTED_PER_SLOT`] × slots, while the member as a whole has fewer
//!   than [`MEMBER_STARTED`]. A task waiting for its destination (held after a `Retry-After`,
//!   rate-limited, or at the destination's own `max_in_flight`) holds no
//!   slot, so a partition may run ahead of its slots by that much, and a
//!   slow destination never takes slots from another. The
//!   `switchboard_consumer_events_in_flight` gauge counts these.
//! - **buffered**: records read from Kafka but not started, up to the larger
//!   of [`BUFFERED_PER_SLOT`] × slots and [`MIN_BUFFERED`]. A partition whose
//!   buffer is full is not read further (librdkafka keeps its prefetch).

/// Started tasks a partition may have per delivery slot.
pub const STARTED_PER_SLOT: usize = 8;
/// Tasks started and not finished a member may have on all the partitions
/// it holds together. Each holds its record and decoded event (~10 KB in the
/// consumer bench): with only the per-partition limit, a member holding 384
/// partitions in 3 stages started 98,304 tasks for a destination taking 32
/// at a time, and grew past 1 GiB (BENCHMARKS.md). Not an equal share per
/// partition: records of one partition started together keep its markers
/// and commits in few batches, and 3 each at 384 partitions cost the
/// consumer and the broker more CPU per event.
pub const MEMBER_STARTED: usize = 4096;
/// Buffered records a partition may hold per delivery slot.
pub const BUFFERED_PER_SLOT: usize = 2;
/// Buffered records a partition may always hold, however few its slots.
pub const MIN_BUFFERED: usize = 64;

/// The limits of one partition (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLimits {
    /// Deliveries in progress at once.
    pub slots: usize,
    /// Tasks started and not finished.
    pub started: usize,
    /// Records read but not started.
    pub buffered: usize,
}

impl PartitionLimits {
    /// The limits for `concurrency` delivery slots (at least one).
    pub fn for_concurrency(concurrency: usize) -> Self {
        let slots = concurrency.max(1);
        Self {
            slots,
            started: slots.saturating_mul(STARTED_PER_SLOT),
            buffered: slots.saturating_mul(BUFFERED_PER_SLOT).max(MIN_BUFFERED),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PartitionLimits;

    #[test]
    fn started_and_buffered_follow_the_slots() {
        assert_eq!(
            PartitionLimits::for_concurrency(32),
            PartitionLimits {
                slots: 32,
                started: 256,
                buffered: 64
            }
        );
        assert_eq!(PartitionLimits::for_concurrency(100).buffered, 200);
        assert_eq!(PartitionLimits::for_concurrency(0).slots, 1, "never none");
    }
}
