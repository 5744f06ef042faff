//! When a request may go to a destination (no hold from its `Retry-After`,
//! a closed breaker or the probe's turn, its turn under the rate, and a
//! slot under `max_in_flight`), and what an answer does to its hold and its
//! breaker. Events waiting here hold no delivery slot of their partition.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_runtime::lock::lock;
use switchboard_runtime::time::unix_ms;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::answer::hold_wait;
use super::breaker::{Blame, Breaker, BreakerSettings, Decision};
use super::Limits;
use crate::metrics::{DestinationSeries, FailureCause};

#[derive(Debug, Default)]
struct Hold {
    until: Option<Instant>,
    /// Holds in a row with no other answer between them.
    consecutive: u32,
}

/// Spaces request starts `1 / rate` apart, allowing a burst of one second's
/// worth after a quiet spell.
#[derive(Debug)]
struct Pacer {
    interval: Duration,
    burst: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    fn new(rate: f64) -> Option<Self> {
        (rate.is_finite() && rate > 0.0).then(|| Self {
            interval: Duration::from_secs_f64(1.0 / rate),
            burst: Duration::from_secs(1),
            next: Mutex::new(None),
        })
    }

    /// How long the caller must wait for its turn (claiming it).
    fn claim(&self, now: Instant) -> Duration {
        let mut next = lock(&self.next);
        let earliest = now.checked_sub(self.burst).unwrap_or(now);
        let slot = next.map_or(earliest, |n| n.max(earliest));
        *next = Some(slot + self.interval);
        slot.saturating_duration_since(now)
    }
}

/// One destination's admission: its slots, its pace, its hold, its breaker
/// and the series they are counted in.
#[derive(Debug)]
pub(super) struct Admission {
    in_flight: Arc<Semaphore>,
    pacer: Option<Pacer>,
    hold: Mutex<Hold>,
    breaker: Breaker,
    series: DestinationSeries,
}

/// A slot under a destination's `max_in_flight`, held while a request is
/// out; counted in its in-flight gauge until dropped. The breaker's probe
/// when it went through an open breaker: a probe dropped before its answer
/// was judged (a cancelled task) lets the next caller probe.
#[derive(Debug)]
pub struct Slot<'a> {
    _permit: OwnedSemaphorePermit,
    admission: &'a Admission,
    probe: bool,
}

impl Slot<'_> {
    /// Whether this request is the breaker's probe; judging it ends the probe.
    fn take_probe(&mut self) -> bool {
        std::mem::take(&mut self.probe)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.admission.series.in_flight.decrement(1.0);
        if self.take_probe() {
            self.admission.breaker.probe_abandoned();
        }
    }
}

/// Counts one event in its destination's waiting gauge while it lives (a
/// task aborted while it waits is uncounted too).
struct Waiting<'a>(&'a DestinationSeries);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.decrement(1.0);
    }
}

impl Admission {
    /// The admission of destination `name` with `limits` and a breaker as
    /// `breaker` says.
    pub(super) fn new(name: &str, limits: Limits, breaker: BreakerSettings) -> Self {
        Self {
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            pacer: limits.rate.and_then(Pacer::new),
            hold: Mutex::new(Hold::default()),
            breaker: Breaker::new(name, breaker),
            series: DestinationSeries::new(name),
        }
    }

    /// The destination's series.
    pub(super) fn series(&self) -> &DestinationSeries {
        &self.series
    }

    /// How long deliveries to this destination must still wait.
    pub(super) fn hold_remaining(&self) -> Option<Duration> {
        let hold = lock(&self.hold);
        hold.until
            .and_then(|until| until.checked_duration_since(Instant::now()))
            .filter(|left| !left.is_zero())
    }

    /// Waits until a request may go: no hold, a closed breaker (or the
    /// probe's turn), its turn under the rate, and a slot under
    /// `max_in_flight`.
    pub(super) async fn admit(&self) -> Slot<'_> {
        self.series.waiting.increment(1.0);
        let _waiting = Waiting(&self.series);
        loop {
            if let Some(wait) = self.hold_remaining() {
                tokio::time::sleep(wait).await;
                continue;
            }
            let probe = self.breaker.wait_turn().await;
            if let Some(pacer) = &self.pacer {
                let wait = pacer.claim(Instant::now());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
                // Never closed; wait a little rather than spin if it were.
                if probe {
                    self.breaker.probe_abandoned();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            self.series.in_flight.increment(1.0);
            let slot = Slot {
                _permit: permit,
                admission: self,
                probe,
            };
            // A hold may have begun, or the breaker opened, while this one
            // waited for its slot (dropping the slot gives up a probe).
            if self.hold_remaining().is_none() && (probe || !self.breaker.is_open()) {
                return slot;
            }
        }
    }

    /// The destination answered `slot`'s request in a way that shows it
    /// works (delivered, an event-level rejection, backpressure): closes its
    /// breaker. Returns how long the breaker was open if this closed it.
    pub(super) fn worked(&self, mut slot: Slot<'_>) -> Option<Duration> {
        slot.take_probe();
        self.breaker.answered()
    }

    /// The destination failed `slot`'s request for `event_id` for `cause`,
    /// as `blame` says: whether the event waits for the destination or
    /// takes the ladder.
    pub(super) fn failed(
        &self,
        mut slot: Slot<'_>,
        event_id: &str,
        cause: FailureCause,
        blame: Blame,
    ) -> Decision {
        let probe = slot.take_probe();
        self.breaker.failed(event_id, cause, blame, probe)
    }

    /// The destination asked to back off for `asked`. A new hold lasts at
    /// least a floor that doubles with each hold in a row (see
    /// [`hold_wait`]); answers during a hold only extend it. Returns the
    /// hold's length when this answer started it (log it then).
    pub(super) fn back_off(&self, asked: Duration) -> Option<Duration> {
        let mut hold = lock(&self.hold);
        let now = Instant::now();
        let active = hold.until.is_some_and(|until| until > now);
        if !active {
            hold.consecutive = hold.consecutive.saturating_add(1);
        }
        let wait = hold_wait(asked, hold.consecutive);
        let until = now.checked_add(wait)?;
        if hold.until.is_none_or(|current| current < until) {
            hold.until = Some(until);
            let until_unix =
                unix_ms().saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
            self.series.held_until.set(until_unix as f64 / 1000.0);
        }
        (!active).then_some(wait)
    }

    /// Any answer other than backpressure: holds in a row start over.
    pub(super) fn answered(&self) {
        lock(&self.hold).consecutive = 0;
    }
}

#[cfg(test)]
mod tests;
