//! Process and Kafka plumbing shared by Switchboard's binaries. Nothing here
//! knows what a webhook or a retry stage is: the wire contract is `proto`'s,
//! the product is the gateway's and the consumer's.
//!
//! # Layout
//! - [`exit`]: the process entry: exit codes in one place, a tokio runtime, errors printed once.
//! - [`logging`]: `tracing` set-up (`LOG_FORMAT=json`, `RUST_LOG`).
//! - [`shutdown`]: one future for SIGTERM and SIGINT, and the [`shutdown::Shutdown`] every part reads.
//! - [`config`]: defaults → TOML file → environment layering (figment), errors that name their source.
//! - [`admin`]: `/metrics`, `/livez`, `/readyz`, the readiness loop and metrics upkeep.
//! - [`time`]: wall-clock milliseconds.
//! - [`labels`]: help texts that name every value of a bounded label.
//! - [`lock`]: std locks taken over after a panicking holder poisoned them.
//! - [`kafka`]: `KAFKA_*` settings, librdkafka logs, metadata helpers, and the
//!   replaceable producer with its rebuild policy.
// Unsafe code is denied everywhere but in `kafka::acks`, which enables
// librdkafka's queue wake-up through its C API (rust-rdkafka exposes it for
// consumer partition queues only).
#![deny(unsafe_code)]

pub mod admin;
pub mod config;
pub mod exit;
pub mod kafka;
pub mod labels;
pub mod lock;
pub mod logging;
pub mod shutdown;
pub mod time;
