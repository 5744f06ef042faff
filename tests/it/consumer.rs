//! The consumer end to end: real broker, real consumer processes, a real
//! downstream HTTP server.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use switchboard_consumer::metrics;

use prost::Message as _;
use switchboard_proto::{headers as h, Envelope, GroupTopics};

use crate::downstream::{Answer, Downstream};
use crate::harness::{create_topic, log_dir};
use crate::harness::{eventually, read_topic, shared_kafka, unique_topic, Record};
use crate::pipeline::{
    committed, consumer_command, consumer_command_full, create_group_topics, envelope, ids,
    produce_envelopes, produce_events, produce_events_from, produce_raw, ConsumerProcess,
};

struct Setup {
    bootstrap: String,
    main: String,
    group: String,
    topics: GroupTopics,
}

async fn setup(name: &str, partitions: i32) -> Setup {
    let bootstrap = shared_kafka().await.bootstrap();
    let main = unique_topic(name);
    let group = format!("{main}-group");
    create_group_topics(&bootstrap, &main, &group, partitions).await;
    let topics = GroupTopics::new(&main, &group).expect("names");
    Setup {
        bootstrap,
        main,
        group,
        topics,
    }
}

impl Setup {
    async fn consumer(&self, downstream: &Downstream, env: &[(&str, &str)]) -> ConsumerProcess {
        ConsumerProcess::start(
            &self.bootstrap,
            &self.main,
            &self.group,
            &downstream.url(),
            env,
        )
        .await
    }

    async fn read(&self, topic: &str) -> Vec<Record> {
        read_topic(&self.bootstrap, topic).await
    }
}

/// A consumer configuration with the destination's breaker off, for tests
/// of the retry ladder that fail many different events at once (which the
/// breaker would rightly take for a destination that is down).
fn no_breaker_config() -> String {
    let path = log_dir().join(format!("{}.toml", unique_topic("no-breaker")));
    std::fs::write(&path, "[downstream]\nbreaker = { open_after = 0 }\n").expect("config");
    path.to_string_lossy().into_owned()
}

