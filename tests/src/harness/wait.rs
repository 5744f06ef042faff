//! Waiting for conditions with a deadline. Every wait polls without blocking
//! the runtime (tokio timers, `try_wait`), and fails with what it waited for.

use std::path::Path;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use http::StatusCode;

use super::http::HttpClient;
use super::process::read_log;

/// Waits for `check` to return `Some`, polling; panics with `what` at the deadline.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Paces a blocking loop at a fixed rate from the moment it is made: item
/// `i` is due `i / rate` seconds later, so a late item does not push the
/// ones after it back (an open loop).
pub struct Pace {
    started: Instant,
    per_second: f64,
}

impl Pace {
    /// Starts pacing `per_second` items a second.
    pub fn per_second(per_second: usize) -> Pace {
        Pace {
            started: Instant::now(),
            per_second: per_second as f64,
        }
    }

    /// Blocks the thread until item `i` is due (run it off the runtime, in
    /// `block_in_place` or a thread of its own).
    pub fn until_due(&self, i: usize) {
        let due = Duration::from_secs_f64(i as f64 / self.per_second);
        if let Some(wait) = due.checked_sub(self.started.elapsed()) {
            std::thread::sleep(wait);
        }
    }
}

/// Waits until `url` answers 200, failing at once (with the log) if `child`
/// exits first.
pub async fn wait_until_ok(child: &mut Child, url: &str, what: &str, log: &Path) {
    let client = HttpClient::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status}: {}", read_log(log));
        }
        if let Ok(reply) = client.get(url).await {
            if reply.status == StatusCode::OK {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not answer {url}: {}",
            read_log(log)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the Prometheus text at `url` contains exactly the line `line`.
pub async fn wait_metric_line(url: &str, line: &str, within: Duration) {
    let client = HttpClient::new();
    eventually(line, within, || async {
        let reply = client.get(url).await.ok()?;
        String::from_utf8_lossy(&reply.body)
            .lines()
            .any(|l| l == line)
            .then_some(())
    })
    .await;
}

/// The sum of every sample of metric `name` at `url` (a `/metrics`
/// endpoint) whose labels contain all of `labels`.
pub async fn metric_sum(url: &str, name: &str, labels: &[&str]) -> f64 {
    let reply = HttpClient::new().get(url).await.expect("metrics");
    String::from_utf8_lossy(&reply.body)
        .lines()
        .filter(|line| {
            line.starts_with(name)
                && line[name.len()..].starts_with(['{', ' '])
                && labels.iter().all(|l| line.contains(l))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits for `child` to exit within `within`.
pub async fn wait_exit(child: &mut Child, within: Duration, what: &str, log: &Path) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not exit: {}",
            read_log(log)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
