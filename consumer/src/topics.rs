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

/// Checks `counts` (partitions per existing topic) against what `ladder` needs.
pub fn check_group_topics(
    ladder: &Ladder,
    counts: &BTreeMap<String, usize>,
) -> Result<(), TopicCheckError> {
    let main = ladder.topics().main();
    let Some(&expected) = counts.get(main) else {
        return Err(TopicCheckError::MainMissing(main.to_owned()));
    };
    let others = ladder.topics_beside_main();
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

/// Group topics whose `max.message.bytes` is smaller than the main topic's
/// (from `limits`, topic → bytes): a record that fits the main topic may
/// then not fit its hop, and would be dead-lettered as an unroutable pointer.
pub fn smaller_message_limits(
    ladder: &Ladder,
    limits: &BTreeMap<String, String>,
) -> Vec<(String, u64, u64)> {
    let parse = |topic: &str| limits.get(topic).and_then(|v| v.parse::<u64>().ok());
    let Some(main) = parse(ladder.topics().main()) else {
        return Vec::new();
    };
    let mut hop_topics: Vec<String> = ladder.consumed_topics()[1..].to_vec();
    hop_topics.push(ladder.topics().dlt());
    hop_topics
        .into_iter()
        .filter_map(|topic| {
            let limit = parse(&topic)?;
            (limit < main).then_some((topic, limit, main))
        })
        .collect()
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
    fn hop_topics_with_a_smaller_record_limit_are_named() {
        let limits: BTreeMap<String, String> = [
            ("webhooks", "2000000"),
            ("webhooks.crm.retry-1m", "1048588"),
            ("webhooks.crm.retry-10m", "2065536"),
            ("webhooks.crm.dlt", "not a number"),
        ]
        .into_iter()
        .map(|(t, v)| (t.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(
            smaller_message_limits(&ladder(), &limits),
            vec![("webhooks.crm.retry-1m".to_owned(), 1_048_588, 2_000_000)]
        );
        assert!(smaller_message_limits(&ladder(), &BTreeMap::new()).is_empty());
    }

    #[test]
    fn matching_topics_pass() {
        let all: Vec<(String, usize)> = ladder().all_topics().into_iter().map(|t| (t, 3)).collect();
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
        for topic in ladder().topics_beside_main() {
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
