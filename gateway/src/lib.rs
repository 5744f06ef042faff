//! Switchboard's gateway: accepts webhooks over HTTP, checks them, wraps each
//! in a protobuf envelope and answers `202` only once Kafka acknowledged it.
//!
//! # Layout
//! - [`config`]: settings, their defaults and variables, validation; fail-closed auth.
//! - [`source`]: a configured source, its settings, and event-id extraction.
//! - [`locator`]: where a value is in a request (a header or a JSON pointer).
//! - [`event_type`]: where a source's event type is, and its bounded metrics label.
//! - [`signature`]: API key, Basic, HMAC, Standard Webhooks, GitHub, Stripe; `auth` tables into verifiers.
//! - [`ingest`]: one request from checked body to acknowledged record.
//! - [`producer`]: one event as one keyed record, acknowledged within the deadline.
//! - [`problem`]: every rejection and its status + problem+json (the status table).
//! - [`http`]: accept loop, routing, timeouts, graceful shutdown.
//! - [`body`]: reading a body within its limit and the process's body budget.
//! - [`encoding`]: `Content-Encoding` (gzip, deflate, br) decoded within the same limit.
//! - [`metrics`]: metric names, descriptions and recording helpers.
//! - [`run`]: wires it all together and runs to a clean stop.
//!
//! Process plumbing (logging, shutdown, exit codes, configuration layering,
//! admin endpoints, the replaceable producer) is `switchboard-runtime`'s.
#![forbid(unsafe_code)]

pub mod body;
pub mod config;
pub mod encoding;
pub mod event_type;
pub mod http;
pub mod ingest;
pub mod json_pointer;
pub mod locator;
pub mod metrics;
pub mod problem;
pub mod producer;
pub mod run;
pub mod signature;
pub mod source;
