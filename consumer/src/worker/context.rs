//! The group consumer's context: librdkafka's callbacks into the worker.
//! It routes logs and errors into `tracing`, runs the rebalance steps on the
//! loop's state (from inside `poll`, on the loop's thread), passes confirmed
//! commits and lag statistics on, and watches the group's join state for a
//! revoke librdkafka waits for but never delivers.

use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::{Offset, TopicPartitionList};
use switchboard_runtime::kafka::log::{route_error, route_log};
use tracing::warn;

use super::{lock, Notice, State};
use crate::deliver::Handler;

/// The consumer context: routes logs, runs the rebalance steps on the state,
/// and passes confirmed commits to the loop (through its channel, never by
/// locking the state, which a synchronous commit may already hold).
pub struct WorkerContext<H: Handler> {
    state: Arc<Mutex<State<H>>>,
    notices_tx: Mutex<Sender<Notice>>,
    join: Mutex<JoinWatch>,
}

/// The group client's join state as its statistics report it, and when the
/// application last ran a rebalance step: to notice a revoke librdkafka
/// waits for but never delivered.
struct JoinWatch {
    state: String,
    since: Instant,
    last_step: Instant,
}

/// How long librdkafka may wait for an unassign it never asked for before
/// the loop does it ([`WorkerContext::revoke_never_delivered`]).
pub(super) const UNDELIVERED_REVOKE_AFTER: Duration = Duration::from_secs(20);

impl<H: Handler> WorkerContext<H> {
    pub(super) fn new(state: Arc<Mutex<State<H>>>, notices_tx: Sender<Notice>) -> Self {
        let now = Instant::now();
        Self {
            state,
            notices_tx: Mutex::new(notices_tx),
            join: Mutex::new(JoinWatch {
                state: String::new(),
                since: now,
                last_step: now,
            }),
        }
    }

    /// Whether librdkafka has waited longer than `after` for the application
    /// to unassign (join state `wait-unassign-call`) without handing the loop
    /// a revoke since. Seen when a restarted cluster forgot the member while
    /// a revoke was being prepared (found by the fault soak): the revoke never
    /// arrives and the member would idle for ever.
    pub(super) fn revoke_never_delivered(&self, after: Duration) -> bool {
        let join = lock(&self.join);
        join.state == "wait-unassign-call"
            && join.since.elapsed() > after
            && join.last_step <= join.since
    }

    pub(super) fn rebalance_step(&self) {
        lock(&self.join).last_step = Instant::now();
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
        if let Some(group) = &statistics.cgrp {
            let mut join = lock(&self.join);
            if join.state != group.join_state {
                tracing::debug!(from = %join.state, to = %group.join_state, state = %group.state, "group join state");
                join.state = group.join_state.clone();
                join.since = Instant::now();
            }
        }
        lock(&self.state).report_lag(&statistics);
        crate::metrics::prefetched(prefetched_bytes(&statistics));
    }
}

/// Bytes librdkafka holds read ahead in this member's partition queues (the
/// prefetch budget bounds them; [`crate::prefetch`]).
fn prefetched_bytes(statistics: &rdkafka::Statistics) -> u64 {
    statistics
        .topics
        .values()
        .flat_map(|topic| topic.partitions.values())
        // -1 is librdkafka's internal "unassigned" partition.
        .filter(|partition| partition.partition >= 0)
        .map(|partition| partition.fetchq_size)
        .sum()
}

impl<H: Handler> ConsumerContext for WorkerContext<H> {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.rebalance_step();
        match rebalance {
            Rebalance::Revoke(revoked) => lock(&self.state).revoke(consumer, revoked),
            Rebalance::Error(error) => warn!(%error, "rebalance failed"),
            Rebalance::Assign(_) => {}
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        if let Err(error) = result {
            warn!(%error, "offset commit failed; it is sent again with the next commit");
            return;
        }
        let confirmed: Vec<(String, i32, i64)> = offsets
            .elements()
            .iter()
            .filter(|e| e.error().is_ok())
            .filter_map(|e| match e.offset() {
                Offset::Offset(offset) => Some((e.topic().to_owned(), e.partition(), offset)),
                _ => None,
            })
            .collect();
        if !confirmed.is_empty() {
            let _ = lock(&self.notices_tx).send(Notice::Committed(confirmed));
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.rebalance_step();
        if let Rebalance::Assign(assigned) = rebalance {
            lock(&self.state).assign(consumer, assigned);
        }
    }
}
