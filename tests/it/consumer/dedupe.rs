//! Dedupe by source and event id, and the markers that carry it across
//! restarts and partition moves.

use super::*;

#[tokio::test]
async fn a_duplicate_id_across_a_consumer_restart_is_delivered_once() {
    let setup = fresh_group("restart", 2).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    produce_events(&setup.bootstrap, &setup.main, &["dup-1".to_owned()]).await;
    let mut first = setup.consumer(&downstream, &[]).await;
    downstream
        .wait_delivered(&["dup-1".to_owned()], Duration::from_secs(30))
        .await;
    first.signal(libc::SIGTERM);
    assert!(first.wait_for_exit(Duration::from_secs(20)).await.success());
    drop(first);

    // The sender retried: the same id again, then a fresh event as a marker of progress.
    produce_events(
        &setup.bootstrap,
        &setup.main,
        &["dup-1".to_owned(), "fresh-1".to_owned()],
    )
    .await;
    let second = setup.consumer(&downstream, &[]).await;
    downstream
        .wait_delivered(&["fresh-1".to_owned()], Duration::from_secs(30))
        .await;
    assert_eq!(
        downstream.successes()["dup-1"],
        1,
        "delivered once across the restart"
    );
    eventually("dedupe hit counted", Duration::from_secs(5), || async {
        let hits = second.metric(metrics::DEDUPE_HITS, &[]).await;
        (hits == 1.0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_same_event_id_from_two_sources_is_delivered_twice() {
    let setup = fresh_group("two-sources", 1).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let shared = vec!["1".to_owned()];
    produce_events_from(&setup.bootstrap, &setup.main, "a", &shared).await;
    produce_events_from(&setup.bootstrap, &setup.main, "b", &shared).await;
    // A true duplicate of source a, then a fresh event as a marker of progress.
    produce_events_from(&setup.bootstrap, &setup.main, "a", &shared).await;
    produce_events(&setup.bootstrap, &setup.main, &["fresh".to_owned()]).await;
    let _consumer = setup.consumer(&downstream, &[]).await;
    downstream
        .wait_delivered(&["fresh".to_owned()], Duration::from_secs(30))
        .await;
    eventually(
        "id 1 delivered for both sources",
        Duration::from_secs(10),
        || async { (downstream.successes().get("1") == Some(&2)).then_some(()) },
    )
    .await;
    let mut sources: Vec<String> = downstream
        .seen()
        .iter()
        .filter(|request| request.event_id == "1")
        .map(|request| request.source.clone())
        .collect();
    sources.sort();
    assert_eq!(
        sources,
        ["a", "b"],
        "one delivery per source, the duplicate of a dropped"
    );
}

#[tokio::test]
async fn delivered_markers_reach_the_broker_before_a_partition_is_handed_over() {
    let setup = fresh_group("handover", 2).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    // A long linger keeps the first member's delivered markers in its
    // producer for seconds; unless the hand-over flushes them, the next
    // owner reads the marker log before they land and delivers again.
    let first = setup
        .consumer(&downstream, &[("KAFKA_LINGER_MS", "8000")])
        .await;
    let events = ids("handover", 20);
    produce_events(&setup.bootstrap, &setup.main, &events).await;
    downstream
        .wait_delivered(&events, Duration::from_secs(30))
        .await;

    let second = setup.consumer(&downstream, &[]).await;
    // Each member now holds one partition number of each of the 3 stages.
    first.wait_assigned(3).await;
    second.wait_assigned(3).await;
    // Every sender retries every event, then a fresh batch marks progress.
    produce_events(&setup.bootstrap, &setup.main, &events).await;
    let fresh = ids("handover-fresh", 10);
    produce_events(&setup.bootstrap, &setup.main, &fresh).await;
    downstream
        .wait_delivered(&fresh, Duration::from_secs(30))
        .await;
    let successes = downstream.successes();
    let doubled: Vec<&String> = events.iter().filter(|id| successes[*id] != 1).collect();
    assert!(doubled.is_empty(), "delivered more than once: {doubled:?}");
}
