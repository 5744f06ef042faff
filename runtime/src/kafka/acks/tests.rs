//! Unit tests of serving delivery reports, on librdkafka's mock cluster.

use super::*;
use rdkafka::mocking::MockCluster;
use rdkafka::types::RDKafkaErrorCode;

fn config(bootstrap: &str, linger_ms: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", linger_ms)
        .set("message.timeout.ms", "10000");
    config
}

/// Sends record `n` and waits (at most 10 s) for its delivery report.
async fn deliver(producer: &AckedProducer, n: i64, late: &str) -> Acked {
    let ack = producer
        .send(FutureRecord::to("t").key("k").payload(&format!("{n}")))
        .expect("queued");
    tokio::time::timeout(Duration::from_secs(10), ack)
        .await
        .expect(late)
        .expect("a report")
        .expect("delivered")
}

#[tokio::test]
async fn librdkafka_wakes_the_task_that_serves_reports() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("t", 1, 1).expect("topic");
    // No safety net within the test's time: only librdkafka's wake-up
    // can get the reports served.
    let producer = AckedProducer::serving_at_least_every(
        &config(&cluster.bootstrap_servers(), "0"),
        Duration::from_secs(3600),
    )
    .expect("producer");
    assert!(matches!(producer.server, Server::Task(_)));
    let mut offsets = Vec::new();
    for n in 0..3 {
        offsets.push(deliver(&producer, n, "a report in time").await.offset);
    }
    assert_eq!(offsets, [0, 1, 2]);
}

#[tokio::test]
async fn log_lines_in_the_queue_do_not_hold_the_reports_behind_them() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("t", 1, 1).expect("topic");
    // librdkafka's debug lines share the main queue with the reports
    // (rust-rdkafka sets `log.queue`): the client's start fills the
    // queue before its wake-up is enabled, and with every record logged
    // each report has log lines queued ahead of it. No safety net within
    // the test's time, so only serving until the queue is empty, from
    // the start, delivers.
    let mut logging = config(&cluster.bootstrap_servers(), "0");
    logging
        .set("debug", "msg,protocol")
        .set_log_level(RDKafkaLogLevel::Debug);
    let producer = AckedProducer::serving_at_least_every(&logging, Duration::from_secs(3600))
        .expect("producer");
    for n in 0..5 {
        let delivered = deliver(&producer, n, "a report in time, not held behind a log line").await;
        assert_eq!(delivered.offset, n);
    }
}

#[test]
fn reports_are_served_on_a_thread_without_a_runtime() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("t", 1, 1).expect("topic");
    let producer =
        AckedProducer::new(&config(&cluster.bootstrap_servers(), "0")).expect("producer");
    assert!(matches!(producer.server, Server::Thread(_)));
    let ack = producer
        .send(FutureRecord::to("t").key("k").payload("x"))
        .expect("queued");
    let delivered = ack.blocking_recv().expect("a report").expect("delivered");
    assert_eq!(delivered.partition, 0);
}

#[tokio::test]
async fn closing_the_producer_answers_what_it_still_held() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("t", 1, 1).expect("topic");
    // A long linger keeps the record in the client until it closes.
    let producer =
        AckedProducer::new(&config(&cluster.bootstrap_servers(), "5000")).expect("producer");
    let ack = producer
        .send(FutureRecord::to("t").key("k").payload("held"))
        .expect("queued");
    drop(producer);
    let answer = tokio::time::timeout(Duration::from_secs(5), ack)
        .await
        .expect("an answer, not a hang");
    match answer {
        Ok(Err(error)) => {
            assert_eq!(
                error.rdkafka_error_code(),
                Some(RDKafkaErrorCode::PurgeQueue)
            )
        }
        other => panic!("expected a purged record, got {other:?}"),
    }
}
