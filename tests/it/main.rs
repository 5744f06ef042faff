//! End-to-end tests against a real Apache Kafka (KRaft, started by the
//! harness) and real processes over TCP. `scripts/test.sh` installs Kafka when missing.

mod alerts;
mod breaker;
mod compressed;
mod consumer;
mod consumer_outage;
mod deployment;
mod destinations;
mod gateway;
mod gateway_limits;
mod gateway_outage;
mod markers;
mod mtls;
mod oauth;
mod observability;
mod openapi;
mod ops;
mod routing;
mod secured;
mod stop;
mod topic_limits;
mod trace;

use switchboard_tests::{downstream, harness, pipeline, token_endpoint};
