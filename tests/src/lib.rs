//! What the end-to-end tests (`it/`) and the benchmarks (`benches/`) share:
//! the harness that runs a real broker and the workspace's own binaries, a
//! real downstream HTTP server, and the consumer-side helpers. One library,
//! so each bench uses the same code the tests prove instead of a copy.
//!
//! - [`harness`]: broker, processes, the gateway, HTTP, waiting.
//! - [`downstream`]: the customer's service stand-in.
//! - [`pipeline`]: a group's topics, events produced as the gateway does, consumer processes.
//! - [`senders`]: senders that retry until `202` as EventBridge does, and their ledger.
//! - [`token_endpoint`]: an OAuth2 token endpoint for protected destinations.

pub mod downstream;
pub mod harness;
pub mod pipeline;
pub mod senders;
pub mod token_endpoint;
