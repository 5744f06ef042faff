//! Rights revoked while the processes run: the gateway answers `503` (never
//! `202` for a record it could not write) and counts `not_authorised`; the
//! consumer holds the partition of a hand-off it may not make (never
//! commits past it, never dead-letters it) and reports not ready; both
//! resume by themselves once the ACL is granted again.

use std::time::Duration;

use http::StatusCode;
use switchboard_consumer::metrics::STUCK;
use switchboard_gateway::metrics::PRODUCE_ERRORS;

use super::rights::{ensure_topics, post};
use super::{borrowed, cluster, CONSUMER, GATEWAY, MAIN};
use crate::downstream::{Answer, Downstream};
use crate::harness::kafka::acl::{create_acls, delete_acls, strimzi_acls, AclRule};
use crate::harness::{eventually, read_topic, Gateway, HttpClient};
use crate::pipeline::{committed, produce_events, ConsumerProcess};

/// The Write rules among `rules`: what a test revokes and grants again.
fn writes(rules: &[AclRule]) -> Vec<AclRule> {
    rules
        .iter()
        .filter(|r| r.operation == "Write")
        .cloned()
        .collect()
}

/// `identity`'s Strimzi rules given to `principal` instead, with the
/// group `crm-sync` renamed `group` (so this test's processes and ACL
/// changes leave the other tests' alone).
fn rules_for(identity: &str, principal: &str, group: &str) -> Vec<AclRule> {
    strimzi_acls(&super::strimzi_file())
        .into_iter()
        .filter(|rule| rule.principal == format!("User:{identity}"))
        .map(|rule| AclRule {
            principal: format!("User:{principal}"),
            name: rule.name.replace("crm-sync", group),
            ..rule
        })
        .collect()
}

#[tokio::test]
async fn a_write_right_revoked_while_running_is_503_never_202_and_counted_until_granted_again() {
    let kafka = cluster().await;
    ensure_topics().await;
    // The gateway's rules for a principal of this test's own, so revoking
    // them leaves the other tests' gateway alone.
    let principal = "switchboard-gateway-revoked";
    let rules = rules_for(GATEWAY.0, principal, "crm-sync");
    create_acls(&kafka.super_user(), rules.clone()).await;
    let env = kafka.mtls_env(principal);
    let gateway = Gateway::start(&kafka.super_user(), MAIN, None, &borrowed(&env)).await;
    gateway.wait_ready().await;
    assert_eq!(post(&gateway, "revoke-before").await, StatusCode::ACCEPTED);

    let write = writes(&rules);
    delete_acls(&kafka.super_user(), write.clone()).await;
    eventually(
        "the revoked write refused",
        Duration::from_secs(20),
        || async {
            (post(&gateway, "revoke-during").await == StatusCode::SERVICE_UNAVAILABLE).then_some(())
        },
    )
    .await;
    let refusals = gateway
        .metric(PRODUCE_ERRORS, &["kind=\"not_authorised\""])
        .await;
    assert!(refusals >= 1.0, "counted: {refusals}");
    let log = gateway.log_text();
    assert!(
        log.contains(principal) && log.contains("not authorised to Write topic webhooks"),
        "the log names who lacks what: {log}"
    );

    create_acls(&kafka.super_user(), write).await;
    eventually(
        "the write granted again",
        Duration::from_secs(20),
        || async { (post(&gateway, "revoke-after").await == StatusCode::ACCEPTED).then_some(()) },
    )
    .await;
    // Every 202 is a record in the topic; the refused ones are not.
    let stored: Vec<String> = read_topic(&kafka.super_user(), MAIN)
        .await
        .into_iter()
        .map(|r| r.key)
        .filter(|k| k.starts_with("revoke-"))
        .collect();
    for id in ["revoke-before", "revoke-after"] {
        assert!(stored.contains(&id.to_owned()), "{id} in {stored:?}");
    }
}

#[tokio::test]
async fn a_hand_off_right_revoked_while_running_holds_the_partition_until_granted_again() {
    let kafka = cluster().await;
    let (principal, group) = ("switchboard-consumer-revoked", "crm-revoke");
    let rules = rules_for(CONSUMER.0, principal, group);
    create_acls(&kafka.super_user(), rules.clone()).await;
    // The group's topics, made by the tests' super-user.
    let (code, _, stderr) = crate::pipeline::consumer_command_full(
        &kafka.super_user(),
        &[("SWITCHBOARD_TOPIC", MAIN)],
        &[
            "topics",
            "ensure",
            "--group",
            group,
            "--partitions",
            "2",
            "--execute",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");

    let downstream = Downstream::start(200, Duration::ZERO).await;
    downstream.script("hold-1", &[Answer::status(500), Answer::status(200)]);
    let env = kafka.mtls_env(principal);
    let consumer = ConsumerProcess::start(
        &kafka.super_user(),
        MAIN,
        group,
        &downstream.url(),
        &borrowed(&env),
    )
    .await;
    consumer.wait_assigned(6).await;

    // Its hop to the first retry stage is refused: the partition is held.
    let write = writes(&rules);
    delete_acls(&kafka.super_user(), write.clone()).await;
    produce_events(&kafka.super_user(), MAIN, &["hold-1".to_owned()]).await;
    let client = HttpClient::new();
    eventually("not ready", Duration::from_secs(30), || async {
        let reply = client.get(&consumer.url("/readyz")).await.ok()?;
        (reply.status == StatusCode::SERVICE_UNAVAILABLE).then_some(())
    })
    .await;
    assert!(
        consumer.metric(STUCK, &[]).await >= 1.0,
        "the stuck gauge counts it"
    );
    let retry = format!("{MAIN}.{group}.retry-1m");
    let log = consumer.log_text();
    assert!(
        log.contains("refuses this consumer's identity the Write")
            && log.contains(&retry)
            && log.contains(
                "not ready why=the broker refuses 1 hand-off(s) (this identity is not authorised"
            ),
        "the log names the refusal, and why readiness failed: {log}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let record = read_topic(&kafka.super_user(), MAIN)
        .await
        .into_iter()
        .find(|r| r.key == "hold-1")
        .expect("hold-1 in the main topic");
    let committed = committed(&kafka.super_user(), group, MAIN, 2);
    assert!(
        committed
            .get(&record.partition)
            .is_none_or(|&at| at <= record.offset),
        "nothing committed past the held record: {committed:?} vs {}",
        record.offset
    );
    assert!(
        read_topic(&kafka.super_user(), &format!("{MAIN}.{group}.dlt"))
            .await
            .is_empty(),
        "nothing dead-lettered"
    );

    // Granted again: the hop goes through and the event is delivered.
    create_acls(&kafka.super_user(), write).await;
    downstream
        .wait_delivered(&["hold-1".to_owned()], Duration::from_secs(60))
        .await;
    eventually("ready again", Duration::from_secs(30), || async {
        let reply = client.get(&consumer.url("/readyz")).await.ok()?;
        (reply.status == StatusCode::OK).then_some(())
    })
    .await;
}
