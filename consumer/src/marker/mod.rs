//! The delivered-marker log, `<main>.<group>.delivered`: what makes dedupe
//! survive restarts and partition moves (design and bounds:
//! [`crate::dedupe`]). This module owns it:
//!
//! - [`codec`]: its two kinds of record (deliveries and replay fences),
//!   encoded and decoded in one place;
//! - [`record_delivery`]: the writer, one marker per delivered event, on the
//!   event's partition number;
//! - [`loader`]: the reader, which fills each assigned partition's
//!   [`DeliveredSet`](crate::dedupe::DeliveredSet) (the worker schedules it
//!   off its poll thread);
//! - fences are written by `offsets reset --redeliver`
//!   (`crate::ops::offsets::plan::write_fences`) with [`MarkerRecord::fence`].

pub mod codec;
pub mod loader;

use std::sync::Arc;

use switchboard_proto::Envelope;
use switchboard_runtime::kafka::ReplaceableProducer;

pub use codec::{Marker, MarkerRead, MarkerRecord};
pub use loader::{LoadError, MarkerLoader};

use crate::handoff::{self, Handoff};

/// Writes the delivery marker of `event` (`marker` says from which stage,
/// at which attempt, by whom) to marker `topic`, partition `partition`,
/// without waiting: the
/// event is delivered either way (its offset may be committed), and this
/// process already remembers the id. A marker lost to a crash in the next
/// milliseconds can only let a later duplicate through.
pub fn record_delivery(
    producer: &Arc<ReplaceableProducer>,
    topic: &str,
    partition: i32,
    event: &Envelope,
    marker: &Marker<'_>,
) {
    let record = MarkerRecord::delivery(event, marker);
    handoff::send_detached(
        producer,
        Handoff {
            topic,
            partition,
            key: Some(record.key.as_bytes()),
            payload: &record.value,
            headers: record.headers,
        },
    );
}
