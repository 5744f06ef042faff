//! Delivery and the retry ladder: delivered once with body and headers, retried
//! on time, dead-lettered with the error chain, poison and unroutable records.

use super::*;

#[tokio::test]
async fn events_are_delivered_once_with_their_body_and_headers() {
    let setup = fresh_group("deliver", 3).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let events = ids("evt", 30);
    produce_events(&setup.bootstrap, &setup.main, &events).await;
    let consumer = setup.consumer(&downstream, &[]).await;

    downstream
        .wait_delivered(&events, Duration::from_secs(30))
        .await;
    let seen = downstream.seen();
    for id in &events {
        let requests: Vec<_> = seen.iter().filter(|s| &s.event_id == id).collect();
        assert_eq!(requests.len(), 1, "{id} delivered once");
        let request = requests[0];
        assert_eq!(request.attempt, 1);
        assert_eq!(request.source, "genesys");
        assert_eq!(request.content_type, "application/json");
        assert_eq!(
            request.traceparent.as_deref(),
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        );
        assert_eq!(request.body, envelope(id, "genesys").body, "body unchanged");
    }
    // Offsets are committed up to the end of every partition.
    let main_records = setup.read(&setup.main).await;
    let mut ends: HashMap<i32, i64> = HashMap::new();
    for record in &main_records {
        let end = ends.entry(record.partition).or_insert(0);
        *end = (*end).max(record.offset + 1);
    }
    eventually("offsets committed", Duration::from_secs(10), || async {
        (committed(&setup.bootstrap, &setup.group, &setup.main, 3) == ends).then_some(())
    })
    .await;
    // One delivered marker per event, on the event's partition.
    let markers = wait_records(&setup, &setup.topics.delivered(), events.len()).await;
    for marker in &markers {
        let original = main_records
            .iter()
            .find(|r| r.key == marker.headers[h::EVENT_ID])
            .expect("marker for a produced event");
        assert_eq!(marker.partition, original.partition);
        // Dedupe tells sources apart: the marker is keyed by source and id.
        assert_eq!(marker.key, format!("genesys/{}", original.key));
    }
    assert!(setup.read(&setup.topics.dlt()).await.is_empty());
    assert_eq!(
        consumer
            .metric(
                metrics::HANDLED,
                &["outcome=\"delivered\"", "stage=\"main\""]
            )
            .await,
        30.0
    );
}

#[tokio::test]
async fn a_downstream_failing_twice_delivers_once_from_retry_10m() {
    let setup = fresh_group("retry", 2).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    downstream.script("flaky-1", &[Answer::status(500), Answer::status(502)]);
    let events = vec!["flaky-1".to_owned(), "steady-1".to_owned()];
    produce_events(&setup.bootstrap, &setup.main, &events).await;
    let _consumer = setup.consumer(&downstream, &[]).await;

    downstream
        .wait_delivered(&events, Duration::from_secs(30))
        .await;
    let attempts: Vec<_> = downstream
        .seen()
        .into_iter()
        .filter(|s| s.event_id == "flaky-1")
        .collect();
    assert_eq!(
        attempts
            .iter()
            .map(|s| (s.attempt, s.answered))
            .collect::<Vec<_>>(),
        vec![(1, 500), (2, 502), (3, 200)],
        "three attempts, numbered, the last one succeeding"
    );
    assert!(
        attempts[1].at_ms - attempts[0].at_ms >= 1_000,
        "retry-1m waited its delay"
    );
    assert!(
        attempts[2].at_ms - attempts[1].at_ms >= 2_000,
        "retry-10m waited its delay"
    );
    assert_eq!(downstream.successes()["flaky-1"], 1);

    let first_hop = setup.read(&setup.topics.retry("retry-1m")).await;
    assert_eq!(first_hop.len(), 1);
    assert_eq!(first_hop[0].key, "flaky-1");
    assert_eq!(first_hop[0].headers[h::ATTEMPT], "1");
    assert_eq!(first_hop[0].headers[h::FAILED_STAGE], "main");
    let second_hop = setup.read(&setup.topics.retry("retry-10m")).await;
    assert_eq!(second_hop.len(), 1);
    assert_eq!(second_hop[0].headers[h::ATTEMPT], "2");
    assert_eq!(second_hop[0].headers[h::FAILED_STAGE], "retry-1m");
    assert_eq!(
        second_hop[0].partition, first_hop[0].partition,
        "hops keep the partition"
    );
    assert_eq!(
        second_hop[0].headers[h::ORIGINAL_TOPIC],
        setup.main,
        "the origin survives hops"
    );
    let markers = wait_records(&setup, &setup.topics.delivered(), 2).await;
    let marker = markers
        .iter()
        .find(|m| m.headers[h::EVENT_ID] == "flaky-1")
        .expect("marker");
    let value: serde_json::Value = serde_json::from_slice(&marker.value).expect("json");
    assert_eq!(value["stage"], "retry-10m");
    assert_eq!(value["attempt"], 3);
}

