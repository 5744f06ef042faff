//! The consumer with its broker gone and back: after a restart that forgot
//! everything (tansu's memory engine; on Kafka, a cluster rebuilt from
//! nothing), the same consumer process rejoins its group and delivers again.

use std::time::Duration;

use crate::downstream::Downstream;
use crate::harness::{eventually, unique_topic, Broker};
use crate::pipeline::{create_group_topics, ids, produce_events, ConsumerProcess};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_delivers_again_after_a_broker_restart_without_being_restarted() {
    let mut broker = Broker::start().await;
    let bootstrap = broker.bootstrap();
    let main = unique_topic("conrestart");
    let group = format!("{main}-group");
    create_group_topics(&bootstrap, &main, &group, 2).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let consumer = ConsumerProcess::start(&bootstrap, &main, &group, &downstream.url(), &[]).await;
    let before = ids("before", 4);
    produce_events(&bootstrap, &main, &before).await;
    eventually(
        "delivered before the restart",
        Duration::from_secs(30),
        || async {
            let successes = downstream.successes();
            before
                .iter()
                .all(|id| successes.contains_key(id))
                .then_some(())
        },
    )
    .await;

    // The broker stays down until the consumer has given its partitions up
    // (no heartbeat for a session timeout), and only then comes back. A
    // consumer still fetching by the old topic ids crashes on the restarted
    // tansu: it answers an unknown topic id with a zero id and a current
    // leader, which librdkafka 2.12 turns into a metadata update with no
    // topic name and dereferences (strcmp on NULL in
    // rd_kafka_metadata_cache_find; core dump, RELIABILITY.md). Kafka
    // answers UNKNOWN_TOPIC_ID without a leader. The test creates the topics
    // again: tansu forgot them (shared BROKER.md).
    broker.kill();
    consumer.wait_assigned(0).await;
    broker.start_again().await;
    create_group_topics(&bootstrap, &main, &group, 2).await;
    let after = ids("after", 4);
    produce_events(&bootstrap, &main, &after).await;
    // The consumer's subscription sees the recreated topics at its next
    // metadata refresh (every 30 s): within a minute.
    eventually(
        "delivered after the restart",
        Duration::from_secs(60),
        || async {
            let successes = downstream.successes();
            after
                .iter()
                .all(|id| successes.contains_key(id))
                .then_some(())
        },
    )
    .await;
    let successes = downstream.successes();
    assert!(
        before.iter().all(|id| successes[id] == 1),
        "nothing twice: {successes:?}"
    );
    drop(consumer);
}
