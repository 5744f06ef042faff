//! Reading the marker log back: on assignment, the markers of the last
//! window (or, for a partition this process held before, the ones written
//! since it last looked), into each partition's [`DeliveredSet`].

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tracing::debug;

use super::codec::{read_message, MarkerRead};
use crate::dedupe::DeliveredSet;
use crate::prefetch;
use switchboard_runtime::kafka::{KafkaLog, KafkaSettings};
use switchboard_runtime::time::{millis, unix_ms};

/// Reads marker partitions with a group-less consumer (assign, never commit).
///
/// Each load uses a client of its own, dropped when the load ends. A client
/// kept idle between assignments carries state from outages it lived
/// through: transport errors queued while nobody polled it (which would end
/// the next load at once) and topic metadata from before the outage (a
/// topic created again has a new id, and fetching by the old one waits for
/// a metadata refresh). One connection per assignment is cheap beside that.
pub struct MarkerLoader {
    config: ClientConfig,
    topic: String,
}

impl MarkerLoader {
    /// A loader for `topic` using the connection `settings` (security, brokers).
    pub fn new(settings: &KafkaSettings, topic: &str) -> Result<Self, KafkaError> {
        // Its one queue gets the most one queue prefetches, not the group
        // consumer's share of the prefetch budget.
        let mut config = prefetch::one_queue(settings).plain_client().client_config();
        // librdkafka's assign() needs a group id; this one never subscribes
        // and never commits, so it never joins or disturbs a group.
        let group = settings.get("group.id").unwrap_or("switchboard");
        config
            .set("group.id", format!("{group}.marker-reader"))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            // A read position past the log's end (the topic was deleted and
            // created again) or before its start (retention) is answered
            // OFFSET_OUT_OF_RANGE: start that partition's log from its
            // beginning (tests/it/markers.rs).
            .set("auto.offset.reset", "earliest")
            // The reader stops at the end of the log, which it learns from a
            // fetch answered without data: the broker holds that one for
            // fetch.wait.max.ms (500 ms by default), on every assignment.
            .set("fetch.wait.max.ms", "10")
            // The reader drains its queue as fast as it fills; librdkafka's
            // default pauses a partition's fetching for a whole second each
            // time its queue passes `queued.min.messages` or
            // `queued.max.messages.kbytes` (1 M markers: 6.7 s instead of 1 s).
            .set("fetch.queue.backoff.ms", "10");
        // A bad setting shows at start-up, not at the first assignment.
        let _: BaseConsumer<KafkaLog> = config.create_with_context(KafkaLog)?;
        Ok(Self {
            config,
            topic: topic.to_owned(),
        })
    }

