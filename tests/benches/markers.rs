//! What a large dedupe window costs a consumer that takes over a partition:
//! time from assignment to the first delivery with N delivered markers in
//! the window (default 1,000,000), set against a ceiling measured in the same
//! run (a bare librdkafka consumer reading the same markers), and the
//! consumer's resident memory once it holds them. Prints numbers; asserts
//! nothing.
//!
//! `cargo bench -p switchboard-tests --bench markers` (BENCH_MARKERS to change).

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use switchboard_proto::{headers as h, GroupTopics};

use downstream::Downstream;
use harness::process::memory_mib;
use harness::{eventually, Kafka};
use pipeline::{create_group_topics, produce_events, ConsumerProcess};
use switchboard_tests::{downstream, harness, pipeline};

/// Writes `count` delivered markers to partition 0 of `topic`, as consumers write them.
async fn write_markers(bootstrap: &str, topic: &str, count: usize) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("producer");
    let value = br#"{"stage":"main","attempt":1}"#;
    for chunk in (0..count).collect::<Vec<_>>().chunks(50_000) {
        let mut pending = Vec::with_capacity(chunk.len());
        for i in chunk {
            let id = format!("m-{i:09}");
            let key = format!("genesys/{id}");
            let headers = OwnedHeaders::new_with_capacity(2)
                .insert(Header {
                    key: h::EVENT_ID,
                    value: Some(id.as_str()),
                })
                .insert(Header {
                    key: h::SOURCE,
                    value: Some("genesys"),
                });
            let record = FutureRecord::to(topic)
                .partition(0)
                .key(&key)
                .payload(&value[..])
                .headers(headers);
            pending.push(producer.send_result(record).expect("queued"));
        }
        for delivery in pending {
            delivery.await.expect("delivered").expect("acked");
        }
    }
}

/// Reads `count` records of partition 0 of `topic` with a bare consumer.
fn bare_read(bootstrap: &str, topic: &str, count: usize) -> Duration {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-markers-ceiling")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&assignment).expect("assign");
    let started = Instant::now();
    let mut read = 0;
    while read < count {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
            read += 1;
        }
    }
    started.elapsed()
}

/// Seconds since midnight of a log line's RFC 3339 timestamp (`…THH:MM:SS.ffffffZ`).
fn log_seconds(line: &str) -> Option<f64> {
    let time = line.split('T').nth(1)?.split('Z').next()?;
    let mut parts = time.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
}

#[tokio::main]
async fn main() {
    let markers: usize = harness::bench_setting("BENCH_MARKERS", 1_000_000);
    let broker = Kafka::start().await;
    let bootstrap = broker.bootstrap();
    let (main, group) = ("bench-markers", "bench");
    create_group_topics(&bootstrap, main, group, 1).await;
    let delivered = GroupTopics::new(main, group).expect("names").delivered();
    let written = Instant::now();
    write_markers(&bootstrap, &delivered, markers).await;
    println!("markers: {markers} written in {:.1?}", written.elapsed());
    let bare = {
        let (bootstrap, delivered) = (bootstrap.clone(), delivered.clone());
        tokio::task::spawn_blocking(move || bare_read(&bootstrap, &delivered, markers))
            .await
            .expect("reader")
    };
    produce_events(&bootstrap, main, &["first".to_owned()]).await;

    let downstream = Downstream::start(200, Duration::ZERO).await;
    let consumer = ConsumerProcess::start(&bootstrap, main, group, &downstream.url(), &[]).await;
    eventually("the first delivery", Duration::from_secs(600), || async {
        downstream.seen().first().map(|s| s.at_ms)
    })
    .await;
    let log = consumer.log_text();
    let assigned = log
        .lines()
        .find(|l| l.contains("partitions assigned"))
        .and_then(log_seconds);
    let loaded_at = log
        .lines()
        .find(|l| l.contains("dedupe markers loaded"))
        .and_then(log_seconds);
    let first_ms = downstream.seen().first().map_or(0, |s| s.at_ms);
    let first_s = (first_ms % 86_400_000) as f64 / 1000.0;
    let rss = memory_mib("VmRSS", consumer.pid());
    let load_line = log
        .lines()
        .find(|l| l.contains("dedupe markers loaded"))
        .unwrap_or("")
        .to_owned();
    if let (Some(assigned), Some(loaded)) = (assigned, loaded_at) {
        let to_first = first_s - assigned;
        println!(
            "  assignment -> markers in   {:>7.2} s   ({})",
            loaded - assigned,
            load_line.split("took=").nth(1).unwrap_or("?").trim()
        );
        println!("  assignment -> first delivery {to_first:>6.2} s");
        println!(
            "  ceiling: a bare consumer reads the {markers} markers in {:.2} s; ratio load/ceiling {:.2}",
            bare.as_secs_f64(),
            (loaded - assigned) / bare.as_secs_f64()
        );
    }
    println!("  consumer RSS holding {markers} ids: {rss:.0} MiB");
}
