//! The prefetch budget: how many bytes of records one member lets
//! librdkafka read ahead, shared by the partition queues it consumes.
//!
//! Every assigned partition has its own queue, and librdkafka's prefetch
//! limit (`queued.max.messages.kbytes`) applies to each queue, so a fixed
//! limit makes a member's memory grow with the partitions it holds: 4 MiB
//! per queue is 36 MiB for 3 partitions in 3 stages, but up to 4.5 GiB for
//! 384. The budget is split at start among the queues the group's topics
//! have, so what a member reads ahead no longer grows with the partitions
//! it is given; each queue still gets at most [`MAX_QUEUE_KIB`], and never
//! less than [`MIN_QUEUE_KIB`].
//!
//! A queue may pass its limit by one fetch of its partition
//! (`fetch.message.max.bytes`), so that is capped at the queue's limit too:
//! the prefetch stays under twice the budget. The broker answers a fetch
//! with at least one whole producer batch, though: the gateway's are small
//! (its linger is 1 ms), a bulk producer's reach a megabyte, and those pass
//! a small share by up to a batch per partition.
//!
//! The budget counts record bytes, as librdkafka's limit does. Beside each
//! prefetched record librdkafka keeps a 1 KiB op (`sizeof(rd_kafka_op_t)`
//! in librdkafka 2.12; a heap profile at 384 partitions found ~75,000 of
//! them, 77 MB, for 64 MiB of records), so with webhook-sized events the
//! prefetch takes about twice the budget in memory.

use switchboard_runtime::kafka::KafkaSettings;

/// The budget when `CONSUMER_PREFETCH_BUDGET_BYTES` is not set: 64 MiB,
/// which leaves every queue its full [`MAX_QUEUE_KIB`] up to 16 queues
/// (5 partitions in 3 stages), 455 KiB at 48 partitions, and 56 KiB at
/// 384.
pub const DEFAULT_PREFETCH_BUDGET_BYTES: u64 = 64 * 1024 * 1024;

/// The smallest budget accepted: 1 MiB.
pub const MIN_PREFETCH_BUDGET_BYTES: u64 = 1024 * 1024;

/// The most one queue prefetches: thousands of typical events, which a
/// member catching up drains in well under a second.
pub const MAX_QUEUE_KIB: u64 = 4096;

/// The least one queue prefetches, however many queues share the budget:
/// a few dozen typical events, so a partition is not fetched event by
/// event. A queue at its limit is not fetched for `fetch.queue.backoff.ms`
/// (50 ms), so this still lets one partition deliver hundreds a second.
pub const MIN_QUEUE_KIB: u64 = 32;

/// librdkafka's prefetch limit per partition queue.
const QUEUE_LIMIT: &str = "queued.max.messages.kbytes";
/// librdkafka's most bytes fetched per partition in one fetch (and its alias).
const PARTITION_FETCH: [&str; 2] = ["fetch.message.max.bytes", "max.partition.fetch.bytes"];
/// librdkafka's default for [`PARTITION_FETCH`].
const DEFAULT_PARTITION_FETCH_BYTES: u64 = 1024 * 1024;

/// One queue's share of a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueShare {
    /// The queue's prefetch limit in KiB.
    pub kib: u64,
    /// Whether [`MIN_QUEUE_KIB`] raised it: the queues together may then
    /// hold more than the budget.
    pub floored: bool,
}

/// Each of `queues` queues' share of `budget_bytes`.
pub fn queue_share(budget_bytes: u64, queues: usize) -> QueueShare {
    let even = budget_bytes / 1024 / (queues.max(1) as u64);
    QueueShare {
        kib: even.clamp(MIN_QUEUE_KIB, MAX_QUEUE_KIB),
        floored: even < MIN_QUEUE_KIB,
    }
}

/// `consumer` with its prefetch limits set to `share`. A limit the operator
/// set (`KAFKA_QUEUED_MAX_MESSAGES_KBYTES`, `KAFKA_FETCH_MESSAGE_MAX_BYTES`)
/// is kept as given.
pub fn with_share(consumer: &KafkaSettings, share: QueueShare) -> KafkaSettings {
    let mut settings = consumer.clone();
    if !settings.set_by_operator(QUEUE_LIMIT) {
        settings.set(QUEUE_LIMIT, share.kib.to_string());
    }
    if !PARTITION_FETCH
        .iter()
        .any(|key| settings.set_by_operator(key))
    {
        let bytes = (share.kib * 1024).min(DEFAULT_PARTITION_FETCH_BYTES);
        settings.set(PARTITION_FETCH[0], bytes.to_string());
    }
    settings
}

