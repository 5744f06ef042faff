//! `offsets reset`: replay by time, duration and offset, `--redeliver`, and
//! the refusals that keep a reset from surprising anyone.

use super::*;

#[tokio::test]
async fn offsets_reset_by_datetime_and_by_duration_replays_from_exactly_there() {
    let FreshGroup {
        bootstrap,
        main,
        group,
        ..
    } = fresh_group("replay", 1).await;
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
    let FreshGroup {
        bootstrap,
        main,
        group,
        ..
    } = fresh_group("redeliver", 1).await;
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
    // `events trace` shows the replay between the two deliveries.
    let (code, out, stderr) = consumer_command_full(
        &bootstrap,
        &env,
        &[
            "events", "trace", "--source", "genesys", "--id", &events[1], "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let answer: serde_json::Value = serde_json::from_str(&out).expect("json");
    let kinds: Vec<&str> = answer["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|step| step["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["received", "delivered", "replayed", "delivered"],
        "{answer}"
    );
    assert_eq!(answer["deliveries"], 2, "{answer}");

    // A plain replay of the same range delivers nothing again (dedupe).
    let (code, out) =
        consumer_command(&bootstrap, &env, &[&reset[..], &["--execute"]].concat()).await;
    assert_eq!(code, 0, "{out}");
    run_until_committed("progress-3").await;
    delivered_each(2, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn offsets_reset_refuses_an_unknown_group_and_plans_every_stage_at_once() {
    let FreshGroup {
        bootstrap,
        main,
        group,
        ..
    } = fresh_group("allstages", 2).await;
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
    let FreshGroup {
        bootstrap,
        main,
        group,
        ..
    } = fresh_group("activegroup", 1).await;
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
