//! Switchboard's gateway: accepts webhooks over HTTP, checks them, wraps each
//! in a protobuf envelope and answers `202` only once Kafka acknowledged it.
//!
//! # Layout
//! - [`config`]: defaults, TOML file, environment overrides; fail-closed auth.
//! - [`source`]: a configured source and event-id extraction.
//! - [`signature`]: API key, Basic, HMAC, Standard Webhooks, GitHub, Stripe.
//! - [`ingest`]: one request from checked body to acknowledged record.
//! - [`producer`]: the idempotent producer, deadline, fatal-error recovery.
//! - [`problem`]: every rejection and its status + problem+json (the status table).
//! - [`http`]: accept loop, routing, body limits, timeouts, graceful shutdown.
//! - [`metrics`]: metric names, descriptions and recording helpers.
//! - [`run`]: wires it all together and runs to a clean stop.
//! - [`shutdown`]: one future for SIGTERM and SIGINT.
#![forbid(unsafe_code)]

pub mod config;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod problem;
pub mod producer;
pub mod run;
pub mod shutdown;
pub mod signature;
pub mod source;
