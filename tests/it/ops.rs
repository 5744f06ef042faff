//! Operator commands on the real broker: replay by offset reset, DLT listing
//! and re-drive.

use std::collections::HashSet;
use std::time::Duration;
use switchboard_consumer::metrics;
use switchboard_proto::GroupTopics;
use switchboard_runtime::exit;

use crate::downstream::{unix_ms, Downstream};
use crate::harness::{
    create_topic, eventually, partition_count, read_topic, shared_kafka, unique_topic,
};
use crate::pipeline::{
    committed, consumer_command, consumer_command_full, create_group_topics, ids, produce_events,
    produce_raw, ConsumerProcess,
};

fn rfc3339(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_millis(ms as u64);
    humantime_like(at)
}

/// RFC 3339 with milliseconds, UTC, without pulling a date crate into the tests.
fn humantime_like(at: std::time::SystemTime) -> String {
    let ms = at
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64;
    let (days, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1_000 % 60,
        rest % 1_000
    )
}

/// Event ids the consumer's log says it suppressed as already delivered.
fn suppressed_ids(log: &str) -> HashSet<String> {
    log.lines()
        .filter(|l| l.contains("already delivered; suppressed"))
        .filter_map(|l| {
            let start = l.find("event_id=")? + "event_id=".len();
            let id = l[start..].split_whitespace().next()?;
            Some(id.trim_matches('"').to_owned())
        })
        .collect()
}

