//! The pipeline on a three-node Kafka cluster (KRaft, every node a broker and
//! a controller; topics from `consumer topics ensure`: replication factor 3,
//! `min.insync.replicas` 2), under the faults a production cluster sees: a
//! leader crashed under load, two of three nodes down, a rolling restart,
//! a broker, a gateway or a consumer cut off the network, the group
//! coordinator lost, a static member restarted. Each test judges by the
//! senders' ledger: every id answered `202` is delivered or dead-lettered.
//!
//! Three JVMs share the machine's two cores with the pipeline, so the tests
//! of this binary run one cluster at a time ([`fixture::one_cluster_at_a_time`]).

mod failover;
mod fixture;
mod group;
mod partitions;
mod quorum;
mod rolling;
mod soak;

use switchboard_tests::{downstream, harness, pipeline, senders};