/// `settings` for a client whose partitions share one queue (the marker
/// reader): librdkafka's limit then bounds the whole client, so it gets the
/// most one queue prefetches, whatever share of the budget `settings`
/// carry for the group consumer's many queues.
pub fn one_queue(settings: &KafkaSettings) -> KafkaSettings {
    let mut own = settings.filtered(|key| key != QUEUE_LIMIT && !PARTITION_FETCH.contains(&key));
    own.set(QUEUE_LIMIT, MAX_QUEUE_KIB.to_string());
    own
}

/// Whether the operator fixed the per-queue limit themselves, so the
/// budget does not apply.
pub fn set_by_operator(consumer: &KafkaSettings) -> bool {
    consumer.set_by_operator(QUEUE_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn few_queues_keep_the_most_many_share_the_budget() {
        let budget = DEFAULT_PREFETCH_BUDGET_BYTES;
        assert_eq!(queue_share(budget, 9).kib, MAX_QUEUE_KIB);
        assert_eq!(queue_share(budget, 16).kib, MAX_QUEUE_KIB);
        // 48 partitions in 3 stages: 455 KiB each, the budget in all.
        let share = queue_share(budget, 144);
        assert_eq!(share.kib, 455);
        assert!(share.kib * 1024 * 144 <= budget && !share.floored);
        // 384 partitions in 3 stages.
        assert_eq!(queue_share(budget, 1152).kib, 56);
        assert_eq!(queue_share(budget, 0).kib, MAX_QUEUE_KIB, "no queues yet");
    }

    #[test]
    fn a_budget_too_small_for_its_queues_is_floored_and_said() {
        let share = queue_share(8 * MIB, 1152);
        assert_eq!(share.kib, MIN_QUEUE_KIB);
        assert!(share.floored);
        assert!(!queue_share(8 * MIB, 256).floored, "exactly 32 KiB each");
    }

    fn operator(pairs: &[(&str, &str)]) -> KafkaSettings {
        let vars: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut settings = KafkaSettings::default();
        settings.set(QUEUE_LIMIT, "4096");
        settings.apply_env(&vars);
        settings
    }

    #[test]
    fn the_share_sets_the_queue_limit_and_the_partition_fetch() {
        let small = with_share(&operator(&[]), queue_share(128 * MIB, 1152));
        assert_eq!(small.get(QUEUE_LIMIT), Some("113"));
        assert_eq!(small.get(PARTITION_FETCH[0]), Some("115712"));
        let large = with_share(&operator(&[]), queue_share(128 * MIB, 9));
        assert_eq!(large.get(QUEUE_LIMIT), Some("4096"));
        assert_eq!(large.get(PARTITION_FETCH[0]), Some("1048576"));
    }

    #[test]
    fn limits_the_operator_set_are_kept() {
        let given = operator(&[
            ("KAFKA_QUEUED_MAX_MESSAGES_KBYTES", "20000"),
            ("KAFKA_MAX_PARTITION_FETCH_BYTES", "2000000"),
        ]);
        assert!(set_by_operator(&given));
        let kept = with_share(&given, queue_share(128 * MIB, 1152));
        assert_eq!(kept.get(QUEUE_LIMIT), Some("20000"));
        assert_eq!(kept.get(PARTITION_FETCH[0]), None);
        assert_eq!(kept.get(PARTITION_FETCH[1]), Some("2000000"));
        assert!(!set_by_operator(&operator(&[])));
    }

    #[test]
    fn a_one_queue_client_gets_the_most_whatever_the_share() {
        let shared = with_share(&operator(&[]), queue_share(128 * MIB, 1152));
        let own = one_queue(&shared);
        assert_eq!(own.get(QUEUE_LIMIT), Some("4096"));
        assert_eq!(own.get(PARTITION_FETCH[0]), None, "librdkafka's 1 MiB");
        let given = operator(&[("KAFKA_MAX_PARTITION_FETCH_BYTES", "2000000")]);
        assert_eq!(one_queue(&given).get(PARTITION_FETCH[1]), None);
    }
}
