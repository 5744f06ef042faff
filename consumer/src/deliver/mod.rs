//! Handlers turn an event into a side effect. The one shipped is HTTP
//! delivery: POST the original body to the downstream configured for the
//! event's source and classify the answer.
//!
//! | answer                                   | outcome                                  |
//! |------------------------------------------|------------------------------------------|
//! | 2xx                                      | delivered                                |
//! | 429 or 503 with `Retry-After`            | backpressure: hold this downstream, retry without using an attempt |
//! | no answer (refused, reset, TLS, timeout), 408, 429, 5xx, 401/403/407, 3xx, 404 | a destination failure: its [`breaker`] judges; closed, next retry stage; open, the event waits for the destination (no attempt used) |
//! | other 4xx, no downstream configured      | permanent: dead-letter topic at once     |
//!
//! Each destination has its own delivery control ([`downstream`]): requests
//! in flight, an optional rate, holds and a breaker. An event waits for its
//! destination before it takes one of its partition's delivery slots, so a
//! held, broken or slow destination never takes slots from another.

mod answer;
pub mod breaker;
pub mod downstream;
mod exchange;
pub mod oauth;
pub mod outgoing;
pub mod secret;
pub mod tls;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper_tls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use switchboard_proto::Envelope;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::metrics::DEFAULT_DESTINATION;
use answer::{exchange_outcome, Answer};
pub use answer::{hold_wait, parse_retry_after, HOLD_FLOOR, HOLD_FLOOR_CAP};
use breaker::{Blame, Verdict};
use downstream::{Destination, DestinationSettings};

/// Request header carrying the event id, so a downstream can dedupe too.
pub const X_EVENT_ID: &str = "x-event-id";
/// Request header carrying the attempt number (1 for the first).
pub const X_ATTEMPT: &str = "x-attempt";
/// Request header carrying the source name.
pub const X_SOURCE: &str = "x-source";

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Delivered,
    /// Worth another attempt later.
    Retryable(String),
    /// Will never work: dead-letter it now.
    Permanent(String),
}

impl Outcome {
    /// Whether a later attempt could succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Outcome::Retryable(_))
    }
}

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

/// Settings of [`HttpDelivery`].
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
    /// Longest a single event keeps waiting on a downstream's `Retry-After`
    /// before the wait counts as a failed attempt (an open breaker holds
    /// without this limit).
    pub max_hold: Duration,
}

/// The HTTP client of deliveries and token fetches.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// An HTTP(S) client connecting within `timeout`, with `tls` when given
/// (the system's roots otherwise).
fn client(timeout: Duration, tls: Option<native_tls::TlsConnector>) -> HttpClient {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    http.set_connect_timeout(Some(timeout));
    let connector = match tls {
        Some(tls) => HttpsConnector::from((http, tls.into())),
        None => HttpsConnector::new_with_connector(http),
    };
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector)
}

/// POSTs events to their downstream.
pub struct HttpDelivery {
    client: HttpClient,
    default: Option<Destination>,
    by_source: BTreeMap<String, Destination>,
    timeout: Duration,
    max_hold: Duration,
}

impl HttpDelivery {
    /// One client (a connection pool) shared by every downstream without
    /// TLS settings of its own, and one for each with.
    pub fn new(settings: HttpSettings) -> Self {
        let shared = client(settings.timeout, None);
        let downstream = |name: &str, mut destination: DestinationSettings| {
            let client = match destination.tls.take() {
                Some(tls) => client(settings.timeout, Some(tls)),
                None => shared.clone(),
            };
            Destination::new(name, destination, client)
        };
        Self {
            default: settings
                .default
                .map(|destination| downstream(DEFAULT_DESTINATION, destination)),
            by_source: settings
                .sources
                .into_iter()
                .map(|(source, destination)| {
                    let built = downstream(&source, destination);
                    (source, built)
                })
                .collect(),
            client: shared,
            timeout: settings.timeout,
            max_hold: settings.max_hold,
        }
    }

    fn route(&self, source: &str) -> Option<&Destination> {
        self.by_source.get(source).or(self.default.as_ref())
    }
}

impl Handler for HttpDelivery {
    async fn handle(&self, event: &Envelope, attempt: u32, slots: &Semaphore) -> Outcome {
        let Some(target) = self.route(&event.source) else {
            return Outcome::Permanent(format!(
                "no downstream URL configured for source {:?}",
                event.source
            ));
        };
        let mut first_held: Option<Instant> = None;
        loop {
            let destination_slot = target.admit().await;
            let Ok(partition_slot) = slots.acquire().await else {
                return Outcome::Retryable("the partition's delivery slots are closed".into());
            };
            let started = Instant::now();
            let (answer, class) =
                exchange::exchange(&self.client, self.timeout, target, event, attempt).await;
            drop(partition_slot);
            target.record_answer(class);
            crate::metrics::delivery_finished(started.elapsed(), exchange_outcome(&answer));
            let (wait, error) = match answer {
                Answer::Done(outcome) => {
                    target.answered();
                    if let Some(open_for) = target.worked(destination_slot) {
                        info!(downstream = %target.uri(), open_for = ?open_for, "downstream answers again; its breaker closed");
                    }
                    return outcome;
                }
                Answer::DestinationFailed { cause, error, sent } => {
                    let blame = match (sent, attempt) {
                        (false, _) => Blame::NotTheEvent,
                        (true, 1) => Blame::Unknown,
                        (true, _) => Blame::EventSuspect,
                    };
                    match target.failed(destination_slot, &event.event_id, cause, blame) {
                        Verdict::Ladder => return Outcome::Retryable(error),
                        Verdict::Held { opened } => {
                            if opened {
                                warn!(downstream = %target.uri(), event_id = event.event_id, cause = cause.code(), %error, "downstream is failing, not just this event; its breaker opened and deliveries to it wait (no attempt used) until a probe succeeds");
                            }
                            continue;
                        }
                    }
                }
                Answer::Backpressure { wait, error } => {
                    target.worked(destination_slot);
                    (wait, error)
                }
            };
            let held = first_held.get_or_insert_with(Instant::now).elapsed();
            if held >= self.max_hold {
                return Outcome::Retryable(format!(
                    "{error} (held {held:?} in all, more than the {:?} limit)",
                    self.max_hold
                ));
            }
            if let Some(hold) = target.back_off(wait) {
                warn!(downstream = %target.uri(), event_id = event.event_id, hold = ?hold, %error, "downstream asked to back off; holding deliveries to it");
            }
        }
    }
}
