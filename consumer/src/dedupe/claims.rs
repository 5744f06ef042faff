//! Ids being delivered right now ([`Claims`]): a second copy of an event
//! waits behind the first instead of being delivered beside it.

use std::collections::HashMap;

use super::{IdHash, IdHasher};

/// The answer to [`Claims::claim_or_park`].
#[derive(Debug, PartialEq, Eq)]
pub enum Claim<T> {
    /// The id was free: go ahead with this copy.
    Claimed(T),
    /// Another copy holds the id; this one waits for it.
    Parked,
}

/// Who holds a claim: the assignment (epoch) of the partition its copy came
/// from. Epochs are never reused, so a task from an older assignment cannot
/// release a claim taken since.
pub type Owner = u64;

/// Ids being delivered right now, with the copies that wait for them.
#[derive(Debug)]
pub struct Claims<T> {
    held: HashMap<IdHash, (Owner, Vec<T>), IdHasher>,
}

impl<T> Default for Claims<T> {
    fn default() -> Self {
        Self {
            held: HashMap::default(),
        }
    }
}

impl<T> Claims<T> {
    /// Claims `id` for `owner` and hands `waiter` back; when `id` is already
    /// claimed, `waiter` is parked behind the claim instead.
    pub fn claim_or_park(&mut self, id: IdHash, owner: Owner, waiter: T) -> Claim<T> {
        match self.held.get_mut(&id) {
            Some((_, waiting)) => {
                waiting.push(waiter);
                Claim::Parked
            }
            None => {
                self.held.insert(id, (owner, Vec::new()));
                Claim::Claimed(waiter)
            }
        }
    }

    /// Ends `owner`'s claim on `id`, returning the copies that waited for it.
    /// A claim held by another owner is left alone.
    pub fn release(&mut self, id: IdHash, owner: Owner) -> Vec<T> {
        match self.held.get(&id) {
            Some((holder, _)) if *holder == owner => {
                self.held.remove(&id).map(|(_, w)| w).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }

    /// Keeps only the waiters `keep` selects (after a revocation).
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        for (_, waiting) in self.held.values_mut() {
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
    use crate::dedupe::id_hash;

    #[test]
    fn a_second_copy_waits_behind_the_first() {
        let mut claims: Claims<&str> = Claims::default();
        let id = id_hash("evt-1");
        assert_eq!(
            claims.claim_or_park(id, 1, "copy-a"),
            Claim::Claimed("copy-a")
        );
        assert_eq!(claims.claim_or_park(id, 1, "copy-b"), Claim::Parked);
        assert_eq!(claims.claim_or_park(id, 2, "copy-c"), Claim::Parked);
        assert_eq!(claims.release(id, 1), vec!["copy-b", "copy-c"]);
        assert!(claims.is_empty());
        assert_eq!(
            claims.claim_or_park(id, 3, "copy-d"),
            Claim::Claimed("copy-d")
        );
    }

    #[test]
    fn an_older_owner_cannot_release_a_newer_claim() {
        let mut claims: Claims<&str> = Claims::default();
        let id = id_hash("evt-1");
        assert_eq!(claims.claim_or_park(id, 7, "new"), Claim::Claimed("new"));
        assert_eq!(claims.claim_or_park(id, 7, "waiting"), Claim::Parked);
        // A task of assignment 5 (revoked, aborted) reports late.
        assert!(claims.release(id, 5).is_empty());
        assert!(!claims.is_empty(), "the newer claim still holds");
        assert_eq!(claims.release(id, 7), vec!["waiting"]);
    }
}
