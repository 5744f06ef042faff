//! `consumer events trace`: one event's journey found in the partition its
//! id maps to, for each path: delivered, retried then delivered,
//! dead-lettered, re-driven then delivered, received twice, waiting in a
//! stage; and a clear "not found" for an id that never came. Re-delivery of
//! one delivered event, and the same trace over HTTP.

use std::time::Duration;

use http::StatusCode;
use serde_json::Value;

use crate::downstream::{Answer, Downstream};
use crate::harness::{shared_kafka, Gateway, HttpClient};
use crate::pipeline::{consumer_command, fresh_group, ConsumerProcess, FreshGroup};

/// Stages long enough to find an event waiting in one.
const SLOW_STAGES: &str = "retry-1m=60s,retry-10m=120s";

async fn post(gateway: &Gateway, id: &str) -> Value {
    let reply = HttpClient::new()
        .post_json(
            &gateway.url("/webhooks/genesys"),
            format!(r#"{{"id": "{id}"}}"#),
            &[],
        )
        .await
        .expect("request");
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    reply.json()
}

/// `events trace` of `id` in `group` as JSON (exit code, answer).
async fn trace(main: &str, group: &str, id: &str, stages: &str) -> (i32, Value, String) {
    let bootstrap = shared_kafka().await.bootstrap();
    let env = [("SWITCHBOARD_TOPIC", main), ("RETRY_STAGES", stages)];
    let args = [
        "events", "trace", "--group", group, "--source", "genesys", "--id", id, "--json",
    ];
    let (code, stdout, stderr) =
        crate::pipeline::consumer_command_full(&bootstrap, &env, &args).await;
    (
        code,
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stderr,
    )
}

fn kinds(answer: &Value) -> Vec<String> {
    answer["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["kind"].as_str().expect("kind").to_owned())
        .collect()
}

#[tokio::test]
async fn each_path_of_an_event_is_traced_in_the_partition_its_id_maps_to() {
    let FreshGroup {
        bootstrap,
        main,
        group,
        ..
    } = fresh_group("trace", 3).await;
    let gateway = Gateway::start(&bootstrap, &main, None, &[]).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    downstream.script("t-retried", &[Answer::status(500), Answer::status(200)]);
    downstream.script("t-dead", &[Answer::status(400), Answer::status(200)]);
    downstream.script("t-dead-2", &[Answer::status(400), Answer::status(200)]);
    let consumer = ConsumerProcess::start(&bootstrap, &main, &group, &downstream.url(), &[]).await;

    let mut partitions = std::collections::HashMap::new();
    for id in [
        "t-delivered",
        "t-retried",
        "t-dead",
        "t-dead-2",
        "t-dup",
        "t-dup",
    ] {
        let accepted = post(&gateway, id).await;
        partitions.insert(id, accepted["partition"].as_i64().expect("partition"));
    }
    let ids: Vec<String> = ["t-delivered", "t-retried", "t-dup"]
        .map(str::to_owned)
        .to_vec();
    downstream
        .wait_delivered(&ids, Duration::from_secs(30))
        .await;
    let stages = crate::pipeline::TEST_STAGES;

    // Delivered, received by the gateway, in the partition the gateway chose.
    let (code, answer, stderr) = trace(&main, &group, "t-delivered", stages).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        answer["partition"].as_i64(),
        Some(partitions["t-delivered"])
    );
    assert_eq!(kinds(&answer), ["received", "delivered"], "{answer}");
    assert_eq!(answer["ending"]["state"], "delivered");
    assert!(
        answer["steps"][0]["what"]
            .as_str()
            .unwrap_or("")
            .contains("received by"),
        "{answer}"
    );
    let records_read = answer["records_read"].as_u64().expect("records read");
    assert!(
        (2..20).contains(&records_read),
        "only its partitions: {records_read}"
    );

    // Retried, then delivered from the first retry stage.
    let (_, answer, _) = trace(&main, &group, "t-retried", stages).await;
    assert_eq!(
        kinds(&answer),
        ["received", "retry", "delivered"],
        "{answer}"
    );
    assert!(
        answer["steps"][1]["what"]
            .as_str()
            .unwrap_or("")
            .contains("500"),
        "{answer}"
    );
    assert_eq!(answer["ending"]["stage"], "retry-1m");

    // Received twice, delivered once.
    let (_, answer, _) = trace(&main, &group, "t-dup", stages).await;
    let mut dup = kinds(&answer);
    dup.sort();
    assert_eq!(dup, ["delivered", "duplicate", "received"], "{answer}");
    assert_eq!(
        answer["ending"]["state"], "delivered",
        "a later copy is no new journey"
    );
    assert_eq!(
        (answer["received"].as_u64(), answer["deliveries"].as_u64()),
        (Some(2), Some(1))
    );

    // Dead-lettered; then re-driven and delivered.
    crate::harness::eventually("t-dead in the DLT", Duration::from_secs(30), || async {
        let (_, answer, _) = trace(&main, &group, "t-dead", stages).await;
        (answer["ending"]["state"] == "dead_lettered").then_some(())
    })
    .await;
    let (_, answer, _) = trace(&main, &group, "t-dead", stages).await;
    assert_eq!(answer["ending"]["reason"], "rejected", "{answer}");
    crate::harness::eventually("t-dead-2 in the DLT", Duration::from_secs(30), || async {
        let (_, answer, _) = trace(&main, &group, "t-dead-2", stages).await;
        (answer["ending"]["state"] == "dead_lettered").then_some(())
    })
    .await;
    // `dlt list --id` finds exactly it; `dlt redrive --id` re-drives exactly it.
    let env = [("SWITCHBOARD_TOPIC", main.as_str())];
    let (code, listed) = consumer_command(
        &bootstrap,
        &env,
        &[
            "dlt", "list", "--group", &group, "--id", "t-dead", "--id", "t-other", "--json",
        ],
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.contains("\"t-dead\""), "{listed}");
    let (code, _) = consumer_command(
        &bootstrap,
        &env,
        &[
            "dlt",
            "redrive",
            "--group",
            &group,
            "--id",
            "t-dead",
            "--execute",
        ],
    )
    .await;
    assert_eq!(code, 0);
    downstream
        .wait_delivered(&["t-dead".to_owned()], Duration::from_secs(30))
        .await;
    let answer = crate::harness::eventually(
        "t-dead delivered after its re-drive",
        Duration::from_secs(20),
        || async {
            let (_, answer, _) = trace(&main, &group, "t-dead", stages).await;
            (answer["ending"]["state"] == "delivered").then_some(answer)
        },
    )
    .await;
    assert_eq!(
        kinds(&answer),
        ["received", "dead_lettered", "redriven", "delivered"],
        "{answer}"
    );
    let (_, other, _) = trace(&main, &group, "t-dead-2", stages).await;
    assert_eq!(
        other["ending"]["state"], "dead_lettered",
        "only the id asked for was re-driven"
    );

    // Never came: exit 1, naming the window.
    let (code, _, stderr) = trace(&main, &group, "t-never", stages).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("not found since"), "{stderr}");
    // A window with no record at all ends at once, not at a timeout.
    let started = std::time::Instant::now();
    let env = [("SWITCHBOARD_TOPIC", main.as_str())];
    let future = "2099-01-01T00:00:00Z";
    let args = [
        "events",
        "trace",
        "--group",
        &group,
        "--source",
        "genesys",
        "--id",
        "t-delivered",
        "--since",
        future,
    ];
    let (code, _, stderr) = crate::pipeline::consumer_command_full(&bootstrap, &env, &args).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("read 0 records"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    drop(consumer);
}

#[tokio::test]
async fn an_event_waiting_in_a_retry_stage_is_shown_with_its_due_time() {
    let FreshGroup {
        bootstrap,
        main,
        group,
        ..
    } = fresh_group("trace-wait", 2).await;
    let gateway = Gateway::start(&bootstrap, &main, None, &[]).await;
    let downstream = Downstream::start(500, Duration::ZERO).await;
    let _consumer = ConsumerProcess::start(
        &bootstrap,
        &main,
        &group,
        &downstream.url(),
        &[("RETRY_STAGES", SLOW_STAGES)],
    )
    .await;
    post(&gateway, "t-wait").await;
    let answer =
        crate::harness::eventually("t-wait in retry-1m", Duration::from_secs(30), || async {
            let (_, answer, _) = trace(&main, &group, "t-wait", SLOW_STAGES).await;
            (answer["ending"]["state"] == "waiting").then_some(answer)
        })
        .await;
    assert_eq!(answer["ending"]["stage"], "retry-1m", "{answer}");
    let due = answer["ending"]["due_at_ms"].as_i64().expect("a due time");
    let handed = answer["steps"][1]["at_ms"].as_i64().expect("handed at");
    assert!(
        (55_000..=65_000).contains(&(due - handed)),
        "due a minute after: {answer}"
    );
}

/// `events redeliver` of `id` in `group` (exit code, stdout, stderr).
async fn redeliver(main: &str, group: &str, id: &str, execute: bool) -> (i32, String, String) {
    let bootstrap = shared_kafka().await.bootstrap();
    let env = [
        ("SWITCHBOARD_TOPIC", main),
        ("RETRY_STAGES", crate::pipeline::TEST_STAGES),
    ];
    let mut args = vec![
        "events",
        "redeliver",
        "--group",
        group,
        "--source",
        "genesys",
        "--id",
        id,
    ];
    if execute {
        args.push("--execute");
    }
    crate::pipeline::consumer_command_full(&bootstrap, &env, &args).await
}

#[tokio::test]
async fn a_delivered_event_is_redelivered_once_on_request_and_traced_over_http() {
    let FreshGroup {
        bootstrap,
        main,
        group,
        ..
    } = fresh_group("redeliver-one", 2).await;
    let gateway = Gateway::start(&bootstrap, &main, None, &[]).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    downstream.script("r-dead", &[Answer::status(400)]);
    let consumer = ConsumerProcess::start(
        &bootstrap,
        &main,
        &group,
        &downstream.url(),
        &[("CONSUMER_TRACE_ENDPOINT", "true")],
    )
    .await;
    post(&gateway, "r-1").await;
    post(&gateway, "r-other").await;
    post(&gateway, "r-dead").await;
    let ids = ["r-1".to_owned(), "r-other".to_owned()];
    downstream
        .wait_delivered(&ids, Duration::from_secs(30))
        .await;
    let http = HttpClient::new();

    // The trace over HTTP: the CLI's JSON, the member that delivered named.
    let reply = http
        .get(&consumer.url("/events/genesys/r-1?since=1h"))
        .await
        .expect("trace");
    assert_eq!(reply.status, StatusCode::OK);
    let answer = reply.json();
    assert_eq!(kinds(&answer), ["received", "delivered"], "{answer}");
    assert!(
        answer["ending"]["member"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{answer}"
    );
    let missing = http
        .get(&consumer.url("/events/genesys/r-never"))
        .await
        .expect("trace");
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.headers["content-type"], "application/problem+json",
        "{missing:?}"
    );
    assert!(
        missing.json()["detail"]
            .as_str()
            .unwrap_or("")
            .contains("not found since"),
        "{missing:?}"
    );
    let bad = http
        .get(&consumer.url("/events/genesys/r-1?since=soon"))
        .await
        .expect("trace");
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // A dry run changes nothing; --execute delivers it exactly once more.
    let (code, out, stderr) = redeliver(&main, &group, "r-1", false).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("dry run"), "{out}");
    let (code, out, stderr) = redeliver(&main, &group, "r-1", true).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("retry-1m"), "{out}");
    crate::harness::eventually("r-1 delivered again", Duration::from_secs(30), || async {
        (downstream.successes().get("r-1") == Some(&2)).then_some(())
    })
    .await;
    let answer = crate::harness::eventually(
        "the second delivery traced",
        Duration::from_secs(20),
        || async {
            let (_, answer, _) = trace(&main, &group, "r-1", crate::pipeline::TEST_STAGES).await;
            (answer["deliveries"] == 2).then_some(answer)
        },
    )
    .await;
    assert_eq!(
        kinds(&answer),
        ["received", "delivered", "redelivery", "delivered"],
        "{answer}"
    );
    // The copy is one event's, delivered once: nothing else was sent again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let successes = downstream.successes();
    assert_eq!(
        (successes.get("r-1"), successes.get("r-other")),
        (Some(&2), Some(&1))
    );

    // Not delivered: refused, naming what to do instead.
    crate::harness::eventually("r-dead in the DLT", Duration::from_secs(30), || async {
        let (_, answer, _) = trace(&main, &group, "r-dead", crate::pipeline::TEST_STAGES).await;
        (answer["ending"]["state"] == "dead_lettered").then_some(())
    })
    .await;
    let (code, _, stderr) = redeliver(&main, &group, "r-dead", true).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("dlt redrive"), "{stderr}");
    let (code, _, stderr) = redeliver(&main, &group, "r-never", true).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not found since"), "{stderr}");
}
