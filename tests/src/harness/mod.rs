//! The test harness, by concern. Everything is real: Apache Kafka (KRaft) on
//! loopback, the workspace's own binaries as child processes, HTTP over TCP.
//!
//! - [`kafka`]: the one Kafka launcher (a node shared by a test binary, or
//!   private clusters for tests that kill, freeze or restart them).
//! - [`topics`]: creating topics and reading them back.
//! - [`process`]: children that die with the tests, their logs and the
//!   addresses they report after binding port 0.
//! - [`netcut`]: one process cut off the network (its packets dropped) and healed.
//! - [`gateway`]: a running gateway process.
//! - [`http`]: an HTTP client, replies, problem+json checks, raw TCP requests.
//! - [`receiver`]: the Python receivers of `tests/receivers/` as children.
//! - [`wait`]: waiting for a condition with a deadline (never a fixed sleep as the assertion).

pub mod gateway;
pub mod http;
pub mod kafka;
pub mod netcut;
pub mod process;
pub mod receiver;
pub mod topics;
pub mod wait;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

pub use gateway::Gateway;
pub use http::{assert_problem, raw_request, read_head, HttpClient};
pub use kafka::{shared_kafka, Kafka, KafkaSpec};
pub use netcut::NetCell;
pub use process::{
    listening_addr, log_dir, log_filter, probably_free_port, read_log, send_signal, spawn_tied,
    workspace_binary, LOOPBACK_ANY_PORT,
};
pub use receiver::PythonReceiver;
pub use topics::{
    create_topic, create_topic_with, delete_topic, partition_count, read_topic, Record,
};
pub use wait::{eventually, metric_sum, wait_exit, wait_metric_line, wait_until_ok, Pace};

/// Replaces a secret file's content as an operator (or a Kubernetes Secret
/// volume) does, with a modification time surely newer than the last one a
/// reader saw, however coarse the file system's clock.
pub fn rotate_file(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).expect("rotate the file");
    std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open")
        .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .expect("mtime");
}

/// A bench's numeric setting from the environment (`BENCH_SECS=10`), or
/// `default` when it is unset or does not parse.
pub fn bench_setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The variables of the bench's environment that start with one of
/// `prefixes` (`KAFKA_`, say: tuning to try on the measured component),
/// except the names in `harness_sets`, which the harness sets itself: a
/// stray exported `KAFKA_BROKERS` would otherwise move the measured process
/// to another broker.
pub fn bench_passthrough(prefixes: &[&str], harness_sets: &[&str]) -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| prefixes.iter().any(|prefix| k.starts_with(prefix)))
        .filter(|(k, _)| !harness_sets.contains(&k.as_str()))
        .collect()
}

/// A topic name no other test uses.
pub fn unique_topic(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "it-{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Reads a fixture shipped in `tests/fixtures/`.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("fixture {}: {e}", full.display()))
}
