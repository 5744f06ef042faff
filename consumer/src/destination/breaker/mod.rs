//! The breaker of one destination: tells a destination that is down from an
//! event that fails.
//!
//! The retry ladder is for failures of one event. When the destination
//! itself fails (refuses connections, fails TLS, times out or answers 5xx,
//! 401/403, a redirect or 404 for every event) retrying each event on its
//! own only burns the ladder and floods the dead-letter topic. So each such
//! failure counts here, and once `open_after` different events failed in a
//! row (no answer of the destination between them), the breaker opens:
//! every delivery to the destination waits (no attempt used, nothing handed
//! to a retry stage, the partition's commit stays where it is), one probe
//! goes through on an exponential schedule, and the first answer that shows
//! the destination works closes it again. Kafka keeps the backlog meanwhile
//! (its retention is the limit).
//!
//! A failure while the breaker is closed takes the ladder as before: a 500
//! for one event while others are delivered is that event's failure.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use switchboard_runtime::lock::lock;
use tokio::sync::Notify;

use crate::metrics::{BreakerSeries, FailureCause};

/// A breaker's thresholds, per destination (`[destination.breaker]`, or
/// `breaker` in a source's destination table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerSettings {
    /// Different events that must fail in a row before it opens; 0 turns
    /// the breaker off (every failure takes the ladder).
    pub open_after: u32,
    /// Wait before the first probe once open.
    #[serde(with = "humantime_serde")]
    pub first_probe: Duration,
    /// Longest wait between probes (the wait doubles after each failed probe).
    #[serde(with = "humantime_serde")]
    pub max_probe_interval: Duration,
}

/// Five different events: fewer and a short burst of timeouts at 32 in
/// flight would open it; more and up to that many events a round take the
/// ladder before it opens. A first probe after 2 s, doubling to 30 s: a
/// destination back from an outage gets its backlog within 30 s, at the
/// cost of one request every 30 s while it is down.
impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            open_after: 5,
            first_probe: Duration::from_secs(2),
            max_probe_interval: Duration::from_secs(30),
        }
    }
}

impl BreakerSettings {
    /// The wait before the next probe after `failed` failed probes.
    fn probe_wait(&self, failed: u32) -> Duration {
        self.first_probe
            .saturating_mul(1u32 << failed.min(20))
            .min(self.max_probe_interval.max(self.first_probe))
    }
}

#[derive(Debug)]
enum State {
    Closed {
        /// The different events that failed since the last answer.
        failing: Vec<String>,
    },
    Open {
        cause: FailureCause,
        since: Instant,
        failed_probes: u32,
        next_probe: Instant,
        probing: bool,
    },
}

/// Whether a request may go to the destination now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go; `probe` when it is the breaker's probe.
    Go {
        /// The one request let through an open breaker.
        probe: bool,
    },
    /// Wait at most this long, then ask again.
    Wait(Duration),
}

/// Whose fault a failure may be, as far as the caller knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The event's first attempt failed: the destination's or the event's;
    /// it counts towards opening.
    Unknown,
    /// A retry failed: the event already failed before, so this says
    /// little about the destination (several retries of failing events,
    /// due at once, must not look like an outage); it takes the ladder.
    EventSuspect,
    /// The request never went out (a token endpoint down, a secret that
    /// cannot be read): the destination's; it opens the breaker at once.
    NotTheEvent,
}

/// What a failure of the destination means for the event that met it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The breaker is open: the event waits for the destination.
    Wait {
        /// This failure opened it (log it once).
        opened: bool,
    },
    /// The breaker is closed: the event takes the ladder.
    Ladder,
}

/// One destination's breaker (see the module docs).
#[derive(Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    state: Mutex<State>,
    changed: Notify,
    series: BreakerSeries,
}

/// `now + wait`, an hour when that is past what an `Instant` holds.
fn later(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait)
        .or_else(|| now.checked_add(Duration::from_secs(3600)))
        .unwrap_or(now)
}

