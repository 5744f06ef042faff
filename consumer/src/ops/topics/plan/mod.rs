//! `consumer topics ensure`: the main topic and a group's retry, dead-letter
//! and delivered-marker topics, with one partition count, a replication
//! factor and `min.insync.replicas` fitted to the cluster, and retention
//! fitted to the retry ladder.
//!
//! The whole plan is computed first ([`plan`], pure) from what the cluster
//! has ([`cluster::Cluster`]); nothing is created when any part of it is
//! refused, and nothing at all without `--execute`. Existing topics are never
//! changed: one with another partition count refuses the plan, one with a
//! weaker configuration is reported with a warning.

pub mod cluster;
pub mod render;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use switchboard_proto::limits::hop_record_limit;

use crate::stage::Ladder;
use cluster::Cluster;

/// What `topics ensure` is asked for.
#[derive(Debug, Clone)]
pub struct EnsureOptions {
    /// Partitions of new topics; `None`: the main topic's count when it
    /// exists, else [`DEFAULT_PARTITIONS`].
    pub partitions: Option<usize>,
    /// Replication factor of new topics, at most the cluster's broker count.
    pub replication_factor: usize,
    /// `min.insync.replicas` of new topics, at most their replication factor.
    pub min_insync_replicas: usize,
    /// Retention of the dead-letter topic.
    pub dlt_retention: Duration,
    /// Retention of the main topic when this command creates it: the replay
    /// window (`None`: the broker's default).
    pub main_retention: Option<Duration>,
    /// The main topic's `max.message.bytes`: the largest record the gateway
    /// writes. The retry stages and the dead-letter topic get the hop's
    /// headroom more, so a record that fits the main topic fits every hop.
    pub main_max_message_bytes: usize,
}

/// Partitions when neither the option nor an existing main topic says.
pub const DEFAULT_PARTITIONS: usize = 6;
/// Replication factor of new topics unless told otherwise (Kafka's advice
/// for data that must not be lost).
pub const DEFAULT_REPLICATION_FACTOR: usize = 3;
/// `min.insync.replicas` unless told otherwise: with `acks=all` an
/// acknowledged record is on two brokers, and one broker may be down.
pub const DEFAULT_MIN_INSYNC_REPLICAS: usize = 2;
/// Retry records must outlive an outage of the group: at least this long.
pub const RETRY_RETENTION_FLOOR: Duration = Duration::from_secs(7 * 24 * 3600);
/// Where growing partitions is documented.
const GROWING_PARTITIONS: &str = "RUNBOOK.md, \"Growing partitions\"";

/// One topic to have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicSpec {
    /// Name.
    pub name: String,
    /// Topic configs set at creation (`retention.ms`, `cleanup.policy`, …).
    pub configs: BTreeMap<String, String>,
}

/// What the plan does with one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    /// Missing: created on `--execute`.
    Create,
    /// There with the wanted partition count: left as it is.
    Keep,
    /// There with another partition count: the plan is refused.
    Refuse {
        /// Its partition count.
        actual: usize,
    },
}

/// One topic of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedTopic {
    /// The topic as it is wanted.
    #[serde(flatten)]
    pub spec: TopicSpec,
    /// What happens to it.
    #[serde(flatten)]
    pub action: Action,
}

/// The whole plan: what would be created, what is kept, and why it is
/// refused, if it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The group.
    pub group: String,
    /// Partition count of every topic.
    pub partitions: usize,
    /// Replication factor of new topics (clamped to the broker count).
    pub replication_factor: usize,
    /// `min.insync.replicas` of new topics (clamped to the replication factor).
    pub min_insync_replicas: usize,
    /// Each topic.
    pub topics: Vec<PlannedTopic>,
    /// What the operator should know (clamped settings, weaker existing topics).
    pub warnings: Vec<String>,
    /// Why nothing may be created, when something is wrong.
    pub refusal: Option<String>,
}

impl Plan {
    /// The topics the plan creates.
    pub fn to_create(&self) -> impl Iterator<Item = &TopicSpec> {
        self.topics
            .iter()
            .filter(|t| t.action == Action::Create)
            .map(|t| &t.spec)
    }
}

/// The topics of `ladder`'s group and their creation configs.
pub fn specs(
    ladder: &Ladder,
    options: &EnsureOptions,
    min_insync_replicas: usize,
    dedupe_window: Duration,
) -> Vec<TopicSpec> {
    let ms = |d: Duration| d.as_millis().to_string();
    let min_isr = (
        "min.insync.replicas".to_owned(),
        min_insync_replicas.to_string(),
    );
    let mut main_configs = vec![
        min_isr.clone(),
        (
            "max.message.bytes".to_owned(),
            options.main_max_message_bytes.to_string(),
        ),
    ];
    if let Some(retention) = options.main_retention {
        main_configs.push(("retention.ms".to_owned(), ms(retention)));
    }
    let mut specs = vec![TopicSpec {
        name: ladder.topics().main().to_owned(),
        configs: main_configs.into_iter().collect(),
    }];
    let hop_limit = (
        "max.message.bytes".to_owned(),
        hop_record_limit(options.main_max_message_bytes).to_string(),
    );
    for stage in 1..ladder.len() {
        let retention = (ladder.delay(stage) * 10).max(RETRY_RETENTION_FLOOR);
        specs.push(TopicSpec {
            name: ladder.topic(stage).to_owned(),
            configs: [
                min_isr.clone(),
                ("retention.ms".into(), ms(retention)),
                hop_limit.clone(),
            ]
            .into(),
        });
    }
    specs.push(TopicSpec {
        name: ladder.topics().dlt(),
        configs: [
            min_isr.clone(),
            ("retention.ms".into(), ms(options.dlt_retention)),
            hop_limit,
        ]
        .into(),
    });
    specs.push(TopicSpec {
        name: ladder.topics().delivered(),
        configs: [
            min_isr,
            ("cleanup.policy".into(), "compact,delete".into()),
            (
                "retention.ms".into(),
                ms(dedupe_window + Duration::from_secs(24 * 3600)),
            ),
        ]
        .into(),
    });
    specs
}

