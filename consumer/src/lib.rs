//! Switchboard's consumer: consumer-group workers that deliver each event,
//! retry failures through delay topics without blocking anything else,
//! dead-letter what cannot be delivered, and suppress duplicates by event id.
//!
//! # Layout
//! - [`config`]: settings, their defaults and variables, validation; the two Kafka clients' settings.
//! - [`stage`]: the retry ladder (main, retry stages with fixed delays, DLT).
//! - [`worker`]: the group member: poll loop, dispatch, rebalances, commits.
//! - [`watermark`]: per-partition commit watermark over concurrent work.
//! - [`process`]: one event through one stage: handle, then deliver or hand on.
//! - [`deliver`]: the handler trait and HTTP delivery with outcome classification.
//! - [`hop`]: a record as held in memory and the headers of its next hop.
//! - [`handoff`]: retry, dead-letter and marker records, written with the runtime's replaceable producer.
//! - [`dedupe`]: duplicate suppression by event id (design and bounds) and the gate every record passes.
//! - [`marker`]: the delivered-marker log that dedupe reloads on assignment.
//! - [`topics`]: the group's topics and the start-up partition check.
//! - [`metrics`]: metric names, descriptions and recording helpers.
//! - [`ops`]: operator commands: `topics ensure`, `offsets reset`, `dlt list|redrive`.
//! - [`run`]: wires it all together and runs to a clean stop.
//!
//! Process plumbing (logging, shutdown, exit codes, configuration layering,
//! admin endpoints, the replaceable producer) is `switchboard-runtime`'s.
#![forbid(unsafe_code)]

pub mod config;
pub mod dedupe;
pub mod deliver;
pub mod handoff;
pub mod hop;
pub mod marker;
pub mod metrics;
pub mod ops;
pub mod process;
pub mod run;
pub mod stage;
pub mod topics;
pub mod watermark;
pub mod worker;
