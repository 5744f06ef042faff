use super::*;

fn ladder(spec: &str) -> Ladder {
    Ladder::new(
        GroupTopics::new("webhooks", "crm").expect("valid"),
        parse_retry_stages(spec).expect("valid"),
    )
}

#[test]
fn stages_parse_with_their_delays() {
    let stages = parse_retry_stages("retry-1m=1s, retry-10m=2s").expect("valid");
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[0].name, "retry-1m");
    assert_eq!(stages[0].delay, Duration::from_secs(1));
    assert_eq!(stages[1].delay, Duration::from_secs(2));
    assert_eq!(
        parse_retry_stages("retry-1m=500ms").expect("valid")[0].delay,
        Duration::from_millis(500)
    );
}

#[test]
fn bad_stage_specs_are_refused() {
    assert!(matches!(
        parse_retry_stages("retry-1m"),
        Err(StageSpecError::Shape(_))
    ));
    assert!(matches!(
        parse_retry_stages("retry-1m=soon"),
        Err(StageSpecError::Delay { .. })
    ));
    assert!(matches!(
        parse_retry_stages("a=1s,a=2s"),
        Err(StageSpecError::Name(..))
    ));
    assert!(matches!(
        parse_retry_stages("re try=1s"),
        Err(StageSpecError::Name(..))
    ));
}

#[test]
fn a_failure_climbs_the_ladder_then_falls_off() {
    let ladder = ladder("retry-1m=1s,retry-10m=2s");
    assert_eq!(ladder.len(), 3);
    assert_eq!(ladder.next(0), Some(1));
    assert_eq!(ladder.next(1), Some(2));
    assert_eq!(ladder.next(2), None);
    assert_eq!(ladder.topic(1), "webhooks.crm.retry-1m");
    assert_eq!(ladder.stage_of_topic("webhooks.crm.retry-10m"), Some(2));
    assert_eq!(ladder.name(0), "main");
    assert_eq!(ladder.static_name(2), "retry-10m");
    assert_eq!(ladder.delay(2), Duration::from_secs(2));
}

#[test]
fn retry_records_are_due_by_header_or_by_timestamp_plus_delay() {
    let ladder = ladder("retry-1m=1s,retry-10m=2s");
    let header = |at: Option<i64>| HopState {
        due_at_ms: at,
        ..HopState::default()
    };
    let at = |stage, ts, hop: &HopState| ladder.due_at(stage, ts, hop).map(|d| d.at_ms);
    assert_eq!(
        at(0, 5_000, &header(Some(5_500))),
        None,
        "main is never held"
    );
    assert_eq!(at(1, 5_000, &header(Some(5_500))), Some(5_500));
    assert_eq!(at(1, 5_000, &header(None)), Some(6_000));
    assert_eq!(at(2, 5_000, &header(None)), Some(7_000));
    assert_eq!(
        at(2, i64::MAX, &header(None)),
        Some(i64::MAX),
        "no overflow"
    );
}

#[test]
fn a_due_time_beyond_the_stage_delay_is_clamped_and_an_unreadable_one_is_due_now() {
    let ladder = ladder("retry-1m=1s,retry-10m=2s");
    let far = HopState {
        due_at_ms: Some(5_000 + 86_400_000),
        ..HopState::default()
    };
    assert_eq!(
        ladder.due_at(1, 5_000, &far),
        Some(Due {
            at_ms: 6_000,
            corrected: Some(DueCorrection::Clamped)
        })
    );
    let unreadable = HopState {
        due_at_unreadable: true,
        ..HopState::default()
    };
    assert_eq!(
        ladder.due_at(1, 5_000, &unreadable),
        Some(Due {
            at_ms: 5_000,
            corrected: Some(DueCorrection::Unreadable)
        })
    );
}

#[test]
fn without_retry_stages_a_failure_goes_straight_to_the_dlt() {
    let ladder = ladder("");
    assert_eq!(ladder.len(), 1);
    assert_eq!(ladder.next(0), None);
}
