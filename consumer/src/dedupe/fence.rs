//! Replay fences: how `consumer offsets reset --redeliver` asks for a
//! replayed range to be delivered again although it was delivered before.
//!
//! A fence says: records of `topic` on this partition number with offsets in
//! `[from, to)` ignore deliveries made before `at_ms`. It travels as a
//! record on the group's delivered-marker topic (so Kafka alone carries it,
//! and every member that loads the partition's markers honours it), encoded
//! by [`crate::marker::codec`]. Deliveries made
//! during the replay still count, so a range holding two copies of one
//! event delivers it once more, not once per copy.

use serde::{Deserialize, Serialize};

/// One replay fence (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fence {
    /// The topic replayed (the main topic or a stage's).
    pub topic: String,
    /// First offset replayed.
    pub from: i64,
    /// One past the last offset replayed (the committed offset before the reset).
    pub to: i64,
    /// Deliveries before this time (unix ms) do not count inside the range.
    pub at_ms: i64,
}

/// The fences of one partition number.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fences(Vec<Fence>);

impl Fences {
    /// Adds `fence` (a fence read twice is kept once).
    pub fn add(&mut self, fence: Fence) {
        if !self.0.contains(&fence) {
            self.0.push(fence);
        }
    }

    /// The time before which deliveries do not count for the record at
    /// `offset` of `topic`: the newest fence covering it.
    pub fn covering(&self, topic: &str, offset: i64) -> Option<i64> {
        self.0
            .iter()
            .filter(|f| f.topic == topic && (f.from..f.to).contains(&offset))
            .map(|f| f.at_ms)
            .max()
    }

    /// The fences, by value.
    pub fn into_fences(self) -> impl Iterator<Item = Fence> {
        self.0.into_iter()
    }

    /// Forgets fences set longer ago than `window_ms` before `now_ms`.
    pub fn expire(&mut self, now_ms: i64, window_ms: i64) {
        self.0
            .retain(|f| now_ms.saturating_sub(f.at_ms) <= window_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_covers_its_range_of_its_topic_only() {
        let mut fences = Fences::default();
        let fence = Fence {
            topic: "webhooks".into(),
            from: 10,
            to: 30,
            at_ms: 5_000,
        };
        fences.add(fence.clone());
        fences.add(fence.clone());
        assert_eq!(fences.covering("webhooks", 10), Some(5_000));
        assert_eq!(fences.covering("webhooks", 29), Some(5_000));
        assert_eq!(fences.covering("webhooks", 30), None, "to is exclusive");
        assert_eq!(fences.covering("webhooks", 9), None);
        assert_eq!(fences.covering("webhooks.g.retry-1m", 15), None);
        fences.expire(5_000 + 100, 50);
        assert_eq!(
            fences.covering("webhooks", 10),
            None,
            "expired with the window"
        );
    }
}