#[tokio::test]
async fn an_event_that_always_fails_lands_in_the_dlt_with_its_error_chain() {
    let setup = fresh_group("exhaust", 1).await;
    let downstream = Downstream::start(500, Duration::ZERO).await;
    produce_events(&setup.bootstrap, &setup.main, &["doomed-1".to_owned()]).await;
    let consumer = setup.consumer(&downstream, &[]).await;

    let dead = wait_records(&setup, &setup.topics.dlt(), 1).await;
    assert_eq!(dead.len(), 1);
    let record = &dead[0];
    assert_eq!(record.key, "doomed-1");
    assert_eq!(record.headers[h::DLT_REASON], "exhausted");
    assert_eq!(record.headers[h::ATTEMPT], "3");
    assert_eq!(record.headers[h::FAILED_STAGE], "retry-10m");
    assert_eq!(record.headers[h::ORIGINAL_OFFSET], "0");
    assert_eq!(record.headers[h::CONSUMER_GROUP], setup.group);
    let chain = &record.headers[h::LAST_ERROR];
    assert!(
        chain.starts_with("retry-10m attempt 3: HTTP 500")
            && chain.contains("retry-1m attempt 2: HTTP 500")
            && chain.contains("main attempt 1: HTTP 500"),
        "error chain, newest first: {chain}"
    );
    let event = Envelope::decode(record.value.as_slice()).expect("value is the envelope");
    assert_eq!(event.event_id, "doomed-1");
    assert_eq!(downstream.seen().len(), 3, "one request per stage");
    eventually("DLT counted", Duration::from_secs(5), || async {
        let counted = consumer
            .metric(metrics::DEAD_LETTERED, &["reason=\"exhausted\""])
            .await;
        (counted == 1.0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_400_from_the_downstream_goes_to_the_dlt_at_once() {
    let setup = fresh_group("reject", 1).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    downstream.script("bad-1", &[Answer::status(400)]);
    produce_events(&setup.bootstrap, &setup.main, &["bad-1".to_owned()]).await;
    let _consumer = setup.consumer(&downstream, &[]).await;

    let dead = wait_records(&setup, &setup.topics.dlt(), 1).await;
    assert_eq!(dead[0].headers[h::DLT_REASON], "rejected");
    assert_eq!(dead[0].headers[h::ATTEMPT], "1");
    assert!(dead[0].headers[h::LAST_ERROR].contains("HTTP 400"));
    assert!(setup.read(&setup.topics.retry("retry-1m")).await.is_empty());
    assert_eq!(downstream.seen().len(), 1);
}

#[tokio::test]
async fn a_poison_record_goes_to_the_dlt_and_does_not_block_its_partition() {
    let setup = fresh_group("poison", 1).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    produce_raw(
        &setup.bootstrap,
        &setup.main,
        "junk",
        b"\xff\xfe not protobuf",
    )
    .await;
    produce_events(&setup.bootstrap, &setup.main, &["after-poison".to_owned()]).await;
    let _consumer = setup.consumer(&downstream, &[]).await;

    downstream
        .wait_delivered(&["after-poison".to_owned()], Duration::from_secs(30))
        .await;
    let dead = wait_records(&setup, &setup.topics.dlt(), 1).await;
    assert_eq!(dead[0].key, "junk");
    assert_eq!(dead[0].headers[h::DLT_REASON], "poison");
    assert_eq!(
        dead[0].value, b"\xff\xfe not protobuf",
        "kept byte for byte"
    );
    assert_eq!(
        downstream.seen().len(),
        1,
        "the poison record never reached the downstream"
    );
}

#[tokio::test]
async fn retry_records_are_handled_not_before_due_and_at_most_a_second_late() {
    let setup = fresh_group("due", 2).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let events = ids("due", 10);
    for id in &events {
        downstream.script(id, &[Answer::status(503)]);
    }
    produce_events(&setup.bootstrap, &setup.main, &events).await;
    // Ten different events failing in a row would open the breaker.
    let config = no_breaker_config();
    let consumer = setup
        .consumer(&downstream, &[("CONSUMER_CONFIG", config.as_str())])
        .await;

    downstream
        .wait_delivered(&events, Duration::from_secs(30))
        .await;
    let hops = setup.read(&setup.topics.retry("retry-1m")).await;
    assert_eq!(hops.len(), events.len());
    let seen = downstream.seen();
    for hop in hops {
        let due: i64 = hop.headers[h::DUE_AT].parse().expect("due-at");
        let retry = seen
            .iter()
            .find(|s| s.event_id == hop.key && s.attempt == 2)
            .expect("second attempt");
        let late = retry.at_ms - due;
        assert!(late >= 0, "{} handled {}ms early", hop.key, -late);
        assert!(late <= 1_000, "{} handled {late}ms late", hop.key);
    }
    let count = consumer
        .metric(
            &format!("{}_count", metrics::RETRY_LATENESS),
            &["stage=\"retry-1m\""],
        )
        .await;
    assert_eq!(count, events.len() as f64, "lateness is exported per stage");
    let within_100ms = consumer
        .metric(
            &format!("{}_bucket", metrics::RETRY_LATENESS),
            &["stage=\"retry-1m\"", "le=\"0.1\""],
        )
        .await;
    eprintln!("retry lateness: {within_100ms} of {count} handled within 100 ms of due");
}

#[tokio::test]
async fn a_slow_downstream_does_not_cap_throughput_at_one_call_at_a_time() {
    let setup = fresh_group("slow", 1).await;
    let downstream = Downstream::start(200, Duration::from_millis(300)).await;
    let events = ids("slow", 200);
    produce_events(&setup.bootstrap, &setup.main, &events).await;
    let _consumer = setup.consumer(&downstream, &[]).await;
    let started = Instant::now();
    downstream
        .wait_delivered(&events, Duration::from_secs(60))
        .await;
    let took = started.elapsed();
    // One at a time would take 200 x 300 ms = 60 s; 32 in flight about 2 s.
    assert!(
        took < Duration::from_secs(15),
        "200 events at 300 ms each took {took:?}"
    );
    assert!(downstream.successes().values().all(|&n| n == 1));
}

#[tokio::test]
async fn a_record_that_cannot_be_handed_on_is_dead_lettered_as_a_pointer_and_redriven_from_its_origin(
) {
    let setup = fresh_group("unroutable", 1).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    downstream.script(
        "big-1",
        &[Answer {
            status: 500,
            retry_after_secs: None,
        }],
    );
    let mut big = envelope("big-1", "genesys");
    big.body = format!(r#"{{"id":"big-1","pad":"{}"}}"#, "x".repeat(6_000))
        .into_bytes()
        .into();
    produce_envelopes(&setup.bootstrap, &setup.main, &[big.clone()]).await;
    produce_events(&setup.bootstrap, &setup.main, &["small-1".to_owned()]).await;
    // The hand-off producer takes nothing over 4,000 bytes, so the first
    // failure's hop to retry-1m can never be written: what a near-1 MiB event
    // meets with stage topics sized like the main one.
    let _consumer = setup
        .consumer(&downstream, &[("KAFKA_MESSAGE_MAX_BYTES", "4000")])
        .await;
    downstream
        .wait_delivered(&["small-1".to_owned()], Duration::from_secs(30))
        .await;
    eventually(
        "the partition moved on: both offsets committed",
        Duration::from_secs(30),
        || async {
            (committed(&setup.bootstrap, &setup.group, &setup.main, 1).get(&0) == Some(&2))
                .then_some(())
        },
    )
    .await;
    let dead = wait_records(&setup, &setup.topics.dlt(), 1).await;
    assert_eq!(dead.len(), 1);
    let pointer = &dead[0];
    assert!(pointer.value.is_empty(), "a pointer, not the record");
    assert_eq!(pointer.headers[h::DLT_REASON], "unroutable");
    assert_eq!(pointer.headers[h::EVENT_ID], "big-1");
    assert_eq!(pointer.headers[h::ORIGINAL_TOPIC], setup.main);
    assert_eq!(pointer.headers[h::ORIGINAL_OFFSET], "0");
    assert!(
        pointer.headers[h::LAST_ERROR].contains("refused"),
        "{:?}",
        pointer.headers
    );

    let env = [
        ("SWITCHBOARD_TOPIC", setup.main.as_str()),
        ("CONSUMER_GROUP", setup.group.as_str()),
    ];
    let (code, out) = consumer_command(&setup.bootstrap, &env, &["dlt", "list", "--json"]).await;
    assert_eq!(code, 0, "{out}");
    let listed: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(listed["reason"], "unroutable");
    assert_eq!(listed["pointer"], true);
    assert_eq!(listed["event_id"], "big-1");
    assert_eq!(listed["source"], "genesys");

    // Re-driven from its origin: the downstream gets the whole original body.
    let (code, out) = consumer_command(
        &setup.bootstrap,
        &env,
        &["dlt", "redrive", "--all", "--execute"],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    eventually(
        "the original delivered",
        Duration::from_secs(30),
        || async { (downstream.successes().get("big-1") == Some(&1)).then_some(()) },
    )
    .await;
    let delivered = downstream
        .seen()
        .into_iter()
        .rfind(|s| s.event_id == "big-1")
        .expect("seen");
    assert_eq!(delivered.body, big.body);
}

#[tokio::test]
async fn a_group_topic_with_another_partition_count_refuses_to_start() {
    let bootstrap = shared_kafka().await.bootstrap();
    let main = unique_topic("mismatch");
    let group = format!("{main}-group");
    let topics = GroupTopics::new(&main, &group).expect("names");
    create_topic(&bootstrap, &main, 3).await;
    create_topic(&bootstrap, &topics.retry("retry-1m"), 3).await;
    create_topic(&bootstrap, &topics.retry("retry-10m"), 3).await;
    create_topic(&bootstrap, &topics.dlt(), 1).await;
    create_topic(&bootstrap, &topics.delivered(), 3).await;
    let (code, _, stderr) = consumer_command_full(
        &bootstrap,
        &[
            ("SWITCHBOARD_TOPIC", main.as_str()),
            ("CONSUMER_GROUP", group.as_str()),
            ("DESTINATION_URL", "http://127.0.0.1:9/"),
            ("CONSUMER_ADMIN_LISTEN", "127.0.0.1:0"),
        ],
        &["run"],
    )
    .await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&topics.dlt()) && stderr.contains("3 partitions"),
        "the message names the topic and the count: {stderr}"
    );
}