impl Breaker {
    /// A closed breaker for the destination `name`.
    pub fn new(name: &str, settings: BreakerSettings) -> Self {
        Self {
            settings,
            state: Mutex::new(State::Closed {
                failing: Vec::new(),
            }),
            changed: Notify::new(),
            series: BreakerSeries::new(name),
        }
    }

    /// Whether a request may go now; claims the probe when it is due.
    pub fn admission(&self, now: Instant) -> Admission {
        let mut state = lock(&self.state);
        match &mut *state {
            State::Closed { .. } => Admission::Go { probe: false },
            State::Open {
                next_probe,
                probing,
                ..
            } => {
                if *probing {
                    Admission::Wait(self.settings.max_probe_interval.max(Duration::from_secs(1)))
                } else if now >= *next_probe {
                    *probing = true;
                    Admission::Go { probe: true }
                } else {
                    Admission::Wait(*next_probe - now)
                }
            }
        }
    }

    /// Waits until a request may go (at once while closed); returns whether
    /// it is the probe. Woken as soon as the breaker closes or a probe is
    /// given up (the wake-up is armed before the state is read, so none is
    /// missed).
    pub async fn wait_turn(&self) -> bool {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.admission(Instant::now()) {
                Admission::Go { probe } => return probe,
                Admission::Wait(wait) => {
                    let _ = tokio::time::timeout(wait, changed).await;
                }
            }
        }
    }

    /// The destination answered in a way that shows it works (delivered,
    /// an event-level rejection, backpressure): closes the breaker. Returns
    /// how long it was open when this closed it.
    pub fn answered(&self) -> Option<Duration> {
        let mut state = lock(&self.state);
        let was_open = match &mut *state {
            State::Closed { failing } => {
                failing.clear();
                return None;
            }
            State::Open { since, cause, .. } => (since.elapsed(), *cause),
        };
        *state = State::Closed {
            failing: Vec::new(),
        };
        drop(state);
        self.series.closed(was_open.1);
        self.changed.notify_waiters();
        Some(was_open.0)
    }

    /// The destination failed `event_id`'s request for `cause`, as `blame`
    /// says; `probe` when that request was the probe.
    pub fn failed(
        &self,
        event_id: &str,
        cause: FailureCause,
        blame: Blame,
        probe: bool,
    ) -> Decision {
        self.series.failed(cause);
        let now = Instant::now();
        let mut state = lock(&self.state);
        match &mut *state {
            State::Closed { failing } => {
                match blame {
                    Blame::NotTheEvent => {}
                    Blame::EventSuspect => return Decision::Ladder,
                    Blame::Unknown => {
                        if self.settings.open_after == 0 {
                            return Decision::Ladder;
                        }
                        if !failing.iter().any(|id| id == event_id) {
                            failing.push(event_id.to_owned());
                        }
                        if failing.len() < self.settings.open_after as usize {
                            return Decision::Ladder;
                        }
                    }
                }
                *state = State::Open {
                    cause,
                    since: now,
                    failed_probes: 0,
                    next_probe: later(now, self.settings.probe_wait(0)),
                    probing: false,
                };
                self.series.opened(cause);
                Decision::Wait { opened: true }
            }
            State::Open {
                cause: open_cause,
                failed_probes,
                next_probe,
                probing,
                ..
            } => {
                if probe {
                    *failed_probes = failed_probes.saturating_add(1);
                    *next_probe = later(now, self.settings.probe_wait(*failed_probes));
                    *probing = false;
                    if *open_cause != cause {
                        // Show what fails now (a fixed network, a wrong credential).
                        self.series.closed(*open_cause);
                        self.series.opened(cause);
                        *open_cause = cause;
                    }
                }
                Decision::Wait { opened: false }
            }
        }
    }

    /// The probe ended without an answer to judge (its task was cancelled):
    /// the next caller may probe.
    pub fn probe_abandoned(&self) {
        if let State::Open { probing, .. } = &mut *lock(&self.state) {
            *probing = false;
        }
        self.changed.notify_waiters();
    }

    /// Whether the breaker is open.
    pub fn is_open(&self) -> bool {
        matches!(*lock(&self.state), State::Open { .. })
    }
}

#[cfg(test)]
mod tests;
