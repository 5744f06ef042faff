//! Least privilege, both ways: each identity of `deploy/strimzi` does its
//! job with exactly its ACLs (SCRAM-SHA-512, PLAIN and mutual TLS alike),
//! and is refused the others' rights at start, in one line naming the
//! identity and each missing ACL, exit 77; never "topic does not exist".

use std::time::Duration;

use http::StatusCode;
use switchboard_runtime::exit;

use super::{borrowed, cluster, scram, CONSUMER, GATEWAY, GROUP, MAIN, OPERATOR};
use crate::downstream::{Answer, Downstream};
use crate::harness::{read_topic, Gateway, HttpClient};
use crate::pipeline::{consumer_command_full, ConsumerProcess};

/// `events trace` of an event the consumer delivered.
const TRACE: &[&str] = &[
    "events",
    "trace",
    "--group",
    GROUP,
    "--source",
    "genesys",
    "--id",
    "rights-scram",
];

/// `offsets reset` of the group's main topic to its start.
const RESET: &[&str] = &[
    "offsets",
    "reset",
    "--group",
    GROUP,
    "--topic",
    "main",
    "--to-earliest",
    "--execute",
];

/// Runs an operator command as `identity`; returns exit code, stdout, stderr.
pub(super) async fn operator(identity: (&str, &str), args: &[&str]) -> (i32, String, String) {
    let kafka = cluster().await;
    let env = scram(kafka, identity);
    let mut env = borrowed(&env);
    env.push(("SWITCHBOARD_TOPIC", MAIN));
    consumer_command_full(&kafka.super_user(), &env, args).await
}

/// The group's topics, created once by the operator identity.
pub(super) async fn ensure_topics() {
    static DONE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    DONE.get_or_init(|| async {
        let (code, _, stderr) = operator(
            OPERATOR,
            &[
                "topics",
                "ensure",
                "--group",
                GROUP,
                "--partitions",
                "2",
                "--execute",
            ],
        )
        .await;
        assert_eq!(code, 0, "the operator creates the topics: {stderr}");
    })
    .await;
}

