//! A destination that is down, or refuses our credentials, is held by its
//! breaker rather than dead-lettered; a destination that rejects some events
//! dead-letters those and only those. Real broker, real consumer, a real
//! downstream that goes away and comes back on the same address.

use std::collections::BTreeSet;
use std::time::Duration;

use switchboard_consumer::metrics;
use switchboard_proto::headers as h;

use crate::downstream::{Answer, Downstream};
use crate::harness::{eventually, log_dir, rotate_file, unique_topic};
use crate::pipeline::{
    committed, consumer_with_config, dead_letters, ids, produce_events, produce_steadily,
};

/// How long the destination stays down: many times the test ladder (1 s +
/// 2 s), so without the breaker every event produced meanwhile would be
/// dead-lettered as `exhausted`.
const OUTAGE: Duration = Duration::from_secs(120);

/// The dead letters of `main`'s group: (event id, reason).
async fn reasons(bootstrap: &str, main: &str) -> Vec<(String, String)> {
    dead_letters(bootstrap, main)
        .await
        .into_iter()
        .map(|r| (r.key, r.headers[h::DLT_REASON].clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_down_for_minutes_is_held_and_nothing_is_dead_lettered() {
    let mut downstream = Downstream::start(200, Duration::ZERO).await;
    let (bootstrap, main, consumer) = consumer_with_config(
        "outage",
        "[destination]\nbreaker = { max_probe_interval = \"4s\" }\n",
        &downstream.url(),
        &[],
    )
    .await;
    let before = ids("before", 5);
    produce_events(&bootstrap, &main, &before).await;
    eventually(
        "delivered before the outage",
        Duration::from_secs(30),
        || async { (downstream.success_count() == 5).then_some(()) },
    )
    .await;

    downstream.go_down();
    let steady = tokio::spawn({
        let (bootstrap, main) = (bootstrap.clone(), main.clone());
        async move { produce_steadily(&bootstrap, &main, "during", 4, OUTAGE).await }
    });
    eventually("the breaker opened", Duration::from_secs(30), || async {
        (consumer.breaker_open("unreachable").await == 1.0).then_some(())
    })
    .await;
    let during = steady.await.expect("producer");
    assert_eq!(
        consumer.breaker_open("unreachable").await,
        1.0,
        "still open at the end of the outage"
    );
    let failures = consumer
        .metric(
            metrics::DESTINATION_FAILURES,
            &["destination=\"default\"", "cause=\"unreachable\""],
        )
        .await;
    assert!(
        failures < 100.0,
        "{failures} failed requests for {} events: the breaker probes, it does not retry each event",
        during.len()
    );
    assert!(reasons(&bootstrap, &main).await.is_empty());

    downstream.come_back().await;
    downstream
        .wait_delivered(&during, Duration::from_secs(90))
        .await;
    let total = (before.len() + during.len()) as i64;
    eventually("the lag drained", Duration::from_secs(30), || async {
        let group = format!("{main}-group");
        (committed(&bootstrap, &group, &main, 1).get(&0) == Some(&total)).then_some(())
    })
    .await;
    assert_eq!(consumer.breaker_open("unreachable").await, 0.0, "closed");
    let dead = reasons(&bootstrap, &main).await;
    assert!(dead.is_empty(), "nothing dead-lettered: {dead:?}");
    let successes = downstream.successes();
    let twice: Vec<_> = successes.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "each event delivered once: {twice:?}");
    println!(
        "outage of {OUTAGE:?}: {} events produced meanwhile, {failures} failed requests, 0 dead letters",
        during.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_that_rejects_some_events_dead_letters_those_only() {
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let events = ids("mixed", 60);
    let rejected: BTreeSet<String> = ["mixed-7", "mixed-8", "mixed-9", "mixed-10", "mixed-31"]
        .map(str::to_owned)
        .into();
    for id in &rejected {
        downstream.script(id, &[Answer::status(422)]);
    }
    downstream.script("mixed-20", &[Answer::status(500); 3]);
    let (bootstrap, main, _consumer) =
        consumer_with_config("mixed", "", &downstream.url(), &[]).await;
    produce_events(&bootstrap, &main, &events).await;

    let dead = eventually("six dead letters", Duration::from_secs(60), || async {
        let dead = reasons(&bootstrap, &main).await;
        (dead.len() >= 6).then_some(dead)
    })
    .await;
    let mut expected: Vec<(String, String)> = rejected
        .iter()
        .map(|id| (id.clone(), "rejected".to_owned()))
        .collect();
    expected.push(("mixed-20".to_owned(), "exhausted".to_owned()));
    let mut dead = dead;
    dead.sort();
    expected.sort();
    assert_eq!(dead, expected, "those, and only those");
    let successes = downstream.successes();
    let delivered = events
        .iter()
        .filter(|id| successes.contains_key(*id))
        .count();
    assert_eq!(delivered, 54, "every other event delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_credential_holds_deliveries_until_it_is_fixed() {
    let downstream = Downstream::start(200, Duration::ZERO).await;
    downstream.require_authorization("Bearer the-right-token");
    let token = log_dir().join(format!("{}.token", unique_topic("refused")));
    std::fs::write(&token, "a-revoked-token\n").expect("token");
    let config = format!(
        "[destination]\nauth = {{ kind = \"bearer\", token = {{ file = {:?} }} }}\nbreaker = {{ first_probe = \"500ms\", max_probe_interval = \"2s\" }}\n",
        token.to_string_lossy()
    );
    let (bootstrap, main, consumer) =
        consumer_with_config("refused", &config, &downstream.url(), &[]).await;
    let events = ids("refused", 12);
    produce_events(&bootstrap, &main, &events).await;
    eventually(
        "held for refused credentials",
        Duration::from_secs(30),
        || async { (consumer.breaker_open("credentials").await == 1.0).then_some(()) },
    )
    .await;
    // Longer than the whole test ladder (1 s + 2 s): without the breaker
    // every event would be in the DLT by now.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(reasons(&bootstrap, &main).await.is_empty());
    let refused = downstream
        .seen()
        .iter()
        .filter(|s| s.answered == 401)
        .count();
    assert!(
        refused < 30,
        "{refused} requests refused: probes, not a retry of each event"
    );
    assert!(
        consumer.log_text().contains("breaker opened"),
        "the operator is told"
    );

    rotate_file(&token, "the-right-token\n");
    downstream
        .wait_delivered(&events, Duration::from_secs(30))
        .await;
    assert_eq!(consumer.breaker_open("credentials").await, 0.0);
    assert!(reasons(&bootstrap, &main).await.is_empty());
}
