//! Measures what the dedupe window costs in memory: resident bytes per
//! delivered id held in a [`DeliveredSet`], read from `/proc/self/statm`
//! before and after inserting N ids (default 1,000,000).
//!
//! `cargo run --release -p switchboard-consumer --example dedupe_memory [N]`

use std::time::Duration;

use switchboard_consumer::dedupe::{dedupe_key, id_hash, DeliveredSet};

/// Resident set size of this process, bytes (Linux).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    // Hash first, so only the set's own memory is measured.
    let ids: Vec<u128> = (0..count)
        .map(|i| id_hash(&dedupe_key("genesys", &format!("evt-{i:012}"))))
        .collect();
    let before = rss_bytes();
    let mut set = DeliveredSet::new(Duration::from_secs(24 * 3600));
    for (i, id) in ids.iter().enumerate() {
        set.insert(*id, i as i64);
    }
    let after = rss_bytes();
    let per_id = (after.saturating_sub(before)) as f64 / count as f64;
    println!(
        "{count} ids held: {:.1} MiB resident, {per_id:.0} bytes per id",
        (after - before) as f64 / (1024.0 * 1024.0)
    );
    assert_eq!(set.len() as u64, count);
}