pub(super) async fn post(gateway: &Gateway, id: &str) -> StatusCode {
    HttpClient::new()
        .post_json(
            &gateway.url("/webhooks/genesys"),
            format!(r#"{{"id": "{id}", "detail-type": "v2.users.{{id}}.presence"}}"#),
            &[],
        )
        .await
        .expect("request")
        .status
}

#[tokio::test]
async fn each_identity_does_its_job_with_exactly_its_strimzi_acls() {
    let kafka = cluster().await;
    ensure_topics().await;

    // The gateway writes, signed in three ways as the same principal.
    let ways = [
        ("scram", scram(kafka, GATEWAY)),
        ("plain", kafka.sasl_env("PLAIN", GATEWAY.0, GATEWAY.1)),
        ("mtls", kafka.mtls_env(GATEWAY.0)),
    ];
    let mut ids = Vec::new();
    for (way, env) in &ways {
        let gateway = Gateway::start(&kafka.super_user(), MAIN, None, &borrowed(env)).await;
        gateway.wait_ready().await;
        let id = format!("rights-{way}");
        assert_eq!(post(&gateway, &id).await, StatusCode::ACCEPTED, "{way}");
        ids.push(id);
    }

    // The consumer reads, delivers, hands off and dead-letters.
    let downstream = Downstream::start(200, Duration::ZERO).await;
    downstream.script("rights-plain", &[Answer::status(422)]);
    let env = scram(kafka, CONSUMER);
    let mut consumer = ConsumerProcess::start(
        &kafka.super_user(),
        MAIN,
        GROUP,
        &downstream.url(),
        &borrowed(&env),
    )
    .await;
    downstream
        .wait_delivered(
            &["rights-scram".to_owned(), "rights-mtls".to_owned()],
            Duration::from_secs(30),
        )
        .await;
    let dlt = format!("{MAIN}.{GROUP}.dlt");
    crate::harness::eventually(
        "the rejected event in the DLT",
        Duration::from_secs(30),
        || async {
            let records = read_topic(&kafka.super_user(), &dlt).await;
            (!records.is_empty()).then_some(())
        },
    )
    .await;
    consumer.signal(libc::SIGTERM);
    assert!(consumer
        .wait_for_exit(Duration::from_secs(30))
        .await
        .success());

    // The operator inspects and re-drives the DLT and replays the group.
    let (code, listed, stderr) =
        operator(OPERATOR, &["dlt", "list", "--group", GROUP, "--json"]).await;
    assert_eq!(code, 0, "dlt list: {stderr}");
    assert!(listed.contains("rights-plain"), "{listed}");
    let (code, _, stderr) = operator(
        OPERATOR,
        &["dlt", "redrive", "--group", GROUP, "--all", "--execute"],
    )
    .await;
    assert_eq!(code, 0, "dlt redrive: {stderr}");
    let (code, traced, stderr) = operator(OPERATOR, TRACE).await;
    assert_eq!(code, 0, "events trace: {stderr}");
    assert!(traced.contains("delivered"), "{traced}");
    let (code, _, stderr) = operator(OPERATOR, RESET).await;
    assert_eq!(code, 0, "offsets reset: {stderr}");
}

#[tokio::test]
async fn each_identity_is_refused_the_others_rights_naming_who_lacks_what() {
    let kafka = cluster().await;
    ensure_topics().await;

    // Consumer and operator credentials cannot write the main topic: the
    // gateway does not start (so it never answers 202 for anything).
    for identity in [CONSUMER, OPERATOR] {
        let env = scram(kafka, identity);
        let refused = Gateway::run_to_exit(
            &kafka.super_user(),
            MAIN,
            &borrowed(&env),
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(
            refused.code,
            Some(i32::from(exit::KAFKA_NOT_AUTHORISED)),
            "{}",
            refused.log
        );
        let line = refused
            .log
            .lines()
            .find(|l| l.starts_with("gateway: "))
            .expect("an error line");
        assert!(line.contains(identity.0), "names the identity: {line}");
        assert!(
            line.contains("Write topic webhooks"),
            "names the right: {line}"
        );
    }

    // Gateway credentials cannot read: the consumer does not start, and
    // says so rather than "do not exist".
    let env = scram(kafka, GATEWAY);
    let mut env = borrowed(&env);
    env.extend([
        ("SWITCHBOARD_TOPIC", MAIN),
        ("CONSUMER_GROUP", GROUP),
        ("DESTINATION_URL", "http://127.0.0.1:9/"),
    ]);
    let (code, _, stderr) = consumer_command_full(&kafka.super_user(), &env, &["run"]).await;
    assert_eq!(code, i32::from(exit::KAFKA_NOT_AUTHORISED), "{stderr}");
    assert!(stderr.contains("switchboard-gateway"), "{stderr}");
    assert!(stderr.contains("Read topic webhooks"), "{stderr}");
    assert!(
        stderr.contains(&format!("Write topic {MAIN}.{GROUP}.dlt")),
        "{stderr}"
    );
    assert!(!stderr.contains("do not exist"), "{stderr}");

    // Nor may they run the operator's commands.
    for args in [
        &["dlt", "list", "--group", GROUP][..],
        TRACE,
        &["topics", "ensure", "--group", GROUP, "--execute"],
        RESET,
    ] {
        let (code, _, stderr) = operator(GATEWAY, args).await;
        assert_eq!(
            code,
            i32::from(exit::KAFKA_NOT_AUTHORISED),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("switchboard-gateway"), "{args:?}: {stderr}");
        assert!(
            stderr.to_ascii_lowercase().contains("authoriz"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("do not exist"), "{args:?}: {stderr}");
    }
}
