//! Every metric the gateway exports, declared once with its unit and help
//! text, and the helpers that record them. Labels are bounded: configured
//! source names (unknown ones are `unknown`), status codes the gateway
//! itself emits, and fixed error kinds. Never an event id.

use std::time::Duration;

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Requests answered, by `source` and `status` code.
pub const REQUESTS: &str = "switchboard_gateway_requests_total";
/// Events the broker acknowledged (answered 202), by `source`: the ledger's "accepted".
pub const ACCEPTED: &str = "switchboard_gateway_events_accepted_total";
/// Time from request head to response, by `source` and `status`.
pub const INGEST_DURATION: &str = "switchboard_gateway_ingest_duration_seconds";
/// Produce failures by `source` and `kind` (`deadline`, `queue_full`, `broker`).
pub const PRODUCE_ERRORS: &str = "switchboard_gateway_produce_errors_total";
/// Webhook requests being handled right now.
pub const IN_FLIGHT: &str = "switchboard_gateway_requests_in_flight";
/// 1 when the broker answered the last readiness probe and every topic exists.
pub const BROKER_READY: &str = "switchboard_gateway_broker_ready";
/// Producers replaced after a fatal producer error.
pub const PRODUCER_REBUILDS: &str = "switchboard_gateway_producer_rebuilds_total";

/// Label value for requests to sources that are not configured.
pub const UNKNOWN_SOURCE: &str = "unknown";

/// Latency buckets, seconds: fine below 10 ms (our p99 target), coarse up to the deadline.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0,
];

/// Installs the Prometheus recorder and describes every metric.
pub fn install() -> Result<PrometheusHandle, metrics_exporter_prometheus::BuildError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)?
        .install_recorder()?;
    describe_counter!(
        REQUESTS,
        "Webhook requests answered, by source and HTTP status."
    );
    describe_counter!(
        ACCEPTED,
        "Events acknowledged by the broker and answered 202, by source."
    );
    describe_histogram!(
        INGEST_DURATION,
        Unit::Seconds,
        "Time from request to response, by source and status."
    );
    describe_counter!(
        PRODUCE_ERRORS,
        "Produce failures by source and kind (deadline, queue_full, broker)."
    );
    describe_gauge!(IN_FLIGHT, "Webhook requests being handled right now.");
    describe_gauge!(
        BROKER_READY,
        "1 when the broker answers and every target topic exists."
    );
    describe_counter!(
        PRODUCER_REBUILDS,
        "Producers replaced after a fatal producer error."
    );
    Ok(handle)
}

/// Creates the series of `source` at zero, so dashboards and alerts see them
/// before the first event (and an alert on 503s can be evaluated at all).
pub fn init_source(source: &'static str) {
    for status in ["202", "429", "503"] {
        counter!(REQUESTS, "source" => source, "status" => status).increment(0);
    }
    counter!(ACCEPTED, "source" => source).increment(0);
    for kind in ["deadline", "queue_full", "too_large", "broker"] {
        counter!(PRODUCE_ERRORS, "source" => source, "kind" => kind).increment(0);
    }
}

/// Records one answered webhook request.
pub fn request_answered(source: &'static str, status: http::StatusCode, elapsed: Duration) {
    let status = status_label(status);
    counter!(REQUESTS, "source" => source, "status" => status).increment(1);
    histogram!(INGEST_DURATION, "source" => source, "status" => status)
        .record(elapsed.as_secs_f64());
    if status == "202" {
        counter!(ACCEPTED, "source" => source).increment(1);
    }
}

/// Records a produce failure of `kind`.
pub fn produce_failed(source: &'static str, kind: &'static str) {
    counter!(PRODUCE_ERRORS, "source" => source, "kind" => kind).increment(1);
}

/// Adjusts the in-flight gauge.
pub fn in_flight(delta: f64) {
    gauge!(IN_FLIGHT).increment(delta);
}

/// Sets the readiness gauge.
pub fn broker_ready(ready: bool) {
    gauge!(BROKER_READY).set(if ready { 1.0 } else { 0.0 });
}

/// Counts a producer rebuild.
pub fn producer_rebuilt() {
    counter!(PRODUCER_REBUILDS).increment(1);
}

/// Status codes as static labels, so recording allocates nothing.
fn status_label(status: http::StatusCode) -> &'static str {
    match status.as_u16() {
        200 => "200",
        202 => "202",
        400 => "400",
        401 => "401",
        404 => "404",
        405 => "405",
        408 => "408",
        413 => "413",
        415 => "415",
        429 => "429",
        503 => "503",
        _ => "other",
    }
}
