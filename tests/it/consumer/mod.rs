//! The consumer end to end: real broker, real consumer processes, a real
//! downstream HTTP server.

mod dedupe;
mod delivery;
mod holds;
mod memory;
mod restarts;

use std::collections::HashMap;
use std::time::{Duration, Instant};
use switchboard_consumer::metrics;

use prost::Message as _;
use switchboard_proto::{headers as h, Envelope, GroupTopics};

use crate::downstream::{Answer, Downstream};
use crate::harness::{create_topic, log_dir};
use crate::harness::{eventually, shared_kafka, unique_topic, Record};
use crate::pipeline::{
    committed, consumer_command, consumer_command_full, envelope, fresh_group, ids,
    produce_envelopes, produce_events, produce_events_from, produce_raw, FreshGroup,
};

/// A consumer configuration with the destination's breaker off, for tests
/// of the retry ladder that fail many different events at once (which the
/// breaker would rightly take for a destination that is down).
fn no_breaker_config() -> String {
    let path = log_dir().join(format!("{}.toml", unique_topic("no-breaker")));
    std::fs::write(&path, "[destination]\nbreaker = { open_after = 0 }\n").expect("config");
    path.to_string_lossy().into_owned()
}

async fn wait_records(setup: &FreshGroup, topic: &str, count: usize) -> Vec<Record> {
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
