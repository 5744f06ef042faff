//! Switchboard's wire contract, shared by every component.
//!
//! Both the gateway and the consumer import this crate; neither imports the
//! other. Nothing outside this crate spells a Kafka header name or a topic
//! suffix.
//!
//! # Layout
//! - [`envelope`]: the protobuf [`Envelope`] every record carries (compiled from
//!   `envelope.proto` at build time, no system `protoc`).
//! - [`headers`]: names of the Kafka record headers.
//! - [`topics`]: the main topic and a consumer group's retry, dead-letter and
//!   delivered-marker topics.
//! - [`hop`]: the hop headers' codec (retry and dead-letter state), pure.
//! - [`dlt`]: why a record is dead-lettered ([`DltReason`], the `sb-dlt-reason` values).
//! - [`limits`]: record sizes the gateway, the topics and the hand-offs
//!   agree on.
//! - [`standard_webhooks`]: the signature the consumer signs its HTTP
//!   deliveries with and the gateway verifies.
#![forbid(unsafe_code)]

pub mod dlt;
pub mod envelope;
pub mod headers;
pub mod hop;
pub mod limits;
pub mod standard_webhooks;
pub mod topics;

pub use dlt::DltReason;
pub use envelope::{Envelope, Header, IdOrigin, SCHEMA_VERSION};
pub use topics::{GroupTopics, TopicNameError, DEFAULT_MAIN_TOPIC};
