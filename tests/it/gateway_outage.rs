//! The gateway with its broker gone: fast 503s with Retry-After, `/readyz`
//! false, and 202 again once the broker is back, with no gateway restart.

use std::time::{Duration, Instant};

use http::StatusCode;

use crate::harness::{
    create_topic, eventually, read_topic, unique_topic, Broker, Gateway, HttpClient,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_answers_503_fast_and_recovers_without_a_gateway_restart() {
    let mut broker = Broker::start();
    let topic = unique_topic("outage");
    create_topic(&broker.bootstrap(), &topic, 1).await;
    let deadline_ms = 1000;
    let gateway = Gateway::start(
        &broker.bootstrap(),
        &topic,
        None,
        &[("GATEWAY_DEADLINE_MS", "1000")],
    )
    .await;
    gateway.wait_ready().await;
    let client = HttpClient::new();
    let url = gateway.url("/webhooks/genesys");
    let reply = client
        .post_json(&url, "{\"id\":\"before\"}", &[])
        .await
        .expect("request");
    assert_eq!(reply.status, StatusCode::ACCEPTED);

    broker.kill();
    for i in 0..3 {
        let started = Instant::now();
        let body = format!("{{\"id\":\"during-{i}\"}}");
        let reply = client.post_json(&url, body, &[]).await.expect("request");
        let took = started.elapsed();
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        assert!(reply.headers.contains_key("retry-after"));
        assert_eq!(reply.headers["content-type"], "application/problem+json");
        assert!(
            took <= Duration::from_millis(deadline_ms + 1000),
            "503 took {took:?}, more than deadline + 1 s"
        );
    }
    let readyz = gateway.url("/readyz");
    eventually(
        "/readyz reports not ready",
        Duration::from_secs(10),
        || async {
            let reply = client.get(&readyz).await.ok()?;
            (reply.status == StatusCode::SERVICE_UNAVAILABLE).then_some(())
        },
    )
    .await;

    // tansu's memory engine forgets topics and producer ids on restart: the
    // topic is created again, and the gateway must replace its producer
    // (fatal UNKNOWN_PRODUCER_ID) by itself.
    broker.restart();
    create_topic(&broker.bootstrap(), &topic, 1).await;
    let mut attempt = 0;
    eventually(
        "a 202 after the broker is back",
        Duration::from_secs(45),
        || {
            attempt += 1;
            let body = format!("{{\"id\":\"after-{attempt}\"}}");
            let (client, url) = (client.clone(), url.clone());
            async move {
                let reply = client.post_json(&url, body, &[]).await.ok()?;
                (reply.status == StatusCode::ACCEPTED).then_some(())
            }
        },
    )
    .await;
    eventually(
        "/readyz reports ready again",
        Duration::from_secs(10),
        || async {
            let reply = client.get(&readyz).await.ok()?;
            (reply.status == StatusCode::OK).then_some(())
        },
    )
    .await;
    let records = read_topic(&broker.bootstrap(), &topic);
    assert!(
        records.iter().any(|r| r.key.starts_with("after-")),
        "the accepted event is in the recreated topic: {:?}",
        records.iter().map(|r| &r.key).collect::<Vec<_>>()
    );
    drop(gateway);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_producer_queue_answers_429_with_retry_after_at_once() {
    let broker = Broker::start();
    let topic = unique_topic("queuefull");
    create_topic(&broker.bootstrap(), &topic, 1).await;
    // A one-record producer queue, so a frozen broker fills it with one event.
    let gateway = Gateway::start(
        &broker.bootstrap(),
        &topic,
        None,
        &[
            ("GATEWAY_DEADLINE_MS", "3000"),
            ("KAFKA_QUEUE_BUFFERING_MAX_MESSAGES", "1"),
        ],
    )
    .await;
    gateway.wait_ready().await;
    let client = HttpClient::new();
    let url = gateway.url("/webhooks/genesys");

    broker.freeze(true);
    let first = {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move { client.post_json(&url, "{\"id\":\"first\"}", &[]).await })
    };
    let metrics = gateway.url("/metrics");
    eventually(
        "the first event is waiting in the producer queue",
        Duration::from_secs(5),
        || async {
            let reply = client.get(&metrics).await.ok()?;
            String::from_utf8_lossy(&reply.body)
                .lines()
                .any(|line| line == "switchboard_gateway_requests_in_flight 1")
                .then_some(())
        },
    )
    .await;
    let started = Instant::now();
    let reply = client
        .post_json(&url, "{\"id\":\"second\"}", &[])
        .await
        .expect("request");
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(reply.headers.contains_key("retry-after"));
    assert_eq!(reply.headers["content-type"], "application/problem+json");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "429 is immediate, not after the deadline"
    );

    // Thawed within the deadline, the first event is acknowledged: nothing lost.
    broker.freeze(false);
    let first = first.await.expect("task").expect("request");
    assert_eq!(first.status, StatusCode::ACCEPTED);
    let keys: Vec<String> = read_topic(&broker.bootstrap(), &topic)
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, vec!["first".to_owned()]);
}
