//! Kafka plumbing shared by every binary.
//!
//! - [`settings`]: librdkafka settings: defaults, the `[kafka]` file table, `KAFKA_*` variables.
//! - [`log`]: librdkafka's logs and client errors routed into `tracing`.
//! - [`metadata`]: partition counts and topic checks.
//! - [`rebuild`]: when a producer must be replaced (pure decisions, unit-tested).
//! - [`permanent`]: produce errors no retry can cure for a record.
//! - [`producer`]: the replaceable idempotent producer every component writes with;
//!   `acks` serves its delivery reports on the tokio runtime.
//! - [`supervise`]: the task that keeps a producer healthy and tells readiness.

#[allow(unsafe_code)]
mod acks;
pub mod log;
pub mod metadata;
pub mod permanent;
pub mod producer;
pub mod rebuild;
pub mod settings;
pub mod supervise;

pub use log::KafkaLog;
pub use producer::{Acked, ReplaceableProducer};
pub use rebuild::RebuildPolicy;
pub use settings::KafkaSettings;
pub use supervise::supervise;
