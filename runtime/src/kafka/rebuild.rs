//! When a producer must be replaced by a fresh one. An idempotent producer
//! whose sequence state broke never recovers by itself (librdkafka's
//! INTRODUCTION.md, "Fatal producer errors"); a fresh producer gets a new
//! producer id and carries on. The decisions are pure so they are tested
//! without a broker.
//!
//! A producer is replaced when:
//! - librdkafka reports a fatal error;
//! - a record fails with an error that means the idempotence state is gone
//!   (fenced, invalid epoch, unknown producer id, out-of-order sequence), or
//!   times out in the client (after a broker lost its producer-id state,
//!   librdkafka can retry for ever without a fatal error);
//! - it is *stalled*: records are pending and none was acknowledged for
//!   [`RebuildPolicy::stall_after`] while the broker answers metadata. A
//!   producer with nothing pending is idle, never stalled, however long the
//!   quiet spell.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::error::RDKafkaErrorCode;

/// Pending records with no acknowledgement for this long, while the broker
/// answers metadata, mean a producer is stuck (one threshold for every
/// producer: a healthy broker acknowledges `acks=all` within milliseconds to
/// a few seconds, and a stuck gateway answers 503 until it is replaced).
pub const STALL_AFTER: Duration = Duration::from_secs(10);

/// The explicit rebuild policy of a [`super::ReplaceableProducer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildPolicy {
    /// Pending records with no acknowledgement for this long mean the
    /// producer is stuck (checked by [`super::ReplaceableProducer::check`]).
    pub stall_after: Duration,
    /// How long a retired producer may take to deliver what it still holds
    /// before it is closed. Nothing is purged before this bound.
    pub retire_within: Duration,
}

impl RebuildPolicy {
    /// A policy that calls `stall_after` of silence a stall, for a producer
    /// whose records time out in the client after `message_timeout`: a
    /// retired producer gets that long to deliver what it holds, so every
    /// record it held has its answer (delivered or failed) before it closes.
    pub fn for_message_timeout(stall_after: Duration, message_timeout: Duration) -> Self {
        Self {
            stall_after,
            retire_within: message_timeout + Duration::from_secs(1),
        }
    }

    /// The policy of every producer of the product: [`STALL_AFTER`] of
    /// pending silence is a stall, and retirement follows the producer
    /// `settings`' own message timeout.
    pub fn standard(settings: &super::KafkaSettings) -> Self {
        Self::for_settings(STALL_AFTER, settings)
    }

    /// [`RebuildPolicy::for_message_timeout`] with the producer `settings`' own timeout.
    pub fn for_settings(stall_after: Duration, settings: &super::KafkaSettings) -> Self {
        Self::for_message_timeout(stall_after, settings.message_timeout())
    }
}

/// Whether a record failing with `code` means the producer must be replaced.
pub fn error_breaks_producer(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch
            | RDKafkaErrorCode::UnknownProducerId
            | RDKafkaErrorCode::OutOfOrderSequenceNumber
            | RDKafkaErrorCode::MessageTimedOut
            | RDKafkaErrorCode::Fatal
    )
}

/// Watches for progress: an acknowledgement, or a moment with nothing
/// pending. Lock-free, so the send path pays one atomic store per ack.
#[derive(Debug)]
pub struct StallWatch {
    epoch: Instant,
    progress_ms: AtomicI64,
    stall_after: Duration,
}

impl StallWatch {
    /// A watch that calls `stall_after` of pending silence a stall.
    pub fn new(stall_after: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            progress_ms: AtomicI64::new(0),
            stall_after,
        }
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    /// A record was acknowledged now.
    pub fn acked(&self) {
        self.acked_at(self.now_ms());
    }

    /// A record was acknowledged at `at_ms` (ms since the watch began).
    pub fn acked_at(&self, at_ms: i64) {
        self.progress_ms.store(at_ms, Ordering::Relaxed);
    }

    /// Whether the producer is stalled now, with `pending` records in flight.
    pub fn is_stalled(&self, pending: usize) -> bool {
        self.is_stalled_at(pending, self.now_ms())
    }

    /// Whether the producer is stalled at `now_ms` with `pending` records. A
    /// look that finds nothing pending counts as progress: the silence that
    /// follows an idle spell starts at the first record sent after it (give
    /// or take one look's interval).
    pub fn is_stalled_at(&self, pending: usize, now_ms: i64) -> bool {
        if pending == 0 {
            self.progress_ms.store(now_ms, Ordering::Relaxed);
            return false;
        }
        let silent_ms = now_ms.saturating_sub(self.progress_ms.load(Ordering::Relaxed));
        u128::try_from(silent_ms).is_ok_and(|ms| ms > self.stall_after.as_millis())
    }

    /// Starts afresh (a new producer was swapped in) at `now_ms`.
    pub fn reset_at(&self, now_ms: i64) {
        self.progress_ms.store(now_ms, Ordering::Relaxed);
    }

    /// Starts afresh now.
    pub fn reset(&self) {
        self.reset_at(self.now_ms());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    #[test]
    fn an_idle_producer_is_never_stalled() {
        let watch = StallWatch::new(Duration::from_secs(5));
        watch.acked_at(0);
        // An hour of quiet, looked at every second: nothing pending, no stall.
        for second in 1..=3600 {
            assert!(!watch.is_stalled_at(0, second * 1000));
        }
        // The first record after the quiet spell is not "an hour late".
        assert!(!watch.is_stalled_at(1, 60 * MINUTE + 500));
        assert!(!watch.is_stalled_at(1, 60 * MINUTE + 5_000));
    }

    #[test]
    fn pending_records_without_acks_are_a_stall() {
        let watch = StallWatch::new(Duration::from_secs(5));
        watch.acked_at(10_000);
        assert!(!watch.is_stalled_at(3, 14_000));
        assert!(
            !watch.is_stalled_at(3, 15_000),
            "exactly the limit is not yet a stall"
        );
        assert!(watch.is_stalled_at(3, 15_001));
        watch.acked_at(15_002);
        assert!(!watch.is_stalled_at(3, 16_000), "an ack is progress");
        watch.reset_at(100_000);
        assert!(
            !watch.is_stalled_at(3, 104_000),
            "a fresh producer starts a new clock"
        );
    }

    #[test]
    fn broken_idempotence_and_client_timeouts_replace_the_producer() {
        for code in [
            RDKafkaErrorCode::ProducerFenced,
            RDKafkaErrorCode::InvalidProducerEpoch,
            RDKafkaErrorCode::UnknownProducerId,
            RDKafkaErrorCode::OutOfOrderSequenceNumber,
            RDKafkaErrorCode::MessageTimedOut,
        ] {
            assert!(error_breaks_producer(code), "{code:?}");
        }
        for code in [
            RDKafkaErrorCode::QueueFull,
            RDKafkaErrorCode::MessageSizeTooLarge,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::AllBrokersDown,
        ] {
            assert!(!error_breaks_producer(code), "{code:?}");
        }
    }
}
