//! Routing one Genesys EventBridge stream to several services: each
//! consumer group's destination takes only the event types its filter
//! names (and the body conditions it sets). Proved with the fixtures' two
//! shapes, conversation ends and presence audits, on Kafka: each group gets
//! exactly its events; the others are committed and counted as filtered,
//! never retried or dead-lettered; the gateway counts types by a bounded
//! label; trace, replay and re-drive respect the filter.

use std::collections::BTreeSet;
use std::time::Duration;

use http::StatusCode;
use serde_json::Value;
use switchboard_consumer::metrics::HANDLED;
use switchboard_gateway::metrics::EVENT_TYPES;

use crate::downstream::{Answer, Downstream};
use crate::harness::{
    eventually, fixture, log_dir, shared_kafka, unique_topic, Gateway, HttpClient,
};
use crate::pipeline::{
    consumer_command_full, create_group_topics, create_topics_of_group, ConsumerProcess,
};

const GATEWAY: &str = r#"
[sources.genesys]
auth = { scheme = "none" }
event_types = ["v2.detail.events.conversation.*.customer.end", "v2.audits.*"]
"#;

/// The CRM sync: conversation ends only.
const ENDS: &str = r#"
[destination.filter]
types = ["v2.detail.events.conversation.*.customer.end"]
"#;

/// The workforce tool: presence audits only (not other audited entities).
const PRESENCE: &str = r#"
[destination.filter]
types = ["v2.audits.*"]
where = [{ pointer = "/detail/eventBody/entityType", equals = "UserPresence" }]
"#;

fn config_file(text: &str) -> String {
    let path = log_dir().join(format!("{}.toml", unique_topic("routing")));
    std::fs::write(&path, text).expect("config file");
    path.to_string_lossy().into_owned()
}

/// The fixture `name` with its EventBridge `id` set to `id` (and, for a
/// presence audit, its audited entity set to `entity`).
fn event(name: &str, id: &str, entity: Option<&str>) -> String {
    let mut json: Value =
        serde_json::from_slice(&fixture(&format!("genesys/{name}.json"))).expect("fixture");
    json["id"] = Value::String(id.to_owned());
    if let Some(entity) = entity {
        json["detail"]["eventBody"]["entityType"] = Value::String(entity.to_owned());
    }
    json.to_string()
}

