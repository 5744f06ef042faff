//! Commits: each partition's watermark (the offset below which everything is
//! done or durably handed on), never a later one; and lag against it. A
//! commit counts only once the broker confirmed it; until then the
//! watermark stays ahead of the last confirmed commit, so the next commit
//! (on the timer, at revocation, at stop) sends it again. The stop confirms
//! its final commit by asking the broker (OffsetFetch). The commit callback
//! for asynchronous commits would confirm the others, but librdkafka queues
//! their results for its own commit callback only, not for the events
//! rust-rdkafka polls: it never fires. So the commit interval sends the
//! watermarks that moved since they were last sent, and every
//! [`RESEND_UNCONFIRMED_EVERY`] all that are not confirmed (a commit that
//! failed unseen is sent again that much later at most). Re-sending every
//! unchanged watermark on every interval cost the broker a write per held
//! partition twice a second, whatever the traffic: at 384 partitions and
//! their two retry stages, 2,300 offset records a second (BENCHMARKS.md).

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tracing::warn;

use std::time::Duration;

use super::{PartitionKey, State, WorkerContext};
use crate::deliver::Handler;
use crate::metrics;

/// How often the commit interval sends again every watermark the broker
/// has not confirmed (not only those that moved).
pub(super) const RESEND_UNCONFIRMED_EVERY: Duration = Duration::from_secs(2);

/// Which watermarks a commit sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sending {
    /// Those that moved since they were last sent.
    Moved,
    /// Every one not confirmed yet.
    Unconfirmed,
}

impl<H: Handler> State<H> {
    /// Commits the watermark of every partition `include` selects, as
    /// `sending` says.
    pub(super) fn commit(
        &mut self,
        consumer: &BaseConsumer<WorkerContext<H>>,
        mode: CommitMode,
        sending: Sending,
        include: impl Fn(&PartitionKey) -> bool,
    ) {
        let mut offsets = TopicPartitionList::new();
        let mut marks = Vec::new();
        for (key, partition) in &self.partitions.by_key {
            if !include(key) {
                continue;
            }
            if let Some(offset) = partition.mark.to_send(sending == Sending::Unconfirmed) {
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
        let result = consumer.commit(&offsets, mode);
        if result.is_ok() {
            for (key, offset) in &marks {
                if let Some(partition) = self.partitions.by_key.get_mut(key) {
                    partition.mark.sent(*offset);
                }
            }
        }
        match (result, mode) {
            (Ok(()), CommitMode::Sync) => {
                for (key, offset) in marks {
                    if let Some(partition) = self.partitions.by_key.get_mut(&key) {
                        partition.mark.committed(offset);
                    }
                }
            }
            // Confirmed (or not) by the commit callback.
            (Ok(()), CommitMode::Async) => {}
            (Err(error), _) => warn!(%error, "offset commit failed; will retry"),
        }
    }

    /// Whether the broker confirmed a commit of every partition's watermark.
    pub(super) fn all_committed(&self) -> bool {
        self.partitions
            .by_key
            .values()
            .all(|p| p.mark.to_commit().is_none())
    }

    /// The partitions whose watermark is past their last confirmed commit.
    pub(super) fn uncommitted(&self) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for (key, partition) in &self.partitions.by_key {
            if partition.mark.to_commit().is_some() {
                list.add_partition(self.pipeline.ladder.topic(key.stage), key.partition);
            }
        }
        list
    }

    /// Records commits the broker confirmed.
    pub(super) fn confirm_commits(&mut self, offsets: &[(String, i32, i64)]) {
        for (topic, partition, offset) in offsets {
            let Some(stage) = self.pipeline.ladder.stage_of_topic(topic) else {
                continue;
            };
            let key = PartitionKey {
                stage,
                partition: *partition,
            };
            if let Some(state) = self.partitions.by_key.get_mut(&key) {
                state.mark.committed(*offset);
            }
        }
    }

    /// Lag per partition: the broker's high watermark (from librdkafka's
    /// statistics, cached from fetch responses) minus the commit watermark.
    pub(super) fn report_lag(&self, statistics: &rdkafka::Statistics) {
        for (key, partition) in &self.partitions.by_key {
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
