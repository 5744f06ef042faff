//! What `consumer events trace` costs over a day of traffic: a 5,000-agent
//! centre's day (4.5 M events over 12 partitions: 375 k events and as many
//! delivered markers in the partition one id maps to), then the trace of an
//! id sent last, timed as an operator runs it (the release binary, a new
//! process), set against a ceiling measured in the same run: a bare
//! librdkafka consumer reading the same two partitions. Prints numbers;
//! asserts nothing.
//!
//! `cargo bench -p switchboard-tests --bench trace` (BENCH_TRACE_EVENTS to change).

use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use switchboard_proto::{headers as h, GroupTopics};
use switchboard_runtime::kafka::partitioner::partition_of;
use switchboard_runtime::kafka::KafkaSettings;

use harness::{fixture, Kafka};
use pipeline::{consumer_command_full, create_group_topics, envelope};
use switchboard_tests::{harness, pipeline};

const PARTITIONS: i32 = 12;

/// Writes `count` records made by `record(i)` (key, value, marker?) to
/// `partition` of `topic`.
async fn fill(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    count: usize,
    record: impl Fn(usize) -> (String, Vec<u8>),
    headers: impl Fn(&str) -> OwnedHeaders,
) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .set("compression.type", "lz4")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("producer");
    for chunk in (0..count).collect::<Vec<_>>().chunks(20_000) {
        let mut pending = Vec::with_capacity(chunk.len());
        for &i in chunk {
            let (key, value) = record(i);
            let record = FutureRecord::to(topic)
                .partition(partition)
                .key(&key)
                .payload(&value)
                .headers(headers(&key));
            pending.push(producer.send_result(record).expect("queued"));
        }
        for delivery in pending {
            delivery.await.expect("delivered").expect("acked");
        }
    }
}

/// Reads `partition` of each of `topics` to its end with a bare consumer.
fn bare_read(bootstrap: &str, topics: &[String], partition: i32) -> (Duration, usize) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-trace-ceiling")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let started = Instant::now();
    let mut read = 0;
    for topic in topics {
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .expect("partition");
        consumer.assign(&assignment).expect("assign");
        loop {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(_)) => read += 1,
                Some(Err(KafkaError::PartitionEOF(_))) => break,
                _ => {}
            }
        }
    }
    (started.elapsed(), read)
}

#[tokio::main]
async fn main() {
    let events: usize = harness::bench_setting("BENCH_TRACE_EVENTS", 375_000);
    let broker = Kafka::start().await;
    let bootstrap = broker.bootstrap();
    let (main, group) = ("bench-trace", "bench");
    create_group_topics(&bootstrap, main, group, PARTITIONS).await;
    let topics = GroupTopics::new(main, group).expect("names");
    let traced = "trace-me";
    let partition = partition_of(&KafkaSettings::default(), traced.as_bytes(), PARTITIONS)
        .expect("a partition");
    let body = fixture("genesys/eventbridge-conversation-customer-end.json");
    let id = |i: usize| {
        if i + 1 == events {
            traced.to_owned()
        } else {
            format!("e-{i:09}")
        }
    };
    let written = Instant::now();
    fill(
        &bootstrap,
        main,
        partition,
        events,
        |i| {
            let mut event = envelope(&id(i), "genesys");
            event.body = body.clone().into();
            (id(i), event.encode_to_vec())
        },
        |key| {
            OwnedHeaders::new_with_capacity(2)
                .insert(Header {
                    key: h::EVENT_ID,
                    value: Some(key),
                })
                .insert(Header {
                    key: h::SOURCE,
                    value: Some("genesys"),
                })
        },
    )
    .await;
    fill(
        &bootstrap,
        &topics.delivered(),
        partition,
        events,
        |i| {
            (
                format!("genesys/{}", id(i)),
                br#"{"stage":"main","attempt":1}"#.to_vec(),
            )
        },
        |_| OwnedHeaders::new(),
    )
    .await;
    println!(
        "trace: {events} events ({} bytes of body each) and {events} markers written to partition {partition} in {:.1?}",
        body.len(),
        written.elapsed()
    );

    let (bare, bare_read_count) = {
        let bootstrap = bootstrap.clone();
        let read = vec![main.to_owned(), topics.delivered()];
        tokio::task::spawn_blocking(move || bare_read(&bootstrap, &read, partition))
            .await
            .expect("reader")
    };
    let env = [("SWITCHBOARD_TOPIC", main), ("CONSUMER_GROUP", group)];
    let args = [
        "events", "trace", "--source", "genesys", "--id", traced, "--since", "1d", "--json",
    ];
    // Built before the clock starts: the first call builds the binaries.
    harness::process::workspace_binary("consumer");
    let started = Instant::now();
    let (code, stdout, _) = consumer_command_full(&bootstrap, &env, &args).await;
    let took = started.elapsed();
    let answer: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_default();
    println!(
        "  trace (exit {code}, {}): {:.2} s, {} records read",
        answer["ending"]["state"].as_str().unwrap_or("?"),
        took.as_secs_f64(),
        answer["records_read"]
    );
    println!(
        "  ceiling: a bare consumer reads the same {bare_read_count} records in {:.2} s; ratio trace/ceiling {:.2}",
        bare.as_secs_f64(),
        took.as_secs_f64() / bare.as_secs_f64()
    );
}
