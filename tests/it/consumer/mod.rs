//! The consumer end to end: real broker, real consumer processes, a real
//! downstream HTTP server.

mod dedupe;
mod delivery;
mod holds;
mod restarts;

use std::collections::HashMap;
use std::time::{Duration, Instant};
use switchboard_consumer::metrics;

use prost::Message as _;
use switchboard_proto::{headers as h, Envelope, GroupTopics};

use crate::downstream::{Answer, Downstream};
use crate::harness::{create_topic, log_dir};
use crate::harness::{eventually, read_topic, shared_kafka, unique_topic, Record};
use crate::pipeline::{
    committed, consumer_command, consumer_command_full, create_group_topics, envelope, ids,
    produce_envelopes, produce_events, produce_events_from, produce_raw, ConsumerProcess,
};

struct Setup {
    bootstrap: String,
    main: String,
    group: String,
    topics: GroupTopics,
}

async fn setup(name: &str, partitions: i32) -> Setup {
    let bootstrap = shared_kafka().await.bootstrap();
    let main = unique_topic(name);
    let group = format!("{main}-group");
    create_group_topics(&bootstrap, &main, &group, partitions).await;
    let topics = GroupTopics::new(&main, &group).expect("names");
    Setup {
        bootstrap,
        main,
        group,
        topics,
    }
}

impl Setup {
    async fn consumer(&self, downstream: &Downstream, env: &[(&str, &str)]) -> ConsumerProcess {
        ConsumerProcess::start(
            &self.bootstrap,
            &self.main,
            &self.group,
            &downstream.url(),
            env,
        )
        .await
    }

    async fn read(&self, topic: &str) -> Vec<Record> {
        read_topic(&self.bootstrap, topic).await
    }
}

/// A consumer configuration with the destination's breaker off, for tests
/// of the retry ladder that fail many different events at once (which the
/// breaker would rightly take for a destination that is down).
fn no_breaker_config() -> String {
    let path = log_dir().join(format!("{}.toml", unique_topic("no-breaker")));
    std::fs::write(&path, "[downstream]\nbreaker = { open_after = 0 }\n").expect("config");
    path.to_string_lossy().into_owned()
}

async fn wait_records(setup: &Setup, topic: &str, count: usize) -> Vec<Record> {
    eventually(
        &format!("{count} records on {topic}"),
        Duration::from_secs(30),
        || async {
            let records = setup.read(topic).await;
            (records.len() >= count).then_some(records)
        },
    )
    .await
}
