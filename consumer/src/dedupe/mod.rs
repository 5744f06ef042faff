//! Duplicate suppression by event id, without an external store.
//!
//! # Design
//! Every event a group delivers is recorded as a small marker record on the
//! group's delivered-marker topic (`<main>.<group>.delivered`), keyed by event
//! id, on the *same partition number* as the event (retry and dead-letter hops
//! keep the partition too, so one event id lives on one partition number in
//! every topic). When a consumer is assigned partition `p`, it reads markers of
//! partition `p` written during the last window (default 24 h) into a
//! [`DeliveredSet`]; from then on it adds its own. An event whose id is in the
//! set is a duplicate and is not delivered again.
//!
//! A second copy that arrives while the first is still being delivered waits
//! for the first ([`Claims`]): if the first is delivered the copy is a
//! duplicate; if the first fails over to a retry stage, the copy is tried.
//!
//! # Bounds
//! - Memory: an id is kept as a 128-bit hash with its time, about 48 bytes per
//!   delivered event in the window, per assigned partition: 4.5 M events a day
//!   over a 24 h window is about 216 MB across the whole group, split among
//!   its members.
//! - The window: a duplicate arriving later than the window after the first
//!   delivery is delivered again. The marker topic's retention must be at least
//!   the window.
//! - A crash between the downstream's 2xx and the marker's acknowledgement
//!   (milliseconds) can deliver that event once more; downstreams get
//!   `X-Event-Id` to cover that gap themselves.

mod gate;

pub use gate::{Admission, DedupeGate};

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// An event id as kept in memory: the first 128 bits of its SHA-256.
pub type IdHash = u128;

/// Hashes an event id for the dedupe sets.
pub fn id_hash(event_id: &str) -> IdHash {
    let digest = Sha256::digest(event_id.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(first)
}

/// Ids delivered during the last window, for one partition number.
#[derive(Debug)]
pub struct DeliveredSet {
    window_ms: i64,
    at: HashMap<IdHash, i64>,
    order: VecDeque<(i64, IdHash)>,
    /// Next offset of the marker partition to read when catching up.
    pub next_marker_offset: Option<i64>,
}

impl DeliveredSet {
    /// An empty set keeping ids for `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            window_ms: window.as_millis().min(i64::MAX as u128) as i64,
            at: HashMap::new(),
            order: VecDeque::new(),
            next_marker_offset: None,
        }
    }

    /// Records that `id` was delivered at `at_ms` (unix milliseconds).
    pub fn insert(&mut self, id: IdHash, at_ms: i64) {
        if self.at.insert(id, at_ms).is_none() {
            self.order.push_back((at_ms, id));
        }
    }

    /// Whether `id` was delivered within the window before `now_ms`.
    pub fn contains(&self, id: IdHash, now_ms: i64) -> bool {
        self.at
            .get(&id)
            .is_some_and(|&at| now_ms.saturating_sub(at) <= self.window_ms)
    }

    /// Forgets ids delivered before the window.
    pub fn expire(&mut self, now_ms: i64) {
        while let Some(&(at, id)) = self.order.front() {
            if now_ms.saturating_sub(at) <= self.window_ms {
                break;
            }
            self.order.pop_front();
            if self.at.get(&id) == Some(&at) {
                self.at.remove(&id);
            }
        }
    }

    /// Ids held.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// Whether no id is held.
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }
}

/// The answer to [`Claims::claim_or_park`].
#[derive(Debug, PartialEq, Eq)]
pub enum Claim<T> {
    /// The id was free: go ahead with this copy.
    Claimed(T),
    /// Another copy holds the id; this one waits for it.
    Parked,
}

/// Ids being delivered right now, with the copies that wait for them.
#[derive(Debug)]
pub struct Claims<T> {
    held: HashMap<IdHash, Vec<T>>,
}

impl<T> Default for Claims<T> {
    fn default() -> Self {
        Self {
            held: HashMap::new(),
        }
    }
}

impl<T> Claims<T> {
    /// Claims `id` for delivery and hands `waiter` back; when `id` is already
    /// claimed, `waiter` is parked behind the claim instead.
    pub fn claim_or_park(&mut self, id: IdHash, waiter: T) -> Claim<T> {
        match self.held.get_mut(&id) {
            Some(waiting) => {
                waiting.push(waiter);
                Claim::Parked
            }
            None => {
                self.held.insert(id, Vec::new());
                Claim::Claimed(waiter)
            }
        }
    }

    /// Ends the claim on `id`, returning the copies that waited for it.
    pub fn release(&mut self, id: IdHash) -> Vec<T> {
        self.held.remove(&id).unwrap_or_default()
    }

    /// Keeps only the waiters `keep` selects (after a revocation).
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        for waiting in self.held.values_mut() {
            waiting.retain(&mut keep);
        }
    }

    /// Whether nothing is claimed.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_a_duplicate_only_inside_the_window() {
        let mut set = DeliveredSet::new(Duration::from_secs(60));
        let id = id_hash("evt-1");
        set.insert(id, 1_000);
        assert!(set.contains(id, 1_000));
        assert!(set.contains(id, 61_000));
        assert!(!set.contains(id, 61_001), "older than the window");
        assert!(!set.contains(id_hash("evt-2"), 1_000));
    }

    #[test]
    fn expiry_frees_memory_in_delivery_order() {
        let mut set = DeliveredSet::new(Duration::from_secs(10));
        for i in 0..100 {
            set.insert(id_hash(&format!("evt-{i}")), i * 1_000);
        }
        set.expire(50_000);
        assert_eq!(set.len(), 60, "ids delivered at 40s..99s stay");
        assert!(set.contains(id_hash("evt-40"), 50_000));
        assert!(!set.contains(id_hash("evt-39"), 50_000));
        set.expire(1_000_000);
        assert!(set.is_empty());
    }

    #[test]
    fn a_second_copy_waits_behind_the_first() {
        let mut claims: Claims<&str> = Claims::default();
        let id = id_hash("evt-1");
        assert_eq!(claims.claim_or_park(id, "copy-a"), Claim::Claimed("copy-a"));
        assert_eq!(claims.claim_or_park(id, "copy-b"), Claim::Parked);
        assert_eq!(claims.claim_or_park(id, "copy-c"), Claim::Parked);
        assert_eq!(claims.release(id), vec!["copy-b", "copy-c"]);
        assert!(claims.is_empty());
        assert_eq!(claims.claim_or_park(id, "copy-d"), Claim::Claimed("copy-d"));
    }

    #[test]
    fn different_ids_hash_apart() {
        assert_ne!(id_hash("a"), id_hash("b"));
        assert_eq!(id_hash("a"), id_hash("a"));
    }
}
