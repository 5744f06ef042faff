//! `consumer topics ensure`: creates the main topic and a group's retry,
//! dead-letter and delivered-marker topics with one partition count and
//! retention fitted to the retry ladder. Idempotent: existing topics are
//! reported, never changed; a topic with another partition count is reported
//! as a mismatch and the command fails instead of "fixing" it.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::handoff::HOP_HEADROOM_BYTES;
use crate::ops::{client_config, OpsError};
use crate::stage::Ladder;
use switchboard_runtime::kafka::metadata::partition_counts;
use switchboard_runtime::kafka::KafkaSettings;

/// What `topics ensure` is asked for.
#[derive(Debug, Clone)]
pub struct EnsureOptions {
    /// Partitions of new topics; `None`: the main topic's count when it
    /// exists, else [`DEFAULT_PARTITIONS`].
    pub partitions: Option<usize>,
    /// Replication factor of new topics (`-1`: the broker's default).
    pub replication: i32,
    /// Retention of the dead-letter topic.
    pub dlt_retention: Duration,
    /// Retention of the main topic when this command creates it (`None`: broker default).
    pub main_retention: Option<Duration>,
    /// The main topic's largest record (its `max.message.bytes`); the retry
    /// stages and the dead-letter topic get [`HOP_HEADROOM_BYTES`] more, so
    /// a record that fits the main topic fits every hop.
    pub main_max_message_bytes: usize,
}

/// Partitions when neither the option nor an existing main topic says.
pub const DEFAULT_PARTITIONS: usize = 6;
/// Retry records must outlive an outage of the group: at least this long.
pub const RETRY_RETENTION_FLOOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// One topic to have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Name.
    pub name: String,
    /// Topic configs set at creation (`retention.ms`, `cleanup.policy`).
    pub configs: Vec<(String, String)>,
}

/// What happened to one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnsureStatus {
    /// Created now with the wanted partitions.
    Created,
    /// Already there with the wanted partitions; left as it is.
    Exists,
    /// Already there with another partition count; left as it is.
    Mismatch {
        /// Its partition count.
        actual: usize,
    },
}

/// The topics of `ladder`'s group and their creation configs.
pub fn plan(ladder: &Ladder, options: &EnsureOptions, dedupe_window: Duration) -> Vec<TopicSpec> {
    let ms = |d: Duration| d.as_millis().to_string();
    let mut specs = vec![TopicSpec {
        name: ladder.topics().main().to_owned(),
        configs: options
            .main_retention
            .map(|r| vec![("retention.ms".to_owned(), ms(r))])
            .unwrap_or_default(),
    }];
    let hop_limit = (
        "max.message.bytes".to_owned(),
        (options.main_max_message_bytes + HOP_HEADROOM_BYTES).to_string(),
    );
    for stage in 1..ladder.len() {
        let retention = (ladder.delay(stage) * 10).max(RETRY_RETENTION_FLOOR);
        specs.push(TopicSpec {
            name: ladder.topic(stage).to_owned(),
            configs: vec![("retention.ms".into(), ms(retention)), hop_limit.clone()],
        });
    }
    specs.push(TopicSpec {
        name: ladder.topics().dlt(),
        configs: vec![
            ("retention.ms".into(), ms(options.dlt_retention)),
            hop_limit,
        ],
    });
    specs.push(TopicSpec {
        name: ladder.topics().delivered(),
        configs: vec![
            ("cleanup.policy".into(), "compact,delete".into()),
            (
                "retention.ms".into(),
                ms(dedupe_window + Duration::from_secs(24 * 3600)),
            ),
        ],
    });
    specs
}

