//! The commit watermark of one partition. Records of a partition are handled
//! concurrently and finish in any order; the offset committed is the lowest one
//! not yet done, so a crash re-reads everything unfinished and nothing after a
//! gap is ever marked consumed.

use std::collections::BTreeSet;

/// Offsets received from one partition and not yet done.
#[derive(Debug, Default)]
pub struct Watermark {
    outstanding: BTreeSet<i64>,
    /// One past the highest offset received.
    next: Option<i64>,
    /// The last offset committed (the next offset to read after a restart).
    committed: Option<i64>,
    /// The last offset sent in a commit, confirmed or not.
    sent: Option<i64>,
}

impl Watermark {
    /// Records that `offset` was read and is now being worked on.
    pub fn received(&mut self, offset: i64) {
        self.outstanding.insert(offset);
        self.next = Some(self.next.map_or(offset + 1, |n| n.max(offset + 1)));
    }

    /// Records that `offset` is done: delivered, or durably handed to the next stage.
    pub fn done(&mut self, offset: i64) {
        self.outstanding.remove(&offset);
    }

    /// Offsets received and not done.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// The offset below which every received record is done.
    pub fn watermark(&self) -> Option<i64> {
        self.outstanding.first().copied().or(self.next)
    }

    /// The offset to commit now, when it moved past the last commit.
    pub fn to_commit(&self) -> Option<i64> {
        let mark = self.watermark()?;
        match self.committed {
            Some(c) if c >= mark => None,
            _ => Some(mark),
        }
    }

    /// The offset to send in a commit now: one that moved since the last
    /// one sent, or (`again`) any not confirmed yet.
    pub fn to_send(&self, again: bool) -> Option<i64> {
        self.to_commit()
            .filter(|mark| again || self.sent != Some(*mark))
    }

    /// Records that a commit of `offset` was sent.
    pub fn sent(&mut self, offset: i64) {
        self.sent = Some(offset);
    }

    /// Records that `offset` was committed.
    pub fn committed(&mut self, offset: i64) {
        self.committed = Some(self.committed.map_or(offset, |c| c.max(offset)));
    }

    /// The last committed offset, if any.
    pub fn last_committed(&self) -> Option<i64> {
        self.committed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_never_passes_unfinished_work() {
        let mut mark = Watermark::default();
        assert_eq!(mark.to_commit(), None);
        for offset in 10..15 {
            mark.received(offset);
        }
        assert_eq!(mark.watermark(), Some(10));
        mark.done(11);
        mark.done(13);
        assert_eq!(mark.to_commit(), Some(10), "10 is still in flight");
        mark.done(10);
        assert_eq!(mark.to_commit(), Some(12), "11 is done, 12 is not");
        mark.done(12);
        mark.done(14);
        assert_eq!(
            mark.to_commit(),
            Some(15),
            "all done: commit one past the last"
        );
        assert_eq!(mark.outstanding(), 0);
    }

    #[test]
    fn an_offset_is_committed_once() {
        let mut mark = Watermark::default();
        mark.received(0);
        mark.done(0);
        assert_eq!(mark.to_commit(), Some(1));
        mark.committed(1);
        assert_eq!(mark.to_commit(), None);
        mark.received(1);
        assert_eq!(
            mark.to_commit(),
            None,
            "1 is outstanding: nothing new to commit"
        );
        mark.done(1);
        assert_eq!(mark.to_commit(), Some(2));
        assert_eq!(mark.last_committed(), Some(1));
    }

    #[test]
    fn an_unconfirmed_offset_is_sent_again_only_when_asked() {
        let mut mark = Watermark::default();
        mark.received(0);
        mark.done(0);
        assert_eq!(mark.to_send(false), Some(1), "moved: sent");
        mark.sent(1);
        assert_eq!(mark.to_send(false), None, "sent, unchanged: not again");
        assert_eq!(mark.to_send(true), Some(1), "unconfirmed: again when asked");
        mark.received(1);
        mark.done(1);
        assert_eq!(mark.to_send(false), Some(2), "moved again");
        mark.committed(2);
        assert_eq!(mark.to_send(true), None, "confirmed: never again");
    }
}
