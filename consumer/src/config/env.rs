//! Environment variables the consumer reads.

use switchboard_runtime::config::EnvVar;
pub use switchboard_runtime::kafka::settings::{KAFKA_BROKERS, KAFKA_PREFIX};
use switchboard_runtime::logging::{LOG_FORMAT, RUST_LOG};

/// Main topic.
pub const TOPIC: &str = "SWITCHBOARD_TOPIC";
/// Consumer group (also part of the retry and dead-letter topic names).
pub const GROUP: &str = "CONSUMER_GROUP";
/// The destination URL of sources without their own.
pub const DESTINATION_URL: &str = "DESTINATION_URL";
/// Per-request destination timeout (`5s`, `1500ms`).
pub const DESTINATION_TIMEOUT: &str = "DESTINATION_TIMEOUT";
/// Longest one event honours a destination's `Retry-After` (`5m`).
pub const DESTINATION_MAX_HOLD: &str = "DESTINATION_MAX_HOLD";
/// Requests in flight to one destination, across partitions (default
/// [`crate::destination::DEFAULT_MAX_IN_FLIGHT`], 32).
pub const DESTINATION_MAX_IN_FLIGHT: &str = "DESTINATION_MAX_IN_FLIGHT";
/// Requests started per second to one destination (unset: no limit).
pub const DESTINATION_RATE: &str = "DESTINATION_RATE";
/// Deprecated: the old name of [`DESTINATION_URL`], still read (with a
/// warning) for one release; so are the other `DOWNSTREAM_*` below.
pub const DOWNSTREAM_URL: &str = "DOWNSTREAM_URL";
/// Deprecated: [`DESTINATION_TIMEOUT`].
pub const DOWNSTREAM_TIMEOUT: &str = "DOWNSTREAM_TIMEOUT";
/// Deprecated: [`DESTINATION_MAX_HOLD`].
pub const DOWNSTREAM_MAX_HOLD: &str = "DOWNSTREAM_MAX_HOLD";
/// Deprecated: [`DESTINATION_MAX_IN_FLIGHT`].
pub const DOWNSTREAM_MAX_IN_FLIGHT: &str = "DOWNSTREAM_MAX_IN_FLIGHT";
/// Deprecated: [`DESTINATION_RATE`].
pub const DOWNSTREAM_RATE: &str = "DOWNSTREAM_RATE";
/// Retry stages and delays, `retry-1m=60s,retry-10m=10m`.
pub const RETRY_STAGES: &str = "RETRY_STAGES";
/// Records in flight per partition.
pub const CONCURRENCY: &str = "CONSUMER_CONCURRENCY";
/// Address of the admin listener: `/metrics`, `/livez`, `/readyz` (and
/// the trace endpoint when enabled); the gateway's is `GATEWAY_ADMIN_LISTEN`.
pub const ADMIN_LISTEN: &str = "CONSUMER_ADMIN_LISTEN";
/// Deprecated: the old name of [`ADMIN_LISTEN`], still read (with a
/// warning) for one release.
pub const METRICS_LISTEN: &str = "CONSUMER_METRICS_LISTEN";
/// Path of the TOML configuration file.
pub const CONFIG: &str = "CONSUMER_CONFIG";
/// Dedupe window (`24h`).
pub const DEDUPE_WINDOW: &str = "CONSUMER_DEDUPE_WINDOW";
/// How often finished work is committed (`500ms`).
pub const COMMIT_INTERVAL: &str = "CONSUMER_COMMIT_INTERVAL";
/// How long a delivered marker may wait in the marker producer to
/// share its batch (`50ms`): markers are never awaited, and each batch
/// costs the broker more than its records (BENCHMARKS.md).
pub const MARKER_LINGER: &str = "CONSUMER_MARKER_LINGER";
/// How long a stop or a revocation waits for in-flight work (`10s`).
pub const SHUTDOWN_GRACE: &str = "CONSUMER_SHUTDOWN_GRACE";
/// This member's stable identity in the group (static membership;
/// default `$HOSTNAME`, the pod name in a StatefulSet).
pub const INSTANCE_ID: &str = "CONSUMER_INSTANCE_ID";
/// Bytes of records one member may prefetch, shared by the partition
/// queues it consumes (default 64 MiB; [`crate::prefetch`]).
pub const PREFETCH_BUDGET_BYTES: &str = "CONSUMER_PREFETCH_BUDGET_BYTES";
/// Serve `GET /events/{source}/{id}` (an event's trace) on the admin
/// listener (`false`).
pub const TRACE_ENDPOINT: &str = "CONSUMER_TRACE_ENDPOINT";

