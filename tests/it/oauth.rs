//! OAuth2 client credentials end to end: a real token endpoint issuing
//! short-lived tokens (and counting fetches), a downstream that accepts only
//! its valid tokens, and the consumer between them: tokens cached, refreshed
//! before they expire, fetched again once after a 401, and a token endpoint
//! that is down or refuses our client holding deliveries, never
//! dead-lettering them.

use std::time::Duration;

use switchboard_consumer::metrics;
use switchboard_proto::headers as h;

use crate::downstream::Downstream;
use crate::harness::eventually;
use crate::pipeline::{
    consumer_with_config, dead_letters, ids, produce_events, produce_steadily, ConsumerProcess,
};
use crate::token_endpoint::TokenEndpoint;

const CLIENT_ID: &str = "switchboard-consumer";
const CLIENT_SECRET: &str = "s3cr3t-of-the-client";
/// Short enough that a test sees several refreshes.
const LIFETIME: Duration = Duration::from_secs(3);

fn oauth_config(endpoint: &TokenEndpoint) -> String {
    format!(
        "[destination]\nbreaker = {{ first_probe = \"500ms\", max_probe_interval = \"2s\" }}\n\
         [destination.auth]\nkind = \"oauth2\"\ntoken_url = \"{}\"\nclient_id = \"{CLIENT_ID}\"\n\
         client_secret = {{ env = \"CRM_CLIENT_SECRET\" }}\nscopes = [\"events.write\", \"events.read\"]\naudience = \"https://crm.example.com\"\n",
        endpoint.url()
    )
}

/// A consumer of fresh topics delivering to `downstream` with tokens from
/// `endpoint`, its client secret being `secret`.
async fn oauth_consumer(
    name: &str,
    endpoint: &TokenEndpoint,
    downstream: &Downstream,
    secret: &str,
) -> (String, String, ConsumerProcess) {
    consumer_with_config(
        name,
        &oauth_config(endpoint),
        &downstream.url(),
        &[("CRM_CLIENT_SECRET", secret)],
    )
    .await
}

async fn dead_letter_count(bootstrap: &str, main: &str) -> usize {
    let dead = dead_letters(bootstrap, main).await;
    for record in &dead {
        eprintln!(
            "dead letter {}: {:?}",
            record.key,
            record.headers.get(h::LAST_ERROR)
        );
    }
    dead.len()
}

async fn fetches(consumer: &ConsumerProcess, result: &str) -> f64 {
    consumer
        .metric(
            metrics::DESTINATION_TOKEN_FETCHES,
            &["destination=\"default\"", &format!("result=\"{result}\"")],
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_cached_refreshed_before_they_expire_and_fetched_again_after_a_401() {
    let endpoint = TokenEndpoint::start(CLIENT_ID, CLIENT_SECRET, LIFETIME).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    downstream.authorize_with(endpoint.validator());
    let (bootstrap, main, consumer) =
        oauth_consumer("oauth", &endpoint, &downstream, CLIENT_SECRET).await;

    // 10 s at 10 events/s against tokens that live 3 s.
    let steady = produce_steadily(&bootstrap, &main, "steady", 10, Duration::from_secs(10)).await;
    downstream
        .wait_delivered(&steady, Duration::from_secs(30))
        .await;
    let fetched = endpoint.fetches();
    assert!(
        (3..=8).contains(&fetched.len()),
        "{} fetches for {} events over 10 s of 3 s tokens: cached, and refreshed as they expire",
        fetched.len(),
        steady.len()
    );
    let refused = downstream
        .seen()
        .iter()
        .filter(|s| s.answered == 401)
        .count();
    assert_eq!(
        refused, 0,
        "refreshed before expiry: no request carried a dead token"
    );
    let first = &fetched[0];
    assert!(
        first.client_ok,
        "Basic authentication with the client's id and secret"
    );
    let field = |name: &str| {
        first
            .form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(field("grant_type").as_deref(), Some("client_credentials"));
    assert_eq!(field("scope").as_deref(), Some("events.write events.read"));
    assert!(field("audience").is_some_and(|a| a.contains("crm.example.com")));
    assert_eq!(fetches(&consumer, "fetched").await, fetched.len() as f64);

    // The CRM revokes every token: one 401, one new token, the event delivered.
    // First a token that cannot reach its refresh time during the check (a
    // 3 s one may be refreshed before the request, and never meet the 401).
    endpoint.set_lifetime(Duration::from_secs(60));
    endpoint.revoke_all();
    let warm = ids("warm", 1);
    produce_events(&bootstrap, &main, &warm).await;
    downstream
        .wait_delivered(&warm, Duration::from_secs(30))
        .await;
    endpoint.revoke_all();
    let before = endpoint.fetches().len();
    let after = ids("after-revoke", 1);
    produce_events(&bootstrap, &main, &after).await;
    downstream
        .wait_delivered(&after, Duration::from_secs(30))
        .await;
    let seen: Vec<_> = downstream
        .seen()
        .into_iter()
        .filter(|s| s.event_id == after[0])
        .map(|s| (s.attempt, s.answered))
        .collect();
    assert_eq!(
        seen,
        vec![(1, 401), (1, 200)],
        "a 401, then the same attempt with a new token"
    );
    assert_eq!(
        endpoint.fetches().len(),
        before + 1,
        "one fetch after the 401"
    );
    assert_eq!(dead_letter_count(&bootstrap, &main).await, 0);
    assert!(
        !consumer.log_text().contains("tok-"),
        "tokens never reach the log"
    );
    assert!(!consumer.log_text().contains(CLIENT_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_that_is_down_or_refuses_our_client_holds_deliveries() {
    let mut endpoint = TokenEndpoint::start(CLIENT_ID, CLIENT_SECRET, LIFETIME).await;
    endpoint.go_down();
    let downstream = Downstream::start(200, Duration::ZERO).await;
    downstream.authorize_with(endpoint.validator());
    let (bootstrap, main, consumer) =
        oauth_consumer("oauth-down", &endpoint, &downstream, CLIENT_SECRET).await;
    let events = ids("held", 10);
    produce_events(&bootstrap, &main, &events).await;
    eventually(
        "held: token endpoint down",
        Duration::from_secs(30),
        || async { (consumer.breaker_open("token_endpoint").await == 1.0).then_some(()) },
    )
    .await;
    // Longer than the test ladder (1 s + 2 s): nothing may take it meanwhile.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(dead_letter_count(&bootstrap, &main).await, 0);
    assert!(downstream.seen().is_empty(), "nothing sent without a token");
    assert!(fetches(&consumer, "failed").await >= 1.0);
    let attempts = fetches(&consumer, "failed").await;
    assert!(
        attempts < 20.0,
        "{attempts} fetches: probes, not one per event"
    );

    endpoint.come_back().await;
    downstream
        .wait_delivered(&events, Duration::from_secs(30))
        .await;
    assert!(
        downstream.seen().iter().all(|s| s.attempt == 1),
        "the hold used no attempt"
    );
    assert_eq!(dead_letter_count(&bootstrap, &main).await, 0);

    // Our client's secret is wrong: the endpoint answers invalid_client.
    let (bootstrap, main, consumer) = oauth_consumer(
        "oauth-refused",
        &endpoint,
        &downstream,
        "a-rotated-away-secret",
    )
    .await;
    produce_events(&bootstrap, &main, &ids("refused", 3)).await;
    eventually(
        "held: our client refused",
        Duration::from_secs(30),
        || async { (consumer.breaker_open("credentials").await == 1.0).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(dead_letter_count(&bootstrap, &main).await, 0);
    assert!(fetches(&consumer, "refused").await >= 1.0);
}
