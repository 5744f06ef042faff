//! Senders that behave as EventBridge does: each event is posted until it
//! gets a `202`, the same id every time, each try cut off at the sender's
//! deadline; and the ledger of what they saw, to judge a fault by: every
//! answer with its time, status and `Retry-After`, and the ids accepted.
//!
//! The load is bounded: a fixed rate for a fixed time, and each sender gives
//! up after [`GIVE_UP`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use http::StatusCode;

use crate::harness::HttpClient;

/// A sender waits this long for an answer (EventBridge API destinations: 5 s).
pub const SENDER_DEADLINE: Duration = Duration::from_secs(5);
/// A sender tries again this long after a refusal or a timeout.
const RETRY_PAUSE: Duration = Duration::from_millis(300);
/// A sender gives up on an event after this long.
pub const GIVE_UP: Duration = Duration::from_secs(120);

/// One answer (or its absence) a sender saw.
#[derive(Debug, Clone)]
pub struct Answered {
    /// When the request went out.
    pub sent: Instant,
    /// How long the answer took (the deadline when none came).
    pub took: Duration,
    /// The status; `None`: no answer within the deadline, or no connection.
    pub status: Option<StatusCode>,
    /// Whether the answer carried `Retry-After`.
    pub retry_after: bool,
}

impl Answered {
    /// When the answer arrived.
    pub fn at(&self) -> Instant {
        self.sent + self.took
    }
}

#[derive(Default)]
struct Shared {
    accepted: Mutex<HashMap<String, Instant>>,
    answers: Mutex<Vec<Answered>>,
    offered: AtomicUsize,
    stop: AtomicBool,
}

