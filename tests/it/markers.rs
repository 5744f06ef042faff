//! The delivered-marker reader against a real Kafka log that changes under
//! it: a delivered topic deleted and created again (an operator's clean-up)
//! leaves a running consumer's read positions past the new log's end, and
//! the broker answers OFFSET_OUT_OF_RANGE. The reader must start the new log
//! from its beginning, not fail every later load of that partition.

use std::time::Duration;

use switchboard_consumer::dedupe::{dedupe_key, id_hash, DeliveredSet};
use switchboard_consumer::marker::{Marker, MarkerLoader};
use switchboard_runtime::kafka::KafkaSettings;
use switchboard_runtime::time::unix_ms;

use crate::harness::{create_topic, delete_topic, shared_kafka, unique_topic};
use crate::pipeline::produce_raw;

const WINDOW: Duration = Duration::from_secs(3600);

async fn write_markers(bootstrap: &str, topic: &str, keys: &[String]) {
    let value = Marker {
        stage: "main",
        attempt: 1,
        member: "markers-test",
    }
    .to_bytes();
    for key in keys {
        produce_raw(bootstrap, topic, key, &value).await;
    }
}

/// Loads `set` from partition 0 of `topic` on a blocking thread. (Each
/// load of the product's loader uses a client of its own, so a loader made
/// per load is the consumer's own.)
async fn load(
    bootstrap: &str,
    topic: &str,
    set: DeliveredSet,
) -> (Result<usize, String>, DeliveredSet) {
    let settings = KafkaSettings::from_pairs([("bootstrap.servers", bootstrap)]);
    let loader = MarkerLoader::new(&settings, topic).expect("loader");
    tokio::task::spawn_blocking(move || {
        let mut set = set;
        let read = loader
            .load(&mut [(0, &mut set)], WINDOW, Duration::from_secs(20))
            .map_err(|e| e.to_string());
        (read, set)
    })
    .await
    .expect("loader thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivered_topic_created_again_is_read_from_its_new_beginning() {
    let bootstrap = shared_kafka().await.bootstrap();
    let topic = unique_topic("markers-recreated");
    create_topic(&bootstrap, &topic, 1).await;
    let keys = |prefix: &str, n: usize| -> Vec<String> {
        (0..n)
            .map(|i| dedupe_key("genesys", &format!("{prefix}-{i}")))
            .collect()
    };
    let before = keys("before", 10);
    write_markers(&bootstrap, &topic, &before).await;

    let (read, set) = load(&bootstrap, &topic, DeliveredSet::new(WINDOW)).await;
    assert_eq!(read, Ok(10));
    assert_eq!(set.next_marker_offset, Some(10));

    delete_topic(&bootstrap, &topic).await;
    create_topic(&bootstrap, &topic, 1).await;
    let after = keys("after", 3);
    write_markers(&bootstrap, &topic, &after).await;

    // The same set, as the running consumer keeps it: its position (10) is
    // past the new log's end (3).
    let (read, set) = load(&bootstrap, &topic, set).await;
    assert_eq!(
        read,
        Ok(3),
        "the new log is read from offset 0, its three markers"
    );
    let now = unix_ms();
    for key in &after {
        assert!(set.contains(id_hash(key), now), "{key} loaded");
    }
    assert_eq!(set.next_marker_offset, Some(3));

    // And the next catch-up reads only what is new.
    let more = keys("more", 2);
    write_markers(&bootstrap, &topic, &more).await;
    let (read, set) = load(&bootstrap, &topic, set).await;
    assert_eq!(read, Ok(2));
    assert_eq!(set.next_marker_offset, Some(5));
}
