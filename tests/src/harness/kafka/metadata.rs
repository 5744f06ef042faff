//! What the cluster's metadata says about a topic's partitions: leaders and
//! in-sync replicas, to find the node to kill, to time Kafka's own failover,
//! and to wait until a restarted node has caught up.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

/// One partition as the metadata describes it.
#[derive(Debug, Clone)]
pub struct PartitionView {
    /// The partition number.
    pub partition: i32,
    /// The leader's `node.id` (-1: none).
    pub leader: i32,
    /// The in-sync replicas' ids.
    pub isr: Vec<i32>,
    /// Every replica's id.
    pub replicas: Vec<i32>,
}

/// A fresh, quiet client that only asks for metadata (`None` when it cannot
/// be made).
pub(super) fn metadata_client(bootstrap: &str) -> Option<BaseConsumer> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("log_level", "0")
        .create::<BaseConsumer>()
        .ok()
}

/// `topic`'s partitions as a fresh client reads them (empty when no broker
/// answered within 2 s).
pub async fn partitions(bootstrap: &str, topic: &str) -> Vec<PartitionView> {
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let Some(client) = metadata_client(&bootstrap) else {
            return Vec::new();
        };
        let Ok(metadata) = client.fetch_metadata(Some(&topic), Duration::from_secs(2)) else {
            return Vec::new();
        };
        metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions())
            .map(|p| PartitionView {
                partition: p.id(),
                leader: p.leader(),
                isr: p.isr().to_vec(),
                replicas: p.replicas().to_vec(),
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}

/// The node that leads most of `topic`'s partitions.
pub async fn busiest_leader(bootstrap: &str, topic: &str) -> i32 {
    let views = partitions(bootstrap, topic).await;
    let mut counts = std::collections::BTreeMap::<i32, usize>::new();
    for view in views.iter().filter(|v| v.leader >= 0) {
        *counts.entry(view.leader).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("{topic} has no leader: {views:?}"))
}

/// Waits until no partition of `topic` has `gone` as its leader or among its
/// in-sync replicas: Kafka fenced it, so a leader on a live node acknowledges
/// `acks=all` writes again without waiting for it. Returns when the metadata
/// first said so: Kafka's own failover, for every partition.
pub async fn wait_fenced_out(bootstrap: &str, topic: &str, gone: i32, within: Duration) -> Instant {
    let deadline = Instant::now() + within;
    loop {
        let views = partitions(bootstrap, topic).await;
        if !views.is_empty()
            && views
                .iter()
                .all(|v| v.leader >= 0 && v.leader != gone && !v.isr.contains(&gone))
        {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "{topic}: node {gone} still leads or is in sync after {within:?}: {views:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until every partition of every topic in `topics` has its full
/// replica set in sync (a restarted node caught up).
pub async fn wait_full_isr(bootstrap: &str, topics: &[String], within: Duration) {
    let deadline = Instant::now() + within;
    for topic in topics {
        loop {
            let views = partitions(bootstrap, topic).await;
            if !views.is_empty()
                && views
                    .iter()
                    .all(|v| v.leader >= 0 && v.isr.len() == v.replicas.len())
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{topic}: replicas not all in sync within {within:?}: {views:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