/// Creates what is missing; returns each topic with its partitions and status.
pub async fn ensure(
    kafka: &KafkaSettings,
    specs: &[TopicSpec],
    options: &EnsureOptions,
) -> Result<Vec<(TopicSpec, usize, EnsureStatus)>, OpsError> {
    let admin: AdminClient<DefaultClientContext> = client_config(kafka).create()?;
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let existing = partition_counts(admin.inner(), &names, Duration::from_secs(10))?;
    let main = &specs[0].name;
    let wanted = options
        .partitions
        .or_else(|| existing.get(main).copied())
        .unwrap_or(DEFAULT_PARTITIONS);
    let mut report = Vec::new();
    for spec in specs {
        let status = match existing.get(&spec.name) {
            Some(&actual) if actual == wanted => EnsureStatus::Exists,
            Some(&actual) => EnsureStatus::Mismatch { actual },
            None => {
                create(&admin, spec, wanted, options.replication).await?;
                EnsureStatus::Created
            }
        };
        report.push((spec.clone(), wanted, status));
    }
    Ok(report)
}

async fn create(
    admin: &AdminClient<DefaultClientContext>,
    spec: &TopicSpec,
    partitions: usize,
    replication: i32,
) -> Result<(), OpsError> {
    let mut topic = NewTopic::new(
        &spec.name,
        partitions as i32,
        TopicReplication::Fixed(replication),
    );
    for (key, value) in &spec.configs {
        topic = topic.set(key, value);
    }
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics([&topic], &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(OpsError::Failed(format!(
                    "creating topic {name} failed: {code}"
                )))
            }
        }
    }
    Ok(())
}

/// Renders the report as a table.
pub fn render(report: &[(TopicSpec, usize, EnsureStatus)]) -> String {
    let mut rows = vec![vec![
        "TOPIC".to_owned(),
        "PARTITIONS".into(),
        "CONFIG (at creation)".into(),
        "STATUS".into(),
    ]];
    for (spec, wanted, status) in report {
        let configs = spec
            .configs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let status = match status {
            EnsureStatus::Created => "created".to_owned(),
            EnsureStatus::Exists => "exists".to_owned(),
            EnsureStatus::Mismatch { actual } => {
                format!("MISMATCH: has {actual} partitions, left unchanged")
            }
        };
        rows.push(vec![spec.name.clone(), wanted.to_string(), configs, status]);
    }
    crate::ops::table(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::parse_retry_stages;
    use switchboard_proto::GroupTopics;

    #[test]
    fn retention_follows_the_ladder_and_the_dedupe_window() {
        let ladder = Ladder::new(
            GroupTopics::new("webhooks", "crm").expect("valid"),
            parse_retry_stages("retry-1m=60s,retry-10m=30d").expect("valid"),
        );
        let options = EnsureOptions {
            partitions: None,
            replication: -1,
            dlt_retention: Duration::from_secs(14 * 24 * 3600),
            main_retention: None,
            main_max_message_bytes: 1_000_000,
        };
        let specs = plan(&ladder, &options, Duration::from_secs(24 * 3600));
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "webhooks",
                "webhooks.crm.retry-1m",
                "webhooks.crm.retry-10m",
                "webhooks.crm.dlt",
                "webhooks.crm.delivered"
            ]
        );
        assert!(
            specs[0].configs.is_empty(),
            "main retention left to the broker"
        );
        let retention = |i: usize| -> u128 {
            specs[i]
                .configs
                .iter()
                .find(|(k, _)| k == "retention.ms")
                .and_then(|(_, v)| v.parse().ok())
                .expect("retention")
        };
        assert_eq!(retention(1), RETRY_RETENTION_FLOOR.as_millis());
        assert_eq!(retention(2), 300 * 24 * 3600 * 1000, "10x a long delay");
        assert_eq!(retention(4), 48 * 3600 * 1000, "window + a day");
        assert!(specs[4]
            .configs
            .contains(&("cleanup.policy".into(), "compact,delete".into())));
        for hop_topic in &specs[1..=3] {
            assert!(
                hop_topic
                    .configs
                    .contains(&("max.message.bytes".into(), "1065536".into())),
                "{} leaves room for the hop headers",
                hop_topic.name
            );
        }
    }
}