async fn wait_records(setup: &Setup, topic: &str, count: usize) -> Vec<Record> {
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

#[tokio::test]
async fn events_are_delivered_once_with_their_body_and_headers() {
    let setup = setup("deliver", 3).await;
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
    let setup = setup("retry", 2).await;
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
    let setup = setup("exhaust", 1).await;
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
    let setup = setup("reject", 1).await;
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
    let setup = setup("poison", 1).await;
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
    let setup = setup("due", 2).await;
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
    let setup = setup("slow", 1).await;
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
async fn backpressure_holds_deliveries_without_using_attempts() {
    let setup = setup("hold", 1).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    downstream.script(
        "busy-1",
        &[Answer {
            status: 429,
            retry_after_secs: Some(1),
        }],
    );
    produce_events(&setup.bootstrap, &setup.main, &["busy-1".to_owned()]).await;
    let _consumer = setup.consumer(&downstream, &[]).await;
    downstream
        .wait_delivered(&["busy-1".to_owned()], Duration::from_secs(30))
        .await;
    let attempts: Vec<_> = downstream
        .seen()
        .into_iter()
        .map(|s| (s.attempt, s.answered))
        .collect();
    assert_eq!(
        attempts,
        vec![(1, 429), (1, 200)],
        "the wait used no attempt"
    );
    let seen = downstream.seen();
    assert!(
        seen[1].at_ms - seen[0].at_ms >= 1_000,
        "Retry-After honoured"
    );
    assert!(setup.read(&setup.topics.retry("retry-1m")).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_destination_shows_its_hold_its_waiting_events_and_its_answers() {
    let setup = setup("held-metrics", 1).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    downstream.script(
        "held-first",
        &[Answer {
            status: 429,
            retry_after_secs: Some(5),
        }],
    );
    let consumer = setup.consumer(&downstream, &[]).await;
    let default = r#"destination="default""#;
    let series = |name: &'static str, extra: &'static str| {
        let consumer = &consumer;
        async move {
            let labels: Vec<&str> = [default, extra]
                .into_iter()
                .filter(|l| !l.is_empty())
                .collect();
            consumer.metric(name, &labels).await
        }
    };
    produce_events(&setup.bootstrap, &setup.main, &["held-first".to_owned()]).await;
    eventually("the 429", Duration::from_secs(30), || async {
        (!downstream.seen().is_empty()).then_some(())
    })
    .await;
    // Events arriving during the hold wait for the destination, not a slot.
    let behind = ids("held-behind", 5);
    produce_events(&setup.bootstrap, &setup.main, &behind).await;
    eventually("five events waiting", Duration::from_secs(4), || async {
        (series(metrics::DESTINATION_WAITING, "").await >= 5.0).then_some(())
    })
    .await;
    let now_s = crate::downstream::unix_ms() as f64 / 1000.0;
    let held_until = series(metrics::DESTINATION_HELD_UNTIL, "").await;
    assert!(
        held_until > now_s && held_until <= now_s + 5.5,
        "held until {held_until}, now {now_s}"
    );

    let all: Vec<String> = std::iter::once("held-first".to_owned())
        .chain(behind)
        .collect();
    downstream
        .wait_delivered(&all, Duration::from_secs(30))
        .await;
    eventually(
        "the gauges back to zero",
        Duration::from_secs(5),
        || async {
            let waiting = series(metrics::DESTINATION_WAITING, "").await;
            let in_flight = series(metrics::DESTINATION_IN_FLIGHT, "").await;
            (waiting == 0.0 && in_flight == 0.0).then_some(())
        },
    )
    .await;
    let answers = |class| series(metrics::DESTINATION_ANSWERS, class);
    assert_eq!(answers(r#"class="4xx""#).await, 1.0, "the one 429");
    assert_eq!(answers(r#"class="2xx""#).await, 6.0);
    assert_eq!(answers(r#"class="5xx""#).await, 0.0, "present at zero");
}

#[tokio::test]
async fn retry_after_zero_is_held_at_least_a_second_and_longer_each_time() {
    let setup = setup("hold-zero", 1).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let busy = Answer {
        status: 429,
        retry_after_secs: Some(0),
    };
    downstream.script("eager-1", &[busy, busy, busy]);
    produce_events(&setup.bootstrap, &setup.main, &["eager-1".to_owned()]).await;
    let _consumer = setup.consumer(&downstream, &[]).await;
    downstream
        .wait_delivered(&["eager-1".to_owned()], Duration::from_secs(30))
        .await;
    let seen = downstream.seen();
    let answered: Vec<(u32, u16)> = seen.iter().map(|s| (s.attempt, s.answered)).collect();
    assert_eq!(answered, [(1, 429), (1, 429), (1, 429), (1, 200)]);
    let gaps: Vec<i64> = seen.windows(2).map(|w| w[1].at_ms - w[0].at_ms).collect();
    for (gap, floor) in gaps.iter().zip([1_000, 2_000, 4_000]) {
        assert!(
            *gap >= floor,
            "gaps {gaps:?}: a hold of at least {floor} ms each time"
        );
    }
}

#[tokio::test]
async fn a_destination_that_backs_off_takes_no_delivery_slots_from_another() {
    let setup = setup("destinations", 1).await;
    // Destination a answers 429 with Retry-After: 0 until told otherwise.
    let busy = Downstream::start(200, Duration::ZERO).await;
    busy.set_default_answer(Answer {
        status: 429,
        retry_after_secs: Some(0),
    });
    let healthy = Downstream::start(200, Duration::ZERO).await;
    let config = log_dir().join(format!("{}.toml", setup.main));
    std::fs::write(
        &config,
        format!(
            "[downstream.sources]\na = \"{}\"\nb = \"{}\"\n[downstream.limits.a]\nmax_in_flight = 4\n",
            busy.url(),
            healthy.url()
        ),
    )
    .expect("config");
    // 100 events for each, interleaved on one partition.
    let (for_a, for_b) = (ids("a", 100), ids("b", 100));
    let mut events = Vec::new();
    for (a, b) in for_a.iter().zip(&for_b) {
        events.push(envelope(a, "a"));
        events.push(envelope(b, "b"));
    }
    produce_envelopes(&setup.bootstrap, &setup.main, &events).await;
    let config_path = config.to_string_lossy().into_owned();
    let started = Instant::now();
    let _consumer = setup
        .consumer(&healthy, &[("CONSUMER_CONFIG", config_path.as_str())])
        .await;

    // b flows while a is held: the partition's 32 slots are not a's to keep.
    healthy
        .wait_delivered(&for_b, Duration::from_secs(15))
        .await;
    println!("b delivered in {:?} while a backs off", started.elapsed());
    assert!(busy.successes().is_empty());
    // Ten seconds of a refusing: requests come in rounds of at most 4 (its
    // max_in_flight), one round per hold of 1, 2, 4, 8 s: a handful of
    // rounds, not every waiting event asking again.
    let until = started + Duration::from_secs(10);
    tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
    let asked = busy.seen().len();
    println!("a was asked {asked} times in 10 s of 429 Retry-After: 0");
    assert!(asked <= 4 * 6, "a was asked {asked} times in 10 s");

    busy.set_default_status(200);
    busy.wait_delivered(&for_a, Duration::from_secs(60)).await;
    let (a_done, b_done) = (busy.successes(), healthy.successes());
    assert!(for_a.iter().all(|id| a_done[id] == 1));
    assert!(for_b.iter().all(|id| b_done[id] == 1));
}

#[tokio::test]
async fn a_duplicate_id_across_a_consumer_restart_is_delivered_once() {
    let setup = setup("restart", 2).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    produce_events(&setup.bootstrap, &setup.main, &["dup-1".to_owned()]).await;
    let mut first = setup.consumer(&downstream, &[]).await;
    downstream
        .wait_delivered(&["dup-1".to_owned()], Duration::from_secs(30))
        .await;
    first.signal(libc::SIGTERM);
    assert!(first.wait_for_exit(Duration::from_secs(20)).await.success());
    drop(first);

    // The sender retried: the same id again, then a fresh event as a marker of progress.
    produce_events(
        &setup.bootstrap,
        &setup.main,
        &["dup-1".to_owned(), "fresh-1".to_owned()],
    )
    .await;
    let second = setup.consumer(&downstream, &[]).await;
    downstream
        .wait_delivered(&["fresh-1".to_owned()], Duration::from_secs(30))
        .await;
    assert_eq!(
        downstream.successes()["dup-1"],
        1,
        "delivered once across the restart"
    );
    eventually("dedupe hit counted", Duration::from_secs(5), || async {
        let hits = second.metric(metrics::DEDUPE_HITS, &[]).await;
        (hits == 1.0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_record_that_cannot_be_handed_on_is_dead_lettered_as_a_pointer_and_redriven_from_its_origin(
) {
    let setup = setup("unroutable", 1).await;
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
async fn the_same_event_id_from_two_sources_is_delivered_twice() {
    let setup = setup("two-sources", 1).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let shared = vec!["1".to_owned()];
    produce_events_from(&setup.bootstrap, &setup.main, "a", &shared).await;
    produce_events_from(&setup.bootstrap, &setup.main, "b", &shared).await;
    // A true duplicate of source a, then a fresh event as a marker of progress.
    produce_events_from(&setup.bootstrap, &setup.main, "a", &shared).await;
    produce_events(&setup.bootstrap, &setup.main, &["fresh".to_owned()]).await;
    let _consumer = setup.consumer(&downstream, &[]).await;
    downstream
        .wait_delivered(&["fresh".to_owned()], Duration::from_secs(30))
        .await;
    eventually(
        "id 1 delivered for both sources",
        Duration::from_secs(10),
        || async { (downstream.successes().get("1") == Some(&2)).then_some(()) },
    )
    .await;
    let mut sources: Vec<String> = downstream
        .seen()
        .iter()
        .filter(|request| request.event_id == "1")
        .map(|request| request.source.clone())
        .collect();
    sources.sort();
    assert_eq!(
        sources,
        ["a", "b"],
        "one delivery per source, the duplicate of a dropped"
    );
}

#[tokio::test]
async fn delivered_markers_reach_the_broker_before_a_partition_is_handed_over() {
    let setup = setup("handover", 2).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    // A long linger keeps the first member's delivered markers in its
    // producer for seconds; unless the hand-over flushes them, the next
    // owner reads the marker log before they land and delivers again.
    let first = setup
        .consumer(&downstream, &[("KAFKA_LINGER_MS", "8000")])
        .await;
    let events = ids("handover", 20);
    produce_events(&setup.bootstrap, &setup.main, &events).await;
    downstream
        .wait_delivered(&events, Duration::from_secs(30))
        .await;

    let second = setup.consumer(&downstream, &[]).await;
    // Each member now holds one partition number of each of the 3 stages.
    first.wait_assigned(3).await;
    second.wait_assigned(3).await;
    // Every sender retries every event, then a fresh batch marks progress.
    produce_events(&setup.bootstrap, &setup.main, &events).await;
    let fresh = ids("handover-fresh", 10);
    produce_events(&setup.bootstrap, &setup.main, &fresh).await;
    downstream
        .wait_delivered(&fresh, Duration::from_secs(30))
        .await;
    let successes = downstream.successes();
    let doubled: Vec<&String> = events.iter().filter(|id| successes[*id] != 1).collect();
    assert!(doubled.is_empty(), "delivered more than once: {doubled:?}");
}

/// SIGKILLs a member running with `env` (the product's 30 s session), starts
/// it again with the same `env`, and returns how long the new process took to
/// deliver its first event.
async fn restart_to_first_delivery(name: &str, env: &[(&str, &str)]) -> Duration {
    let setup = setup(name, 2).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let mut first = setup.consumer(&downstream, env).await;
    first.wait_assigned(6).await;
    let warm = ids(&format!("{name}-warm"), 10);
    produce_events(&setup.bootstrap, &setup.main, &warm).await;
    downstream
        .wait_delivered(&warm, Duration::from_secs(30))
        .await;
    first.signal(libc::SIGKILL);
    first.wait_for_exit(Duration::from_secs(10)).await;
    drop(first);

    let restarted = Instant::now();
    let _second = setup.consumer(&downstream, env).await;
    let fresh = ids(&format!("{name}-fresh"), 10);
    produce_events(&setup.bootstrap, &setup.main, &fresh).await;
    downstream
        .wait_delivered(&fresh, Duration::from_secs(90))
        .await;
    restarted.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_killed_and_restarted_resumes_without_waiting_for_its_session() {
    // The product's session timeout (30 s), not the tests' short one. A
    // dynamic member's new process is a new member: the broker rebalances
    // only once the dead one's session expired (~30 s). A static member
    // (KIP-345) rejoining with its `group.instance.id` inside its session is
    // handed its assignment back with no rebalance. Both run side by side;
    // the margin (half) is wide because the broker's timing decides both.
    let session = [
        ("KAFKA_SESSION_TIMEOUT_MS", "30000"),
        ("KAFKA_HEARTBEAT_INTERVAL_MS", "3000"),
    ];
    let static_env = [session[0], session[1], ("CONSUMER_INSTANCE_ID", "member-a")];
    let (static_took, dynamic_took) = tokio::join!(
        restart_to_first_delivery("static", &static_env),
        restart_to_first_delivery("dynamic", &session),
    );
    println!(
        "restart to first delivery after SIGKILL: static member {static_took:?}, dynamic member {dynamic_took:?}"
    );
    assert!(
        dynamic_took >= Duration::from_secs(20),
        "the dynamic member waited for the dead session: {dynamic_took:?}"
    );
    assert!(
        static_took < dynamic_took / 2,
        "the static member resumed at once: {static_took:?} against {dynamic_took:?}"
    );
}

#[tokio::test]
async fn kill_9_mid_run_then_restart_delivers_every_event_and_dedupes_the_rest() {
    let setup = setup("crash", 3).await;
    let downstream = Downstream::start(200, Duration::from_millis(20)).await;
    let events = ids("crash", 600);
    produce_events(&setup.bootstrap, &setup.main, &events).await;
    let first = setup
        .consumer(&downstream, &[("CONSUMER_CONCURRENCY", "8")])
        .await;
    eventually("a third delivered", Duration::from_secs(30), || async {
        (downstream.successes().len() >= 200).then_some(())
    })
    .await;
    first.signal(libc::SIGKILL);
    let killed_at = crate::downstream::unix_ms();
    drop(first);

    let _second = setup
        .consumer(&downstream, &[("CONSUMER_CONCURRENCY", "8")])
        .await;
    downstream
        .wait_delivered(&events, Duration::from_secs(60))
        .await;
    let seen = downstream.seen();
    let successes = downstream.successes();
    let duplicated: Vec<&String> = successes
        .iter()
        .filter(|(_, &n)| n > 1)
        .map(|(id, _)| id)
        .collect();
    // Only work in flight at the kill may repeat (its marker may not have been
    // written): at most concurrency x partitions, and only events first
    // answered just before the kill. Everything older was deduped.
    assert!(
        duplicated.len() <= 8 * 3,
        "{} events delivered twice: {duplicated:?}",
        duplicated.len()
    );
    for id in duplicated {
        let first_success = seen
            .iter()
            .filter(|s| &s.event_id == id)
            .map(|s| s.at_ms)
            .min()
            .expect("seen");
        assert!(
            killed_at - first_success < 1_000,
            "{id} was delivered {}ms before the kill, yet delivered again",
            killed_at - first_success
        );
    }
}

#[tokio::test]
async fn a_rebalance_while_retry_partitions_wait_for_their_due_time_leaves_nothing_stuck() {
    let setup = setup("rebalance", 2).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let events = ids("rebal", 20);
    for id in &events {
        downstream.script(id, &[Answer::status(500)]);
    }
    produce_events(&setup.bootstrap, &setup.main, &events).await;
    // 20 different events failing in a row would open the destination's
    // breaker (they would wait, not go to retry-1m): off here.
    let config = no_breaker_config();
    let env = [
        ("RETRY_STAGES", "retry-1m=3s,retry-10m=3s"),
        ("CONSUMER_CONFIG", config.as_str()),
    ];
    let first = setup.consumer(&downstream, &env).await;
    // Every event failed once and waits in retry-1m for its due time.
    wait_records(&setup, &setup.topics.retry("retry-1m"), events.len()).await;

    let second = setup.consumer(&downstream, &env).await;
    // Range assignment splits 2 partitions x 3 stages evenly.
    first.wait_assigned(3).await;
    second.wait_assigned(3).await;
    downstream
        .wait_delivered(&events, Duration::from_secs(30))
        .await;
    assert!(downstream.successes().values().all(|&n| n == 1));
    assert!(setup.read(&setup.topics.dlt()).await.is_empty());
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
            ("DOWNSTREAM_URL", "http://127.0.0.1:9/"),
            ("CONSUMER_METRICS_LISTEN", "127.0.0.1:0"),
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
