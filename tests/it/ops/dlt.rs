//! `dlt list` and `dlt redrive`: exact filters, each event re-driven once.

use super::*;

#[tokio::test]
async fn dlt_list_filters_exactly_and_redrive_delivers_each_event_once() {
    let FreshGroup {
        bootstrap,
        main,
        group,
        ..
    } = fresh_group("dltops", 2).await;
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
