//! End-to-end tests against a real Kafka-protocol broker (tansu) and real
//! processes over TCP. `scripts/test.sh` installs the broker when missing.

mod consumer;
mod consumer_outage;
mod deployment;
mod downstream;
mod gateway;
mod gateway_limits;
mod gateway_outage;
mod harness;
mod observability;
mod openapi;
mod ops;
mod pipeline;
mod soak;