/// A running load: `rate` new events a second to one webhook URL.
pub struct Senders {
    shared: Arc<Shared>,
    url: Arc<RwLock<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Senders {
    /// Starts offering events `prefix-0`, `prefix-1`, … to `url` (a
    /// gateway's `/webhooks/<source>`), `rate` a second, for at most `span`.
    pub fn start(url: &str, prefix: &str, rate: u32, span: Duration) -> Senders {
        let shared = Arc::new(Shared::default());
        let url = Arc::new(RwLock::new(url.to_owned()));
        let (load_shared, load_url, prefix) = (shared.clone(), url.clone(), prefix.to_owned());
        let task = tokio::spawn(async move {
            let client = HttpClient::new();
            let mut senders = tokio::task::JoinSet::new();
            let mut tick = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
            let until = Instant::now() + span;
            let mut n = 0u64;
            while !load_shared.stop.load(Ordering::SeqCst) && Instant::now() < until {
                tick.tick().await;
                let id = format!("{prefix}-{n}");
                n += 1;
                load_shared.offered.fetch_add(1, Ordering::SeqCst);
                let (client, url, shared) = (client.clone(), load_url.clone(), load_shared.clone());
                senders.spawn(send_until_accepted(client, url, shared, id));
            }
            while senders.join_next().await.is_some() {}
        });
        Senders { shared, url, task }
    }

    /// Points the senders (new tries included) at another gateway.
    pub fn redirect(&self, url: &str) {
        *self.url.write().expect("url") = url.to_owned();
    }

    /// Stops offering new events and waits until every event offered was
    /// accepted or given up; returns the ledger.
    pub async fn finish(self) -> Ledger {
        self.shared.stop.store(true, Ordering::SeqCst);
        let Senders { shared, task, .. } = self;
        let _ = task.await;
        let ledger = Ledger {
            offered: shared.offered.load(Ordering::SeqCst),
            accepted: shared.accepted.lock().expect("lock").clone(),
            answers: shared.answers.lock().expect("lock").clone(),
        };
        ledger
    }

    /// What the senders saw so far.
    pub fn ledger(&self) -> Ledger {
        Ledger {
            offered: self.shared.offered.load(Ordering::SeqCst),
            accepted: self.shared.accepted.lock().expect("lock").clone(),
            answers: self.shared.answers.lock().expect("lock").clone(),
        }
    }

    /// How many events were accepted so far.
    pub fn accepted_count(&self) -> usize {
        self.shared.accepted.lock().expect("lock").len()
    }
}

async fn send_until_accepted(
    client: HttpClient,
    url: Arc<RwLock<String>>,
    shared: Arc<Shared>,
    id: String,
) {
    let body = format!(r#"{{"id":"{id}","detail":{{"kind":"cluster"}}}}"#);
    let give_up = Instant::now() + GIVE_UP;
    while Instant::now() < give_up {
        let target = url.read().expect("url").clone();
        let sent = Instant::now();
        let reply = tokio::time::timeout(
            SENDER_DEADLINE,
            client.post_json(&target, body.clone(), &[]),
        )
        .await;
        let (status, retry_after) = match reply {
            Ok(Ok(reply)) => (
                Some(reply.status),
                reply.headers.contains_key(http::header::RETRY_AFTER),
            ),
            _ => (None, false),
        };
        shared.answers.lock().expect("lock").push(Answered {
            sent,
            took: sent.elapsed(),
            status,
            retry_after,
        });
        if status == Some(StatusCode::ACCEPTED) {
            shared
                .accepted
                .lock()
                .expect("lock")
                .insert(id, Instant::now());
            return;
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

/// What the senders saw.
#[derive(Debug, Clone)]
pub struct Ledger {
    /// Events offered.
    pub offered: usize,
    /// Ids answered `202`, with when.
    pub accepted: HashMap<String, Instant>,
    /// Every answer, in no particular order.
    pub answers: Vec<Answered>,
}

impl Ledger {
    /// The longest time within `[from, to]` with no `202` arriving, and the
    /// answers other than `202` that arrived within `[from, to]`.
    pub fn longest_without_202(&self, from: Instant, to: Instant) -> (Duration, usize) {
        let mut accepted: Vec<Instant> = self
            .answers
            .iter()
            .filter(|a| a.status == Some(StatusCode::ACCEPTED))
            .map(Answered::at)
            .filter(|at| (from..=to).contains(at))
            .collect();
        accepted.sort();
        let mut longest = Duration::ZERO;
        let mut last = from;
        for at in accepted.iter().copied().chain([to]) {
            longest = longest.max(at.saturating_duration_since(last));
            last = at;
        }
        let refused = self
            .answers
            .iter()
            .filter(|a| a.status != Some(StatusCode::ACCEPTED))
            .filter(|a| (from..=to).contains(&a.at()))
            .count();
        (longest, refused)
    }

    /// Answers arriving within `[from, to]`.
    pub fn answers_within(&self, from: Instant, to: Instant) -> Vec<&Answered> {
        self.answers
            .iter()
            .filter(|a| (from..=to).contains(&a.at()))
            .collect()
    }

    /// The first `202` arriving at or after `from`.
    pub fn first_202_after(&self, from: Instant) -> Option<Instant> {
        self.answers
            .iter()
            .filter(|a| a.status == Some(StatusCode::ACCEPTED))
            .map(Answered::at)
            .filter(|at| *at >= from)
            .min()
    }

    /// Asserts the promise: every id accepted is delivered or dead-lettered;
    /// nothing is delivered that was never offered. Returns how many ids
    /// were delivered more than once.
    pub fn assert_nothing_lost(
        &self,
        what: &str,
        delivered: &HashMap<String, usize>,
        dead_lettered: &HashSet<String>,
        prefix: &str,
    ) -> usize {
        let lost: Vec<&String> = self
            .accepted
            .keys()
            .filter(|id| !delivered.contains_key(*id) && !dead_lettered.contains(*id))
            .collect();
        assert!(
            lost.is_empty(),
            "{what}: {} of {} accepted ids neither delivered nor dead-lettered: {:?}",
            lost.len(),
            self.accepted.len(),
            &lost[..lost.len().min(10)]
        );
        let offered_ids = self.offered;
        let unknown: Vec<&String> = delivered
            .keys()
            .filter(|id| id.starts_with(prefix))
            .filter(|id| {
                id.strip_prefix(prefix)
                    .and_then(|n| n.trim_start_matches('-').parse::<usize>().ok())
                    .is_none_or(|n| n >= offered_ids)
            })
            .collect();
        assert!(
            unknown.is_empty(),
            "{what}: delivered but never offered: {unknown:?}"
        );
        delivered
            .iter()
            .filter(|(id, n)| id.starts_with(prefix) && **n > 1)
            .count()
    }
}
