//! Topic metadata questions every component asks: do these topics exist,
//! with how many partitions, and what is one of their configs? All but
//! [`topic_config`] block: run them on a blocking thread.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::client::{Client, ClientContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Partition counts of those `topics` that exist. One metadata request per
/// topic, so a large cluster's other topics are never listed.
pub fn partition_counts<C: ClientContext>(
    client: &Client<C>,
    topics: &[String],
    timeout: Duration,
) -> Result<BTreeMap<String, usize>, KafkaError> {
    let mut counts = BTreeMap::new();
    for topic in topics {
        if let Some(partitions) = partitions(client, topic, timeout)? {
            counts.insert(topic.clone(), partitions.len());
        }
    }
    Ok(counts)
}

/// The partition ids of `topic`, sorted, or `None` when it does not exist.
/// A topic this identity may not describe is an error
/// (`TopicAuthorizationFailed`), never "does not exist": the broker hides
/// whether it does.
pub fn partitions<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    timeout: Duration,
) -> Result<Option<Vec<i32>>, KafkaError> {
    let metadata = client.fetch_metadata(Some(topic), timeout)?;
    let refused = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .filter_map(|t| t.error().map(RDKafkaErrorCode::from))
        .find(|code| *code == RDKafkaErrorCode::TopicAuthorizationFailed);
    if let Some(code) = refused {
        return Err(KafkaError::MetadataFetch(code));
    }
    let mut ids: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    ids.sort_unstable();
    Ok((!ids.is_empty()).then_some(ids))
}

/// Ok when the broker answers and every one of `topics` exists; otherwise
/// why not, in words (for readiness logs).
pub fn require_topics<C: ClientContext>(
    client: &Client<C>,
    topics: &[String],
    timeout: Duration,
) -> Result<(), String> {
    let counts = partition_counts(client, topics, timeout)
        .map_err(|e| format!("metadata request failed: {e}"))?;
    let missing: Vec<&str> = topics
        .iter()
        .filter(|t| !counts.contains_key(*t))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("topics {missing:?} do not exist"))
    }
}

/// The value of the topic config `name` (for example `max.message.bytes`)
/// of each of `topics`, as the broker describes it (DescribeConfigs); a
/// topic the broker did not describe is left out.
pub async fn topic_config(
    settings: &super::KafkaSettings,
    topics: &[String],
    name: &str,
    timeout: Duration,
) -> Result<BTreeMap<String, String>, KafkaError> {
    Ok(topic_configs(settings, topics, timeout)
        .await?
        .into_iter()
        .filter_map(|(topic, mut configs)| Some((topic, configs.remove(name)?)))
        .collect())
}

/// Every config of each of `topics` that has a value, as the broker
/// describes them (DescribeConfigs); a topic the broker did not describe is
/// left out.
pub async fn topic_configs(
    settings: &super::KafkaSettings,
    topics: &[String],
    timeout: Duration,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, KafkaError> {
    use rdkafka::admin::{AdminClient, AdminOptions, OwnedResourceSpecifier, ResourceSpecifier};
    let admin: AdminClient<super::KafkaLog> = settings
        .plain_client()
        .client_config()
        .create_with_context(super::KafkaLog)?;
    let resources: Vec<ResourceSpecifier<'_>> =
        topics.iter().map(|t| ResourceSpecifier::Topic(t)).collect();
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let described = admin.describe_configs(&resources, &options).await?;
    Ok(described
        .into_iter()
        .flatten()
        .filter_map(|resource| {
            let OwnedResourceSpecifier::Topic(topic) = &resource.specifier else {
                return None;
            };
            let configs = resource
                .entries
                .iter()
                .filter_map(|entry| Some((entry.name.clone(), entry.value.clone()?)))
                .collect();
            Some((topic.clone(), configs))
        })
        .collect())
}
