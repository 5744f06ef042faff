//! What the cluster has (brokers, the group's existing topics and their
//! configs), read before planning, and the creation of a plan's topics.

use std::collections::BTreeMap;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use switchboard_runtime::kafka::metadata::{partition_counts, topic_configs};
use switchboard_runtime::kafka::KafkaSettings;
use tracing::debug;

use super::Plan;
use crate::ops::{client_config, OpsError, TIMEOUT};

/// What the cluster has, as far as the plan cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cluster {
    /// Brokers in the cluster's metadata.
    pub brokers: usize,
    /// Partition count of each existing topic of the plan.
    pub partitions: BTreeMap<String, usize>,
    /// Configs of each existing topic, when the broker describes them.
    pub configs: BTreeMap<String, BTreeMap<String, String>>,
}

/// Reads what the cluster has of `topics`.
pub async fn read(kafka: &KafkaSettings, topics: &[String]) -> Result<Cluster, OpsError> {
    let admin: AdminClient<DefaultClientContext> = client_config(kafka).create()?;
    let brokers = admin.inner().fetch_metadata(None, TIMEOUT)?.brokers().len();
    let partitions = partition_counts(admin.inner(), topics, TIMEOUT)?;
    let existing: Vec<String> = partitions.keys().cloned().collect();
    let configs = if existing.is_empty() {
        BTreeMap::new()
    } else {
        // Only for warnings: a broker that cannot describe configs leaves
        // them out rather than failing the set-up.
        topic_configs(kafka, &existing, TIMEOUT)
            .await
            .unwrap_or_else(|error| {
                debug!(%error, "existing topic configs not described");
                BTreeMap::new()
            })
    };
    Ok(Cluster {
        brokers,
        partitions,
        configs,
    })
}

/// Creates the plan's missing topics in one request; returns their names.
/// A topic created meanwhile by someone else counts as created.
pub async fn create(kafka: &KafkaSettings, plan: &Plan) -> Result<Vec<String>, OpsError> {
    if let Some(why) = &plan.refusal {
        return Err(OpsError::Refused(why.clone()));
    }
    let admin: AdminClient<DefaultClientContext> = client_config(kafka).create()?;
    let topics: Vec<NewTopic<'_>> = plan
        .to_create()
        .map(|spec| {
            spec.configs.iter().fold(
                NewTopic::new(
                    &spec.name,
                    plan.partitions as i32,
                    TopicReplication::Fixed(plan.replication_factor as i32),
                ),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    if topics.is_empty() {
        return Ok(Vec::new());
    }
    let options = AdminOptions::new().operation_timeout(Some(std::time::Duration::from_secs(30)));
    let mut created = Vec::new();
    let mut failed = Vec::new();
    for result in admin.create_topics(&topics, &options).await? {
        match result {
            Ok(name) | Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => created.push(name),
            Err((name, code)) => failed.push(format!("{name}: {code}")),
        }
    }
    if failed.is_empty() {
        Ok(created)
    } else {
        Err(OpsError::Failed(format!(
            "creating topics failed: {}; created: {created:?}. Run again once the cause is fixed (existing topics are kept)",
            failed.join(", ")
        )))
    }
}
