//! Handlers turn an event into a side effect. The one shipped is HTTP
//! delivery: POST the original body to the downstream configured for the
//! event's source and classify the answer.
//!
//! | answer                                   | outcome                                  |
//! |------------------------------------------|------------------------------------------|
//! | 2xx                                      | delivered                                |
//! | 429 or 503 with `Retry-After`            | backpressure: hold this downstream, retry without using an attempt |
//! | connect error, timeout, 408, 429, 5xx    | retryable: next retry stage              |
//! | other 3xx/4xx, no downstream configured  | permanent: dead-letter topic at once     |
//!
//! Each destination has its own delivery control ([`downstream`]): requests
//! in flight, an optional rate, and holds. An event waits for its destination
//! before it takes one of its partition's delivery slots, so a held or slow
//! destination never takes slots from another.

pub mod downstream;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_tls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use switchboard_proto::Envelope;
use tokio::sync::Semaphore;
use tracing::warn;

use crate::metrics::{AnswerClass, ExchangeOutcome, DEFAULT_DESTINATION};
use downstream::{Downstream, Limits};

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

/// The shortest hold, whatever the downstream asked for: `Retry-After: 0`
/// or a date in the past must not turn into a tight loop of requests.
pub const HOLD_FLOOR: Duration = Duration::from_secs(1);
/// The longest floor consecutive holds grow to.
pub const HOLD_FLOOR_CAP: Duration = Duration::from_secs(60);

/// How long to hold after the `holds`-th consecutive backpressure answer
/// (1 for the first) that asked for `asked`: at least a floor that doubles
/// with each hold (1 s, 2 s, 4 s … up to [`HOLD_FLOOR_CAP`]).
pub fn hold_wait(asked: Duration, holds: u32) -> Duration {
    let doublings = holds.saturating_sub(1).min(16);
    let floor = HOLD_FLOOR
        .saturating_mul(1u32 << doublings)
        .min(HOLD_FLOOR_CAP);
    asked.max(floor)
}

/// Settings of [`HttpDelivery`].
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// URL for sources without their own.
    pub default_url: Option<Uri>,
    /// Per-source URLs.
    pub source_urls: BTreeMap<String, Uri>,
    /// Whole-request timeout (connect, send, answer).
    pub timeout: Duration,
    /// Longest a single event keeps waiting on a downstream's `Retry-After`
    /// before the wait counts as a failed attempt.
    pub max_hold: Duration,
    /// Limits of every destination without its own.
    pub limits: Limits,
    /// Per-source limits.
    pub source_limits: BTreeMap<String, Limits>,
}

/// POSTs events to their downstream.
pub struct HttpDelivery {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    default: Option<Downstream>,
    by_source: BTreeMap<String, Downstream>,
    timeout: Duration,
    max_hold: Duration,
}

/// How one HTTP exchange ended.
enum Answer {
    Done(Outcome),
    Backpressure { wait: Duration, error: String },
}

