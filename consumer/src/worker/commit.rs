//! Commits: each partition's watermark (the offset below which everything is
//! done or durably handed on), never a later one; and lag against it.

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tracing::warn;

use super::{PartitionKey, State, WorkerContext};
use crate::deliver::Handler;
use crate::metrics;

impl<H: Handler> State<H> {
    /// Commits the watermark of every partition `include` selects.
    pub(super) fn commit(
        &mut self,
        consumer: &BaseConsumer<WorkerContext<H>>,
        mode: CommitMode,
        include: impl Fn(&PartitionKey) -> bool,
    ) {
        let mut offsets = TopicPartitionList::new();
        let mut marks = Vec::new();
        for (key, partition) in &self.partitions {
            if !include(key) {
                continue;
            }
            if let Some(offset) = partition.mark.to_commit() {
                let topic = self.pipeline.ladder.topic(key.stage);
                if offsets
                    .add_partition_offset(topic, key.partition, Offset::Offset(offset))
                    .is_ok()
                {
                    marks.push((*key, offset));
                }
            }
        }
        if marks.is_empty() {
            return;
        }
        match consumer.commit(&offsets, mode) {
            Ok(()) => {
                for (key, offset) in marks {
                    if let Some(partition) = self.partitions.get_mut(&key) {
                        partition.mark.committed(offset);
                    }
                }
            }
            Err(error) => warn!(%error, "offset commit failed; will retry"),
        }
    }

    /// Lag per partition: the broker's high watermark (from librdkafka's
    /// statistics, cached from fetch responses) minus the commit watermark.
    pub(super) fn report_lag(&self, statistics: &rdkafka::Statistics) {
        for (key, partition) in &self.partitions {
            let topic = self.pipeline.ladder.topic(key.stage);
            let Some(stats) = statistics
                .topics
                .get(topic)
                .and_then(|t| t.partitions.get(&key.partition))
            else {
                continue;
            };
            let position = partition
                .mark
                .watermark()
                .or(partition.mark.last_committed());
            if let (true, Some(position)) = (stats.hi_offset >= 0, position) {
                metrics::lag(
                    self.pipeline.ladder.static_name(key.stage),
                    key.partition,
                    (stats.hi_offset - position).max(0),
                );
            }
        }
    }
}
