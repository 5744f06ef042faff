//! `topics ensure` and the commands' usage errors and exit codes.

use super::*;

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
