//! How much memory a consumer needs for its share of the dedupe window:
//! the figure a deployment's memory limit is derived from.

use std::time::Duration;

/// Memory to budget per event id in the dedupe window. Held, an id costs
/// 26-53 bytes (`examples/dedupe_memory.rs`: a 25-byte table slot, the
/// table between half and seven eighths full); while the table doubles, the
/// old and the new table are both allocated, up to 86 bytes per id. Sizing a
/// consumer's memory limit starts from this ([`memory_budget_bytes`]).
pub const BUDGET_PER_ID_BYTES: u64 = 96;

/// Memory a consumer needs besides its dedupe window and its prefetch: the
/// process, its Kafka clients' own buffers, and the poll loop's records
/// (at most 4,096 started, `crate::worker::limits::MEMBER_STARTED`, ~10 KB
/// each with typical events, and the buffered ones).
pub const PROCESS_BUDGET_BYTES: u64 = 64 * 1024 * 1024;

/// Memory a consumer needs besides its dedupe window: the process
/// ([`PROCESS_BUDGET_BYTES`]), the records librdkafka reads ahead (twice
/// `prefetch_budget_bytes`, which is shared by all the partitions a member
/// holds, [`crate::prefetch`]: the budget counts record bytes as librdkafka
/// does, and librdkafka keeps a 1 KiB op beside each prefetched record, as
/// much again for webhook-sized events), plus `concurrency` bodies of up to
/// `max_body_bytes` each in flight.
pub const fn base_budget_bytes(
    concurrency: u64,
    max_body_bytes: u64,
    prefetch_budget_bytes: u64,
) -> u64 {
    PROCESS_BUDGET_BYTES + 2 * prefetch_budget_bytes + concurrency * max_body_bytes
}

/// The memory limit a consumer needs when its group delivers
/// `events_per_day` and `members` share the partitions evenly, with a
/// dedupe window of `window` (the rest as [`base_budget_bytes`]).
pub fn memory_budget_bytes(
    events_per_day: u64,
    window: Duration,
    members: u64,
    concurrency: u64,
    max_body_bytes: u64,
    prefetch_budget_bytes: u64,
) -> u64 {
    let in_window = (events_per_day as f64 * window.as_secs_f64() / 86_400.0).ceil() as u64;
    let per_member = in_window.div_ceil(members.max(1));
    base_budget_bytes(concurrency, max_body_bytes, prefetch_budget_bytes)
        + per_member * BUDGET_PER_ID_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_budget_grows_with_the_window_and_shrinks_with_members() {
        let day = Duration::from_secs(86_400);
        let prefetch = 64 << 20;
        let one = memory_budget_bytes(5_000_000, day, 1, 32, 1 << 20, prefetch);
        let three = memory_budget_bytes(5_000_000, day, 3, 32, 1 << 20, prefetch);
        let half_day = memory_budget_bytes(5_000_000, day / 2, 3, 32, 1 << 20, prefetch);
        let base = base_budget_bytes(32, 1 << 20, prefetch);
        assert_eq!(base, (64 + 2 * 64 + 32) << 20);
        assert_eq!(one - base, 5_000_000 * BUDGET_PER_ID_BYTES);
        assert!(three < one && half_day < three);
        assert_eq!(half_day - base, 833_334 * BUDGET_PER_ID_BYTES);
    }
}
