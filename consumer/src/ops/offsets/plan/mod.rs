//! `consumer offsets reset`: moves a group's committed offsets on one topic
//! (main or a retry stage) or on all of them (`--all-stages`), the way
//! `kafka-consumer-groups --reset-offsets` does, and more safely: a dry run
//! unless `--execute`, a table of what would change, a refusal while the
//! group has active members, and a refusal for a group the broker does not
//! know (a typo in `--group` would otherwise show a table of `-`).

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use rdkafka::producer::FutureRecord;

use crate::dedupe::Fence;
use crate::marker::MarkerRecord;
use crate::ops::{client_config, OpsError};
use switchboard_runtime::kafka::metadata::partitions;
use switchboard_runtime::kafka::{KafkaLog, KafkaSettings};

use crate::ops::TIMEOUT;

/// Where to move the offsets (exactly one, as in Kafka's tool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    /// The first offset at or after this time (unix ms); the end when none.
    Time(i64),
    /// The log start.
    Earliest,
    /// The log end.
    Latest,
    /// This offset, clamped to the log.
    Offset(i64),
    /// The committed offset moved by this many records, clamped to the log.
    ShiftBy(i64),
}

/// One partition's reset.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartitionReset {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Committed offset now, if any.
    pub current: Option<i64>,
    /// Offset after the reset.
    pub new: i64,
    /// Log end (high watermark).
    pub end: i64,
}

/// Computes the new offset of one partition whose log spans `[start, end)`;
/// `at_time` is the broker's answer for [`ResetTo::Time`].
pub fn new_offset(
    to: ResetTo,
    current: Option<i64>,
    start: i64,
    end: i64,
    at_time: Option<i64>,
) -> Result<i64, String> {
    let clamp = |o: i64| o.clamp(start, end);
    Ok(match to {
        ResetTo::Earliest => start,
        ResetTo::Latest => end,
        ResetTo::Offset(o) => clamp(o),
        ResetTo::Time(_) => clamp(at_time.unwrap_or(end)),
        ResetTo::ShiftBy(n) => match current {
            Some(c) => clamp(c.saturating_add(n)),
            None => {
                return Err(
                    "no committed offset to shift from; use --to-offset or --to-datetime".into(),
                )
            }
        },
    })
}

/// The replay fences a `--redeliver` reset writes: one per partition whose
/// offset moves back, covering what it replays (`[new, current)`).
pub fn fences(resets: &[PartitionReset], at_ms: i64) -> Vec<(i32, Fence)> {
    resets
        .iter()
        .filter_map(|r| {
            let to = r.current?;
            (r.new < to).then(|| {
                let fence = Fence {
                    topic: r.topic.clone(),
                    from: r.new,
                    to,
                    at_ms,
                };
                (r.partition, fence)
            })
        })
        .collect()
}

/// Writes `fences` to the group's delivered-marker topic (each on its
/// partition number) and waits for the broker's acknowledgements.
pub fn write_fences(
    producer_kafka: &KafkaSettings,
    marker_topic: &str,
    fences: &[(i32, Fence)],
) -> Result<(), OpsError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| OpsError::Failed(format!("cannot start a runtime: {e}")))?;
    runtime.block_on(async {
        let producer = crate::handoff::replaceable("hand-off", producer_kafka)?;
        for (partition, fence) in fences {
            let fence = MarkerRecord::fence(*partition, fence);
            let record = FutureRecord::to(marker_topic)
                .partition(*partition)
                .key(&fence.key)
                .payload(&fence.value)
                .headers(fence.headers);
            tokio::time::timeout(TIMEOUT, producer.send(record))
                .await
                .map_err(|_| {
                    OpsError::Failed(format!(
                        "no acknowledgement for the replay fence within {TIMEOUT:?}"
                    ))
                })??;
        }
        Ok(())
    })
}

/// Kafka's rule: offsets may be reset only while the group is `Empty` or
/// `Dead` (or unknown to the broker) and has no members.
pub fn group_is_active(state: &str, members: usize) -> bool {
    members > 0 || !matches!(state, "" | "Empty" | "Dead" | "Unknown")
}

/// Refuses when `group` has active members (DescribeGroups, as Kafka's tool).
pub fn refuse_if_active(consumer: &BaseConsumer<KafkaLog>, group: &str) -> Result<(), OpsError> {
    let groups = consumer.fetch_group_list(Some(group), TIMEOUT)?;
    for info in groups.groups().iter().filter(|g| g.name() == group) {
        if group_is_active(info.state(), info.members().len()) {
            return Err(OpsError::Refused(format!(
                "consumer group {group} is active (state {}, {} members). Stop its consumers first \
                 (SIGTERM the `consumer run` processes, or `kubectl scale deployment/<consumer> --replicas=0`), \
                 wait until the group is Empty, then run this again",
                info.state(),
                info.members().len()
            )));
        }
    }
    Ok(())
}

/// A client of `group` that commits nothing by itself.
pub fn group_client(
    kafka: &KafkaSettings,
    group: &str,
) -> Result<BaseConsumer<KafkaLog>, OpsError> {
    let mut config = client_config(kafka);
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false");
    Ok(config.create_with_context(KafkaLog)?)
}