#[tokio::test]
async fn offsets_reset_by_datetime_and_by_duration_replays_from_exactly_there() {
    let bootstrap = shared_kafka().await.bootstrap();
    let main = unique_topic("replay");
    let group = format!("{main}-group");
    create_group_topics(&bootstrap, &main, &group, 1).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let env = [
        ("SWITCHBOARD_TOPIC", main.as_str()),
        ("CONSUMER_GROUP", group.as_str()),
    ];

    // Three batches a second and a half apart: offsets 0-9, 10-19, 20-29.
    let early = ids("early", 10);
    let middle = ids("middle", 10);
    let late = ids("late", 10);
    produce_events(&bootstrap, &main, &early).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let middle_from = unix_ms();
    produce_events(&bootstrap, &main, &middle).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let late_from = unix_ms();
    produce_events(&bootstrap, &main, &late).await;

    let mut first = ConsumerProcess::start(&bootstrap, &main, &group, &downstream.url(), &[]).await;
    let all: Vec<String> = [early.clone(), middle.clone(), late.clone()].concat();
    eventually("all delivered", Duration::from_secs(30), || async {
        (downstream.successes().len() == 30).then_some(())
    })
    .await;
    eventually("all committed", Duration::from_secs(10), || async {
        (committed(&bootstrap, &group, &main, 1).get(&0) == Some(&30)).then_some(())
    })
    .await;
    first.signal(libc::SIGTERM);
    first.wait_for_exit(Duration::from_secs(20)).await;
    drop(first);

    // `consumer offsets reset --group <group> --topic <topic> <target...>`.
    let reset = async |topic: &str, target: &[&str]| {
        let mut args = vec!["offsets", "reset", "--group", &group, "--topic", topic];
        args.extend_from_slice(target);
        consumer_command(&bootstrap, &env, &args).await
    };

    // A dry run prints the plan and changes nothing.
    let since_middle = rfc3339(middle_from);
    let (code, out) = reset("main", &["--to-datetime", &since_middle]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("dry run"), "{out}");
    let row = out
        .lines()
        .find(|l| l.starts_with(&format!("{main} ")))
        .expect("partition row");
    let cells: Vec<&str> = row.split_whitespace().collect();
    // Topic, partition, committed, new, lag now, lag after, change: the
    // lags from the broker's log end (30).
    assert_eq!(
        cells,
        [main.as_str(), "0", "30", "10", "0", "20", "+20"],
        "{out}"
    );
    assert_eq!(
        committed(&bootstrap, &group, &main, 1)[&0],
        30,
        "dry run changed nothing"
    );

    // Executed: the group restarts at the first middle record.
    let (code, out) = reset(&main, &["--to-datetime", &since_middle, "--execute"]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(committed(&bootstrap, &group, &main, 1)[&0], 10);

    // By duration: from "how long ago the late batch started" plus a margin
    // shorter than the gap to the middle batch.
    let ago = unix_ms() - late_from + 500;
    let (code, out) = reset(&main, &["--by-duration", &format!("{ago}ms"), "--execute"]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(committed(&bootstrap, &group, &main, 1)[&0], 20);

    // The replay re-reads exactly offsets 20-29; dedupe keeps them from being
    // delivered a second time.
    let second = ConsumerProcess::start(&bootstrap, &main, &group, &downstream.url(), &[]).await;
    eventually(
        "the late batch re-read",
        Duration::from_secs(30),
        || async {
            let hits = second.metric(metrics::DEDUPE_HITS, &[]).await;
            (hits >= 10.0).then_some(())
        },
    )
    .await;
    let replayed = suppressed_ids(&second.log_text());
    assert_eq!(replayed, late.iter().cloned().collect::<HashSet<_>>());
    assert!(all.iter().all(|id| downstream.successes()[id] == 1));
    eventually("replay committed", Duration::from_secs(10), || async {
        (committed(&bootstrap, &group, &main, 1).get(&0) == Some(&30)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_redeliver_reset_delivers_the_replayed_range_once_more_and_a_plain_one_does_not() {
    let bootstrap = shared_kafka().await.bootstrap();
    let main = unique_topic("redeliver");
    let group = format!("{main}-group");
    create_group_topics(&bootstrap, &main, &group, 1).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let env = [
        ("SWITCHBOARD_TOPIC", main.as_str()),
        ("CONSUMER_GROUP", group.as_str()),
    ];
    // 20 events and a sender's retry of the first: 21 records, 20 events.
    let events = ids("again", 20);
    produce_events(&bootstrap, &main, &events).await;
    produce_events(&bootstrap, &main, &events[..1]).await;
    let delivered_each = async |times: usize, within: Duration| {
        eventually(
            &format!("every event delivered {times} time(s)"),
            within,
            || async {
                let successes = downstream.successes();
                events
                    .iter()
                    .all(|id| successes.get(id) == Some(&times))
                    .then_some(())
            },
        )
        .await;
    };
    let run_until_committed = async |marker: &str| {
        let consumer =
            ConsumerProcess::start(&bootstrap, &main, &group, &downstream.url(), &[]).await;
        // A fresh event after the replayed range marks the end of the replay.
        produce_events(&bootstrap, &main, &[marker.to_owned()]).await;
        eventually(
            "the marker event delivered",
            Duration::from_secs(30),
            || async { downstream.successes().contains_key(marker).then_some(()) },
        )
        .await;
        let mut consumer = consumer;
        consumer.signal(libc::SIGTERM);
        consumer.wait_for_exit(Duration::from_secs(20)).await;
    };
    run_until_committed("progress-1").await;
    delivered_each(1, Duration::from_secs(5)).await;

    // The CRM lost what it acknowledged: replay everything, delivered again.
    // No --group: CONSUMER_GROUP (in `env`) names it, as for every command.
    let reset = ["offsets", "reset", "--topic", "main", "--to-earliest"];
    let (code, out) = consumer_command(
        &bootstrap,
        &env,
        &[&reset[..], &["--redeliver", "--execute"]].concat(),
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("replay fences written on 1 partition"),
        "{out}"
    );
    run_until_committed("progress-2").await;
    delivered_each(2, Duration::from_secs(5)).await;

    // A plain replay of the same range delivers nothing again (dedupe).
    let (code, out) =
        consumer_command(&bootstrap, &env, &[&reset[..], &["--execute"]].concat()).await;
    assert_eq!(code, 0, "{out}");
    run_until_committed("progress-3").await;
    delivered_each(2, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn dlt_list_filters_exactly_and_redrive_delivers_each_event_once() {
    let bootstrap = shared_kafka().await.bootstrap();
    let main = unique_topic("dltops");
    let group = format!("{main}-group");
    create_group_topics(&bootstrap, &main, &group, 2).await;
    let env = [
        ("SWITCHBOARD_TOPIC", main.as_str()),
        ("CONSUMER_GROUP", group.as_str()),
    ];
    // The downstream refuses everything at first: each event is dead-lettered at once.
    let downstream = Downstream::start(400, Duration::ZERO).await;
    let refused = ids("refused", 6);
    produce_events(&bootstrap, &main, &refused).await;
    produce_raw(&bootstrap, &main, "junk-1", b"not an envelope").await;
    let _consumer = ConsumerProcess::start(&bootstrap, &main, &group, &downstream.url(), &[]).await;
    let dlt_topic = GroupTopics::new(&main, &group).expect("names").dlt();
    eventually("7 dead letters", Duration::from_secs(30), || async {
        (read_topic(&bootstrap, &dlt_topic).await.len() == 7).then_some(())
    })
    .await;

    let list = async |extra: &[&str]| {
        let mut args = vec!["dlt", "list", "--json"];
        args.extend_from_slice(extra);
        let (code, out) = consumer_command(&bootstrap, &env, &args).await;
        assert_eq!(code, 0, "{out}");
        out.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json line"))
            .collect::<Vec<_>>()
    };
    assert_eq!(list(&[]).await.len(), 7);
    let poison = list(&["--reason-contains", "poison"]).await;
    assert_eq!(poison.len(), 1);
    assert_eq!(poison[0]["event_id"], "junk-1");
    let genesys = list(&["--source", "genesys"]).await;
    assert_eq!(genesys.len(), 6);
    assert!(genesys
        .iter()
        .all(|e| e["reason"] == "rejected" && e["attempts"] == 1));
    assert_eq!(list(&["--reason-contains", "HTTP 400"]).await.len(), 6);
    assert_eq!(list(&["--limit", "2"]).await.len(), 2);
    assert_eq!(list(&["--source", "stripe"]).await.len(), 0);
    assert_eq!(
        list(&["--since", &rfc3339(unix_ms() + 60_000)]).await.len(),
        0
    );
    assert_eq!(
        list(&["--until", &rfc3339(unix_ms() + 60_000)]).await.len(),
        7
    );

    // A dry-run re-drive publishes nothing.
    let retry_topic = GroupTopics::new(&main, &group)
        .expect("names")
        .retry(switchboard_proto::topics::RETRY_1M);
    let (code, out) =
        consumer_command(&bootstrap, &env, &["dlt", "redrive", "--source", "genesys"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("dry run: 6 records"), "{out}");
    let (code, out) = consumer_command(
        &bootstrap,
        &env,
        &["dlt", "redrive", "--source", "genesys", "--json"],
    )
    .await;
    assert_eq!(code, 0);
    let plan: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(plan["executed"], false);
    assert_eq!(plan["records"].as_array().map(Vec::len), Some(6));
    assert!(read_topic(&bootstrap, &retry_topic).await.is_empty());
    // Every record of the DLT at once must be asked for by name.
    let (code, _) = consumer_command(&bootstrap, &env, &["dlt", "redrive", "--execute"]).await;
    assert_eq!(code, i32::from(exit::USAGE), "no filter and no --all");
    assert!(read_topic(&bootstrap, &retry_topic).await.is_empty());

    // A re-driven event that fails again comes back marked as re-driven,
    // and `--newest` shows it first.
    let (code, out) = consumer_command(
        &bootstrap,
        &env,
        &["dlt", "redrive", "--reason-contains", "poison", "--execute"],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    eventually(
        "the poison record is back",
        Duration::from_secs(30),
        || async { (read_topic(&bootstrap, &dlt_topic).await.len() == 8).then_some(()) },
    )
    .await;
    let newest = list(&["--newest", "--limit", "1"]).await;
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0]["event_id"], "junk-1");
    assert!(newest[0]["redriven_at_ms"].as_i64().is_some(), "{newest:?}");
    let oldest = list(&["--limit", "1"]).await;
    assert!(oldest[0]["redriven_at_ms"].is_null(), "{oldest:?}");
    let (code, table) = consumer_command(&bootstrap, &env, &["dlt", "list", "--newest"]).await;
    assert_eq!(code, 0);
    assert!(table.contains("RE-DRIVEN"), "{table}");

    // The downstream is fixed: re-drive the refused events.
    downstream.set_default_status(200);
    let (code, out) = consumer_command(
        &bootstrap,
        &env,
        &[
            "dlt",
            "redrive",
            "--source",
            "genesys",
            "--rate",
            "50",
            "--execute",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    eventually(
        "re-driven events delivered",
        Duration::from_secs(30),
        || async {
            let successes = downstream.successes();
            refused
                .iter()
                .all(|id| successes.get(id) == Some(&1))
                .then_some(())
        },
    )
    .await;
    let hops: Vec<_> = read_topic(&bootstrap, &retry_topic)
        .await
        .into_iter()
        .filter(|r| r.key.starts_with("refused"))
        .collect();
    assert_eq!(hops.len(), 6, "re-driven to the first retry stage");
    assert!(
        hops.iter()
            .all(|r| r.headers.contains_key("sb-redriven-at")
                && !r.headers.contains_key("sb-attempt"))
    );

    // Running it again delivers nothing twice.
    let (code, _) = consumer_command(
        &bootstrap,
        &env,
        &["dlt", "redrive", "--source", "genesys", "--execute"],
    )
    .await;
    assert_eq!(code, 0);
    eventually(
        "second re-drive handled",
        Duration::from_secs(30),
        || async {
            let hits = _consumer
                .metric(metrics::DEDUPE_HITS, &["stage=\"retry-1m\""])
                .await;
            (hits == 6.0).then_some(())
        },
    )
    .await;
    assert!(refused.iter().all(|id| downstream.successes()[id] == 1));
}

#[tokio::test]
async fn bad_usage_exits_64_and_a_missing_topic_exits_1() {
    let bootstrap = shared_kafka().await.bootstrap();
    let (code, _) = consumer_command(&bootstrap, &[], &["offsets", "reset", "--group", "g"]).await;
    assert_eq!(code, i32::from(exit::USAGE), "no target given");
    let (code, _) = consumer_command(
        &bootstrap,
        &[],
        &[
            "offsets",
            "reset",
            "--group",
            "g",
            "--topic",
            "t",
            "--to-earliest",
            "--to-latest",
        ],
    )
    .await;
    assert_eq!(code, i32::from(exit::USAGE), "two targets given");
    let (code, _) = consumer_command(
        &bootstrap,
        &[],
        &[
            "offsets",
            "reset",
            "--group",
            "g",
            "--topic",
            &unique_topic("absent"),
            "--to-earliest",
        ],
    )
    .await;
    assert_eq!(code, i32::from(exit::FAILED), "a topic that does not exist");
}

#[tokio::test]
async fn topics_ensure_plans_first_and_creates_nothing_when_any_part_is_refused() {
    let bootstrap = shared_kafka().await.bootstrap();
    let main = unique_topic("ensure");
    create_topic(&bootstrap, &main, 3).await;
    let env = [("SWITCHBOARD_TOPIC", main.as_str())];
    let topics = GroupTopics::new(&main, "crm2").expect("names");
    let group_topics = [
        topics.retry(switchboard_proto::topics::RETRY_1M),
        topics.retry(switchboard_proto::topics::RETRY_10M),
        topics.dlt(),
        topics.delivered(),
    ];

    // The operator's mistake: a count that contradicts the main topic.
    let (code, _, stderr) = consumer_command_full(
        &bootstrap,
        &env,
        &[
            "topics",
            "ensure",
            "--group",
            "crm2",
            "--partitions",
            "4",
            "--execute",
        ],
    )
    .await;
    assert_eq!(code, i32::from(exit::FAILED));
    assert!(stderr.contains("has 3 partitions"), "{stderr}");
    assert!(
        stderr.contains("without --partitions"),
        "the hint is the fix: {stderr}"
    );
    for topic in &group_topics {
        assert_eq!(
            partition_count(&bootstrap, topic).await,
            None,
            "{topic} not created"
        );
    }

    // Without --execute: the plan, and nothing created.
    let (code, out) = consumer_command(
        &bootstrap,
        &env,
        &["topics", "ensure", "--group", "crm2", "--json"],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let plan: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(plan["executed"], false);
    assert_eq!(plan["partitions"], 3, "the main topic's count");
    // The test cluster is one node: RF 3 / minISR 2 are clamped, and the plan says so.
    assert_eq!(plan["replication_factor"], 1);
    assert_eq!(plan["min_insync_replicas"], 1);
    // And the main topic, created with the broker's default (DescribeConfigs:
    // 1 MiB + 12 bytes), is below the plan's limit: reported, not changed.
    let warnings = plan["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 3, "{plan}");
    let main_warning = warnings[2].as_str().expect("text");
    assert!(
        main_warning.starts_with(&format!("{main} exists with max.message.bytes=1048588")),
        "{main_warning}"
    );
    assert_eq!(plan["topics"][0]["action"], "keep");
    assert_eq!(plan["topics"][3]["action"], "create");
    assert_eq!(partition_count(&bootstrap, &topics.dlt()).await, None);

    let (code, out) = consumer_command(
        &bootstrap,
        &env,
        &["topics", "ensure", "--group", "crm2", "--execute"],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("created 4 topic(s)"), "{out}");
    for topic in &group_topics {
        assert_eq!(partition_count(&bootstrap, topic).await, Some(3), "{topic}");
    }
    // Idempotent: a second run keeps everything.
    let (code, out) = consumer_command(
        &bootstrap,
        &env,
        &["topics", "ensure", "--group", "crm2", "--execute"],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("created 0 topic(s)"), "{out}");
}

#[tokio::test]
async fn offsets_reset_refuses_an_unknown_group_and_plans_every_stage_at_once() {
    let bootstrap = shared_kafka().await.bootstrap();
    let main = unique_topic("allstages");
    let group = format!("{main}-group");
    create_group_topics(&bootstrap, &main, &group, 2).await;
    let env = [("SWITCHBOARD_TOPIC", main.as_str())];

    let typo = format!("{group}-typo");
    let (code, _, stderr) = consumer_command_full(
        &bootstrap,
        &env,
        &[
            "offsets",
            "reset",
            "--group",
            &typo,
            "--all-stages",
            "--to-earliest",
        ],
    )
    .await;
    assert_eq!(code, i32::from(exit::FAILED), "{stderr}");
    assert!(stderr.contains("knows no consumer group"), "{stderr}");

    let (code, out) = consumer_command(
        &bootstrap,
        &env,
        &[
            "offsets",
            "reset",
            "--group",
            &group,
            "--all-stages",
            "--to-earliest",
            "--new-group",
            "--only-partitions",
            "1",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let plan: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(plan["executed"], false);
    let topics: Vec<&str> = plan["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| {
            assert_eq!(p["partition"], 1, "only the partition asked for");
            p["topic"].as_str().expect("topic")
        })
        .collect();
    let stages = GroupTopics::new(&main, &group).expect("names");
    assert_eq!(
        topics,
        [
            main.clone(),
            stages.retry(switchboard_proto::topics::RETRY_1M),
            stages.retry(switchboard_proto::topics::RETRY_10M)
        ]
    );

    // `--partitions` is a count (topics ensure), never a filter.
    let (code, _) = consumer_command(
        &bootstrap,
        &env,
        &[
            "offsets",
            "reset",
            "--group",
            &group,
            "--topic",
            "main",
            "--to-earliest",
            "--partitions",
            "1",
        ],
    )
    .await;
    assert_eq!(code, i32::from(exit::USAGE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_reset_refuses_a_group_with_active_members_and_resets_it_once_they_left() {
    let bootstrap = shared_kafka().await.bootstrap();
    let main = unique_topic("activegroup");
    let group = format!("{main}-group");
    create_group_topics(&bootstrap, &main, &group, 1).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let events = ids("active", 5);
    produce_events(&bootstrap, &main, &events).await;
    let mut member =
        ConsumerProcess::start(&bootstrap, &main, &group, &downstream.url(), &[]).await;
    eventually(
        "delivered and committed",
        Duration::from_secs(30),
        || async { (committed(&bootstrap, &group, &main, 1).get(&0) == Some(&5)).then_some(()) },
    )
    .await;

    let env = [("SWITCHBOARD_TOPIC", main.as_str())];
    let reset = [
        "offsets",
        "reset",
        "--group",
        &group,
        "--topic",
        "main",
        "--to-earliest",
        "--execute",
    ];
    // The broker describes the group with its member (DescribeGroups):
    // moving offsets under a running member would be overwritten by its
    // next commit, so the tool refuses and moves nothing.
    let (code, _, stderr) = consumer_command_full(&bootstrap, &env, &reset).await;
    assert_eq!(code, i32::from(exit::FAILED), "{stderr}");
    assert!(stderr.contains("is active"), "{stderr}");
    assert!(
        stderr.contains("1 members"),
        "the member the broker listed: {stderr}"
    );
    assert_eq!(
        committed(&bootstrap, &group, &main, 1)[&0],
        5,
        "nothing moved"
    );

    // Once the member has left (SIGTERM: it leaves the group), the same
    // command resets.
    member.signal(libc::SIGTERM);
    assert!(member
        .wait_for_exit(Duration::from_secs(20))
        .await
        .success());
    let (code, out) = consumer_command(&bootstrap, &env, &reset).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(committed(&bootstrap, &group, &main, 1)[&0], 0);
}