impl HttpDelivery {
    /// A client with a connection pool shared by every downstream.
    pub fn new(settings: HttpSettings) -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        http.set_connect_timeout(Some(settings.timeout));
        let connector = HttpsConnector::new_with_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Self {
            client,
            default: settings
                .default_url
                .map(|uri| Downstream::new(DEFAULT_DESTINATION, uri, settings.limits)),
            by_source: settings
                .source_urls
                .into_iter()
                .map(|(source, uri)| {
                    let limits = settings
                        .source_limits
                        .get(&source)
                        .copied()
                        .unwrap_or(settings.limits);
                    let downstream = Downstream::new(&source, uri, limits);
                    (source, downstream)
                })
                .collect(),
            timeout: settings.timeout,
            max_hold: settings.max_hold,
        }
    }

    fn route(&self, source: &str) -> Option<&Downstream> {
        self.by_source.get(source).or(self.default.as_ref())
    }

    async fn exchange(
        &self,
        target: &Downstream,
        event: &Envelope,
        attempt: u32,
    ) -> (Answer, AnswerClass) {
        let content_type = if event.content_type.is_empty() {
            "application/json"
        } else {
            &event.content_type
        };
        let mut request = Request::post(target.uri().clone())
            .header(CONTENT_TYPE, content_type)
            .header(
                USER_AGENT,
                concat!("switchboard-consumer/", env!("CARGO_PKG_VERSION")),
            )
            .header(X_EVENT_ID, &event.event_id)
            .header(X_ATTEMPT, attempt)
            .header(X_SOURCE, &event.source);
        if !event.traceparent.is_empty() {
            request = request.header("traceparent", &event.traceparent);
            if !event.tracestate.is_empty() {
                request = request.header("tracestate", &event.tracestate);
            }
        }
        let request = match request.body(Full::new(event.body.clone())) {
            Ok(request) => request,
            Err(error) => {
                return (
                    Answer::Done(Outcome::Permanent(format!(
                        "cannot build the request (bad header value in the envelope?): {error}"
                    ))),
                    AnswerClass::NoAnswer,
                )
            }
        };
        let call = async {
            let response = self.client.request(request).await?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            let mut body = response.into_body();
            let mut snippet = Vec::new();
            // Read the whole answer so the connection can be reused, keeping
            // the start of an error body for the error chain.
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame?.into_data() {
                    if snippet.len() < 200 {
                        snippet.extend_from_slice(&data[..data.len().min(200 - snippet.len())]);
                    }
                }
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, retry_after, snippet))
        };
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => (
                Answer::Done(Outcome::Retryable(format!(
                    "no answer within {:?}",
                    self.timeout
                ))),
                AnswerClass::NoAnswer,
            ),
            Ok(Err(error)) => (
                Answer::Done(Outcome::Retryable(format!(
                    "request failed: {}",
                    error_chain(&*error)
                ))),
                AnswerClass::NoAnswer,
            ),
            Ok(Ok((status, retry_after, snippet))) => (
                classify(status, retry_after, &snippet),
                AnswerClass::of_status(status.as_u16()),
            ),
        }
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
            let place = target.admit().await;
            let Ok(slot) = slots.acquire().await else {
                return Outcome::Retryable("the partition's delivery slots are closed".into());
            };
            let started = Instant::now();
            let (answer, class) = self.exchange(target, event, attempt).await;
            drop((slot, place));
            target.record_answer(class);
            crate::metrics::delivery_finished(started.elapsed(), exchange_outcome(&answer));
            let (wait, error) = match answer {
                Answer::Done(outcome) => {
                    target.answered();
                    return outcome;
                }
                Answer::Backpressure { wait, error } => (wait, error),
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

fn exchange_outcome(answer: &Answer) -> ExchangeOutcome {
    match answer {
        Answer::Done(Outcome::Delivered) => ExchangeOutcome::Delivered,
        Answer::Done(Outcome::Retryable(_)) => ExchangeOutcome::Retryable,
        Answer::Done(Outcome::Permanent(_)) => ExchangeOutcome::Permanent,
        Answer::Backpressure { .. } => ExchangeOutcome::Backpressure,
    }
}

fn classify(status: StatusCode, retry_after: Option<Duration>, snippet: &[u8]) -> Answer {
    if status.is_success() {
        return Answer::Done(Outcome::Delivered);
    }
    let error = if snippet.is_empty() {
        format!("HTTP {}", status.as_u16())
    } else {
        format!(
            "HTTP {}: {}",
            status.as_u16(),
            String::from_utf8_lossy(snippet).trim()
        )
    };
    match (status.as_u16(), retry_after) {
        (429 | 503, Some(wait)) => Answer::Backpressure { wait, error },
        (408 | 429, _) | (500..=599, _) => Answer::Done(Outcome::Retryable(error)),
        _ => Answer::Done(Outcome::Permanent(error)),
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date, relative to `now`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: u16, retry_after: Option<u64>) -> Result<Outcome, Duration> {
        let status = StatusCode::from_u16(status).expect("valid");
        match classify(status, retry_after.map(Duration::from_secs), b"") {
            Answer::Done(outcome) => Ok(outcome),
            Answer::Backpressure { wait, .. } => Err(wait),
        }
    }

    #[test]
    fn answers_are_classified_as_documented() {
        assert_eq!(outcome(200, None), Ok(Outcome::Delivered));
        assert_eq!(outcome(204, None), Ok(Outcome::Delivered));
        for retryable in [408, 429, 500, 502, 503, 504] {
            assert!(
                outcome(retryable, None).is_ok_and(|o| o.is_retryable()),
                "{retryable}"
            );
        }
        for permanent in [301, 400, 401, 404, 410, 422] {
            assert!(
                matches!(outcome(permanent, None), Ok(Outcome::Permanent(_))),
                "{permanent}"
            );
        }
        assert_eq!(outcome(429, Some(3)), Err(Duration::from_secs(3)));
        assert_eq!(outcome(503, Some(1)), Err(Duration::from_secs(1)));
        assert!(
            matches!(outcome(400, Some(3)), Ok(Outcome::Permanent(_))),
            "Retry-After on a 400 is not backpressure"
        );
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn holds_have_a_floor_that_doubles_and_never_overflow() {
        assert_eq!(hold_wait(Duration::ZERO, 1), Duration::from_secs(1));
        assert_eq!(hold_wait(Duration::ZERO, 2), Duration::from_secs(2));
        assert_eq!(hold_wait(Duration::ZERO, 4), Duration::from_secs(8));
        assert_eq!(hold_wait(Duration::ZERO, 40), HOLD_FLOOR_CAP);
        assert_eq!(
            hold_wait(Duration::from_secs(30), 1),
            Duration::from_secs(30)
        );
        assert_eq!(hold_wait(Duration::MAX, u32::MAX), Duration::MAX);
        let far = parse_retry_after(&u64::MAX.to_string(), SystemTime::now()).expect("parsed");
        assert!(Duration::ZERO.saturating_add(far) >= far);
    }
}
