//! Partitions coming and going: assignment (fresh state, markers loaded
//! before the first record), revocation (drain, commit, forget), and the
//! stop at shutdown. librdkafka calls the rebalance steps from inside `poll`,
//! on the loop's thread, through [`WorkerContext`].

use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::TopicPartitionList;
use switchboard_runtime::kafka::log::{route_error, route_log};
use tracing::{info, warn};

use super::partition::PartitionState;
use super::{lock, LoopEvent, PartitionKey, State};
use crate::deliver::Handler;
use crate::metrics;

/// The consumer context: routes logs and runs the rebalance steps on the state.
pub struct WorkerContext<H: Handler> {
    state: Arc<Mutex<State<H>>>,
}

impl<H: Handler> WorkerContext<H> {
    pub(super) fn new(state: Arc<Mutex<State<H>>>) -> Self {
        Self { state }
    }
}

impl<H: Handler> ClientContext for WorkerContext<H> {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        route_log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        route_error(error, reason);
    }

    fn stats(&self, statistics: rdkafka::Statistics) {
        lock(&self.state).report_lag(&statistics);
    }
}

impl<H: Handler> ConsumerContext for WorkerContext<H> {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(revoked) = rebalance {
            lock(&self.state).revoke(consumer, revoked);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(assigned) = rebalance {
            lock(&self.state).assign(consumer, assigned);
        }
    }
}

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
    fn drain(&mut self, timeout: Duration, include: impl Fn(&PartitionKey) -> bool) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let pending: usize = self
                .partitions
                .iter()
                .filter(|(k, _)| include(k))
                .map(|(_, p)| p.in_flight.len())
                .sum();
            if pending == 0 {
                return 0;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.completions.recv_timeout(left) {
                Ok(LoopEvent::Done(done)) => self.complete(done),
                Ok(LoopEvent::Wake) => {}
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    let mut aborted = 0;
                    for (key, partition) in self.partitions.iter_mut() {
                        if !include(key) {
                            continue;
                        }
                        for (_, running) in partition.in_flight.drain() {
                            running.task.abort();
                            aborted += 1;
                            if let Some(count) = self.in_flight_by_source.get_mut(running.source) {
                                *count -= 1;
                            }
                            if let Some(id) = running.id {
                                self.gate.finished(key.partition, id, None);
                            }
                        }
                    }
                    return aborted;
                }
            }
        }
    }

    fn revoke(&mut self, consumer: &BaseConsumer<WorkerContext<H>>, revoked: &TopicPartitionList) {
        let keys = self.keys_of(revoked);
        let is_revoked = |key: &PartitionKey| keys.contains(key);
        for key in &keys {
            if let Some(partition) = self.partitions.get_mut(key) {
                partition.buffer.clear();
            }
        }
        let aborted = self.drain(self.settings.drain_timeout, is_revoked);
        if aborted > 0 {
            warn!(
                aborted,
                "in-flight work on revoked partitions did not finish in time; it will be redone by the next owner"
            );
        }
        self.commit(consumer, CommitMode::Sync, is_revoked);
        for key in &keys {
            self.partitions.remove(key);
        }
        self.gate.drop_waiters(|parked| !keys.contains(&parked.key));
        metrics::assigned(self.partitions.len());
        info!(
            revoked = keys.len(),
            remaining = self.partitions.len(),
            "partitions revoked"
        );
    }

    fn assign(&mut self, consumer: &BaseConsumer<WorkerContext<H>>, assigned: &TopicPartitionList) {
        let mut fresh = TopicPartitionList::new();
        for key in self.keys_of(assigned) {
            self.next_epoch += 1;
            self.partitions
                .insert(key, PartitionState::new(self.next_epoch));
            fresh.add_partition(self.pipeline.ladder.topic(key.stage), key.partition);
        }
        // A partition starts unpaused whatever librdkafka remembers; the
        // loop pauses it again from its own buffer if it must.
        if fresh.count() > 0 {
            if let Err(error) = consumer.resume(&fresh) {
                warn!(%error, "could not resume newly assigned partitions");
            }
        }
        self.load_markers();
        metrics::assigned(self.partitions.len());
        info!(
            assigned = fresh.count(),
            total = self.partitions.len(),
            "partitions assigned"
        );
    }

    /// Loads or catches up the dedupe markers of every partition number held,
    /// and forgets those of partition numbers no longer held.
    fn load_markers(&mut self) {
        let mut held: Vec<i32> = self.partitions.keys().map(|k| k.partition).collect();
        held.sort_unstable();
        held.dedup();
        self.gate.hold(&held);
        if let Err(error) = self
            .gate
            .load_markers(&self.loader, self.settings.marker_load_timeout)
        {
            warn!(
                %error,
                "could not read the delivered markers; duplicates of events delivered before this assignment may be delivered again"
            );
        }
    }

    /// Stops taking work, lets in-flight work finish within the drain
    /// timeout, and commits.
    pub(super) fn stop(&mut self, consumer: &BaseConsumer<WorkerContext<H>>) {
        self.pipeline.stopping.store(true, Ordering::Relaxed);
        let mut all = TopicPartitionList::new();
        for (key, partition) in self.partitions.iter_mut() {
            partition.buffer.clear();
            all.add_partition(self.pipeline.ladder.topic(key.stage), key.partition);
        }
        if all.count() > 0 {
            let _ = consumer.pause(&all);
        }
        let in_flight = self.in_flight();
        info!(in_flight, "stopping: finishing in-flight work");
        let aborted = self.drain(self.settings.drain_timeout, |_| true);
        if aborted > 0 {
            warn!(
                aborted,
                "in-flight work did not finish within the grace period; it stays uncommitted and will be redone"
            );
        }
        self.commit(consumer, CommitMode::Sync, |_| true);
        for (source, count) in &self.in_flight_by_source {
            metrics::in_flight(source, *count);
        }
    }
}
