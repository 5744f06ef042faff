//! The delivered-marker log, `<main>.<group>.delivered`: what makes dedupe
//! survive restarts and partition moves (design and bounds:
//! [`crate::dedupe`]). This module owns it:
//!
//! - [`codec`]: its two kinds of record (deliveries and replay fences),
//!   encoded and decoded in one place;
//! - the writer is the task's hand-on ([`crate::process`]): one marker per
//!   delivered event ([`MarkerRecord::delivery`]), on the event's partition
//!   number, queued without waiting;
//! - [`loader`]: the reader, which fills each assigned partition's
//!   [`DeliveredSet`](crate::dedupe::DeliveredSet) (the worker schedules it
//!   off its poll thread);
//! - fences are written by `offsets reset --redeliver`
//!   (`crate::ops::offsets::plan::write_fences`) with [`MarkerRecord::fence`].

pub mod codec;
pub mod loader;

pub use codec::{Marker, MarkerRead, MarkerRecord};
pub use loader::{LoadError, MarkerLoader};
