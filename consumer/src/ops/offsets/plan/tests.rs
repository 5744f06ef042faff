use super::*;

#[test]
fn each_target_is_computed_and_clamped_to_the_log() {
    let current = Some(50);
    assert_eq!(
        new_offset(ResetTo::Earliest, current, 10, 100, None),
        Ok(10)
    );
    assert_eq!(new_offset(ResetTo::Latest, current, 10, 100, None), Ok(100));
    assert_eq!(
        new_offset(ResetTo::Offset(5), current, 10, 100, None),
        Ok(10)
    );
    assert_eq!(
        new_offset(ResetTo::Offset(70), current, 10, 100, None),
        Ok(70)
    );
    assert_eq!(
        new_offset(ResetTo::ShiftBy(-20), current, 10, 100, None),
        Ok(30)
    );
    assert_eq!(
        new_offset(ResetTo::ShiftBy(-90), current, 10, 100, None),
        Ok(10)
    );
    assert_eq!(
        new_offset(ResetTo::ShiftBy(500), current, 10, 100, None),
        Ok(100)
    );
    assert_eq!(
        new_offset(ResetTo::Time(0), current, 10, 100, Some(42)),
        Ok(42)
    );
    assert_eq!(
        new_offset(ResetTo::Time(0), current, 10, 100, None),
        Ok(100),
        "nothing at or after the time: the end"
    );
    assert!(new_offset(ResetTo::ShiftBy(1), None, 10, 100, None).is_err());
}

#[test]
fn a_redeliver_fences_exactly_what_moves_back() {
    let reset = |partition, current, new| PartitionReset {
        topic: "webhooks".into(),
        partition,
        current,
        new,
        end: 100,
    };
    let fences = fences(
        &[
            reset(0, Some(40), 10),
            reset(1, Some(5), 50),
            reset(2, None, 0),
        ],
        9_000,
    );
    assert_eq!(
        fences.len(),
        1,
        "forward moves and uncommitted partitions replay nothing"
    );
    assert_eq!(
        fences[0],
        (
            0,
            Fence {
                topic: "webhooks".into(),
                from: 10,
                to: 40,
                at_ms: 9_000
            }
        )
    );
}

#[test]
fn only_empty_or_dead_groups_without_members_may_be_reset() {
    assert!(!group_is_active("Empty", 0));
    assert!(!group_is_active("Dead", 0));
    assert!(!group_is_active("", 0), "unknown to the broker");
    assert!(group_is_active("Stable", 2));
    assert!(group_is_active("PreparingRebalance", 0));
    assert!(group_is_active("CompletingRebalance", 0));
    assert!(group_is_active("Empty", 1));
}

#[test]
fn the_table_shows_the_lag_change() {
    let text = render(&[PartitionReset {
        topic: "webhooks".into(),
        partition: 0,
        current: Some(90),
        new: 40,
        end: 100,
    }]);
    assert!(
        text.lines().nth(1).is_some_and(|l| l.ends_with("+50")),
        "{text}"
    );
}
