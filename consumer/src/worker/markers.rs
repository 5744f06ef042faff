//! Delivered markers are read off the poll thread. A load can take seconds
//! (a day's window of a busy partition is millions of markers), and inside
//! the assign callback it would stop every partition, close to the liveness
//! limit. Here one loader thread reads, the poll loop keeps turning, and a
//! newly assigned partition starts only once its markers are in.

use std::collections::HashMap;
use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::Notice;
use crate::dedupe::DeliveredSet;
use crate::marker::MarkerLoader;

/// Sets to fill, for the partitions a load makes ready.
struct Request {
    token: u64,
    sets: Vec<(i32, DeliveredSet)>,
}

/// A finished load: the sets it filled. A load that could not read to the
/// end (logged) still makes its partitions ready with what it read, as a
/// start without markers would.
pub(super) struct Loaded {
    /// The load's token (only the newest load of a partition makes it ready).
    pub token: u64,
    /// The sets, filled.
    pub sets: Vec<(i32, DeliveredSet)>,
}

/// The marker loads of this member: the loader thread's inbox, and which
/// load each partition number waits for.
pub(super) struct MarkerLoads {
    requests: Sender<Request>,
    /// The newest load of each partition number still loading: only that
    /// load makes the partitions of that number ready (an older one may
    /// finish later with a stale set).
    newest: HashMap<i32, u64>,
    /// The token of the last load asked for.
    last_token: u64,
}

impl MarkerLoads {
    /// Starts the loader thread; results come back to the loop as notices.
    pub(super) fn start(
        loader: MarkerLoader,
        window: Duration,
        timeout: Duration,
        notices_tx: Sender<Notice>,
    ) -> std::io::Result<Self> {
        let (requests, inbox) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("marker-loader".into())
            .spawn(move || {
                for mut request in inbox {
                    let started = Instant::now();
                    let mut sets: Vec<(i32, &mut DeliveredSet)> =
                        request.sets.iter_mut().map(|(p, s)| (*p, s)).collect();
                    match loader.load(&mut sets, window, timeout) {
                        Ok(read) => info!(partitions = request.sets.len(), markers = read, took = ?started.elapsed(), "dedupe markers loaded"),
                        Err(error) => warn!(%error, "could not read the delivered markers; duplicates of events delivered before this assignment may be delivered again"),
                    }
                    let loaded = Loaded {
                        token: request.token,
                        sets: request.sets,
                    };
                    if notices_tx.send(Notice::MarkersLoaded(loaded)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self {
            requests,
            newest: HashMap::new(),
            last_token: 0,
        })
    }

    /// Asks for `sets` to be filled, for the partition numbers `held` (the
    /// numbers no longer held stop waiting).
    pub(super) fn request(&mut self, held: &[i32], sets: Vec<(i32, DeliveredSet)>) {
        self.last_token += 1;
        let token = self.last_token;
        for number in held {
            self.newest.insert(*number, token);
        }
        self.newest.retain(|number, _| held.contains(number));
        if self.requests.send(Request { token, sets }).is_err() {
            warn!("the marker loader stopped; markers are not loaded");
        }
    }

    /// Whether the load `token` is the newest of partition `number`: then
    /// that number is loaded and its partitions may start.
    pub(super) fn finish(&mut self, number: i32, token: u64) -> bool {
        let newest = self.newest.get(&number) == Some(&token);
        if newest {
            self.newest.remove(&number);
        }
        newest
    }
}
