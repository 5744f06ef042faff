//! Handlers turn an event into a side effect. The one shipped is HTTP
//! delivery ([`crate::destination::Destinations`]): the event goes to the
//! destination of its source (a source's own, else the default), which owns
//! everything about the exchange: its limits, holds, breaker, credentials
//! and what an answer means.

use std::future::Future;

use switchboard_proto::Envelope;
use tokio::sync::Semaphore;

pub use crate::destination::Outcome;

/// Something that does the work for one event. Implementations must be safe
/// to call again for the same event (at-least-once).
pub trait Handler: Send + Sync + 'static {
    /// Handles `event`; `attempt` is 1 for the first try. `slots` are the
    /// delivery slots of the event's partition: hold one only while the
    /// work is actually under way, never while waiting for a destination.
    fn handle(
        &self,
        event: &Envelope,
        attempt: u32,
        slots: &Semaphore,
    ) -> impl Future<Output = Outcome> + Send;
}
