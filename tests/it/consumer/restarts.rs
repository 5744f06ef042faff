//! Members killed, restarted and rebalanced: nothing lost, nothing stuck,
//! a static member back without waiting for its session.

use super::*;

/// SIGKILLs a member running with `env` (the product's 30 s session), starts
/// it again with the same `env`, and returns how long the new process took to
/// deliver its first event.
async fn restart_to_first_delivery(name: &str, env: &[(&str, &str)]) -> Duration {
    let setup = fresh_group(name, 2).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let mut first = setup.consumer(&downstream, env).await;
    first.wait_assigned(6).await;
    let warm = ids(&format!("{name}-warm"), 10);
    produce_events(&setup.bootstrap, &setup.main, &warm).await;
    downstream
        .wait_delivered(&warm, Duration::from_secs(30))
        .await;
    first.signal(libc::SIGKILL);
    first.wait_for_exit(Duration::from_secs(10)).await;
    drop(first);

    let restarted = Instant::now();
    let _second = setup.consumer(&downstream, env).await;
    let fresh = ids(&format!("{name}-fresh"), 10);
    produce_events(&setup.bootstrap, &setup.main, &fresh).await;
    downstream
        .wait_delivered(&fresh, Duration::from_secs(90))
        .await;
    restarted.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_killed_and_restarted_resumes_without_waiting_for_its_session() {
    // The product's session timeout (30 s), not the tests' short one. A
    // dynamic member's new process is a new member: the broker rebalances
    // only once the dead one's session expired (~30 s). A static member
    // (KIP-345) rejoining with its `group.instance.id` inside its session is
    // handed its assignment back with no rebalance. Both run side by side;
    // the margin (half) is wide because the broker's timing decides both.
    let session = [
        ("KAFKA_SESSION_TIMEOUT_MS", "30000"),
        ("KAFKA_HEARTBEAT_INTERVAL_MS", "3000"),
    ];
    let static_env = [session[0], session[1], ("CONSUMER_INSTANCE_ID", "member-a")];
    let (static_took, dynamic_took) = tokio::join!(
        restart_to_first_delivery("static", &static_env),
        restart_to_first_delivery("dynamic", &session),
    );
    println!(
        "restart to first delivery after SIGKILL: static member {static_took:?}, dynamic member {dynamic_took:?}"
    );
    assert!(
        dynamic_took >= Duration::from_secs(20),
        "the dynamic member waited for the dead session: {dynamic_took:?}"
    );
    assert!(
        static_took < dynamic_took / 2,
        "the static member resumed at once: {static_took:?} against {dynamic_took:?}"
    );
}

#[tokio::test]
async fn kill_9_mid_run_then_restart_delivers_every_event_and_dedupes_the_rest() {
    let setup = fresh_group("crash", 3).await;
    let downstream = Downstream::start(200, Duration::from_millis(20)).await;
    let events = ids("crash", 600);
    produce_events(&setup.bootstrap, &setup.main, &events).await;
    let first = setup
        .consumer(&downstream, &[("CONSUMER_CONCURRENCY", "8")])
        .await;
    eventually("a third delivered", Duration::from_secs(30), || async {
        (downstream.successes().len() >= 200).then_some(())
    })
    .await;
    first.signal(libc::SIGKILL);
    let killed_at = crate::downstream::unix_ms();
    drop(first);

    let _second = setup
        .consumer(&downstream, &[("CONSUMER_CONCURRENCY", "8")])
        .await;
    downstream
        .wait_delivered(&events, Duration::from_secs(60))
        .await;
    let seen = downstream.seen();
    let successes = downstream.successes();
    let duplicated: Vec<&String> = successes
        .iter()
        .filter(|(_, &n)| n > 1)
        .map(|(id, _)| id)
        .collect();
    // Only work in flight at the kill may repeat (its marker may not have been
    // written): at most concurrency x partitions, and only events first
    // answered just before the kill. Everything older was deduped.
    assert!(
        duplicated.len() <= 8 * 3,
        "{} events delivered twice: {duplicated:?}",
        duplicated.len()
    );
    for id in duplicated {
        let first_success = seen
            .iter()
            .filter(|s| &s.event_id == id)
            .map(|s| s.at_ms)
            .min()
            .expect("seen");
        assert!(
            killed_at - first_success < 1_000,
            "{id} was delivered {}ms before the kill, yet delivered again",
            killed_at - first_success
        );
    }
}

#[tokio::test]
async fn a_rebalance_while_retry_partitions_wait_for_their_due_time_leaves_nothing_stuck() {
    let setup = fresh_group("rebalance", 2).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let events = ids("rebal", 20);
    for id in &events {
        downstream.script(id, &[Answer::status(500)]);
    }
    produce_events(&setup.bootstrap, &setup.main, &events).await;
    // 20 different events failing in a row would open the destination's
    // breaker (they would wait, not go to retry-1m): off here.
    let config = no_breaker_config();
    let env = [
        ("RETRY_STAGES", "retry-1m=3s,retry-10m=3s"),
        ("CONSUMER_CONFIG", config.as_str()),
    ];
    let first = setup.consumer(&downstream, &env).await;
    // Every event failed once and waits in retry-1m for its due time.
    wait_records(&setup, &setup.topics.retry("retry-1m"), events.len()).await;

    let second = setup.consumer(&downstream, &env).await;
    // Range assignment splits 2 partitions x 3 stages evenly.
    first.wait_assigned(3).await;
    second.wait_assigned(3).await;
    downstream
        .wait_delivered(&events, Duration::from_secs(30))
        .await;
    assert!(downstream.successes().values().all(|&n| n == 1));
    assert!(setup.read(&setup.topics.dlt()).await.is_empty());
}
