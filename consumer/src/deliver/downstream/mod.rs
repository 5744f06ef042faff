//! One destination and the delivery control it gets across all partitions:
//! at most `max_in_flight` requests at once, at most `rate` per second when
//! set, none while it asked to be left alone (a hold, from `Retry-After`),
//! and none but a probe while its [`Breaker`] is open. Events waiting for a
//! destination wait here, holding no delivery slot of their partition, so a
//! held, broken or throttled destination never slows another.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::Uri;
use switchboard_runtime::lock::lock;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::breaker::{Blame, Breaker, BreakerSettings, Verdict};
use super::hold_wait;
use super::outgoing::Outgoing;
use super::HttpClient;
use crate::metrics::{AnswerClass, DestinationSeries, FailureCause};
use switchboard_runtime::time::unix_ms;

/// One destination as configured: where, its limits, what its requests
/// carry and when its breaker opens.
#[derive(Debug, Clone)]
pub struct DestinationSettings {
    /// Where requests go.
    pub uri: Uri,
    /// Its limits.
    pub limits: Limits,
    /// What its requests carry (headers, credentials, signature).
    pub outgoing: Arc<Outgoing>,
    /// When its breaker opens and how it probes.
    pub breaker: BreakerSettings,
    /// Its own TLS (a private CA, a client certificate), when set.
    pub tls: Option<native_tls::TlsConnector>,
}

impl DestinationSettings {
    /// One line for `consumer check`: where, how it authenticates, whether
    /// it signs, its TLS, its limits, its breaker and `filter` (never a
    /// secret).
    pub fn summary(&self, filter: Option<&crate::filter::Filter>) -> String {
        let rate = self
            .limits
            .rate
            .map_or(String::new(), |r| format!(", rate {r}/s"));
        let breaker = match self.breaker.open_after {
            0 => "breaker off".to_owned(),
            n => format!(
                "breaker opens after {n} different events fail, probes {:?} to {:?}",
                self.breaker.first_probe, self.breaker.max_probe_interval
            ),
        };
        let filter = filter.map_or("takes every event".to_owned(), |f| {
            format!("takes only {}", f.summary())
        });
        format!(
            "{} (auth {}, {} signing secret(s), {}, max_in_flight {}{rate}, {breaker}, {filter})",
            self.uri,
            self.outgoing.auth_kind(),
            self.outgoing.signing_secrets(),
            if self.tls.is_some() {
                "own TLS settings"
            } else {
                "system CA roots"
            },
            self.limits.max_in_flight,
        )
    }
}

/// The limits of one destination.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Requests in flight at once, across every partition this process holds.
    pub max_in_flight: usize,
    /// Requests started per second, when set.
    pub rate: Option<f64>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            rate: None,
        }
    }
}

/// Requests in flight to one destination by default, per consumer process:
/// one partition's delivery slots (`CONSUMER_CONCURRENCY`'s default), so a
/// slow CRM is not hit by every partition's full concurrency at once (3
/// partitions × 32 = 96), and 3 members against a 200 ms service still do
/// 3 × 32 / 0.2 s = 480 events/s, above the 250–400/s peak of a
/// 5,000-agent centre (docs/genesys-eventbridge.md, "Sizing"). At 16 they did
/// 240/s.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 32;

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

/// One downstream URL with its limits, its hold, its breaker and its metrics.
#[derive(Debug)]
pub struct Destination {
    name: String,
    uri: Uri,
    client: HttpClient,
    in_flight: Arc<Semaphore>,
    pacer: Option<Pacer>,
    hold: Mutex<Hold>,
    breaker: Breaker,
    series: DestinationSeries,
    outgoing: Arc<Outgoing>,
}

/// A slot under a destination's `max_in_flight`, held while a request is
/// out; counted in its in-flight gauge until dropped. The breaker's probe
/// when it went through an open breaker: a probe dropped before its answer
/// was judged (a cancelled task) lets the next caller probe.
#[derive(Debug)]
pub struct Slot<'a> {
    _permit: OwnedSemaphorePermit,
    downstream: &'a Destination,
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
        self.downstream.series.in_flight.decrement(1.0);
        if self.take_probe() {
            self.downstream.breaker.probe_abandoned();
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

impl Destination {
    /// The downstream `name` (its `destination` label) as `settings` say,
    /// reached over `client`.
    pub fn new(name: &str, settings: DestinationSettings, client: HttpClient) -> Self {
        Self {
            name: name.to_owned(),
            uri: settings.uri,
            client,
            in_flight: Arc::new(Semaphore::new(settings.limits.max_in_flight.max(1))),
            pacer: settings.limits.rate.and_then(Pacer::new),
            hold: Mutex::new(Hold::default()),
            breaker: Breaker::new(name, settings.breaker),
            series: DestinationSeries::new(name),
            outgoing: settings.outgoing,
        }
    }

    /// What its requests carry besides the event.
    pub fn outgoing(&self) -> &Outgoing {
        &self.outgoing
    }

    /// Counts how the destination answered one request.
    pub fn record_answer(&self, class: AnswerClass) {
        self.series.answered(class);
    }

    /// The HTTP client that reaches it (its own when it has its own TLS).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// Its `destination` label.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where requests go.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// How long deliveries to this downstream must still wait.
    pub fn hold_remaining(&self) -> Option<Duration> {
        let hold = lock(&self.hold);
        hold.until
            .and_then(|until| until.checked_duration_since(Instant::now()))
            .filter(|left| !left.is_zero())
    }

    /// Waits until a request may go: no hold, a closed breaker (or the
    /// probe's turn), its turn under the rate, and a slot under
    /// `max_in_flight`.
    pub async fn admit(&self) -> Slot<'_> {
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
                downstream: self,
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
    pub fn worked(&self, mut slot: Slot<'_>) -> Option<Duration> {
        slot.take_probe();
        self.breaker.answered()
    }

    /// The destination failed `slot`'s request for `event_id` for `cause`,
    /// as `blame` says: whether the event waits for the destination or
    /// takes the ladder.
    pub fn failed(
        &self,
        mut slot: Slot<'_>,
        event_id: &str,
        cause: FailureCause,
        blame: Blame,
    ) -> Verdict {
        let probe = slot.take_probe();
        self.breaker.failed(event_id, cause, blame, probe)
    }

    /// The downstream asked to back off for `asked`. A new hold lasts at
    /// least a floor that doubles with each hold in a row (see
    /// [`hold_wait`]); answers during a hold only extend it. Returns the
    /// hold's length when this answer started it (log it then).
    pub fn back_off(&self, asked: Duration) -> Option<Duration> {
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
    pub fn answered(&self) {
        lock(&self.hold).consecutive = 0;
    }
}

#[cfg(test)]
mod tests;
