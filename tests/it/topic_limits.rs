//! Record-size limits as a default-configured Kafka enforces them: the
//! broker's `max.message.bytes` (1 MiB + 12 bytes) is below what the gateway
//! produces for a body at its own 1 MiB limit, so `topics ensure` sizes the
//! main topic for it; and `consumer run` warns when a later hop (a retry
//! stage, the DLT) takes smaller records than the main topic (read from the
//! broker with DescribeConfigs).

use std::time::Duration;

use http::StatusCode;
use switchboard_proto::GroupTopics;

use crate::downstream::Downstream;
use crate::harness::{
    assert_problem, create_topic, create_topic_with, eventually, read_topic, shared_kafka,
    unique_topic, Gateway, HttpClient,
};
use crate::pipeline::{consumer_command, ConsumerProcess};

/// The gateway's default body limit.
const BODY_LIMIT: usize = 1024 * 1024;

/// A JSON body of exactly `len` bytes whose padding lz4 cannot shrink
/// (pseudo-random base64 characters), so the record on the wire is as large
/// as the body: compression must not hide the broker's limit.
fn incompressible_body(len: usize, id: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let frame = format!(r#"{{"id":"{id}","pad":""}}"#);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let pad: String = (0..len - frame.len())
        .map(|_| {
            // xorshift64: cheap, deterministic, and without runs lz4 could use.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(ALPHABET[(state % 64) as usize])
        })
        .collect();
    let body = format!(r#"{{"id":"{id}","pad":"{pad}"}}"#);
    assert_eq!(body.len(), len);
    body
}

async fn post_at_limit(bootstrap: &str, topic: &str, id: &str) -> crate::harness::http::Reply {
    let gateway = Gateway::start(bootstrap, topic, None, &[]).await;
    gateway.wait_ready().await;
    HttpClient::new()
        .post_json(
            &gateway.url("/webhooks/genesys"),
            incompressible_body(BODY_LIMIT, id),
            &[],
        )
        .await
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_at_the_gateway_limit_needs_the_main_topic_that_topics_ensure_creates() {
    let bootstrap = shared_kafka().await.bootstrap();

    // A main topic with the broker's defaults refuses the record: the
    // sender is told 413 (never a 503 it would retry for ever).
    let plain = unique_topic("limit-plain");
    create_topic(&bootstrap, &plain, 1).await;
    let reply = post_at_limit(&bootstrap, &plain, "on-a-plain-topic").await;
    assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    assert!(read_topic(&bootstrap, &plain).await.is_empty());

    // The main topic as `topics ensure` creates it takes the same body.
    let main = unique_topic("limit-ensured");
    let env = [("SWITCHBOARD_TOPIC", main.as_str())];
    let (code, out) = consumer_command(
        &bootstrap,
        &env,
        &[
            "topics",
            "ensure",
            "--group",
            "sizing",
            "--partitions",
            "1",
            "--execute",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let reply = post_at_limit(&bootstrap, &main, "on-an-ensured-topic").await;
    assert_eq!(
        reply.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let records = read_topic(&bootstrap, &main).await;
    assert_eq!(records.len(), 1);
    assert!(
        records[0].value.len() > BODY_LIMIT,
        "the whole body is in the record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_run_warns_about_a_dlt_that_takes_smaller_records_than_main() {
    let bootstrap = shared_kafka().await.bootstrap();
    let main = unique_topic("limit-dlt");
    let group = format!("{main}-group");
    let topics = GroupTopics::new(&main, &group).expect("names");
    let retries = [
        topics.retry(switchboard_proto::topics::RETRY_1M),
        topics.retry(switchboard_proto::topics::RETRY_10M),
    ];
    for topic in [main.clone(), topics.delivered()].iter().chain(&retries) {
        create_topic(&bootstrap, topic, 1).await;
    }
    // The broker default for main and the retry stages; the DLT made small.
    create_topic_with(
        &bootstrap,
        &topics.dlt(),
        1,
        &[("max.message.bytes", "200000")],
    )
    .await;

    let downstream = Downstream::start(200, Duration::ZERO).await;
    let consumer = ConsumerProcess::start(&bootstrap, &main, &group, &downstream.url(), &[]).await;
    let warning = "takes smaller records than the main topic";
    let line = eventually("the warning", Duration::from_secs(30), || async {
        consumer
            .log_text()
            .lines()
            .find(|l| l.contains(warning))
            .map(str::to_owned)
    })
    .await;
    assert!(line.contains(&topics.dlt()), "names the DLT: {line}");
    assert!(line.contains("200000"), "with its limit: {line}");
    let warned = consumer.log_text().matches(warning).count();
    assert_eq!(warned, 1, "only the DLT is smaller than main");
}
