//! Topic naming. The main topic is shared; retry and dead-letter topics belong to
//! one consumer group, so two groups reading the same main topic (a CRM sync and
//! a WFM feed, say) never share failures:
//! `<main>.<group>.retry-1m`, `<main>.<group>.retry-10m`, `<main>.<group>.dlt`,
//! and the dedupe log `<main>.<group>.delivered`.

/// The main topic when none is configured.
pub const DEFAULT_MAIN_TOPIC: &str = "webhooks";
/// The first retry stage's name (its default delay is one minute).
pub const RETRY_1M: &str = "retry-1m";
/// The second retry stage's name (its default delay is ten minutes).
pub const RETRY_10M: &str = "retry-10m";
/// Suffix of a group's dead-letter topic.
pub const DLT_SUFFIX: &str = "dlt";
/// Suffix of a group's delivered-marker topic: one small record per event the
/// group delivered, keyed by event id, read back to suppress duplicates.
pub const DELIVERED_SUFFIX: &str = "delivered";
/// Kafka's limit on topic name length.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// A name that cannot be (part of) a Kafka topic name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicNameError {
    /// Empty names are not allowed.
    #[error("{what} is empty")]
    Empty {
        /// What was being named.
        what: &'static str,
    },
    /// Kafka allows only ASCII letters, digits, `.`, `_` and `-`.
    #[error("{what} {name:?} has a character Kafka does not allow in topic names (allowed: a-z A-Z 0-9 . _ -)")]
    BadCharacter {
        /// What was being named.
        what: &'static str,
        /// The offending name.
        name: String,
    },
    /// Longer than [`MAX_TOPIC_NAME_LEN`].
    #[error("topic name {name:?} is longer than {MAX_TOPIC_NAME_LEN} characters")]
    TooLong {
        /// The offending name.
        name: String,
    },
}

/// Checks that `name` is usable as (part of) a Kafka topic name.
pub fn validate_name(what: &'static str, name: &str) -> Result<(), TopicNameError> {
    if name.is_empty() {
        return Err(TopicNameError::Empty { what });
    }
    if name == "." || name == ".." || !name.bytes().all(is_topic_byte) {
        return Err(TopicNameError::BadCharacter {
            what,
            name: name.to_owned(),
        });
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(TopicNameError::TooLong {
            name: name.to_owned(),
        });
    }
    Ok(())
}

fn is_topic_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

/// The topics one consumer group reads and writes beside the main topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupTopics {
    main: String,
    group: String,
}

impl GroupTopics {
    /// Names the topics of `group` on `main`, refusing names Kafka would refuse.
    pub fn new(main: &str, group: &str) -> Result<Self, TopicNameError> {
        validate_name("main topic", main)?;
        validate_name("consumer group", group)?;
        let topics = Self {
            main: main.to_owned(),
            group: group.to_owned(),
        };
        validate_name("dead-letter topic", &topics.dlt())?;
        validate_name("delivered-marker topic", &topics.delivered())?;
        Ok(topics)
    }

    /// The main topic the gateway writes to.
    pub fn main(&self) -> &str {
        &self.main
    }

    /// The consumer group these topics belong to.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The retry topic of `stage` (for example [`RETRY_1M`]).
    pub fn retry(&self, stage: &str) -> String {
        format!("{}.{}.{}", self.main, self.group, stage)
    }

    /// The group's dead-letter topic.
    pub fn dlt(&self) -> String {
        format!("{}.{}.{}", self.main, self.group, DLT_SUFFIX)
    }

    /// The group's delivered-marker topic (the dedupe log).
    pub fn delivered(&self) -> String {
        format!("{}.{}.{}", self.main, self.group, DELIVERED_SUFFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_topics_follow_the_documented_pattern() {
        let topics = GroupTopics::new("webhooks", "crm-sync").expect("valid");
        assert_eq!(topics.retry(RETRY_1M), "webhooks.crm-sync.retry-1m");
        assert_eq!(topics.retry(RETRY_10M), "webhooks.crm-sync.retry-10m");
        assert_eq!(topics.dlt(), "webhooks.crm-sync.dlt");
        assert_eq!(topics.delivered(), "webhooks.crm-sync.delivered");
    }

    #[test]
    fn two_groups_never_share_failure_topics() {
        let crm = GroupTopics::new("webhooks", "crm").expect("valid");
        let wfm = GroupTopics::new("webhooks", "wfm").expect("valid");
        assert_ne!(crm.dlt(), wfm.dlt());
        assert_ne!(crm.retry(RETRY_1M), wfm.retry(RETRY_1M));
    }

    #[test]
    fn names_kafka_would_refuse_are_refused() {
        assert!(matches!(
            GroupTopics::new("web hooks", "g"),
            Err(TopicNameError::BadCharacter { .. })
        ));
        assert!(matches!(
            GroupTopics::new("webhooks", ""),
            Err(TopicNameError::Empty { .. })
        ));
        assert!(matches!(
            GroupTopics::new(&"a".repeat(250), "g"),
            Err(TopicNameError::TooLong { .. })
        ));
        assert!(matches!(
            GroupTopics::new("webhooks", &"g".repeat(240)),
            Err(TopicNameError::TooLong { .. })
        ));
    }
}
