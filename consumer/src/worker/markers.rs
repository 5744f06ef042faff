//! Delivered markers are read off the poll thread. A load can take seconds
//! (a day's window of a busy partition is millions of markers), and inside
//! the assign callback it would stop every partition, close to the liveness
//! limit. Here one loader thread reads, the poll loop keeps turning, and a
//! newly assigned partition starts only once its markers are in.

use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::LoopEvent;
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

/// The loader thread's inbox.
pub(super) struct MarkerLoading {
    requests: Sender<Request>,
}

impl MarkerLoading {
    /// Starts the loader thread; results come back to the loop as events.
    pub(super) fn start(
        loader: MarkerLoader,
        window: Duration,
        timeout: Duration,
        events: Sender<LoopEvent>,
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
                    if events.send(LoopEvent::MarkersLoaded(loaded)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self { requests })
    }

    /// Asks for `sets` to be filled; the answer carries `token`.
    pub(super) fn request(&self, token: u64, sets: Vec<(i32, DeliveredSet)>) {
        if self.requests.send(Request { token, sets }).is_err() {
            warn!("the marker loader stopped; markers are not loaded");
        }
    }
}
