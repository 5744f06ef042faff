use switchboard_proto::hop::HopState;

use super::*;
use crate::worker::limits::PartitionLimits;

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

fn key(stage: usize, partition: i32) -> PartitionKey {
    PartitionKey { stage, partition }
}

#[test]
fn partitions_take_records_only_where_held_and_ready_and_within_the_buffer() {
    let limits = PartitionLimits::for_concurrency(1);
    let mut held = Partitions::new(limits);
    let (main_0, retry_0, main_1) = (key(0, 0), key(1, 0), key(0, 1));
    held.assign(main_0);
    held.assign(retry_0);
    held.assign(main_1);
    assert!(held.wake.queues_stale, "new partitions need queues");
    assert_eq!(held.numbers(), vec![0, 1], "each partition number once");
    let epochs: Vec<u64> = [main_0, retry_0, main_1]
        .iter()
        .map(|k| held.by_key[k].epoch)
        .collect();
    assert_eq!(epochs, vec![1, 2, 3], "every assignment its own epoch");

    // (partition, ready, records received, room left)
    let table: &[(PartitionKey, bool, i64, usize)] = &[
        (main_0, false, 0, 0),
        (main_0, true, 0, limits.buffered),
        (main_0, true, 5, limits.buffered - 5),
        (main_1, true, limits.buffered as i64, 0),
        (main_1, true, limits.buffered as i64 + 3, 0),
    ];
    for &(at, ready, received, room) in table {
        let mut held = Partitions::new(limits);
        held.assign(at);
        held.by_key.get_mut(&at).expect("held").ready = ready;
        for offset in 0..received {
            assert!(held.receive(at, record(offset)));
        }
        assert_eq!(
            held.room(&at),
            room,
            "{at:?} ready {ready}, {received} received"
        );
        assert_eq!(held.wake.buffered.contains(&at), received > 0);
        assert_eq!(held.by_key[&at].buffer.len() as i64, received);
    }

    assert!(
        !held.receive(key(2, 0), record(0)),
        "a record of a partition not held is refused"
    );
    assert_eq!(held.room(&key(2, 0)), 0);
    held.remove(&[main_0, retry_0]);
    assert_eq!(held.numbers(), vec![1]);
    assert_eq!(held.started_count(), 0);
}

#[test]
fn the_loop_sleeps_only_when_no_readable_queue_has_buffer_room() {
    let limits = PartitionLimits::for_concurrency(1);
    let now = Instant::now();
    let idle = Duration::from_millis(100);
    let soon = now + Duration::from_millis(30);
    // (readable, ready, records buffered, next due, the sleep)
    let table: &[(bool, bool, usize, Option<Instant>, Duration)] = &[
        (false, true, 0, None, idle),
        (false, true, 0, Some(soon), Duration::from_millis(30)),
        (false, true, 0, Some(now + idle * 3), idle),
        (false, true, 0, Some(now - idle), Duration::ZERO),
        // A readable queue with room: its records are taken at once.
        (true, true, 0, None, Duration::ZERO),
        (true, true, limits.buffered - 1, Some(soon), Duration::ZERO),
        // A full buffer, or markers not loaded: nothing can be taken, so
        // the loop waits for a report, a notice or the timer.
        (true, true, limits.buffered, None, idle),
        (
            true,
            true,
            limits.buffered,
            Some(soon),
            Duration::from_millis(30),
        ),
        (true, false, 0, None, idle),
    ];
    for &(readable, ready, buffered, next_due, sleep) in table {
        let at = key(0, 0);
        let mut held = Partitions::new(limits);
        held.assign(at);
        held.by_key.get_mut(&at).expect("held").ready = ready;
        for offset in 0..buffered as i64 {
            held.receive(at, record(offset));
        }
        if readable {
            held.wake.readable.insert(at);
        }
        held.wake.next_due = next_due;
        assert_eq!(
            held.sleep_for(now, idle),
            sleep,
            "readable {readable}, ready {ready}, {buffered} buffered, due {next_due:?}"
        );
    }
}
