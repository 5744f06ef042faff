//! Duplicate suppression by source and event id ([`dedupe_key`]), without an
//! external store.
//!
//! # Design
//! Every event a group delivers is recorded as a small marker record on the
//! group's delivered-marker topic (`<main>.<group>.delivered`), keyed by
//! `source/event-id`, on the *same partition number* as the event (retry and dead-letter hops
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
//! - Memory: an id is kept as a 128-bit hash with its time in one hash table
//!   (no second structure for expiry: [`DeliveredSet::expire`] sweeps the
//!   table), 26-53 bytes per delivered event in the window, measured
//!   (`examples/dedupe_memory.rs`: 1 M ids = 50 MiB resident, 900 k ids =
//!   25 MiB; the table grows by doubling), per assigned partition: 4.5 M
//!   events a day over a 24 h window is 120-240 MB across the whole group,
//!   split among its members.
//! - The window: a duplicate arriving later than the window after the first
//!   delivery is delivered again. The marker topic's retention must be at least
//!   the window.
//! - A crash between the destination's 2xx and the marker's acknowledgement
//!   (milliseconds) can deliver that event once more; destinations get
//!   `X-Event-Id` to cover that gap themselves.

pub mod budget;
mod claims;
pub mod fence;
mod gate;

pub use claims::{Claim, Claims, Owner};
pub use fence::{Fence, Fences};
pub use gate::{Admission, DedupeGate};

use std::collections::HashMap;
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use budget::{base_budget_bytes, memory_budget_bytes, BUDGET_PER_ID_BYTES};

/// An event id as kept in memory: the first 128 bits of its SHA-256.
pub type IdHash = u128;

/// How the id tables hash their keys. An id is SHA-256 bits already, so a
/// fast hash is enough; foldhash's is seeded at random per table, so nobody
/// outside can aim ids at one bucket, which is all SipHash (std's default)
/// was there for, at a fraction of its cost per event.
pub type IdHasher = foldhash::fast::RandomState;

/// What dedupe tells apart: an event id *of one source*. Two sources may
/// use the same ids (sources share the main topic by default), so the key
/// is `source/event-id`; source names cannot contain `/`. It is also the
/// delivered marker's record key, so compaction keeps one marker per key.
pub fn dedupe_key(source: &str, event_id: &str) -> String {
    format!("{source}/{event_id}")
}

/// Hashes a [`dedupe_key`] for the dedupe sets.
pub fn id_hash(key: &str) -> IdHash {
    first_128_bits(Sha256::digest(key.as_bytes()).as_slice())
}

/// [`id_hash`] of [`dedupe_key`]`(source, event_id)`, without building the
/// key (the hot path hashes every record it reads).
pub fn event_id_hash(source: &str, event_id: &str) -> IdHash {
    let digest = Sha256::new()
        .chain_update(source.as_bytes())
        .chain_update(b"/")
        .chain_update(event_id.as_bytes())
        .finalize();
    first_128_bits(digest.as_slice())
}

fn first_128_bits(digest: &[u8]) -> IdHash {
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(first)
}

/// An [`IdHash`] as a table key: two `u64` halves, so a key with its time
/// takes 24 bytes (a `u128` is 16-byte aligned and would pad each entry to 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct StoredId(u64, u64);

impl From<IdHash> for StoredId {
    fn from(id: IdHash) -> Self {
        Self((id >> 64) as u64, id as u64)
    }
}

impl From<StoredId> for IdHash {
    fn from(id: StoredId) -> Self {
        (IdHash::from(id.0) << 64) | IdHash::from(id.1)
    }
}

/// Where a copy was read, and whether it is a re-delivery: what decides,
/// beside its id, whether it is a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadAt<'a> {
    /// The topic it was read from.
    pub topic: &'a str,
    /// Its offset there.
    pub offset: i64,
    /// When an operator asked for it to be delivered again
    /// (`consumer events redeliver`): deliveries before do not count.
    pub redelivery_at_ms: Option<i64>,
}

impl<'a> ReadAt<'a> {
    /// A copy at `offset` of `topic` that is no re-delivery.
    pub fn plain(topic: &'a str, offset: i64) -> Self {
        Self {
            topic,
            offset,
            redelivery_at_ms: None,
        }
    }
}

/// How many sweeps per window [`DeliveredSet::expire`] makes at most: an id
/// is freed at most a 32nd of the window after it expired.
const SWEEPS_PER_WINDOW: i64 = 32;

