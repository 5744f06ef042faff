use super::*;

fn found(role: Role, at_ms: i64) -> Found {
    Found {
        topic: match &role {
            Role::Main => "webhooks".to_owned(),
            other => format!("webhooks.g.{}", other.name()),
        },
        role,
        partition: 0,
        offset: at_ms,
        at_ms,
        hop: HopState::default(),
        redelivery_at_ms: None,
        gateway: Some("gw-1".into()),
        pointer: false,
        delivered: None,
    }
}

fn delivered(at_ms: i64, stage: &str, attempt: u32) -> Found {
    Found {
        delivered: Some(Delivery {
            stage: stage.into(),
            attempt,
            member: Some("consumer-1".into()),
        }),
        ..found(Role::Delivered, at_ms)
    }
}

fn kinds(timeline: &Timeline) -> Vec<&str> {
    timeline.steps.iter().map(|s| s.kind).collect()
}

#[test]
fn each_path_ends_where_its_last_record_says() {
    assert_eq!(timeline(&[], &[], None), None);
    let received = timeline(&[found(Role::Main, 1)], &[], None).expect("found");
    assert_eq!(received.ending, Ending::Received);

    let mut retry = found(Role::Stage("retry-1m".into()), 2);
    retry.hop.attempts = 1;
    retry.hop.due_at_ms = Some(60_002);
    retry.hop.failed_stage = Some("main".into());
    retry.hop.last_error = Some("HTTP 500".into());
    let waiting = timeline(&[found(Role::Main, 1), retry.clone()], &[], None).expect("found");
    assert_eq!(
        waiting.ending,
        Ending::Waiting {
            stage: "retry-1m".into(),
            due_at_ms: Some(60_002)
        }
    );
    assert!(
        waiting.steps[1].what.contains("HTTP 500"),
        "{:?}",
        waiting.steps
    );

    let later = timeline(
        &[
            delivered(70_000, "retry-1m", 2),
            retry.clone(),
            found(Role::Main, 1),
        ],
        &[],
        None,
    )
    .expect("found");
    assert_eq!(kinds(&later), ["received", "retry", "delivered"]);
    assert!(matches!(later.ending, Ending::Delivered { attempt: 2, .. }));
    assert!(
        later.steps[2].what.ends_with("by consumer-1"),
        "the member: {:?}",
        later.steps[2]
    );

    let mut dead = found(Role::DeadLetter, 3);
    dead.hop.dlt_reason = Some(DltReason::Rejected);
    let dlt = timeline(&[found(Role::Main, 1), dead], &[], None).expect("found");
    assert!(
        matches!(dlt.ending, Ending::DeadLettered { ref reason, .. } if reason == "rejected"),
        "{dlt:?}"
    );
}

#[test]
fn a_duplicate_after_delivery_keeps_it_delivered_and_a_redrive_reopens_it() {
    let dup = timeline(
        &[
            found(Role::Main, 1),
            delivered(2, "main", 1),
            found(Role::Main, 3),
        ],
        &[],
        None,
    )
    .expect("found");
    assert_eq!(dup.received, 2);
    assert_eq!(dup.steps[2].kind, "duplicate");
    assert!(matches!(dup.ending, Ending::Delivered { .. }));

    let mut redriven = found(Role::Stage("retry-1m".into()), 5);
    redriven.hop.redriven_at_ms = Some(5);
    let again = timeline(
        &[found(Role::Main, 1), found(Role::DeadLetter, 2), redriven],
        &[],
        None,
    )
    .expect("found");
    assert_eq!(again.steps[2].kind, "redriven");
    assert!(matches!(again.ending, Ending::Waiting { ref stage, .. } if stage == "retry-1m"));
}

#[test]
fn a_replay_fence_covering_the_event_is_a_step_and_reopens_it() {
    let fence = |topic: &str, from, to| Fence {
        topic: topic.into(),
        from,
        to,
        at_ms: 50,
    };
    let records = [found(Role::Main, 1), delivered(2, "main", 1)];
    let replayed = timeline(&records, &[fence("webhooks", 0, 10)], None).expect("found");
    assert_eq!(kinds(&replayed), ["received", "delivered", "replayed"]);
    assert!(
        matches!(replayed.ending, Ending::Waiting { ref stage, .. } if stage == "main"),
        "{replayed:?}"
    );
    assert!(replayed.steps[2].what.contains("offsets 0..10 of webhooks"));

    let mut again = records.to_vec();
    again.push(delivered(60, "main", 1));
    let done = timeline(&again, &[fence("webhooks", 0, 10)], None).expect("found");
    assert_eq!(
        kinds(&done),
        ["received", "delivered", "replayed", "delivered"]
    );
    assert_eq!(done.deliveries, 2);

    for other in [
        fence("webhooks", 5, 10),
        fence("webhooks.g.retry-1m", 0, 10),
    ] {
        let untouched = timeline(&records, &[other], None).expect("found");
        assert_eq!(
            kinds(&untouched),
            ["received", "delivered"],
            "a fence elsewhere"
        );
    }
}

#[test]
fn a_redelivery_copy_is_not_a_duplicate_and_waits_until_delivered_again() {
    let copy = Found {
        redelivery_at_ms: Some(10),
        ..found(Role::Stage("retry-1m".into()), 10)
    };
    let records = [found(Role::Main, 1), delivered(2, "main", 1), copy];
    let asked = timeline(&records, &[], None).expect("found");
    assert_eq!(kinds(&asked), ["received", "delivered", "redelivery"]);
    assert_eq!(asked.received, 1, "the copy is no second receipt");
    assert!(matches!(asked.ending, Ending::Waiting { .. }));

    let mut again = records.to_vec();
    again.push(delivered(11, "main", 1));
    let done = timeline(&again, &[], None).expect("found");
    assert_eq!(done.deliveries, 2);
    assert!(done.steps[3].what.starts_with("delivered again"));
}

#[test]
fn an_event_its_destination_does_not_take_ends_filtered() {
    let records = [found(Role::Main, 1)];
    let filtered = timeline(&records, &[], Some("default")).expect("found");
    assert_eq!(
        filtered.ending,
        Ending::Filtered {
            destination: "default".into()
        }
    );
    let delivered = timeline(
        &[found(Role::Main, 1), delivered(2, "main", 1)],
        &[],
        Some("default"),
    )
    .expect("found");
    assert!(
        matches!(delivered.ending, Ending::Delivered { .. }),
        "delivered before the filter changed"
    );
}
