//! The gateway with its broker gone: fast 503s with Retry-After, still in
//! the Service (`/readyz` 200, saying the broker is unreachable; the broker
//! gauge 0), and 202 again once the broker is back, with no gateway restart.

use std::time::{Duration, Instant};

use http::StatusCode;

use crate::harness::{
    assert_problem, create_topic, eventually, read_topic, unique_topic, wait_metric_line, Gateway,
    HttpClient, Kafka,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_answers_503_fast_and_recovers_without_a_gateway_restart() {
    let mut broker = Kafka::start().await;
    let topic = unique_topic("outage");
    create_topic(&broker.bootstrap(), &topic, 1).await;
    let deadline_ms = 1000;
    let gateway = Gateway::start(
        &broker.bootstrap(),
        &topic,
        None,
        &[("GATEWAY_DEADLINE", "1s")],
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
        assert_problem(
            &reply,
            StatusCode::SERVICE_UNAVAILABLE,
            "broker-unavailable",
        );
        assert!(reply.headers.contains_key("retry-after"));
        assert!(
            took <= Duration::from_millis(deadline_ms + 1000),
            "503 took {took:?}, more than deadline + 1 s"
        );
    }
    let readyz = gateway.admin_url("/readyz");
    let gauge = format!("{} 0", switchboard_gateway::metrics::BROKER_READY);
    wait_metric_line(
        &gateway.admin_url("/metrics"),
        &gauge,
        Duration::from_secs(10),
    )
    .await;
    let reply = client.get(&readyz).await.expect("readyz");
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "a broker outage keeps the gateway in the Service: its own 503 carries Retry-After"
    );
    assert!(
        String::from_utf8_lossy(&reply.body).contains("unreachable"),
        "/readyz says why requests fail: {:?}",
        String::from_utf8_lossy(&reply.body)
    );

    // The broker comes back with its data (topic, producer state): the
    // gateway's producer reconnects by itself.
    broker.start_again().await;
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
        "/readyz reports the broker back",
        Duration::from_secs(10),
        || async {
            let reply = client.get(&readyz).await.ok()?;
            (reply.status == StatusCode::OK && reply.body.as_ref() == b"ready\n").then_some(())
        },
    )
    .await;
    let records = read_topic(&broker.bootstrap(), &topic).await;
    assert!(
        records.iter().any(|r| r.key.starts_with("after-")),
        "the accepted event is in the topic: {:?}",
        records.iter().map(|r| &r.key).collect::<Vec<_>>()
    );
    drop(gateway);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_producer_queue_answers_429_with_retry_after_at_once() {
    let broker = Kafka::start().await;
    let topic = unique_topic("queuefull");
    create_topic(&broker.bootstrap(), &topic, 1).await;
    // A one-record producer queue, so a frozen broker fills it with one event.
    let gateway = Gateway::start(
        &broker.bootstrap(),
        &topic,
        None,
        &[
            ("GATEWAY_DEADLINE", "3s"),
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
    gateway.wait_in_flight(1).await;
    let started = Instant::now();
    let reply = client
        .post_json(&url, "{\"id\":\"second\"}", &[])
        .await
        .expect("request");
    assert_problem(&reply, StatusCode::TOO_MANY_REQUESTS, "overloaded");
    assert!(reply.headers.contains_key("retry-after"));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "429 is immediate, not after the deadline"
    );

    // Thawed within the deadline, the first event is acknowledged: nothing lost.
    broker.freeze(false);
    let first = first.await.expect("task").expect("request");
    assert_eq!(first.status, StatusCode::ACCEPTED);
    let keys: Vec<String> = read_topic(&broker.bootstrap(), &topic)
        .await
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, vec!["first".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_request_finish_then_exits_zero() {
    let broker = Kafka::start().await;
    let topic = unique_topic("term");
    create_topic(&broker.bootstrap(), &topic, 1).await;
    let mut gateway = Gateway::start(
        &broker.bootstrap(),
        &topic,
        None,
        &[("GATEWAY_DEADLINE", "5s")],
    )
    .await;
    gateway.wait_ready().await;
    let client = HttpClient::new();

    // A frozen broker keeps the request waiting for its ack while SIGTERM arrives.
    broker.freeze(true);
    let pending = {
        let (client, url) = (client.clone(), gateway.url("/webhooks/genesys"));
        tokio::spawn(async move { client.post_json(&url, "{\"id\":\"in-flight\"}", &[]).await })
    };
    gateway.wait_in_flight(1).await;
    gateway.send_sigterm();
    eventually(
        "the gateway stops accepting",
        Duration::from_secs(5),
        || async {
            gateway
                .log_text()
                .contains("stopped accepting")
                .then_some(())
        },
    )
    .await;
    assert!(
        tokio::net::TcpStream::connect(gateway.addr).await.is_err(),
        "a stopping gateway accepts no new connections"
    );
    broker.freeze(false);

    let reply = pending
        .await
        .expect("task")
        .expect("the in-flight request is answered");
    assert_eq!(
        reply.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let status = gateway.wait_for_exit().await;
    assert!(
        status.success(),
        "exit status {status:?}: {}",
        gateway.log_text()
    );
    let keys: Vec<String> = read_topic(&broker.bootstrap(), &topic)
        .await
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, vec!["in-flight".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_is_not_ready_until_its_topic_exists_and_leaves_the_service_on_sigterm() {
    let broker = Kafka::start().await;
    let topic = unique_topic("notyet");
    let mut gateway = Gateway::start(&broker.bootstrap(), &topic, None, &[]).await;
    let client = HttpClient::new();
    let readyz = gateway.admin_url("/readyz");
    let gauge = format!("{} 0", switchboard_gateway::metrics::BROKER_READY);
    wait_metric_line(
        &gateway.admin_url("/metrics"),
        &gauge,
        Duration::from_secs(10),
    )
    .await;
    let reply = client.get(&readyz).await.expect("readyz");
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a gateway that never reached its topic takes no traffic (a bad rollout stops here)"
    );
    create_topic(&broker.bootstrap(), &topic, 1).await;
    gateway.wait_ready().await;

    gateway.send_sigterm();
    eventually(
        "/readyz 503 while draining",
        Duration::from_secs(5),
        || async {
            match client.get(&readyz).await {
                Ok(reply) => (reply.status == StatusCode::SERVICE_UNAVAILABLE).then_some(()),
                // Already gone: nothing was left to drain.
                Err(_) => Some(()),
            }
        },
    )
    .await;
    assert!(gateway.wait_for_exit().await.success());
}
