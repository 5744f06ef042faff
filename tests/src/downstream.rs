//! A real HTTP server standing in for the customer's downstream service. It
//! answers from a per-event script (then a default status), optionally after
//! a delay, and records every request it saw.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::harness::http::Server;

/// One scripted answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Answer {
    pub status: u16,
    pub retry_after_secs: Option<u64>,
}

impl Answer {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            retry_after_secs: None,
        }
    }
}

/// A request the downstream received, and what it answered.
#[derive(Debug, Clone)]
pub struct Seen {
    pub event_id: String,
    pub attempt: u32,
    pub source: String,
    pub traceparent: Option<String>,
    pub content_type: String,
    pub body: Bytes,
    /// When the request arrived, unix milliseconds.
    pub at_ms: i64,
    /// The same, unix microseconds (the latency benches).
    pub at_us: i64,
    pub answered: u16,
    /// How long the answer was held back.
    pub delay: Duration,
    /// Every request header.
    pub headers: http::HeaderMap,
}

/// Judges a request's `Authorization` header (absent: `None`).
pub type Authorization = Arc<dyn Fn(Option<&str>) -> bool + Send + Sync>;

#[derive(Default)]
struct Behaviour {
    default: Answer,
    delay: Duration,
    script: HashMap<String, VecDeque<Answer>>,
    /// When set, a request whose `Authorization` this refuses is answered 401.
    authorization: Option<Authorization>,
    seen: Vec<Seen>,
}

/// The running server; stops when dropped.
pub struct Downstream {
    server: Server,
    behaviour: Arc<Mutex<Behaviour>>,
}

pub fn unix_ms() -> i64 {
    unix_us() / 1000
}

/// Now, unix microseconds (the latency benches compare it across processes).
pub fn unix_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl Downstream {
    /// Starts a downstream answering `default_status` after `delay`.
    pub async fn start(default_status: u16, delay: Duration) -> Downstream {
        let behaviour = Arc::new(Mutex::new(Behaviour {
            default: Answer::status(default_status),
            delay,
            ..Behaviour::default()
        }));
        let answering = behaviour.clone();
        let server = Server::start(move |request| answer(request, answering.clone())).await;
        Downstream { server, behaviour }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Goes down: stops listening and closes every open connection, so
    /// requests are refused (not answered) until [`Downstream::come_back`].
    pub fn go_down(&self) {
        self.server.go_down();
    }

    /// Listens again on the same address, with what it saw so far.
    pub async fn come_back(&mut self) {
        self.server.come_back().await;
    }

    /// Answers 401 to every request whose `Authorization` is not `expected`.
    pub fn require_authorization(&self, expected: &str) {
        let expected = expected.to_owned();
        self.authorize_with(Arc::new(move |given| given == Some(expected.as_str())));
    }

    /// Answers 401 to every request whose `Authorization` `check` refuses.
    pub fn authorize_with(&self, check: Authorization) {
        self.behaviour.lock().expect("lock").authorization = Some(check);
    }

    pub fn url(&self) -> String {
        format!("http://{}/events", self.server.addr)
    }

    /// Answers the next requests for `event_id` from `answers`, in order.
    pub fn script(&self, event_id: &str, answers: &[Answer]) {
        self.behaviour
            .lock()
            .expect("lock")
            .script
            .insert(event_id.to_owned(), answers.iter().copied().collect());
    }

    /// Holds every answer back for `delay` from now on.
    pub fn set_delay(&self, delay: Duration) {
        self.behaviour.lock().expect("lock").delay = delay;
    }

    pub fn set_default_status(&self, status: u16) {
        self.set_default_answer(Answer::status(status));
    }

    /// Answers every unscripted request with `answer` from now on.
    pub fn set_default_answer(&self, answer: Answer) {
        self.behaviour.lock().expect("lock").default = answer;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.behaviour.lock().expect("lock").seen.clone()
    }

    /// How many requests were answered 2xx, without copying what was seen.
    pub fn success_count(&self) -> usize {
        let behaviour = self.behaviour.lock().expect("lock");
        behaviour
            .seen
            .iter()
            .filter(|seen| (200..300).contains(&seen.answered))
            .count()
    }

    /// Waits until every one of `ids` was answered 2xx, within `within`.
    pub async fn wait_delivered(&self, ids: &[String], within: Duration) {
        crate::harness::eventually("every event delivered", within, || async {
            let successes = self.successes();
            ids.iter()
                .all(|id| successes.contains_key(id))
                .then_some(())
        })
        .await;
    }

    /// How many times each event id was answered 2xx.
    pub fn successes(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for seen in self.seen() {
            if (200..300).contains(&seen.answered) {
                *counts.entry(seen.event_id).or_insert(0) += 1;
            }
        }
        counts
    }
}

async fn answer(
    request: Request<hyper::body::Incoming>,
    behaviour: Arc<Mutex<Behaviour>>,
) -> Response<Full<Bytes>> {
    let at_us = unix_us();
    let at_ms = at_us / 1000;
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let event_id = header("x-event-id").unwrap_or_default();
    let attempt = header("x-attempt")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let source = header("x-source").unwrap_or_default();
    let traceparent = header("traceparent");
    let content_type = header("content-type").unwrap_or_default();
    let headers = request.headers().clone();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let (reply, delay) = {
        let mut behaviour = behaviour.lock().expect("lock");
        let default = behaviour.default;
        let given = headers.get("authorization").and_then(|v| v.to_str().ok());
        let refused = behaviour
            .authorization
            .as_ref()
            .is_some_and(|check| !check(given));
        let reply = if refused {
            Answer::status(401)
        } else {
            behaviour
                .script
                .get_mut(&event_id)
                .and_then(VecDeque::pop_front)
                .unwrap_or(default)
        };
        (reply, behaviour.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    behaviour.lock().expect("lock").seen.push(Seen {
        event_id,
        attempt,
        source,
        traceparent,
        content_type,
        body,
        at_ms,
        at_us,
        answered: reply.status,
        delay,
        headers,
    });
    let mut response = Response::new(Full::new(Bytes::from(format!("scripted {}", reply.status))));
    *response.status_mut() = StatusCode::from_u16(reply.status).expect("status");
    if let Some(secs) = reply.retry_after_secs {
        response
            .headers_mut()
            .insert("retry-after", secs.to_string().parse().expect("value"));
    }
    response
}
