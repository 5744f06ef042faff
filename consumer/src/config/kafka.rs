//! The consumer's two librdkafka clients: the group consumer (and the
//! marker reader) and the hand-off producer. One `[kafka]` table and one set
//! of `KAFKA_*` variables feed both; each setting goes to the client that
//! understands it, and what the at-least-once design rests on cannot be
//! switched off.

use switchboard_proto::limits::{hop_record_limit, DEFAULT_MAIN_MAX_MESSAGE_BYTES};
use switchboard_runtime::config::ConfigError;
use switchboard_runtime::kafka::KafkaSettings;

/// Settings that only a consumer understands; not given to the producer.
const CONSUMER_ONLY: &[&str] = &[
    "group.",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "auto.offset.reset",
    "enable.auto.",
    "auto.commit.",
    "partition.assignment.strategy",
    "fetch.",
    "isolation.level",
    "queued.",
    "enable.partition.eof",
    "check.crcs",
];

/// Settings that only a producer understands; not given to the consumers.
const PRODUCER_ONLY: &[&str] = &[
    "acks",
    "linger.ms",
    "enable.idempotence",
    "queue.buffering.",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "compression.",
    "batch.",
    "retries",
    "retry.backoff.ms",
    "transactional.id",
    "request.timeout.ms",
];

fn matches_any(key: &str, prefixes: &[&str]) -> bool {
    prefixes
        .iter()
        .any(|p| key == *p || (p.ends_with('.') && key.starts_with(p)))
}

/// The group consumer's settings: defaults, then `given` (minus
/// producer-only settings), then the fixed at-least-once settings.
pub fn consumer_settings(group: &str, client_id: &str, given: &KafkaSettings) -> KafkaSettings {
    let mut settings = KafkaSettings::client_defaults(&format!("switchboard-consumer-{client_id}"));
    settings.set("auto.offset.reset", "earliest");
    // Range co-partitions the stages: partition p of every stage topic goes
    // to one member, which holds the dedupe state of p.
    settings.set("partition.assignment.strategy", "range");
    // Lag per partition comes from librdkafka's statistics.
    settings.set("statistics.interval.ms", "5000");
    // With static membership a member that restarts within the session
    // timeout keeps its partitions with no rebalance; one that does not come
    // back is replaced after it. 30 s covers a pod restart; heartbeats at a
    // tenth of it.
    settings.set("session.timeout.ms", "30000");
    settings.set("heartbeat.interval.ms", "3000");
    // The subscription follows the topics' metadata: grown partitions, or
    // topics created again after a cluster lost them, are seen within 30 s
    // (librdkafka's default is 5 minutes, during which a member whose
    // subscribed topics vanished idles with nothing assigned).
    settings.set("topic.metadata.refresh.interval.ms", "30000");
    // Every assigned partition has its own queue, and with separate queues
    // librdkafka's prefetch limit applies per partition (64 MiB by
    // default). Retry partitions waiting for their due time are not paused
    // (a pause drops the prefetch), so they prefetch too. `consumer run`
    // lowers this to each queue's share of the prefetch budget; 4 MiB is
    // the most (the operator tools read with it).
    settings.set(
        "queued.max.messages.kbytes",
        crate::prefetch::MAX_QUEUE_KIB.to_string(),
    );
    // A queue past that limit stops its partition's fetching for
    // `fetch.queue.backoff.ms`, 1 s by default: a member catching up drains
    // 4 MiB in well under a second and then idled for the rest of it
    // (librdkafka's documentation asks for a lower value with low queue
    // limits). 50 ms bounds that idle time; a queue that stays full (a slow
    // downstream, retry records not yet due) is looked at 20 times a second.
    settings.set("fetch.queue.backoff.ms", "50");
    settings.merge(&given.filtered(|key| !matches_any(key, PRODUCER_ONLY)));
    for (key, value) in [
        ("group.id", group),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
    ] {
        settings.set(key, value);
    }
    settings
}

/// The hand-off producer's settings: defaults, then `given` (minus
/// consumer-only settings).
///
/// Its linger is 10 ms: nothing waits on it that a sender or the downstream
/// sees. Markers are not awaited, and a hop only holds back its offset's
/// commit (retry lateness is measured from the due time, later). At 5 k
/// events/s a 2 ms linger cost the consumer ~65 µs of CPU per event and
/// 20 ms ~40 (librdkafka's broker thread wakes per batch; BENCHMARKS.md).
pub fn producer_settings(client_id: &str, given: &KafkaSettings) -> KafkaSettings {
    let mut settings = KafkaSettings::durable_producer(
        &format!("switchboard-consumer-handoff-{client_id}"),
        HANDOFF_LINGER_MS,
    );
    // A hop is the main topic's record plus hop headers: the client must not
    // refuse what the stage topics (created with the same headroom) accept.
    settings.set(
        "message.max.bytes",
        hop_record_limit(DEFAULT_MAIN_MAX_MESSAGE_BYTES).to_string(),
    );
    settings.merge(&given.filtered(|key| !matches_any(key, CONSUMER_ONLY)));
    settings
}

/// The marker producer's settings: the hand-off producer's `hand_off`
/// settings with `linger` and a client id of its own.
///
/// Markers have a producer of their own because nothing waits on them: a
/// hop holds its partition's slot until acknowledged, a marker never. On
/// Kafka each produce request costs the broker more than the small records
/// in it, so the markers' longer linger (50 ms by default) writes the same
/// markers in a fifth of the requests (BENCHMARKS.md, `marker_writes`), at
/// the price of a crash losing the last 50 ms of markers instead of 10
/// (those events can be delivered again by the next owner).
pub fn marker_producer_settings(
    client_id: &str,
    hand_off: &KafkaSettings,
    linger: std::time::Duration,
) -> KafkaSettings {
    let mut settings = hand_off.clone();
    settings.set(
        "client.id",
        format!("switchboard-consumer-markers-{client_id}"),
    );
    settings.set("linger.ms", linger.as_millis().to_string());
    settings
}

/// The hand-off producer's default `linger.ms` (see [`producer_settings`]).
pub const HANDOFF_LINGER_MS: u32 = 10;

/// The assignor that keeps the group's topics co-partitioned.
pub const CO_PARTITIONING_ASSIGNOR: &str = "range";

/// Refuses an assignment strategy that does not co-partition the group's
/// topics. Dedupe and hops rely on partition `p` of the main topic and of
/// every stage belonging to one member (which holds `p`'s dedupe state);
/// only the range assignor guarantees that for topics with equal partition
/// counts and one subscription.
pub fn require_co_partitioning(settings: &KafkaSettings) -> Result<(), ConfigError> {
    match settings.get("partition.assignment.strategy") {
        Some(CO_PARTITIONING_ASSIGNOR) => Ok(()),
        other => Err(ConfigError::invalid(
            "kafka partition.assignment.strategy",
            format!(
                "{:?} does not keep partition p of the main topic and of every retry stage on one member, which dedupe and the retry hops rely on; remove the setting (the default is \"{CO_PARTITIONING_ASSIGNOR}\")",
                other.unwrap_or("(unset)")
            ),
        )),
    }
}
