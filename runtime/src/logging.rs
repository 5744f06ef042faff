//! Logging set-up for every binary: `tracing` to stderr, filtered by
//! `RUST_LOG` (default `info`), JSON lines when `LOG_FORMAT=json`, colour only
//! on a terminal so log files and collectors get plain text.

use std::io::IsTerminal;

/// The variable that switches to JSON lines.
pub const LOG_FORMAT: &str = "LOG_FORMAT";
/// The standard `tracing` filter variable.
pub const RUST_LOG: &str = "RUST_LOG";

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env(RUST_LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if std::env::var(LOG_FORMAT).is_ok_and(|v| v.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
}
