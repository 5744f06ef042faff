use switchboard_proto::hop::HopState;

use super::*;

fn record(offset: i64) -> ConsumedRecord {
    ConsumedRecord {
        offset,
        ..crate::record::sample(HopState::default())
    }
}

/// A partition with `buffered` records read, `started` of its records
/// started, and its markers loaded or not.
fn partition(ready: bool, buffered: i64, started: usize) -> PartitionState {
    let mut partition = PartitionState::new(1, 4);
    partition.ready = ready;
    partition.buffer.extend((0..buffered).map(record));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for offset in 0..started {
        let task = runtime.spawn(std::future::pending::<()>()).abort_handle();
        let running = Running {
            task,
            id: None,
            source: "genesys",
        };
        partition.started.insert(100 + offset as i64, running);
    }
    partition
}

/// (ready, buffered, started, limit, the head's due time, the turn)
type Case = (bool, i64, usize, usize, Option<i64>, Turn);

#[test]
fn a_turn_starts_only_a_ready_partition_with_room_and_a_due_head() {
    const NOW: i64 = 10_000;
    let table: &[Case] = &[
        (false, 3, 0, 4, None, Turn::NotReady),
        (true, 3, 4, 4, None, Turn::Full),
        (true, 3, 5, 4, None, Turn::Full),
        (true, 0, 0, 4, None, Turn::Empty),
        (true, 0, 0, 4, Some(NOW + 1), Turn::Empty),
        (true, 3, 0, 4, None, Turn::Start { late_ms: None }),
        (true, 3, 3, 4, None, Turn::Start { late_ms: None }),
        (true, 1, 0, 4, Some(NOW), Turn::Start { late_ms: Some(0) }),
        (
            true,
            1,
            0,
            4,
            Some(NOW - 250),
            Turn::Start { late_ms: Some(250) },
        ),
        (
            true,
            2,
            0,
            4,
            Some(NOW + 1),
            Turn::NotDue { at_ms: NOW + 1 },
        ),
        (false, 2, 0, 4, Some(NOW + 1), Turn::NotReady),
    ];
    for &(ready, buffered, started, limit, due, expected) in table {
        let partition = partition(ready, buffered, started);
        let turn = partition.turn(limit, NOW, |head| {
            assert_eq!(head.offset, 0, "the head is asked about, in order");
            due
        });
        assert_eq!(
            turn, expected,
            "ready {ready}, {buffered} buffered, {started}/{limit} started, due {due:?}"
        );
    }
}
