//! Why a record is in a group's dead-letter topic: the values of the
//! `sb-dlt-reason` header, written by the consumer, read by `dlt list`,
//! `dlt redrive`, dashboards and alerts (a bounded metric label).

/// Why a record was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DltReason {
    /// The value is not a Switchboard envelope.
    Poison,
    /// The handler said it will never work (a 4xx, no downstream configured).
    Rejected,
    /// Every retry stage failed.
    Exhausted,
    /// The record could not be written to its next topic (too large, topic
    /// gone, not authorised): a pointer to the original stands in for it,
    /// with no value; `dlt redrive` reads the original again.
    Unroutable,
}

impl DltReason {
    /// Every reason, in the order docs and metrics list them.
    pub const ALL: [DltReason; 4] = [
        DltReason::Poison,
        DltReason::Rejected,
        DltReason::Exhausted,
        DltReason::Unroutable,
    ];

    /// The code written to the `sb-dlt-reason` header (and the metric label).
    pub const fn code(self) -> &'static str {
        match self {
            DltReason::Poison => "poison",
            DltReason::Rejected => "rejected",
            DltReason::Exhausted => "exhausted",
            DltReason::Unroutable => "unroutable",
        }
    }

    /// The reason a header value names; `None` for a code this version does
    /// not know.
    pub fn from_code(code: &str) -> Option<DltReason> {
        DltReason::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl std::fmt::Display for DltReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::DltReason;

    #[test]
    fn every_code_reads_back_as_its_reason_and_nothing_else_does() {
        for reason in DltReason::ALL {
            assert_eq!(DltReason::from_code(reason.code()), Some(reason));
        }
        assert_eq!(DltReason::from_code("Exhausted"), None);
        assert_eq!(DltReason::from_code(""), None);
    }
}
