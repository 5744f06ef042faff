//! One destination: where a source's events go, and the delivery control it
//! gets across all partitions. [`Destination::deliver`] is its one door: it
//! admits a request (at most `max_in_flight` at once, at most `rate` per
//! second when set, none while the destination asked to be left alone (a
//! **hold**, from `Retry-After`), none but a probe while its
//! [`breaker::Breaker`] is open), makes the exchange, and settles the answer:
//! the event's outcome, or a wait for the destination (a hold, an open
//! breaker) without using an attempt. Events waiting for a destination wait
//! here, holding no delivery slot of their partition, so a held, broken or
//! throttled destination never slows another.
//!
//! | answer                                   | outcome                                  |
//! |------------------------------------------|------------------------------------------|
//! | 2xx                                      | delivered                                |
//! | 429 or 503 with `Retry-After`            | backpressure: hold this destination, retry without using an attempt |
//! | no answer (refused, reset, TLS, timeout), 408, 429, 5xx, 401/403/407, 3xx, 404 | a destination failure: its breaker judges; closed, next retry stage; open, the event waits for the destination (no attempt used) |
//! | other 4xx, no destination configured     | permanent: dead-letter topic at once     |
//!
//! What its requests carry besides the event (headers, credentials, a
//! signature) is [`crate::credentials`]'.

mod admission;
mod answer;
pub mod breaker;
mod exchange;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Uri;
use switchboard_proto::Envelope;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::credentials::Credentials;
use crate::deliver::Handler;
use crate::http::HttpClient;
use crate::metrics::DEFAULT_DESTINATION;
use admission::{Admission, Slot};
use answer::{exchange_outcome, Answer};
pub use answer::{hold_wait, parse_retry_after, Outcome, HOLD_FLOOR, HOLD_FLOOR_CAP};
use breaker::{Blame, BreakerSettings, Decision};
pub use exchange::{X_ATTEMPT, X_EVENT_ID, X_SOURCE};

/// One destination as configured: where, its limits, what its requests
/// carry and when its breaker opens.
#[derive(Debug, Clone)]
pub struct DestinationSettings {
    /// Where requests go.
    pub uri: Uri,
    /// Its limits.
    pub limits: Limits,
    /// What its requests carry (headers, credentials, signature).
    pub credentials: Arc<Credentials>,
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
            self.credentials.auth_kind(),
            self.credentials.signing_secrets(),
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

/// One destination (see the module docs).
#[derive(Debug)]
pub struct Destination {
    name: String,
    uri: Uri,
    /// The client that reaches it: its own when it has its own TLS.
    client: HttpClient,
    /// The client that fetches its OAuth2 tokens (the system's roots).
    tokens: HttpClient,
    timeout: Duration,
    max_hold: Duration,
    admission: Admission,
    credentials: Arc<Credentials>,
}

/// How long a destination's requests may take and its holds may last.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    /// Whole-request timeout (connect, send, answer).
    pub timeout: Duration,
    /// Longest one event keeps waiting on the destination's `Retry-After`
    /// before the wait counts as a failed attempt (an open breaker makes it
    /// wait without this limit).
    pub max_hold: Duration,
}

/// What one answer means once settled.
enum Settled {
    /// The event's outcome.
    Done(Outcome),
    /// The breaker is open: wait for the destination and try again.
    Again,
    /// The destination asked to be left alone for `wait`.
    Hold { wait: Duration, error: String },
}

impl Destination {
    /// The destination `name` (its `destination` label) as `settings` say:
    /// reached over `shared` unless it has its own TLS, its tokens fetched
    /// over `shared`, as patient as `patience`.
    pub fn new(
        name: &str,
        mut settings: DestinationSettings,
        shared: &HttpClient,
        patience: Patience,
    ) -> Self {
        let client = match settings.tls.take() {
            Some(tls) => crate::http::client(patience.timeout, Some(tls)),
            None => shared.clone(),
        };
        Self {
            name: name.to_owned(),
            uri: settings.uri,
            client,
            tokens: shared.clone(),
            timeout: patience.timeout,
            max_hold: patience.max_hold,
            admission: Admission::new(name, settings.limits, settings.breaker),
            credentials: settings.credentials,
        }
    }

