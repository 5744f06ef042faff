//! A bounded stop whatever the broker does. A consumer (or a gateway) is sent
//! SIGTERM while its broker is frozen (SIGSTOP) or crashed (SIGKILL), the
//! fault coming just before or just after the signal, or while the consumer
//! is cut off from its broker (packets dropped). The process must exit
//! within its stated bound, by its own bounded steps (not the watchdog), with
//! the exit code that says work was left unfinished (75); once the broker is
//! back, nothing it had taken is lost, and what it delivered again is only
//! what it had not yet committed.
//!
//! Found from outside on a three-node cluster: a consumer stopped while its
//! broker stopped too waited for ever in a synchronous offset commit.

use std::time::{Duration, Instant};

use http::StatusCode;

use crate::downstream::Downstream;
use crate::harness::{create_topic, read_topic, unique_topic, Gateway, HttpClient, Kafka, NetCell};
use crate::pipeline::{create_group_topics, ids, produce_events, ConsumerProcess};

/// The consumer's `shutdown_grace` (its drain) in these tests.
const GRACE: Duration = Duration::from_secs(2);
/// What a consumer's stop may spend after its drain, as documented: markers,
/// the final commit and leaving the group (10 s), the last flush and the
/// runtime's close (5 s). The watchdog fires there.
const AFTER_DRAIN: Duration = Duration::from_secs(15);
/// Signal delivery and process exit: the measurement's slack.
const SLACK: Duration = Duration::from_secs(1);
/// How often the consumer commits in these tests.
const COMMIT_INTERVAL: Duration = Duration::from_millis(500);
/// How long the downstream holds each answer: deliveries are in flight at the signal.
const DESTINATION_DELAY: Duration = Duration::from_millis(1500);
const PARTITIONS: i32 = 2;
const CONCURRENCY: &str = "4";
/// What the exit code says: stopped within the bound, work left unfinished.
const STOP_INCOMPLETE: i32 = switchboard_runtime::exit::STOP_INCOMPLETE as i32;
/// What the watchdog logs when a step overstayed; a bounded stop never needs it.
const WATCHDOG_FIRED: &str = "the stop did not finish within its bound";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Freeze,
    Kill,
    /// The consumer cut off from the broker (its packets to it dropped): a
    /// partition, the broker itself untouched.
    Cut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    BeforeSigterm,
    AfterSigterm,
}

fn inflict(broker: &mut Kafka, cell: &NetCell, fault: Fault) {
    match fault {
        Fault::Freeze => broker.freeze(true),
        Fault::Kill => broker.kill(),
        Fault::Cut => cell.cut_from(&broker.ports()),
    }
}

async fn heal(broker: &mut Kafka, cell: &NetCell, fault: Fault) {
    match fault {
        Fault::Freeze => broker.freeze(false),
        Fault::Kill => broker.start_again().await,
        Fault::Cut => cell.heal(),
    }
}

/// One case: deliveries in flight, the fault and SIGTERM in the given order,
/// the exit timed; then the broker healed, a new member delivers the rest,
/// and the ledger is checked.
async fn consumer_stop_is_bounded(fault: Fault, when: When) {
    let mut broker = Kafka::start().await;
    let bootstrap = broker.bootstrap();
    let main = unique_topic("stop");
    let group = format!("{main}-group");
    create_group_topics(&bootstrap, &main, &group, PARTITIONS).await;
    let downstream = Downstream::start(200, DESTINATION_DELAY).await;
    let grace = humantime::format_duration(GRACE).to_string();
    let commit_interval = humantime::format_duration(COMMIT_INTERVAL).to_string();
    let env = [
        ("CONSUMER_SHUTDOWN_GRACE", grace.as_str()),
        ("CONSUMER_COMMIT_INTERVAL", commit_interval.as_str()),
        ("CONSUMER_CONCURRENCY", CONCURRENCY),
        ("DESTINATION_TIMEOUT", "5s"),
    ];
    let cell = NetCell::new("stopping");
    let mut consumer = ConsumerProcess::start_in(
        Some(&cell),
        &bootstrap,
        &main,
        &group,
        &downstream.url(),
        &env,
    )
    .await;
    let events = ids("stop", 60);
    produce_events(&bootstrap, &main, &events).await;
    // Some delivered and committed, more in flight.
    crate::harness::eventually("deliveries under way", Duration::from_secs(30), || async {
        (downstream.success_count() >= 8).then_some(())
    })
    .await;

    let fault_at_ms = crate::downstream::unix_ms();
    if when == When::BeforeSigterm {
        inflict(&mut broker, &cell, fault);
    }
    let signalled = Instant::now();
    consumer.signal(libc::SIGTERM);
    if when == When::AfterSigterm {
        tokio::time::sleep(Duration::from_millis(200)).await;
        inflict(&mut broker, &cell, fault);
    }
    let bound = GRACE + AFTER_DRAIN;
    let status = consumer
        .wait_for_exit(bound + Duration::from_secs(30))
        .await;
    let took = signalled.elapsed();
    let log = consumer.log_text();
    eprintln!("{fault:?} {when:?}: the consumer exited {status:?} after {took:?}");
    assert!(
        took <= bound,
        "{fault:?} {when:?}: the stop took {took:?}, over its bound {bound:?}"
    );
    assert!(
        !log.contains(WATCHDOG_FIRED),
        "{fault:?} {when:?}: the watchdog had to end the stop: a step overstayed its budget"
    );
    assert!(
        took <= GRACE + AFTER_DRAIN - Duration::from_secs(2),
        "{fault:?} {when:?}: the steps' own budgets end the stop well before the watchdog; took {took:?}"
    );
    assert_eq!(
        status.code(),
        Some(STOP_INCOMPLETE),
        "{fault:?} {when:?}: a stop that could not commit says so"
    );

    heal(&mut broker, &cell, fault).await;
    let _next = ConsumerProcess::start(&bootstrap, &main, &group, &downstream.url(), &env).await;
    downstream
        .wait_delivered(&events, Duration::from_secs(90))
        .await;
    // Delivered again only what may not have been committed: events whose
    // first delivery began less than a commit interval (and its
    // confirmation) before the fault, or after it.
    let first_arrival = first_arrivals(&downstream);
    let committed_by = fault_at_ms
        - (COMMIT_INTERVAL + DESTINATION_DELAY + Duration::from_secs(1)).as_millis() as i64;
    let twice: Vec<(String, usize)> = downstream
        .successes()
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    for (id, _) in &twice {
        assert!(
            first_arrival[id] >= committed_by,
            "{fault:?} {when:?}: {id} was committed long before the fault and still delivered again"
        );
    }
    eprintln!(
        "{fault:?} {when:?}: {} events, all delivered, {} twice",
        events.len(),
        twice.len()
    );
}