    /// Brings each `(partition, set)` up to date with the log, reading at most
    /// `timeout`. Returns how many markers were read.
    pub fn load(
        &self,
        sets: &mut [(i32, &mut DeliveredSet)],
        window: Duration,
        timeout: Duration,
    ) -> Result<usize, LoadError> {
        if sets.is_empty() {
            return Ok(0);
        }
        let consumer: BaseConsumer<KafkaLog> = self.config.create_with_context(KafkaLog)?;
        let deadline = Instant::now() + timeout;
        let now_ms = unix_ms();
        let from_ms = now_ms.saturating_sub(millis(window));

        let mut by_time = TopicPartitionList::new();
        for (partition, set) in sets.iter() {
            if set.next_marker_offset.is_none() {
                by_time.add_partition_offset(&self.topic, *partition, Offset::Offset(from_ms))?;
            }
        }
        let starts = if by_time.count() > 0 {
            consumer.offsets_for_times(by_time, timeout)?
        } else {
            TopicPartitionList::new()
        };
        let mut assignment = TopicPartitionList::new();
        for (partition, set) in sets.iter() {
            let start = match set.next_marker_offset {
                Some(next) => Offset::Offset(next),
                None => starts
                    .find_partition(&self.topic, *partition)
                    .map(|e| e.offset())
                    .filter(|o| matches!(o, Offset::Offset(_)))
                    .unwrap_or(Offset::End),
            };
            assignment.add_partition_offset(&self.topic, *partition, start)?;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        self.reserve_room(&consumer, sets, &assignment, left);
        consumer.assign(&assignment)?;

        let mut waiting: Vec<i32> = sets.iter().map(|(p, _)| *p).collect();
        let mut read = 0;
        while !waiting.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LoadError::TimedOut {
                    after: timeout,
                    unfinished: waiting,
                });
            }
            match consumer.poll(left.min(Duration::from_millis(200))) {
                None => {}
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    waiting.retain(|p| *p != partition)
                }
                // librdkafka reconnects by itself; the deadline bounds the wait.
                Some(Err(error)) if is_transient(&error) => {
                    debug!(%error, "marker reader: broker unreachable, retrying")
                }
                Some(Err(error)) => return Err(error.into()),
                Some(Ok(message)) => {
                    let partition = message.partition();
                    if let Some((_, set)) = sets.iter_mut().find(|(p, _)| *p == partition) {
                        set.next_marker_offset = Some(message.offset() + 1);
                        let at = message.timestamp().to_millis().unwrap_or(now_ms);
                        match read_message(&message) {
                            MarkerRead::Fence(fence) => set.fences.add(fence),
                            MarkerRead::Delivery(id) if at >= from_ms => {
                                set.insert(id, at);
                                read += 1;
                            }
                            MarkerRead::Delivery(_) | MarkerRead::Unreadable => {}
                        }
                    }
                }
            }
        }
        // Remember where the log ends, so a later catch-up reads only what is new.
        let positions = consumer.position()?;
        for (partition, set) in sets.iter_mut() {
            if let Some(Offset::Offset(next)) = positions
                .find_partition(&self.topic, *partition)
                .map(|e| e.offset())
            {
                set.next_marker_offset = Some(next);
            }
        }
        Ok(read)
    }

    /// Sizes each set for the markers between its start in `assignment` and
    /// the end of its log (a few more than it will hold: fences, repeated
    /// keys), asking for every end in one request. Best effort: a set whose
    /// end cannot be read grows as it loads.
    fn reserve_room(
        &self,
        consumer: &BaseConsumer<KafkaLog>,
        sets: &mut [(i32, &mut DeliveredSet)],
        assignment: &TopicPartitionList,
        timeout: Duration,
    ) {
        let mut latest = TopicPartitionList::new();
        for (partition, _) in sets.iter() {
            // A lookup "by time" at Offset::End asks for the log's end.
            if latest
                .add_partition_offset(&self.topic, *partition, Offset::End)
                .is_err()
            {
                return;
            }
        }
        let Ok(ends) = consumer.offsets_for_times(latest, timeout) else {
            return;
        };
        let offset_in = |list: &TopicPartitionList, partition: i32| match list
            .find_partition(&self.topic, partition)
            .map(|e| e.offset())
        {
            Some(Offset::Offset(offset)) => Some(offset),
            _ => None,
        };
        for (partition, set) in sets.iter_mut() {
            if let (Some(start), Some(end)) = (
                offset_in(assignment, *partition),
                offset_in(&ends, *partition),
            ) {
                let coming = usize::try_from(end.saturating_sub(start)).unwrap_or(0);
                debug!(
                    partition,
                    start, end, "marker reader: room for the markers to come"
                );
                set.reserve(coming.min(MAX_RESERVED_IDS));
            }
        }
    }
}

/// The most ids one load reserves room for up front (~50 MiB of table);
/// a longer log grows the table as it loads.
const MAX_RESERVED_IDS: usize = 2_000_000;

/// Why a load ended before the end of every log.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The client failed.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// Some partitions were not read to their end in time.
    #[error("not read to the end within {after:?} (partitions {unfinished:?})")]
    TimedOut {
        /// The load's time limit.
        after: Duration,
        /// The partitions still being read.
        unfinished: Vec<i32>,
    },
}

/// Whether `error` is a connection problem librdkafka retries by itself.
fn is_transient(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::NetworkException
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::OperationTimedOut
        )
    )
}
