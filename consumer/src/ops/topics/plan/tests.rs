use super::*;
use crate::stage::parse_retry_stages;
use switchboard_proto::GroupTopics;

fn ladder(group: &str) -> Ladder {
    Ladder::new(
        GroupTopics::new("webhooks", group).expect("valid"),
        parse_retry_stages("retry-1m=60s,retry-10m=30d").expect("valid"),
    )
}

fn options(partitions: Option<usize>) -> EnsureOptions {
    EnsureOptions {
        partitions,
        replication_factor: DEFAULT_REPLICATION_FACTOR,
        min_insync_replicas: DEFAULT_MIN_INSYNC_REPLICAS,
        dlt_retention: Duration::from_secs(14 * 24 * 3600),
        main_retention: None,
        main_max_message_bytes: 1_000_000,
    }
}

fn cluster(brokers: usize, topics: &[(&str, usize)]) -> Cluster {
    Cluster {
        brokers,
        partitions: topics.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
        configs: BTreeMap::new(),
    }
}

const DAY: Duration = Duration::from_secs(24 * 3600);

#[test]
fn retention_follows_the_ladder_and_the_dedupe_window() {
    let plan = plan(&ladder("crm"), &options(None), DAY, &cluster(3, &[]));
    let names: Vec<&str> = plan.topics.iter().map(|t| t.spec.name.as_str()).collect();
    assert_eq!(
        names,
        ladder("crm").all_topics(),
        "the plan covers exactly the group's topics"
    );
    assert_eq!(
        names,
        [
            "webhooks",
            "webhooks.crm.retry-1m",
            "webhooks.crm.retry-10m",
            "webhooks.crm.dlt",
            "webhooks.crm.delivered"
        ]
    );
    let config = |i: usize, key: &str| plan.topics[i].spec.configs.get(key).cloned();
    assert_eq!(
        config(0, "retention.ms"),
        None,
        "main retention left to the broker"
    );
    assert_eq!(
        config(1, "retention.ms"),
        Some(RETRY_RETENTION_FLOOR.as_millis().to_string())
    );
    assert_eq!(
        config(2, "retention.ms"),
        Some((300 * DAY.as_millis()).to_string()),
        "10x a long delay"
    );
    assert_eq!(
        config(4, "retention.ms"),
        Some((2 * DAY.as_millis()).to_string())
    );
    assert_eq!(
        config(4, "cleanup.policy").as_deref(),
        Some("compact,delete")
    );
    assert_eq!(config(0, "max.message.bytes").as_deref(), Some("1000000"));
    for i in 1..=3 {
        assert_eq!(
            config(i, "max.message.bytes").as_deref(),
            Some("1065536"),
            "{} leaves room for the hop headers",
            plan.topics[i].spec.name
        );
    }
    for topic in &plan.topics {
        assert_eq!(topic.action, Action::Create);
        assert_eq!(
            topic
                .spec
                .configs
                .get("min.insync.replicas")
                .map(String::as_str),
            Some("2")
        );
    }
    assert_eq!(plan.replication_factor, 3);
    assert_eq!(plan.partitions, DEFAULT_PARTITIONS);
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    assert!(plan.refusal.is_none());
}

#[test]
fn a_small_cluster_clamps_replication_and_says_so() {
    let plan = plan(&ladder("crm"), &options(None), DAY, &cluster(1, &[]));
    assert_eq!((plan.replication_factor, plan.min_insync_replicas), (1, 1));
    assert_eq!(plan.warnings.len(), 2, "{:?}", plan.warnings);
    assert!(plan.warnings[0].contains("one broker only"));
    let two = plan_with(2);
    assert_eq!((two.replication_factor, two.min_insync_replicas), (2, 2));
    assert!(
        two.warnings
            .iter()
            .any(|w| w.contains("one broker down stops every write")),
        "{:?}",
        two.warnings
    );
}

fn plan_with(brokers: usize) -> Plan {
    plan(&ladder("crm"), &options(None), DAY, &cluster(brokers, &[]))
}

#[test]
fn partitions_that_contradict_the_main_topic_refuse_the_whole_plan_with_the_right_hint() {
    // The case an operator hit: main has 3, `--group crm2 --partitions 4`.
    let plan = plan(
        &ladder("crm2"),
        &options(Some(4)),
        DAY,
        &cluster(1, &[("webhooks", 3)]),
    );
    let why = plan.refusal.as_deref().expect("refused");
    assert!(why.contains("has 3 partitions"), "{why}");
    assert!(why.contains("without --partitions"), "{why}");
    assert_eq!(
        plan.partitions, 3,
        "the plan shows the count that would work"
    );
    assert_eq!(plan.topics[0].action, Action::Keep);
}

#[test]
fn existing_group_topics_with_another_count_refuse_and_name_themselves() {
    let main_exists = plan(
        &ladder("crm"),
        &options(None),
        DAY,
        &cluster(1, &[("webhooks", 3), ("webhooks.crm.dlt", 4)]),
    );
    assert_eq!(main_exists.topics[3].action, Action::Refuse { actual: 4 });
    let why = main_exists.refusal.expect("refused");
    assert!(why.contains("webhooks.crm.dlt (4)"), "{why}");
    assert!(why.contains("delete them"), "{why}");
    assert!(!why.contains("--partitions"), "{why}");

    let main_missing = plan(
        &ladder("crm"),
        &options(None),
        DAY,
        &cluster(1, &[("webhooks.crm.dlt", 4)]),
    );
    let why = main_missing.refusal.expect("refused");
    assert!(why.contains("--partitions"), "{why}");
}

#[test]
fn weaker_existing_topics_are_reported_not_changed() {
    let mut has = cluster(3, &[("webhooks", 6)]);
    has.configs.insert(
        "webhooks".into(),
        [
            ("min.insync.replicas".to_owned(), "1".to_owned()),
            ("max.message.bytes".to_owned(), "1048588".to_owned()),
        ]
        .into(),
    );
    let plan = plan(&ladder("crm"), &options(None), DAY, &has);
    assert!(plan.refusal.is_none());
    assert_eq!(plan.topics[0].action, Action::Keep);
    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    assert!(plan.warnings[0].contains("min.insync.replicas=1"));
    assert_eq!(plan.to_create().count(), 4);
}

#[test]
fn the_json_plan_names_each_topic_and_its_action() {
    let plan = plan(
        &ladder("crm"),
        &options(None),
        DAY,
        &cluster(1, &[("webhooks", 6)]),
    );
    let value: serde_json::Value = serde_json::from_str(&render::json(&plan, false)).expect("json");
    assert_eq!(value["partitions"], 6);
    assert_eq!(value["executed"], false);
    assert_eq!(value["topics"][0]["name"], "webhooks");
    assert_eq!(value["topics"][0]["action"], "keep");
    assert_eq!(value["topics"][1]["action"], "create");
    assert_eq!(value["topics"][1]["configs"]["min.insync.replicas"], "1");
}
