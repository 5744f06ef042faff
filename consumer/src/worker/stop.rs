//! The member's stop, bounded whatever the broker does: stop taking work,
//! drain in-flight work within the grace period, flush the markers, commit
//! and confirm the commit with the broker, leave the group. After the drain
//! every step shares [`CLOSING`]; a broker that is down, frozen or cut off
//! answers none of them, and the stop then ends with work uncommitted (redone
//! by the group) and says so ([`Stopped::Incomplete`]).

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{info, warn};

use super::commit::Sending;
use super::{lock, CommittedOffset, State, Stopped, Worker, WorkerContext};
use crate::deliver::Handler;
use crate::metrics;

/// What a stop may spend after its drain: flushing the markers, the final
/// commit and its confirmation, and leaving the group, all together. A
/// broker that is down, frozen or cut off answers none of them; the stop
/// then ends with work uncommitted (redone by the group).
pub const CLOSING: Duration = Duration::from_secs(10);

impl<H: Handler> State<H> {
    /// Stops taking work, lets in-flight work finish within the drain
    /// timeout, flushes the markers and sends the final commit, which the
    /// loop then confirms with the broker ([`State::uncommitted`]). Returns when the rest
    /// of the stop must be done: [`CLOSING`] after the drain. Never waits on
    /// the broker for longer (a synchronous commit here waited for ever with
    /// the broker stopping at the same time).
    pub(super) fn stop(&mut self, consumer: &BaseConsumer<WorkerContext<H>>) -> Instant {
        self.pipeline.handoffs.stopping().begin();
        let mut all = TopicPartitionList::new();
        for (key, partition) in self.partitions.by_key.iter_mut() {
            partition.buffer.clear();
            all.add_partition(self.pipeline.ladder.topic(key.stage), key.partition);
        }
        if all.count() > 0 {
            let _ = consumer.pause(&all);
        }
        let started = self.partitions.started_count();
        info!(started, "stopping: finishing started work");
        let aborted = self.drain(self.settings.drain_timeout, |_| true);
        if aborted > 0 {
            warn!(
                aborted,
                "in-flight work did not finish within the grace period; it stays uncommitted and will be redone"
            );
        }
        let closing_by = Instant::now() + CLOSING;
        self.closing_by = Some(closing_by);
        self.flush_handoffs();
        self.commit(consumer, CommitMode::Async, Sending::Unconfirmed, |_| true);
        for (source, count) in &self.started_by_source {
            metrics::in_flight(source, *count);
        }
        closing_by
    }
}

impl<H: Handler> Worker<H> {
    /// The stop after the loop's last turn: [`State::stop`], the final
    /// commit confirmed, the group left; `fatal` is why the loop ended, if
    /// a fatal error ended it.
    pub(super) fn stop_and_leave(self, fatal: Option<String>) -> Result<Stopped, String> {
        let consumer = &*self.consumer;
        let closing_by = lock(&self.state).stop(consumer);
        let committed = self.confirm_final_commit(closing_by);
        consumer.unsubscribe();
        if let Err(error) = consumer.close_queue() {
            warn!(%error, "could not start leaving the group");
        }
        while !consumer.closed() && Instant::now() < closing_by {
            let _ = consumer.poll(Duration::from_millis(100));
        }
        let left = consumer.closed();
        if left {
            info!("left the consumer group");
        } else {
            warn!("could not leave the consumer group in time (the broker does not answer); the group moves on after the session timeout");
            // rust-rdkafka's drop polls until the close completes, with no
            // bound: with the broker gone it would never return. The process
            // is ending; its memory goes with it.
            std::mem::forget(self.consumer);
        }
        match (fatal, committed) {
            (Some(fatal), _) => Err(fatal),
            (None, true) => Ok(Stopped::Clean),
            (None, false) => Ok(Stopped::Incomplete(
                "the broker did not confirm the final offset commit in time; the group redoes that work (the delivered markers drop what was delivered)".to_owned(),
            )),
        }
    }

    /// Asks the broker (OffsetFetch, each ask bounded) until it holds the
    /// final commit of every watermark or `until` passes, sending the commit
    /// again each round, and serving callbacks between rounds. Returns
    /// whether it holds them. The broker is asked because the results of
    /// asynchronous commits never reach the loop: librdkafka queues them for
    /// its own commit callback only, not for the events rust-rdkafka polls.
    fn confirm_final_commit(&self, until: Instant) -> bool {
        let consumer = &*self.consumer;
        loop {
            let wanted = {
                let mut state = lock(&self.state);
                state.take_reports();
                state.uncommitted()
            };
            if wanted.count() == 0 {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if let Ok(held) = consumer.committed_offsets(wanted, left.min(Duration::from_secs(1))) {
                let confirmed: Vec<CommittedOffset> = held
                    .elements()
                    .iter()
                    .filter_map(|e| match e.offset() {
                        Offset::Offset(o) => Some((e.topic().to_owned(), e.partition(), o)),
                        _ => None,
                    })
                    .collect();
                let mut state = lock(&self.state);
                state.confirm_commits(&confirmed);
                if state.all_committed() {
                    return true;
                }
                state.commit(consumer, CommitMode::Async, Sending::Unconfirmed, |_| true);
            }
            // Rebalance callbacks run inside poll; records polled now belong
            // to paused partitions and are read again by the next owner.
            let _ = consumer.poll(Duration::from_millis(50));
        }
    }
}
