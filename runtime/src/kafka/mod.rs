//! Kafka plumbing shared by every binary.
//!
//! - [`settings`]: librdkafka settings: defaults, the `[kafka]` file table, `KAFKA_*` variables.
//! - [`log`]: librdkafka's logs and client errors routed into `tracing`.
//! - [`access`]: the start-up check of the identity: TLS, SASL and the rights it needs.
//! - [`rights`]: what the broker lets this identity do on a topic (authorized operations).
//! - [`tls_check`]: why a broker's certificate was refused, in OpenSSL's words.
//! - [`metadata`]: partition counts and topic checks.
//! - [`partitioner`]: the partition a producer puts a key on (librdkafka's own functions).
//! - [`rebuild`]: when a producer must be replaced (pure decisions, unit-tested).
//! - [`permanent`]: produce errors no retry can cure for a record.
//! - [`producer`]: the replaceable idempotent producer every component writes with;
//!   `acks` serves its delivery reports on the tokio runtime.
//! - [`mod@supervise`]: the task that keeps a producer healthy and tells readiness.

pub mod access;
#[allow(unsafe_code)]
mod acks;
pub mod log;
pub mod metadata;
#[allow(unsafe_code)]
pub mod partitioner;
pub mod permanent;
pub mod producer;
pub mod rebuild;
#[allow(unsafe_code)]
pub mod rights;
pub mod settings;
pub mod supervise;
pub mod tls_check;

pub use acks::Acked;
pub use log::KafkaLog;
pub use producer::ReplaceableProducer;
pub use rebuild::RebuildPolicy;
pub use settings::KafkaSettings;
pub use supervise::supervise;
