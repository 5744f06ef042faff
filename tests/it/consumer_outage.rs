//! The consumer with its broker gone and back: the broker crashes (SIGKILL)
//! under a running consumer and restarts with its data; the same consumer
//! process reconnects, rejoins its group and delivers again.

use std::time::Duration;

use crate::downstream::Downstream;
use crate::harness::{eventually, unique_topic, Kafka};
use crate::pipeline::{create_group_topics, ids, produce_events, ConsumerProcess};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_delivers_again_after_a_broker_restart_without_being_restarted() {
    let mut broker = Kafka::start().await;
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

    // A crash, not a clean shutdown: the consumer's connections break, its
    // fetches and heartbeats fail until the node is back with its topics,
    // committed offsets and group state.
    broker.kill();
    broker.start_again().await;
    let after = ids("after", 4);
    produce_events(&bootstrap, &main, &after).await;
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
