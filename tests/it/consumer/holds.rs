//! Destinations that push back (`429`/`503` with `Retry-After`): held without
//! using attempts, shown, and never taking another destination's slots.

use super::*;

#[tokio::test]
async fn backpressure_holds_deliveries_without_using_attempts() {
    let setup = fresh_group("hold", 1).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    downstream.script(
        "busy-1",
        &[Answer {
            status: 429,
            retry_after_secs: Some(1),
        }],
    );
    produce_events(&setup.bootstrap, &setup.main, &["busy-1".to_owned()]).await;
    let _consumer = setup.consumer(&downstream, &[]).await;
    downstream
        .wait_delivered(&["busy-1".to_owned()], Duration::from_secs(30))
        .await;
    let attempts: Vec<_> = downstream
        .seen()
        .into_iter()
        .map(|s| (s.attempt, s.answered))
        .collect();
    assert_eq!(
        attempts,
        vec![(1, 429), (1, 200)],
        "the wait used no attempt"
    );
    let seen = downstream.seen();
    assert!(
        seen[1].at_ms - seen[0].at_ms >= 1_000,
        "Retry-After honoured"
    );
    assert!(setup.read(&setup.topics.retry("retry-1m")).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_destination_shows_its_hold_its_waiting_events_and_its_answers() {
    let setup = fresh_group("held-metrics", 1).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    downstream.script(
        "held-first",
        &[Answer {
            status: 429,
            retry_after_secs: Some(5),
        }],
    );
    let consumer = setup.consumer(&downstream, &[]).await;
    let default = r#"destination="default""#;
    let series = |name: &'static str, extra: &'static str| {
        let consumer = &consumer;
        async move {
            let labels: Vec<&str> = [default, extra]
                .into_iter()
                .filter(|l| !l.is_empty())
                .collect();
            consumer.metric(name, &labels).await
        }
    };
    produce_events(&setup.bootstrap, &setup.main, &["held-first".to_owned()]).await;
    eventually("the 429", Duration::from_secs(30), || async {
        (!downstream.seen().is_empty()).then_some(())
    })
    .await;
    // Events arriving during the hold wait for the destination, not a slot.
    let behind = ids("held-behind", 5);
    produce_events(&setup.bootstrap, &setup.main, &behind).await;
    eventually("five events waiting", Duration::from_secs(4), || async {
        (series(metrics::DESTINATION_WAITING, "").await >= 5.0).then_some(())
    })
    .await;
    let now_s = crate::downstream::unix_ms() as f64 / 1000.0;
    let held_until = series(metrics::DESTINATION_HELD_UNTIL, "").await;
    assert!(
        held_until > now_s && held_until <= now_s + 5.5,
        "held until {held_until}, now {now_s}"
    );

    let all: Vec<String> = std::iter::once("held-first".to_owned())
        .chain(behind)
        .collect();
    downstream
        .wait_delivered(&all, Duration::from_secs(30))
        .await;
    eventually(
        "the gauges back to zero",
        Duration::from_secs(5),
        || async {
            let waiting = series(metrics::DESTINATION_WAITING, "").await;
            let in_flight = series(metrics::DESTINATION_IN_FLIGHT, "").await;
            (waiting == 0.0 && in_flight == 0.0).then_some(())
        },
    )
    .await;
    let answers = |class| series(metrics::DESTINATION_ANSWERS, class);
    assert_eq!(answers(r#"class="4xx""#).await, 1.0, "the one 429");
    assert_eq!(answers(r#"class="2xx""#).await, 6.0);
    assert_eq!(answers(r#"class="5xx""#).await, 0.0, "present at zero");
}

#[tokio::test]
async fn retry_after_zero_is_held_at_least_a_second_and_longer_each_time() {
    let setup = fresh_group("hold-zero", 1).await;
    let downstream = Downstream::start(200, Duration::ZERO).await;
    let busy = Answer {
        status: 429,
        retry_after_secs: Some(0),
    };
    downstream.script("eager-1", &[busy, busy, busy]);
    produce_events(&setup.bootstrap, &setup.main, &["eager-1".to_owned()]).await;
    let _consumer = setup.consumer(&downstream, &[]).await;
    downstream
        .wait_delivered(&["eager-1".to_owned()], Duration::from_secs(30))
        .await;
    let seen = downstream.seen();
    let answered: Vec<(u32, u16)> = seen.iter().map(|s| (s.attempt, s.answered)).collect();
    assert_eq!(answered, [(1, 429), (1, 429), (1, 429), (1, 200)]);
    let gaps: Vec<i64> = seen.windows(2).map(|w| w[1].at_ms - w[0].at_ms).collect();
    for (gap, floor) in gaps.iter().zip([1_000, 2_000, 4_000]) {
        assert!(
            *gap >= floor,
            "gaps {gaps:?}: a hold of at least {floor} ms each time"
        );
    }
}

#[tokio::test]
async fn a_destination_that_backs_off_takes_no_delivery_slots_from_another() {
    let setup = fresh_group("destinations", 1).await;
    // Destination a answers 429 with Retry-After: 0 until told otherwise.
    let busy = Downstream::start(200, Duration::ZERO).await;
    busy.set_default_answer(Answer {
        status: 429,
        retry_after_secs: Some(0),
    });
    let healthy = Downstream::start(200, Duration::ZERO).await;
    let config = log_dir().join(format!("{}.toml", setup.main));
    std::fs::write(
        &config,
        format!(
            "[destination.sources]\na = \"{}\"\nb = \"{}\"\n[destination.limits.a]\nmax_in_flight = 4\n",
            busy.url(),
            healthy.url()
        ),
    )
    .expect("config");
    // 100 events for each, interleaved on one partition.
    let (for_a, for_b) = (ids("a", 100), ids("b", 100));
    let mut events = Vec::new();
    for (a, b) in for_a.iter().zip(&for_b) {
        events.push(envelope(a, "a"));
        events.push(envelope(b, "b"));
    }
    produce_envelopes(&setup.bootstrap, &setup.main, &events).await;
    let config_path = config.to_string_lossy().into_owned();
    let started = Instant::now();
    let _consumer = setup
        .consumer(&healthy, &[("CONSUMER_CONFIG", config_path.as_str())])
        .await;

    // b flows while a is held: the partition's 32 slots are not a's to keep.
    healthy
        .wait_delivered(&for_b, Duration::from_secs(15))
        .await;
    println!("b delivered in {:?} while a backs off", started.elapsed());
    assert!(busy.successes().is_empty());
    // Ten seconds of a refusing: requests come in rounds of at most 4 (its
    // max_in_flight), one round per hold of 1, 2, 4, 8 s: a handful of
    // rounds, not every waiting event asking again.
    let until = started + Duration::from_secs(10);
    tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
    let asked = busy.seen().len();
    println!("a was asked {asked} times in 10 s of 429 Retry-After: 0");
    assert!(asked <= 4 * 6, "a was asked {asked} times in 10 s");

    busy.set_default_status(200);
    busy.wait_delivered(&for_a, Duration::from_secs(60)).await;
    let (a_done, b_done) = (busy.successes(), healthy.successes());
    assert!(for_a.iter().all(|id| a_done[id] == 1));
    assert!(for_b.iter().all(|id| b_done[id] == 1));
}