/// Refuses a group the broker does not know: not in its group list and
/// without a committed offset on any partition of `topics` (those that
/// exist). `new_group` lets an operator give a new group its first offsets.
pub fn refuse_if_unknown(
    consumer: &BaseConsumer<KafkaLog>,
    group: &str,
    topics: &[String],
    new_group: bool,
) -> Result<(), OpsError> {
    if new_group {
        return Ok(());
    }
    let groups = consumer.fetch_group_list(None, TIMEOUT)?;
    let known: Vec<&str> = groups.groups().iter().map(|g| g.name()).collect();
    if known.contains(&group) {
        return Ok(());
    }
    let mut list = TopicPartitionList::new();
    for topic in topics {
        let partitions = partitions(consumer.client(), topic, TIMEOUT)?.unwrap_or_default();
        for partition in partitions {
            list.add_partition(topic, partition);
        }
    }
    if list.count() > 0 {
        let committed = consumer.committed_offsets(list, TIMEOUT)?;
        let any = committed
            .elements()
            .iter()
            .any(|e| matches!(e.offset(), Offset::Offset(_)));
        if any {
            return Ok(());
        }
    }
    Err(OpsError::Refused(format!(
        "the broker knows no consumer group {group}, and it has no committed offsets on {topics:?}: \
         check --group (or CONSUMER_GROUP). Known groups: {known:?}. To give a new group its first \
         offsets, pass --new-group"
    )))
}

/// Plans the reset of `topic` for the group of `consumer` (all partitions,
/// or `only`).
pub fn plan(
    consumer: &BaseConsumer<KafkaLog>,
    topic: &str,
    to: ResetTo,
    only: Option<&[i32]>,
) -> Result<Vec<PartitionReset>, OpsError> {
    let mut partitions = crate::ops::partitions_of(consumer, topic, TIMEOUT)?;
    if let Some(only) = only {
        if let Some(missing) = only.iter().find(|p| !partitions.contains(p)) {
            return Err(OpsError::Failed(format!(
                "topic {topic} has no partition {missing}"
            )));
        }
        partitions.retain(|p| only.contains(p));
    }

    let mut list = TopicPartitionList::new();
    for p in &partitions {
        list.add_partition(topic, *p);
    }
    let committed = consumer.committed_offsets(list, TIMEOUT)?;
    let at_time = match to {
        ResetTo::Time(ms) => {
            let mut query = TopicPartitionList::new();
            for p in &partitions {
                query.add_partition_offset(topic, *p, Offset::Offset(ms))?;
            }
            Some(consumer.offsets_for_times(query, TIMEOUT)?)
        }
        _ => None,
    };
    let mut resets = Vec::new();
    for partition in partitions {
        let (start, end) = consumer.fetch_watermarks(topic, partition, TIMEOUT)?;
        let current = committed
            .find_partition(topic, partition)
            .and_then(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            });
        let found = at_time
            .as_ref()
            .and_then(|list| list.find_partition(topic, partition))
            .and_then(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            });
        let new = new_offset(to, current, start, end, found)
            .map_err(|why| OpsError::Failed(format!("{topic} partition {partition}: {why}")))?;
        resets.push(PartitionReset {
            topic: topic.to_owned(),
            partition,
            current,
            new,
            end,
        });
    }
    Ok(resets)
}

/// Commits the planned offsets for the group, every topic in one commit.
pub fn execute(
    consumer: &BaseConsumer<KafkaLog>,
    resets: &[PartitionReset],
) -> Result<(), OpsError> {
    let mut list = TopicPartitionList::new();
    for reset in resets {
        list.add_partition_offset(&reset.topic, reset.partition, Offset::Offset(reset.new))?;
    }
    consumer.commit(&list, CommitMode::Sync)?;
    Ok(())
}

/// Renders the plan as one JSON object: the group, whether it was applied,
/// and each partition's topic, partition, current and new offset and log end.
pub fn json(group: &str, resets: &[PartitionReset], executed: bool) -> String {
    serde_json::json!({"group": group, "executed": executed, "partitions": resets}).to_string()
}

/// Renders the plan: topic, partition, current, new, and the lag before and after.
pub fn render(resets: &[PartitionReset]) -> String {
    let mut rows = vec![vec![
        "TOPIC".to_owned(),
        "PARTITION".to_owned(),
        "CURRENT".into(),
        "NEW".into(),
        "LAG NOW".into(),
        "LAG AFTER".into(),
        "CHANGE".into(),
    ]];
    for r in resets {
        let lag_now = r.current.map(|c| r.end - c);
        let lag_after = r.end - r.new;
        let change = lag_after - lag_now.unwrap_or(r.end);
        rows.push(vec![
            r.topic.clone(),
            r.partition.to_string(),
            r.current.map_or("-".into(), |c| c.to_string()),
            r.new.to_string(),
            lag_now.map_or("-".into(), |l| l.to_string()),
            lag_after.to_string(),
            format!("{change:+}"),
        ]);
    }
    crate::ops::table(&rows)
}

#[cfg(test)]
mod tests;
