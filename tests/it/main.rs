//! End-to-end tests against a real Kafka-protocol broker (tansu) and real
//! processes over TCP. `scripts/test.sh` installs the broker when missing.

mod consumer;
mod consumer_outage;
mod deployment;
mod gateway;
mod gateway_limits;
mod gateway_outage;
mod observability;
mod openapi;
mod ops;
mod soak;

use switchboard_tests::{downstream, harness, pipeline};
