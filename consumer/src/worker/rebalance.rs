//! Partitions coming and going: assignment (fresh state, markers loaded
//! before the first record), revocation (drain, commit, forget), and the
//! stop at shutdown. librdkafka calls the rebalance steps from inside `poll`,
//! on the loop's thread, through [`super::WorkerContext`].

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::TopicPartitionList;
use tracing::{info, warn};

use super::commit::Sending;
use super::context::{WorkerContext, UNDELIVERED_REVOKE_AFTER};
use super::{PartitionKey, State};
use crate::deliver::Handler;
use crate::metrics;

/// Longest a partition move waits for the markers (and any hand-off) of finished
/// work to be acknowledged before it commits: the runtime's stall threshold,
/// beyond which a producer counts as stuck. A move is rare, and a marker
/// that misses it costs the next owner a redelivery. 5 s was too short on a
/// loaded 2-core box: one full test run in about eight saw a flush time out
/// and events delivered twice.
const PARTITION_MOVE_FLUSH: Duration = switchboard_runtime::kafka::rebuild::STALL_AFTER;

impl<H: Handler> State<H> {
    fn keys_of(&self, list: &TopicPartitionList) -> Vec<PartitionKey> {
        list.elements()
            .iter()
            .filter_map(|e| {
                let stage = self.pipeline.ladder.stage_of_topic(e.topic())?;
                Some(PartitionKey {
                    stage,
                    partition: e.partition(),
                })
            })
            .collect()
    }