/// Plans the group's topics against what `cluster` has. Pure: the caller
/// shows the plan and creates [`Plan::to_create`] only when it has no
/// refusal and the operator said `--execute`.
pub fn plan(
    ladder: &Ladder,
    options: &EnsureOptions,
    dedupe_window: Duration,
    cluster: &Cluster,
) -> Plan {
    let mut warnings = Vec::new();
    let brokers = cluster.brokers.max(1);
    let replication_factor = options.replication_factor.clamp(1, brokers);
    if replication_factor < options.replication_factor {
        warnings.push(format!(
            "replication factor {} asked, but the cluster has {brokers} broker(s): new topics get {replication_factor}{}",
            options.replication_factor,
            if replication_factor == 1 { "; an acknowledged record is then on one broker only" } else { "" }
        ));
    }
    let min_insync_replicas = options.min_insync_replicas.clamp(1, replication_factor);
    if min_insync_replicas < options.min_insync_replicas {
        warnings.push(format!(
            "min.insync.replicas {} asked, but new topics have {replication_factor} replica(s): they get {min_insync_replicas}",
            options.min_insync_replicas
        ));
    } else if min_insync_replicas == replication_factor && replication_factor > 1 {
        warnings.push(format!(
            "min.insync.replicas {min_insync_replicas} equals the replication factor: one broker down stops every write (the gateway answers 503 until it is back)"
        ));
    }

    let specs = specs(ladder, options, min_insync_replicas, dedupe_window);
    let main = ladder.topics().main();
    let main_count = cluster.partitions.get(main).copied();
    let mut refusal = None;
    if let (Some(asked), Some(actual)) = (options.partitions, main_count) {
        if asked != actual {
            refusal = Some(format!(
                "the main topic {main} has {actual} partitions, and every topic of a group needs the main topic's count: \
                 run again without --partitions (the group's topics are then created with {actual}); \
                 to grow the main topic itself, see {GROWING_PARTITIONS}"
            ));
        }
    }
    let partitions = main_count
        .or(options.partitions)
        .unwrap_or(DEFAULT_PARTITIONS);

    let topics: Vec<PlannedTopic> = specs
        .into_iter()
        .map(|spec| {
            let action = match cluster.partitions.get(&spec.name) {
                None => Action::Create,
                Some(&actual) if actual == partitions => Action::Keep,
                Some(&actual) => Action::Refuse { actual },
            };
            PlannedTopic { spec, action }
        })
        .collect();
    let mismatched: Vec<String> = topics
        .iter()
        .filter_map(|t| match t.action {
            Action::Refuse { actual } => Some(format!("{} ({actual})", t.spec.name)),
            _ => None,
        })
        .collect();
    if refusal.is_none() && !mismatched.is_empty() {
        let fix = if main_count.is_some() {
            format!(
                "they must have the main topic's {partitions}: if they hold nothing, delete them and run again; otherwise see {GROWING_PARTITIONS}"
            )
        } else {
            "the main topic does not exist yet: run again with --partitions set to their count"
                .to_owned()
        };
        refusal = Some(format!(
            "{} have another partition count than the plan's {partitions}; nothing was changed. {fix}",
            mismatched.join(", ")
        ));
    }
    warnings.extend(weaker_existing_topics(&topics, cluster));

    Plan {
        group: ladder.topics().group().to_owned(),
        partitions,
        replication_factor,
        min_insync_replicas,
        topics,
        warnings,
        refusal,
    }
}

/// Existing topics whose `min.insync.replicas` or `max.message.bytes` is
/// below the plan's (they are reported, never changed).
fn weaker_existing_topics(topics: &[PlannedTopic], cluster: &Cluster) -> Vec<String> {
    let mut warnings = Vec::new();
    for topic in topics.iter().filter(|t| t.action != Action::Create) {
        let Some(has) = cluster.configs.get(&topic.spec.name) else {
            continue;
        };
        for (key, wanted) in &topic.spec.configs {
            let weaker = match key.as_str() {
                "min.insync.replicas" | "max.message.bytes" => has
                    .get(key)
                    .and_then(|v| v.parse::<usize>().ok())
                    .zip(wanted.parse::<usize>().ok())
                    .is_some_and(|(has, wanted)| has < wanted),
                _ => false,
            };
            if weaker {
                warnings.push(format!(
                    "{} exists with {key}={} (the plan wants {wanted}; left unchanged): kafka-configs --alter --entity-type topics --entity-name {} --add-config {key}={wanted}",
                    topic.spec.name, has[key], topic.spec.name
                ));
            }
        }
    }
    warnings
}