/// Ids delivered during the last window, for one partition number.
#[derive(Debug)]
pub struct DeliveredSet {
    window_ms: i64,
    at: HashMap<StoredId, i64, IdHasher>,
    /// No id held is older than this (it may be older than every id held).
    oldest_ms: i64,
    /// When [`DeliveredSet::expire`] last swept the table.
    swept_ms: i64,
    /// Next offset of the marker partition to read when catching up.
    pub next_marker_offset: Option<i64>,
    /// Replay fences read from the marker log.
    pub fences: Fences,
}

impl DeliveredSet {
    /// An empty set keeping ids for `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            window_ms: window.as_millis().min(i64::MAX as u128) as i64,
            at: HashMap::default(),
            oldest_ms: i64::MAX,
            swept_ms: i64::MIN,
            next_marker_offset: None,
            fences: Fences::default(),
        }
    }

    /// Records that `id` was delivered at `at_ms` (unix milliseconds). An id
    /// already held keeps the later of its two times.
    pub fn insert(&mut self, id: IdHash, at_ms: i64) {
        let held = self.at.entry(id.into()).or_insert(at_ms);
        *held = (*held).max(at_ms);
        self.oldest_ms = self.oldest_ms.min(at_ms);
    }

    /// Whether `id` was delivered within the window before `now_ms`.
    pub fn contains(&self, id: IdHash, now_ms: i64) -> bool {
        self.delivered_at(id, now_ms).is_some()
    }

    /// When `id` was delivered, if within the window before `now_ms`.
    pub fn delivered_at(&self, id: IdHash, now_ms: i64) -> Option<i64> {
        self.at
            .get(&id.into())
            .copied()
            .filter(|&at| now_ms.saturating_sub(at) <= self.window_ms)
    }

    /// Whether the record `at` with `id` is a duplicate at `now_ms`:
    /// delivered within the window, and, when a replay fence covers the
    /// record or it is a re-delivery, delivered since then.
    pub fn is_duplicate(&self, id: IdHash, now_ms: i64, at: &ReadAt<'_>) -> bool {
        let fenced_at = self
            .fences
            .covering(at.topic, at.offset)
            .max(at.redelivery_at_ms);
        match (self.delivered_at(id, now_ms), fenced_at) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(at), Some(fenced_at)) => at >= fenced_at,
        }
    }

    /// Forgets ids delivered before the window, and fences that old. The
    /// table is swept when its oldest id has expired, at most
    /// `SWEEPS_PER_WINDOW` (32) times per window (a sweep walks every id), so
    /// an expired id may stay in memory a little longer; it no longer counts
    /// ([`DeliveredSet::delivered_at`] looks at its time).
    pub fn expire(&mut self, now_ms: i64) {
        self.fences.expire(now_ms, self.window_ms);
        let expired = |at: i64| now_ms.saturating_sub(at) > self.window_ms;
        let sweep_every = (self.window_ms / SWEEPS_PER_WINDOW).max(1);
        if !expired(self.oldest_ms) || now_ms.saturating_sub(self.swept_ms) < sweep_every {
            return;
        }
        let mut oldest = i64::MAX;
        self.at.retain(|_, &mut at| {
            let keep = !expired(at);
            if keep {
                oldest = oldest.min(at);
            }
            keep
        });
        self.oldest_ms = oldest;
        self.swept_ms = now_ms;
    }

    /// An empty set of the same window that starts reading the marker log
    /// where this one stopped (what a background load fills).
    pub fn continuation(&self) -> Self {
        let mut next = Self::new(Duration::from_millis(
            u64::try_from(self.window_ms).unwrap_or(0),
        ));
        next.next_marker_offset = self.next_marker_offset;
        next
    }

    /// Takes in what a background load read: its ids, its fences, and where
    /// the log was read to. A set that holds nothing yet is simply replaced.
    pub fn absorb(&mut self, loaded: DeliveredSet) {
        if self.at.is_empty() && self.fences == Fences::default() {
            *self = loaded;
            return;
        }
        for (id, at) in loaded.at {
            self.insert(id.into(), at);
        }
        for fence in loaded.fences.into_fences() {
            self.fences.add(fence);
        }
        self.next_marker_offset = self.next_marker_offset.max(loaded.next_marker_offset);
    }

    /// Makes room for `additional` more ids at once. A load that knows how
    /// many markers it will read sizes the table once, instead of growing it
    /// through every doubling: each doubling frees a table of up to tens of
    /// MiB, which also raises glibc's threshold for giving large blocks back
    /// to the system, so the process kept more memory after a load.
    pub fn reserve(&mut self, additional: usize) {
        self.at.reserve(additional);
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

#[cfg(test)]
mod tests;
