//! The dedupe gate every record passes before it is started: a copy of an
//! event already delivered in the window is a duplicate; a copy of one being
//! delivered right now waits behind it; anything else starts and holds its
//! id's claim until it finishes. One gate serves every partition number the
//! worker holds (stage topics are co-partitioned, so one event id lives on
//! one partition number in every stage).

use std::collections::HashMap;
use std::time::Duration;

use super::{Claim, Claims, DeliveredSet, IdHash, Owner, ReadAt};

/// What the gate says about one copy of an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission<T> {
    /// Delivered within the window already: do not deliver it again.
    Duplicate(T),
    /// Go ahead: this copy holds the id's claim until [`DedupeGate::finished`]
    /// with the same owner.
    Start(T),
    /// Another copy holds the id; this one waits and comes back from
    /// [`DedupeGate::take_released`] when that copy finishes.
    Parked,
}

/// Delivered sets and claims per partition number, with the copies waiting.
#[derive(Debug)]
pub struct DedupeGate<T> {
    window: Duration,
    delivered: HashMap<i32, DeliveredSet>,
    claims: HashMap<i32, Claims<T>>,
    released: Vec<T>,
}

impl<T> DedupeGate<T> {
    /// An empty gate remembering deliveries for `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            delivered: HashMap::new(),
            claims: HashMap::new(),
            released: Vec::new(),
        }
    }

    fn set(&mut self, partition: i32) -> &mut DeliveredSet {
        let window = self.window;
        self.delivered
            .entry(partition)
            .or_insert_with(|| DeliveredSet::new(window))
    }

    /// Decides about `copy` of event `id` read `at` on
    /// `partition` at `now_ms`; a copy that starts holds the claim for
    /// `owner` (its partition's assignment).
    pub fn admit(
        &mut self,
        partition: i32,
        id: IdHash,
        owner: Owner,
        now_ms: i64,
        at: ReadAt<'_>,
        copy: T,
    ) -> Admission<T> {
        if self.set(partition).is_duplicate(id, now_ms, &at) {
            return Admission::Duplicate(copy);
        }
        match self
            .claims
            .entry(partition)
            .or_default()
            .claim_or_park(id, owner, copy)
        {
            Claim::Claimed(copy) => Admission::Start(copy),
            Claim::Parked => Admission::Parked,
        }
    }

    /// A copy of `owner` finished: delivered at `delivered_at_ms`, or not
    /// delivered (handed on, abandoned) when `None`. A delivery is always
    /// remembered; the claim ends, and the copies that waited for it are
    /// released, only if `owner` still holds it (a task of an older
    /// assignment never releases a newer claim).
    pub fn finished(
        &mut self,
        partition: i32,
        id: IdHash,
        owner: Owner,
        delivered_at_ms: Option<i64>,
    ) {
        if let Some(at_ms) = delivered_at_ms {
            self.set(partition).insert(id, at_ms);
        }
        if let Some(claims) = self.claims.get_mut(&partition) {
            self.released.extend(claims.release(id, owner));
        }
    }

    /// The copies released since the last call, to be admitted again.
    pub fn take_released(&mut self) -> Vec<T> {
        std::mem::take(&mut self.released)
    }

    /// Forgets waiting copies that `keep` rejects (after a revocation).
    pub fn drop_waiters(&mut self, keep: impl Fn(&T) -> bool) {
        for claims in self.claims.values_mut() {
            claims.retain(&keep);
        }
        self.released.retain(&keep);
    }

    /// Forgets ids delivered before the window.
    pub fn expire(&mut self, now_ms: i64) {
        for set in self.delivered.values_mut() {
            set.expire(now_ms);
        }
    }

    /// Keeps the delivered sets of the partition numbers in `held` (creating
    /// missing ones) and forgets the others.
    pub fn hold(&mut self, held: &[i32]) {
        self.delivered.retain(|p, _| held.contains(p));
        for number in held {
            self.set(*number);
        }
    }

    /// Starts a (background) load for the partition numbers `held`: keeps
    /// only their sets, and returns for each an empty set to fill that
    /// catches up from where its log was last read.
    pub fn begin_load(&mut self, held: &[i32]) -> Vec<(i32, DeliveredSet)> {
        self.hold(held);
        held.iter()
            .map(|p| (*p, self.set(*p).continuation()))
            .collect()
    }

    /// Takes in a finished load of `partition`; ignored when the partition
    /// number is no longer held.
    pub fn finish_load(&mut self, partition: i32, loaded: DeliveredSet) {
        if let Some(set) = self.delivered.get_mut(&partition) {
            set.absorb(loaded);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedupe::id_hash;

    const AT: ReadAt<'static> = ReadAt {
        topic: "webhooks",
        offset: 0,
        redelivery_at_ms: None,
    };

    fn gate() -> DedupeGate<&'static str> {
        DedupeGate::new(Duration::from_secs(60))
    }

    #[test]
    fn a_delivered_id_is_a_duplicate_within_the_window_only() {
        let mut gate = gate();
        let id = id_hash("evt-1");
        assert_eq!(
            gate.admit(0, id, 1, 1_000, AT, "first"),
            Admission::Start("first")
        );
        gate.finished(0, id, 1, Some(1_000));
        assert_eq!(
            gate.admit(0, id, 1, 2_000, AT, "again"),
            Admission::Duplicate("again")
        );
        assert_eq!(
            gate.admit(0, id, 1, 62_000, AT, "late"),
            Admission::Start("late"),
            "past the window it is delivered again"
        );
    }

    #[test]
    fn a_copy_waits_for_the_one_in_flight_and_is_released_when_it_ends() {
        let mut gate = gate();
        let id = id_hash("evt-1");
        assert_eq!(gate.admit(0, id, 1, 0, AT, "a"), Admission::Start("a"));
        assert_eq!(gate.admit(0, id, 1, 0, AT, "b"), Admission::Parked);
        assert!(gate.take_released().is_empty());
        // The first copy was handed to a retry stage: not delivered.
        gate.finished(0, id, 1, None);
        let released = gate.take_released();
        assert_eq!(released, vec!["b"]);
        assert_eq!(
            gate.admit(0, id, 1, 0, AT, "b"),
            Admission::Start("b"),
            "the copy is tried"
        );
        gate.finished(0, id, 1, Some(5));
        assert_eq!(gate.admit(0, id, 1, 10, AT, "c"), Admission::Duplicate("c"));
    }

    #[test]
    fn a_late_report_from_an_older_assignment_leaves_the_newer_claim() {
        let mut gate = gate();
        let id = id_hash("evt-1");
        assert_eq!(gate.admit(0, id, 7, 0, AT, "new"), Admission::Start("new"));
        assert_eq!(gate.admit(0, id, 7, 0, AT, "copy"), Admission::Parked);
        gate.finished(0, id, 5, None);
        assert!(
            gate.take_released().is_empty(),
            "assignment 5 holds nothing"
        );
        assert_eq!(gate.admit(0, id, 7, 0, AT, "third"), Admission::Parked);
        gate.finished(0, id, 7, None);
        assert_eq!(gate.take_released(), vec!["copy", "third"]);
    }

    #[test]
    fn partition_numbers_are_independent() {
        let mut gate = gate();
        let id = id_hash("evt-1");
        assert_eq!(gate.admit(0, id, 1, 0, AT, "p0"), Admission::Start("p0"));
        assert_eq!(gate.admit(1, id, 1, 0, AT, "p1"), Admission::Start("p1"));
    }

    #[test]
    fn revoked_waiters_are_dropped_and_unheld_partitions_forgotten() {
        let mut gate = gate();
        let id = id_hash("evt-1");
        assert_eq!(
            gate.admit(0, id, 1, 0, AT, "keep"),
            Admission::Start("keep")
        );
        assert_eq!(gate.admit(0, id, 1, 0, AT, "revoked"), Admission::Parked);
        gate.drop_waiters(|copy| *copy != "revoked");
        gate.finished(0, id, 1, Some(1));
        assert!(gate.take_released().is_empty());
        gate.hold(&[1]);
        assert_eq!(
            gate.admit(0, id, 1, 2, AT, "x"),
            Admission::Start("x"),
            "partition 0 forgotten"
        );
    }

    #[test]
    fn expiry_forgets_old_deliveries() {
        let mut gate = gate();
        let id = id_hash("evt-1");
        assert_eq!(gate.admit(0, id, 1, 0, AT, "a"), Admission::Start("a"));
        gate.finished(0, id, 1, Some(0));
        gate.expire(120_000);
        assert_eq!(gate.admit(0, id, 1, 0, AT, "b"), Admission::Start("b"));
    }
}