fn delivered(downstream: &Downstream) -> BTreeSet<String> {
    downstream.successes().into_keys().collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

#[tokio::test]
async fn each_group_receives_exactly_the_event_types_its_filter_takes() {
    let bootstrap = shared_kafka().await.bootstrap();
    let main = unique_topic("routing");
    let (ends_group, presence_group) = (format!("{main}-ends"), format!("{main}-presence"));
    create_group_topics(&bootstrap, &main, &ends_group, 3).await;
    create_topics_of_group(&bootstrap, &main, &presence_group, 3).await;
    let (ends_config, presence_config) = (config_file(ENDS), config_file(PRESENCE));
    let gateway = Gateway::start(&bootstrap, &main, Some(GATEWAY), &[]).await;
    let ends_service = Downstream::start(200, Duration::ZERO).await;
    ends_service.script("end-dead", &[Answer::status(400)]);
    let presence_service = Downstream::start(200, Duration::ZERO).await;
    let start = |group: &str, url: String, config: &str| {
        let (bootstrap, main, group, config) = (
            bootstrap.clone(),
            main.clone(),
            group.to_owned(),
            config.to_owned(),
        );
        async move {
            ConsumerProcess::start(
                &bootstrap,
                &main,
                &group,
                &url,
                &[("CONSUMER_CONFIG", config.as_str())],
            )
            .await
        }
    };
    let mut ends = start(&ends_group, ends_service.url(), &ends_config).await;
    let presence = start(&presence_group, presence_service.url(), &presence_config).await;

    let end_ids = ["end-1", "end-2", "end-3", "end-4", "end-dead"];
    let presence_ids = ["pres-1", "pres-2", "pres-3"];
    let http = HttpClient::new();
    let post = async |body: String| {
        let reply = http
            .post_json(&gateway.url("/webhooks/genesys"), body, &[])
            .await
            .expect("request");
        assert_eq!(reply.status, StatusCode::ACCEPTED);
    };
    for id in end_ids {
        post(event("eventbridge-conversation-customer-end", id, None)).await;
    }
    for id in presence_ids {
        post(event("eventbridge-user-presence-audit", id, None)).await;
    }
    post(event(
        "eventbridge-user-presence-audit",
        "queue-audit",
        Some("Queue"),
    ))
    .await;

    // Each service gets exactly its events.
    let ends_want = set(&["end-1", "end-2", "end-3", "end-4"]);
    eventually("the ends delivered", Duration::from_secs(30), || async {
        (delivered(&ends_service) == ends_want).then_some(())
    })
    .await;
    eventually(
        "the presences delivered",
        Duration::from_secs(30),
        || async { (delivered(&presence_service) == set(&presence_ids)).then_some(()) },
    )
    .await;
    // The others are committed and counted as filtered, never retried nor
    // dead-lettered: 4 audits for the ends group, 5 ends and one audit of
    // a queue for the presence group.
    let filtered = ["outcome=\"filtered\""];
    eventually(
        "the ends group filtered 4",
        Duration::from_secs(20),
        || async { (ends.metric(HANDLED, &filtered).await == 4.0).then_some(()) },
    )
    .await;
    eventually(
        "the presence group filtered 6",
        Duration::from_secs(20),
        || async { (presence.metric(HANDLED, &filtered).await == 6.0).then_some(()) },
    )
    .await;
    for (consumer, dead) in [(&ends, 1.0), (&presence, 0.0)] {
        assert_eq!(
            consumer.metric(HANDLED, &["outcome=\"retried\""]).await,
            0.0
        );
        assert_eq!(
            consumer
                .metric(HANDLED, &["outcome=\"dead_lettered\""])
                .await,
            dead,
            "only the end the CRM rejected"
        );
    }
    // The gateway counts types by the configured patterns only.
    let by_type = |label: &'static str| {
        let gateway = &gateway;
        async move {
            let label = format!("event_type=\"{label}\"");
            gateway.metric(EVENT_TYPES, &[&label]).await
        }
    };
    assert_eq!(
        by_type("v2.detail.events.conversation.*.customer.end").await,
        5.0
    );
    assert_eq!(by_type("v2.audits.*").await, 4.0);
    assert_eq!(by_type("other").await, 0.0);

    // Trace says which filter skipped an event.
    let env = [
        ("SWITCHBOARD_TOPIC", main.as_str()),
        ("CONSUMER_CONFIG", ends_config.as_str()),
    ];
    let args = [
        "events",
        "trace",
        "--group",
        &ends_group,
        "--source",
        "genesys",
        "--id",
        "pres-1",
        "--json",
    ];
    let (code, out, stderr) = consumer_command_full(&bootstrap, &env, &args).await;
    assert_eq!(code, 0, "{stderr}");
    let answer: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(answer["ending"]["state"], "filtered", "{answer}");
    assert_eq!(answer["ending"]["destination"], "default", "{answer}");

    // A re-drive of a dead letter the filter no longer takes is skipped.
    let presence_only = [
        ("SWITCHBOARD_TOPIC", main.as_str()),
        ("CONSUMER_CONFIG", presence_config.as_str()),
    ];
    let redrive = [
        "dlt",
        "redrive",
        "--group",
        &ends_group,
        "--id",
        "end-dead",
        "--execute",
    ];
    let (code, out, stderr) = consumer_command_full(&bootstrap, &presence_only, &redrive).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("no longer takes"), "{stderr}");
    assert!(out.contains("re-drove 0 records"), "{out}");

    // A replay with --redeliver delivers again only what the filter takes.
    ends.signal(libc::SIGTERM);
    ends.wait_for_exit(Duration::from_secs(20)).await;
    let reset = [
        "offsets",
        "reset",
        "--group",
        &ends_group,
        "--topic",
        "main",
        "--to-earliest",
        "--redeliver",
        "--execute",
    ];
    let (code, out, stderr) = consumer_command_full(&bootstrap, &env, &reset).await;
    assert_eq!(code, 0, "{out}{stderr}");
    let _ends = start(&ends_group, ends_service.url(), &ends_config).await;
    eventually(
        "the ends delivered twice",
        Duration::from_secs(30),
        || async {
            let successes = ends_service.successes();
            ends_want
                .iter()
                .all(|id| successes.get(id) == Some(&2))
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // (end-dead, rejected once, is taken and delivered by the replay.)
    let reached = delivered(&ends_service);
    assert!(
        reached.iter().all(|id| id.starts_with("end-")),
        "no audit reached the CRM: {reached:?}"
    );
    drop(presence);
}
