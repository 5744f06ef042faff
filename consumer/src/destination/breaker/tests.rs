use super::*;

fn breaker(open_after: u32) -> Breaker {
    Breaker::new(
        "breaker-test",
        BreakerSettings {
            open_after,
            first_probe: Duration::from_secs(2),
            max_probe_interval: Duration::from_secs(8),
        },
    )
}

#[test]
fn it_opens_only_after_different_events_fail_in_a_row() {
    let b = breaker(3);
    let cause = FailureCause::Unreachable;
    assert_eq!(
        b.failed("a", cause, Blame::Unknown, false),
        Decision::Ladder
    );
    assert_eq!(
        b.failed("a", cause, Blame::Unknown, false),
        Decision::Ladder,
        "the same event again"
    );
    assert_eq!(
        b.failed("b", cause, Blame::Unknown, false),
        Decision::Ladder
    );
    assert_eq!(b.answered(), None, "an answer between starts over");
    assert_eq!(
        b.failed("c", cause, Blame::Unknown, false),
        Decision::Ladder
    );
    assert_eq!(
        b.failed("d", cause, Blame::Unknown, false),
        Decision::Ladder
    );
    assert_eq!(
        b.failed("e", cause, Blame::Unknown, false),
        Decision::Wait { opened: true }
    );
    assert!(b.is_open());
    assert_eq!(
        b.failed("f", cause, Blame::Unknown, false),
        Decision::Wait { opened: false },
        "in flight when it opened: held too"
    );
}

#[test]
fn an_open_breaker_lets_one_probe_through_on_a_doubling_schedule() {
    let b = breaker(1);
    let start = Instant::now();
    assert_eq!(b.admission(start), Admission::Go { probe: false });
    b.failed("a", FailureCause::Timeout, Blame::Unknown, false);
    assert!(
        matches!(b.admission(Instant::now()), Admission::Wait(w) if w <= Duration::from_secs(2))
    );
    let due = Instant::now() + Duration::from_secs(2);
    assert_eq!(b.admission(due), Admission::Go { probe: true });
    assert!(
        matches!(b.admission(due), Admission::Wait(_)),
        "one probe at a time"
    );
    b.failed("b", FailureCause::Timeout, Blame::Unknown, true);
    let now = Instant::now();
    let Admission::Wait(wait) = b.admission(now) else {
        panic!("held after a failed probe");
    };
    assert!(
        wait > Duration::from_secs(3) && wait <= Duration::from_secs(4),
        "{wait:?}"
    );
    for _ in 0..5 {
        let later = Instant::now() + Duration::from_secs(60);
        assert_eq!(b.admission(later), Admission::Go { probe: true });
        b.failed("b", FailureCause::Timeout, Blame::Unknown, true);
    }
    let Admission::Wait(wait) = b.admission(Instant::now()) else {
        panic!("held");
    };
    assert!(wait <= Duration::from_secs(8), "capped: {wait:?}");
    let later = Instant::now() + Duration::from_secs(60);
    assert_eq!(b.admission(later), Admission::Go { probe: true });
    b.probe_abandoned();
    assert_eq!(
        b.admission(later),
        Admission::Go { probe: true },
        "a cancelled probe is replaced"
    );
    assert!(b.answered().is_some());
    assert!(!b.is_open());
    assert_eq!(b.admission(Instant::now()), Admission::Go { probe: false });
}

#[test]
fn failing_retries_take_the_ladder_and_do_not_count() {
    let b = breaker(2);
    for id in ["a", "b", "c", "d"] {
        assert_eq!(
            b.failed(id, FailureCause::ServerError, Blame::EventSuspect, false),
            Decision::Ladder
        );
    }
    assert!(!b.is_open());
    b.failed("e", FailureCause::ServerError, Blame::Unknown, false);
    assert!(!b.is_open(), "the retries did not count");
}

#[test]
fn open_after_zero_turns_it_off() {
    let b = breaker(0);
    for id in ["a", "b", "c", "d", "e", "f"] {
        assert_eq!(
            b.failed(id, FailureCause::ServerError, Blame::Unknown, false),
            Decision::Ladder
        );
    }
    assert!(!b.is_open());
}

#[test]
fn a_failure_that_cannot_be_the_events_opens_it_at_once() {
    for open_after in [0, 5] {
        let b = breaker(open_after);
        assert_eq!(
            b.failed("a", FailureCause::TokenEndpoint, Blame::NotTheEvent, false),
            Decision::Wait { opened: true },
            "open_after = {open_after}"
        );
    }
}

#[test]
fn probe_waits_never_overflow() {
    let settings = BreakerSettings {
        open_after: 1,
        first_probe: Duration::MAX,
        max_probe_interval: Duration::MAX,
    };
    assert_eq!(settings.probe_wait(u32::MAX), Duration::MAX);
}

#[tokio::test]
async fn waiters_go_as_soon_as_it_closes() {
    let b = std::sync::Arc::new(Breaker::new(
        "breaker-test-wake",
        BreakerSettings {
            open_after: 1,
            first_probe: Duration::from_secs(60),
            max_probe_interval: Duration::from_secs(60),
        },
    ));
    b.failed("a", FailureCause::Unreachable, Blame::Unknown, false);
    let waiter = tokio::spawn({
        let b = b.clone();
        async move { b.wait_turn().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiter.is_finished(), "held while open");
    b.answered();
    let probe = tokio::time::timeout(Duration::from_secs(1), waiter)
        .await
        .expect("woken at once, not after the 60 s probe wait")
        .expect("task");
    assert!(!probe, "a closed breaker lets everyone go, no probe");
}