    /// Its `destination` label.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Delivers `event` (attempt `attempt`), taking one of `slots` (its
    /// partition's delivery slots) only while the request is out: waits for
    /// a hold or an open breaker without using an attempt, up to `max_hold`
    /// for holds.
    pub async fn deliver(&self, event: &Envelope, attempt: u32, slots: &Semaphore) -> Outcome {
        let mut first_held: Option<Instant> = None;
        loop {
            let slot = self.admission.admit().await;
            let Ok(partition_slot) = slots.acquire().await else {
                return Outcome::Retryable("the partition's delivery slots are closed".into());
            };
            let started = Instant::now();
            let (answer, class) = exchange::exchange(self, event, attempt).await;
            drop(partition_slot);
            self.admission.series().answered(class);
            crate::metrics::delivery_finished(started.elapsed(), exchange_outcome(&answer));
            let (wait, error) = match self.settle(answer, slot, &event.event_id, attempt) {
                Settled::Done(outcome) => return outcome,
                Settled::Again => continue,
                Settled::Hold { wait, error } => (wait, error),
            };
            let held = first_held.get_or_insert_with(Instant::now).elapsed();
            if held >= self.max_hold {
                return Outcome::Retryable(format!(
                    "{error} (held {held:?} in all, more than the {:?} limit)",
                    self.max_hold
                ));
            }
            if let Some(hold) = self.admission.back_off(wait) {
                warn!(destination = %self.name, uri = %self.uri, event_id = event.event_id, hold = ?hold, %error, "destination asked to back off; holding deliveries to it");
            }
        }
    }

    /// What `answer` to `slot`'s request (for `event_id`, attempt
    /// `attempt`) means, told to the hold and the breaker.
    fn settle(&self, answer: Answer, slot: Slot<'_>, event_id: &str, attempt: u32) -> Settled {
        match answer {
            Answer::Done(outcome) => {
                self.admission.answered();
                if let Some(open_for) = self.admission.worked(slot) {
                    info!(destination = %self.name, uri = %self.uri, open_for = ?open_for, "destination answers again; its breaker closed");
                }
                Settled::Done(outcome)
            }
            Answer::DestinationFailed { cause, error, sent } => {
                // Whose fault it may be: a request that never went out is
                // the destination's; a retry's failure says little about it.
                let decision = self.admission.failed(
                    slot,
                    event_id,
                    cause,
                    match (sent, attempt) {
                        (false, _) => Blame::NotTheEvent,
                        (true, 1) => Blame::Unknown,
                        (true, _) => Blame::EventSuspect,
                    },
                );
                match decision {
                    Decision::Ladder => Settled::Done(Outcome::Retryable(error)),
                    Decision::Wait { opened } => {
                        if opened {
                            warn!(destination = %self.name, uri = %self.uri, event_id, cause = cause.code(), %error, "destination is failing, not just this event; its breaker opened and deliveries to it wait (no attempt used) until a probe succeeds");
                        }
                        Settled::Again
                    }
                }
            }
            Answer::Backpressure { wait, error } => {
                self.admission.worked(slot);
                Settled::Hold { wait, error }
            }
        }
    }
}

/// Settings of [`Destinations`].
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The destination of sources without their own.
    pub default: Option<DestinationSettings>,
    /// The sources with a destination of their own.
    pub sources: BTreeMap<String, DestinationSettings>,
    /// Which events each destination takes.
    pub filters: crate::filter::Filters,
    /// Whole-request timeout (connect, send, answer).
    pub timeout: Duration,
    /// Longest a single event keeps waiting on a destination's `Retry-After`
    /// before the wait counts as a failed attempt (an open breaker holds
    /// without this limit).
    pub max_hold: Duration,
}

/// Every destination, by source: POSTs each event to its source's destination.
pub struct Destinations {
    default: Option<Destination>,
    by_source: BTreeMap<String, Destination>,
}

impl Destinations {
    /// One client (a connection pool) shared by every destination without
    /// TLS settings of its own (and by every token fetch), and one for each
    /// with.
    pub fn new(settings: HttpSettings) -> Self {
        let shared = crate::http::client(settings.timeout, None);
        let patience = Patience {
            timeout: settings.timeout,
            max_hold: settings.max_hold,
        };
        let destination =
            |name: &str, settings| Destination::new(name, settings, &shared, patience);
        Self {
            default: settings
                .default
                .map(|default| destination(DEFAULT_DESTINATION, default)),
            by_source: settings
                .sources
                .into_iter()
                .map(|(source, own)| {
                    let built = destination(&source, own);
                    (source, built)
                })
                .collect(),
        }
    }

    fn route(&self, source: &str) -> Option<&Destination> {
        self.by_source.get(source).or(self.default.as_ref())
    }
}

impl Handler for Destinations {
    async fn handle(&self, event: &Envelope, attempt: u32, slots: &Semaphore) -> Outcome {
        match self.route(&event.source) {
            Some(destination) => destination.deliver(event, attempt, slots).await,
            None => Outcome::Permanent(format!(
                "no destination URL configured for source {:?}",
                event.source
            )),
        }
    }
}
