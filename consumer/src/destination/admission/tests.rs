use super::*;

fn admission(limits: Limits) -> Admission {
    Admission::new("test", limits, BreakerSettings::default())
}

#[test]
fn a_hold_grows_only_across_rounds_and_resets_after_an_answer() {
    let target = admission(Limits::default());
    assert!(target.hold_remaining().is_none());
    assert_eq!(
        target.back_off(Duration::ZERO),
        Some(Duration::from_secs(1))
    );
    // Many requests answered 429 in the same round: one round, one doubling.
    for _ in 0..30 {
        assert_eq!(target.back_off(Duration::ZERO), None);
    }
    assert!(target.hold_remaining().expect("held") <= Duration::from_secs(1));
    lock(&target.hold).until = Some(Instant::now());
    assert_eq!(
        target.back_off(Duration::ZERO),
        Some(Duration::from_secs(2))
    );
    target.answered();
    lock(&target.hold).until = None;
    assert_eq!(
        target.back_off(Duration::ZERO),
        Some(Duration::from_secs(1))
    );
    assert_eq!(
        target.back_off(Duration::MAX),
        None,
        "a huge Retry-After is no panic"
    );
}

#[test]
fn the_pacer_spaces_starts_after_a_burst() {
    let pacer = Pacer::new(10.0).expect("rate");
    let now = Instant::now();
    let waits: Vec<Duration> = (0..12).map(|_| pacer.claim(now)).collect();
    assert!(
        waits[..10].iter().all(|w| w.is_zero()),
        "a second's burst: {waits:?}"
    );
    assert_eq!(waits[10], Duration::from_millis(0));
    assert!(waits[11] >= Duration::from_millis(99), "{waits:?}");
    assert!(Pacer::new(0.0).is_none());
}

#[tokio::test]
async fn in_flight_is_capped_across_callers() {
    let target = Arc::new(admission(Limits {
        max_in_flight: 2,
        rate: None,
    }));
    let first = target.admit().await;
    let _second = target.admit().await;
    let waiting = tokio::spawn({
        let target = target.clone();
        async move {
            let _third = target.admit().await;
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiting.is_finished(), "a third waits for a slot");
    drop(first);
    tokio::time::timeout(Duration::from_secs(1), waiting)
        .await
        .expect("admitted once a slot freed")
        .expect("task");
}
