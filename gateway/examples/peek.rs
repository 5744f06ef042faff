//! Prints every record of a topic, from the beginning to the current end:
//! where it landed, its key and what its envelope says.
//!
//! `cargo run -p switchboard-gateway --example peek -- <brokers> <topic>`

use std::collections::HashSet;
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use switchboard_proto::Envelope;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(brokers), Some(topic)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: peek <brokers> <topic>");
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "switchboard-peek")
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .first()
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    anyhow::ensure!(!partitions.is_empty(), "topic {topic} not found");
    let mut assignment = TopicPartitionList::new();
    for partition in &partitions {
        assignment.add_partition_offset(&topic, *partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;

    println!(
        "{:<4} {:<7} {:<40} {:<8} {:<16} {:>6}",
        "part", "offset", "key (event id)", "source", "id from", "bytes"
    );
    let mut done = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while done.len() < partitions.len() && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                done.insert(partition);
            }
            Some(Err(error)) => anyhow::bail!("consume failed: {error}"),
            Some(Ok(record)) => {
                let key = String::from_utf8_lossy(record.key().unwrap_or_default()).into_owned();
                let (source, origin, bytes) =
                    match Envelope::decode(record.payload().unwrap_or_default()) {
                        Ok(envelope) => (
                            envelope.source.clone(),
                            format!("{:?}", envelope.id_origin()),
                            envelope.body.len().to_string(),
                        ),
                        Err(_) => ("?".into(), "not an envelope".into(), "?".into()),
                    };
                let key = if key.len() > 40 {
                    format!("{}…", &key[..39])
                } else {
                    key
                };
                println!(
                    "{:<4} {:<7} {:<40} {:<8} {:<16} {:>6}",
                    record.partition(),
                    record.offset(),
                    key,
                    source,
                    origin,
                    bytes
                );
            }
        }
    }
    Ok(())
}