/// Each variable and the configuration key it sets.
pub const VARIABLES: &[EnvVar] = &[
    EnvVar::text(TOPIC, "topic"),
    EnvVar::text(GROUP, "group"),
    EnvVar::text(DESTINATION_URL, "destination.url"),
    EnvVar::text(DESTINATION_TIMEOUT, "destination.timeout"),
    EnvVar::text(DESTINATION_MAX_HOLD, "destination.max_hold"),
    EnvVar::scalar(DESTINATION_MAX_IN_FLIGHT, "destination.max_in_flight"),
    EnvVar::scalar(DESTINATION_RATE, "destination.rate"),
    EnvVar::text(DOWNSTREAM_URL, "downstream.url"),
    EnvVar::text(DOWNSTREAM_TIMEOUT, "downstream.timeout"),
    EnvVar::text(DOWNSTREAM_MAX_HOLD, "downstream.max_hold"),
    EnvVar::scalar(DOWNSTREAM_MAX_IN_FLIGHT, "downstream.max_in_flight"),
    EnvVar::scalar(DOWNSTREAM_RATE, "downstream.rate"),
    EnvVar::text(RETRY_STAGES, "retry_stages"),
    EnvVar::scalar(CONCURRENCY, "concurrency"),
    EnvVar::text(ADMIN_LISTEN, "admin_listen"),
    EnvVar::text(METRICS_LISTEN, "metrics_listen"),
    EnvVar::text(DEDUPE_WINDOW, "dedupe_window"),
    EnvVar::text(COMMIT_INTERVAL, "commit_interval"),
    EnvVar::text(MARKER_LINGER, "marker_linger"),
    EnvVar::text(SHUTDOWN_GRACE, "shutdown_grace"),
    EnvVar::text(INSTANCE_ID, "instance_id"),
    EnvVar::scalar(TRACE_ENDPOINT, "trace_endpoint"),
    EnvVar::scalar(PREFETCH_BUDGET_BYTES, "prefetch_budget_bytes"),
];

/// Every variable above, plus `KAFKA_*` pass-through, `LOG_FORMAT` and
/// `RUST_LOG`: the whole environment contract (deployment files are
/// checked against it).
pub const ALL: &[&str] = &[
    KAFKA_BROKERS,
    CONFIG,
    TOPIC,
    GROUP,
    DESTINATION_URL,
    DESTINATION_TIMEOUT,
    DESTINATION_MAX_HOLD,
    DESTINATION_MAX_IN_FLIGHT,
    DESTINATION_RATE,
    DOWNSTREAM_URL,
    DOWNSTREAM_TIMEOUT,
    DOWNSTREAM_MAX_HOLD,
    DOWNSTREAM_MAX_IN_FLIGHT,
    DOWNSTREAM_RATE,
    RETRY_STAGES,
    CONCURRENCY,
    ADMIN_LISTEN,
    METRICS_LISTEN,
    DEDUPE_WINDOW,
    COMMIT_INTERVAL,
    MARKER_LINGER,
    SHUTDOWN_GRACE,
    INSTANCE_ID,
    TRACE_ENDPOINT,
    PREFETCH_BUDGET_BYTES,
    LOG_FORMAT,
    RUST_LOG,
];