fn first_arrivals(downstream: &Downstream) -> std::collections::HashMap<String, i64> {
    let mut first = std::collections::HashMap::new();
    for seen in downstream.seen() {
        let at = first.entry(seen.event_id).or_insert(seen.at_ms);
        *at = (*at).min(seen.at_ms);
    }
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_stops_within_its_bound_when_its_broker_freezes_before_sigterm() {
    consumer_stop_is_bounded(Fault::Freeze, When::BeforeSigterm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_stops_within_its_bound_when_its_broker_freezes_after_sigterm() {
    consumer_stop_is_bounded(Fault::Freeze, When::AfterSigterm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_stops_within_its_bound_when_its_broker_dies_before_sigterm() {
    consumer_stop_is_bounded(Fault::Kill, When::BeforeSigterm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_stops_within_its_bound_when_its_broker_dies_after_sigterm() {
    consumer_stop_is_bounded(Fault::Kill, When::AfterSigterm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_stops_within_its_bound_when_it_is_cut_off_from_its_broker_before_sigterm() {
    consumer_stop_is_bounded(Fault::Cut, When::BeforeSigterm).await;
}

/// The gateway's stop: senders in flight while the broker freezes, then
/// SIGTERM. It answers them (503 at their deadline), flushes within its
/// budget, and exits within `grace + 5 s + slack`; every 202 it gave is in
/// the topic once the broker thaws.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_stops_within_its_bound_when_its_broker_freezes() {
    let broker = Kafka::start().await;
    let topic = unique_topic("gwstop");
    create_topic(&broker.bootstrap(), &topic, 1).await;
    let grace = Duration::from_secs(3);
    let mut gateway = Gateway::start(
        &broker.bootstrap(),
        &topic,
        None,
        &[("GATEWAY_DEADLINE", "1s"), ("GATEWAY_SHUTDOWN_GRACE", "3s")],
    )
    .await;
    gateway.wait_ready().await;
    let client = HttpClient::new();
    let url = gateway.url("/webhooks/genesys");
    let mut accepted = Vec::new();
    for i in 0..20 {
        let id = format!("gwstop-{i}");
        let reply = client
            .post_json(&url, format!("{{\"id\":\"{id}\"}}"), &[])
            .await
            .expect("request");
        if reply.status == StatusCode::ACCEPTED {
            accepted.push(id);
        }
    }
    assert_eq!(accepted.len(), 20, "the broker is up: every event accepted");

    broker.freeze(true);
    let mut senders = tokio::task::JoinSet::new();
    for i in 0..10 {
        let (client, url) = (client.clone(), url.clone());
        senders.spawn(async move {
            let id = format!("gwstop-frozen-{i}");
            let reply = client
                .post_json(&url, format!("{{\"id\":\"{id}\"}}"), &[])
                .await;
            (id, reply.map(|r| r.status))
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    gateway.send_sigterm();
    let status = gateway.wait_for_exit().await;
    let took = signalled.elapsed();
    let bound = grace + Duration::from_secs(5) + SLACK;
    eprintln!("the gateway exited {status:?} after {took:?}");
    assert!(took <= bound, "the stop took {took:?}, over {bound:?}");
    assert!(!gateway.log_text().contains(WATCHDOG_FIRED));
    assert!(
        matches!(status.code(), Some(0) | Some(STOP_INCOMPLETE)),
        "{status:?}"
    );
    while let Some(sent) = senders.join_next().await {
        let (id, answer) = sent.expect("sender");
        match answer {
            Ok(StatusCode::ACCEPTED) => accepted.push(id),
            Ok(StatusCode::SERVICE_UNAVAILABLE) | Err(_) => {}
            Ok(other) => panic!("{id}: answered {other} while the broker was frozen"),
        }
    }

    broker.freeze(false);
    let keys: std::collections::HashSet<String> = read_topic(&broker.bootstrap(), &topic)
        .await
        .into_iter()
        .map(|r| r.key)
        .collect();
    let lost: Vec<&String> = accepted.iter().filter(|id| !keys.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "answered 202 but not in the topic: {lost:?}"
    );
}
