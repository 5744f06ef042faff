//! Switchboard's consumer: consumer-group workers that deliver each event,
//! retry failures through delay topics without blocking anything else,
//! dead-letter what cannot be delivered, and suppress duplicates by event id.
//!
//! # Layout
//! - [`config`]: defaults, TOML file, environment overrides.
//! - [`stage`]: the retry ladder (main, retry stages with fixed delays, DLT).
//! - [`worker`]: the group member: poll loop, pauses, rebalances, commits.
//! - [`watermark`]: per-partition commit watermark over concurrent work.
//! - [`process`]: one event through one stage: handle, then deliver or hand on.
//! - [`deliver`]: the handler trait and HTTP delivery with outcome classification.
//! - [`hop`]: a record as held in memory and the headers of its next hop.
//! - [`handoff`]: the idempotent producer for retry, dead-letter and marker records.
//! - [`dedupe`]: duplicate suppression by event id (design and bounds).
//! - [`marker`]: the delivered-marker log that dedupe reloads on assignment.
//! - [`topics`]: the group's topics and the start-up partition check.
//! - [`health`]: `/metrics`, `/livez`, `/readyz`.
//! - [`metrics`]: metric names, descriptions and recording helpers.
//! - [`kafka_log`]: librdkafka logs into `tracing`.
//! - [`ops`]: operator commands: `topics ensure`, `offsets reset`, `dlt list|redrive`.
//! - [`run`]: wires it all together and runs to a clean stop.
//! - [`shutdown`]: one future for SIGTERM and SIGINT.
#![forbid(unsafe_code)]

pub mod config;
pub mod dedupe;
pub mod deliver;
pub mod handoff;
pub mod health;
pub mod hop;
pub mod kafka_log;
pub mod marker;
pub mod metrics;
pub mod ops;
pub mod process;
pub mod run;
pub mod shutdown;
pub mod stage;
pub mod topics;
pub mod watermark;
pub mod worker;
