//! Producer supervision: the runtime, not a readiness probe, keeps a
//! [`ReplaceableProducer`] healthy. One task per producer, every interval,
//! while the broker answers and the producer's topics exist: replaces the
//! producer when it turned fatal or stalled ([`super::rebuild`]), warms a
//! new one for its first write, and records what it found. Readiness reads
//! that finding ([`ReplaceableProducer::health`]) and does nothing else, so
//! a change to a probe can never stop recovery.

use std::sync::Arc;
use std::time::Duration;

use super::ReplaceableProducer;

/// Supervises `producer` for writing to `topics`, every `every`, each look
/// bounded by `timeout`; runs until its task is aborted.
pub async fn supervise(
    producer: Arc<ReplaceableProducer>,
    topics: Vec<String>,
    every: Duration,
    timeout: Duration,
) {
    let topics = Arc::new(topics);
    loop {
        let (looked_at, wanted) = (producer.clone(), topics.clone());
        let found = tokio::task::spawn_blocking(move || {
            // Only while the broker answers: an outage is not a stall.
            looked_at.require_topics(&wanted, timeout)?;
            looked_at.check()
        })
        .await
        .unwrap_or_else(|error| Err(format!("producer supervision panicked: {error}")));
        producer.record_health(found);
        tokio::time::sleep(every).await;
    }
}
