//! The topics a consumer group needs, and the start-up check that they exist
//! with the main topic's partition count. Equal counts are what keep one event
//! id on one partition number in every stage (hops keep the partition), so
//! dedupe state and ordering of the ladder stay per partition.

use std::collections::BTreeMap;

use crate::stage::Ladder;

/// A group topic that is missing or does not match the main topic.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TopicCheckError {
    /// The main topic does not exist.
    #[error(
        "main topic {0} does not exist; create the group's topics with `consumer topics ensure`"
    )]
    MainMissing(String),
    /// Some group topics do not exist.
    #[error("topics {missing:?} do not exist; create them with `consumer topics ensure --group {group}`")]
    Missing {
        /// The missing topics.
        missing: Vec<String>,
        /// The group.
        group: String,
    },
    /// Some group topics have another partition count than the main topic.
    #[error("topics {mismatched:?} must have the main topic's {expected} partitions (an event id must map to the same partition number in every stage); recreate them with {expected} partitions")]
    PartitionMismatch {
        /// `(topic, partitions)` that differ.
        mismatched: Vec<(String, usize)>,
        /// The main topic's count.
        expected: usize,
    },
}

/// Every topic of the group: main, retry stages, dead-letter, delivered markers.
pub fn group_topics(ladder: &Ladder) -> Vec<String> {
    let mut topics = ladder.consumed_topics().to_vec();
    topics.push(ladder.topics().dlt());
    topics.push(ladder.topics().delivered());
    topics
}

/// Checks `counts` (partitions per existing topic) against what `ladder` needs.
pub fn check_group_topics(
    ladder: &Ladder,
    counts: &BTreeMap<String, usize>,
) -> Result<(), TopicCheckError> {
    let main = ladder.topics().main();
    let Some(&expected) = counts.get(main) else {
        return Err(TopicCheckError::MainMissing(main.to_owned()));
    };
    let others: Vec<String> = group_topics(ladder).into_iter().skip(1).collect();
    let missing: Vec<String> = others
        .iter()
        .filter(|t| !counts.contains_key(*t))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(TopicCheckError::Missing {
            missing,
            group: ladder.topics().group().to_owned(),
        });
    }
    let mismatched: Vec<(String, usize)> = others
        .iter()
        .filter_map(|t| counts.get(t).map(|&n| (t.clone(), n)))
        .filter(|(_, n)| *n != expected)
        .collect();
    if !mismatched.is_empty() {
        return Err(TopicCheckError::PartitionMismatch {
            mismatched,
            expected,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::parse_retry_stages;
    use switchboard_proto::GroupTopics;

    fn ladder() -> Ladder {
        Ladder::new(
            GroupTopics::new("webhooks", "crm").expect("valid"),
            parse_retry_stages("retry-1m=1s,retry-10m=2s").expect("valid"),
        )
    }

    fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
        pairs.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    #[test]
    fn matching_topics_pass() {
        let all: Vec<(String, usize)> = group_topics(&ladder())
            .into_iter()
            .map(|t| (t, 3))
            .collect();
        let counts: BTreeMap<String, usize> = all.into_iter().collect();
        assert_eq!(check_group_topics(&ladder(), &counts), Ok(()));
    }

    #[test]
    fn missing_and_mismatched_topics_are_named() {
        let error =
            check_group_topics(&ladder(), &counts(&[("webhooks", 3)])).expect_err("missing");
        match error {
            TopicCheckError::Missing { missing, .. } => assert_eq!(missing.len(), 4),
            other => panic!("{other:?}"),
        }
        let mut all = counts(&[("webhooks", 3)]);
        for topic in group_topics(&ladder()).into_iter().skip(1) {
            all.insert(topic, 3);
        }
        all.insert("webhooks.crm.dlt".into(), 1);
        let error = check_group_topics(&ladder(), &all).expect_err("mismatch");
        assert_eq!(
            error,
            TopicCheckError::PartitionMismatch {
                mismatched: vec![("webhooks.crm.dlt".into(), 1)],
                expected: 3
            }
        );
        assert!(error.to_string().contains("3 partitions"));
        assert!(matches!(
            check_group_topics(&ladder(), &BTreeMap::new()),
            Err(TopicCheckError::MainMissing(_))
        ));
    }
}
