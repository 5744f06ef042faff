//! Operator commands on the real broker: replay by offset reset, DLT listing
//! and re-drive.

mod dlt;
mod offsets;
mod topics;

use std::collections::HashSet;
use std::time::Duration;
use switchboard_consumer::metrics;
use switchboard_proto::GroupTopics;
use switchboard_runtime::exit;

use crate::downstream::{unix_ms, Downstream};
use crate::harness::{
    create_topic, eventually, partition_count, read_topic, shared_kafka, unique_topic,
};
use crate::pipeline::{
    committed, consumer_command, consumer_command_full, fresh_group, ids, produce_events,
    produce_raw, ConsumerProcess, FreshGroup,
};

fn rfc3339(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_millis(ms as u64);
    humantime_like(at)
}

/// RFC 3339 with milliseconds, UTC, without pulling a date crate into the tests.
fn humantime_like(at: std::time::SystemTime) -> String {
    let ms = at
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64;
    let (days, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1_000 % 60,
        rest % 1_000
    )
}

/// Event ids the consumer's log says it suppressed as already delivered.
fn suppressed_ids(log: &str) -> HashSet<String> {
    log.lines()
        .filter(|l| l.contains("already delivered; suppressed"))
        .filter_map(|l| {
            let start = l.find("event_id=")? + "event_id=".len();
            let id = l[start..].split_whitespace().next()?;
            Some(id.trim_matches('"').to_owned())
        })
        .collect()
}