    /// Waits for the in-flight work of the partitions `include` selects, at
    /// most `timeout`, aborting what is left; returns how many were aborted.
    pub(super) fn drain(
        &mut self,
        timeout: Duration,
        include: impl Fn(&PartitionKey) -> bool,
    ) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            self.take_reports();
            let pending: usize = self
                .partitions
                .by_key
                .iter()
                .filter(|(k, _)| include(k))
                .map(|(_, p)| p.started.len())
                .sum();
            if pending == 0 {
                return 0;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return self.abort_started(&include);
            }
            // The loop's own wait: busy, it looks again within `TAKEN_EVERY`;
            // quiet, the next report wakes it.
            self.wait(left);
        }
    }

    /// Aborts the started work of the partitions `include` selects; returns
    /// how many tasks were aborted. Their claims end undelivered.
    fn abort_started(&mut self, include: impl Fn(&PartitionKey) -> bool) -> usize {
        let mut aborted = 0;
        for (key, partition) in self.partitions.by_key.iter_mut() {
            if !include(key) {
                continue;
            }
            let epoch = partition.epoch;
            for (_, running) in partition.started.drain() {
                running.task.abort();
                aborted += 1;
                if let Some(count) = self.started_by_source.get_mut(running.source) {
                    *count -= 1;
                }
                if let Some(id) = running.id {
                    self.gate.finished(key.partition, id, epoch, None);
                }
            }
        }
        aborted
    }

    /// Lets the markers and hand-offs of finished work reach the broker
    /// before their offsets are committed, so the next owner reads them;
    /// during a stop, within what is left of its closing budget.
    pub(super) fn flush_handoffs(&self) {
        let bound = match self.closing_by {
            Some(by) => by.saturating_duration_since(Instant::now()),
            None => PARTITION_MOVE_FLUSH,
        };
        if let Err(error) = self
            .pipeline
            .handoffs
            .producers()
            .flush(bound.min(PARTITION_MOVE_FLUSH))
        {
            warn!(%error, "delivered markers not acknowledged before the partition move; the next owner may deliver those events again");
        }
    }

    /// Revokes everything held and unassigns, for a revoke librdkafka
    /// waits for but never delivered ([`WorkerContext::revoke_never_delivered`]).
    pub(super) fn revoke_undelivered(&mut self, consumer: &BaseConsumer<WorkerContext<H>>) {
        warn!(
            waited = ?UNDELIVERED_REVOKE_AFTER,
            "the group client waits for a revoke it never delivered; revoking every partition and unassigning"
        );
        match consumer.assignment() {
            Ok(held) => self.revoke(consumer, &held),
            Err(error) => warn!(%error, "could not read the assignment"),
        }
        if let Err(error) = consumer.unassign() {
            warn!(%error, "could not unassign");
        }
        consumer.context().rebalance_step();
    }

    pub(super) fn revoke(
        &mut self,
        consumer: &BaseConsumer<WorkerContext<H>>,
        revoked: &TopicPartitionList,
    ) {
        let started = Instant::now();
        let keys = self.keys_of(revoked);
        let is_revoked = |key: &PartitionKey| keys.contains(key);
        for key in &keys {
            if let Some(partition) = self.partitions.by_key.get_mut(key) {
                partition.buffer.clear();
            }
        }
        // A lost assignment (session timed out) already belongs to another
        // member: stop its work at once, and commit nothing for it.
        let lost = consumer.assignment_lost();
        let grace = if lost {
            Duration::ZERO
        } else {
            self.settings.drain_timeout
        };
        let aborted = self.drain(grace, is_revoked);
        if lost {
            metrics::partitions_lost();
            warn!(
                aborted,
                "partitions lost (the group moved on without this member); their unfinished work is redone by the new owner"
            );
        } else {
            if aborted > 0 {
                warn!(
                    aborted,
                    "in-flight work on revoked partitions did not finish in time; it will be redone by the next owner"
                );
            }
            self.flush_handoffs();
            // Async: the request goes out before the member rejoins. A sync
            // commit here waited for ever when the coordinator had forgotten
            // the member (a restarted cluster: UNKNOWN_MEMBER_ID), because
            // librdkafka completes it only after the rejoin this callback
            // holds up (found by the fault soak). A commit that fails costs a
            // redelivery the next owner's dedupe markers (flushed above) drop.
            self.commit(
                consumer,
                CommitMode::Async,
                Sending::Unconfirmed,
                is_revoked,
            );
        }
        self.partitions.remove(&keys);
        self.gate.drop_waiters(|parked| !keys.contains(&parked.key));
        metrics::assigned(self.partitions.by_key.len());
        info!(
            revoked = keys.len(),
            remaining = self.partitions.by_key.len(),
            took = ?started.elapsed(),
            "partitions revoked"
        );
    }

    pub(super) fn assign(
        &mut self,
        consumer: &BaseConsumer<WorkerContext<H>>,
        assigned: &TopicPartitionList,
    ) {
        let mut fresh = TopicPartitionList::new();
        for key in self.keys_of(assigned) {
            self.partitions.assign(key);
            fresh.add_partition(self.pipeline.ladder.topic(key.stage), key.partition);
        }
        // A partition starts resumed whatever librdkafka remembers (a stop
        // pauses everything).
        if fresh.count() > 0 {
            if let Err(error) = consumer.resume(&fresh) {
                warn!(%error, "could not resume newly assigned partitions");
            }
        }
        self.load_markers();
        metrics::assigned(self.partitions.by_key.len());
        info!(
            assigned = fresh.count(),
            total = self.partitions.by_key.len(),
            "partitions assigned"
        );
    }

    /// Starts loading (or catching up) the dedupe markers of every partition
    /// number held, on the loader thread, and forgets those no longer held.
    /// Partitions of those numbers start once the load is in.
    fn load_markers(&mut self) {
        let held = self.partitions.numbers();
        let sets = self.gate.begin_load(&held);
        self.markers.request(&held, sets);
    }

    /// Takes in a finished marker load; the partitions it was the newest
    /// load of may start.
    pub(super) fn markers_loaded(&mut self, loaded: super::markers::Loaded) {
        for (number, set) in loaded.sets {
            self.gate.finish_load(number, set);
            if self.markers.finish(number, loaded.token) {
                for (key, partition) in self.partitions.by_key.iter_mut() {
                    if key.partition == number {
                        partition.ready = true;
                    }
                }
            }
        }
    }
}
