//! Every metric the gateway exports, declared once with its unit and help
//! text, and the helpers that record them. Labels are bounded: configured
//! source names (unknown ones are `unknown`), status codes the gateway
//! itself emits, and fixed error kinds. Never an event id.

use std::sync::OnceLock;
use std::time::Duration;

use crate::producer::ProduceErrorKind;
use http::StatusCode;
use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Counter,
    Gauge, Histogram, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use switchboard_runtime::labels::help_naming;

/// Requests answered, by `source` and `status` code.
pub const REQUESTS: &str = "switchboard_gateway_requests_total";
/// Events the broker acknowledged (answered 202), by `source`: the ledger's "accepted".
pub const ACCEPTED: &str = "switchboard_gateway_events_accepted_total";
/// Events answered 202, by `source` and `event_type` (a configured
/// pattern, `other` or `none`; [`crate::event_type`]).
pub const EVENT_TYPES: &str = "switchboard_gateway_events_by_type_total";
/// Time from request head to response, by `source` and `status`.
pub const INGEST_DURATION: &str = "switchboard_gateway_ingest_duration_seconds";
/// Produce failures by `source` and `kind` ([`ProduceErrorKind`]).
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
    describe_counter!(
        EVENT_TYPES,
        "Events acknowledged by the broker and answered 202, by source and event type (the source's configured event_types pattern it matched, other, or none)."
    );
    describe_histogram!(
        INGEST_DURATION,
        Unit::Seconds,
        "Time from request to response, by source and status."
    );
    describe_counter!(PRODUCE_ERRORS, produce_errors_help());
    describe_gauge!(IN_FLIGHT, "Webhook requests being handled right now.");
    describe_gauge!(
        BROKER_READY,
        "1 when the broker answers and every target topic exists."
    );
    describe_counter!(
        PRODUCER_REBUILDS,
        "Producers replaced after a fatal producer error."
    );
    // At zero from the start, so dashboards and alerts see it before the first rebuild.
    counter!(PRODUCER_REBUILDS).absolute(0);
    Ok(handle)
}

/// The request series of one source label, resolved once: recording an
/// answer is then a few atomic additions, not a lookup by labels in the
/// recorder's registry on every request. Resolve it after [`install`]: a
/// handle taken before a recorder exists records nothing.
pub struct SourceSeries {
    source: &'static str,
    accepted: Counter,
    /// Requests and latency by status, each resolved at its first answer so
    /// that no series exists for a status never answered.
    answered: [OnceLock<(Counter, Histogram)>; STATUS_LABELS.len()],
}

impl SourceSeries {
    /// The series of `source` (a configured name, or [`UNKNOWN_SOURCE`]).
    pub fn new(source: &'static str) -> Self {
        Self {
            source,
            accepted: counter!(ACCEPTED, "source" => source),
            answered: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The series of a configured source, with the ones dashboards and
    /// alerts read created at zero, so they exist before the first event
    /// (and an alert on 503s can be evaluated at all).
    pub fn configured(source: &'static str) -> Self {
        let series = Self::new(source);
        for status in [
            StatusCode::ACCEPTED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::SERVICE_UNAVAILABLE,
        ] {
            series.by_status(status).0.increment(0);
        }
        series.accepted.increment(0);
        for kind in ProduceErrorKind::ALL {
            counter!(PRODUCE_ERRORS, "source" => source, "kind" => kind.code()).increment(0);
        }
        series
    }

    /// Records one answered webhook request.
    pub fn answered(&self, status: StatusCode, elapsed: Duration) {
        let (requests, duration) = self.by_status(status);
        requests.increment(1);
        duration.record(elapsed.as_secs_f64());
        if status == StatusCode::ACCEPTED {
            self.accepted.increment(1);
        }
    }

    fn by_status(&self, status: StatusCode) -> &(Counter, Histogram) {
        let index = status_index(status);
        self.answered[index].get_or_init(|| {
            let (source, status) = (self.source, STATUS_LABELS[index]);
            (
                counter!(REQUESTS, "source" => source, "status" => status),
                histogram!(INGEST_DURATION, "source" => source, "status" => status),
            )
        })
    }
}

/// The gauge of webhook requests being handled, resolved once (see
/// [`SourceSeries`]).
pub fn in_flight_gauge() -> Gauge {
    gauge!(IN_FLIGHT)
}

/// The help text of [`PRODUCE_ERRORS`], naming every kind.
pub fn produce_errors_help() -> String {
    help_naming(
        "Produce failures by source and kind",
        ProduceErrorKind::ALL.map(ProduceErrorKind::code),
    )
}

/// Records a produce failure of `kind`.
pub fn produce_failed(source: &'static str, kind: ProduceErrorKind) {
    counter!(PRODUCE_ERRORS, "source" => source, "kind" => kind.code()).increment(1);
}

/// Sets the readiness gauge.
pub fn broker_ready(ready: bool) {
    gauge!(BROKER_READY).set(if ready { 1.0 } else { 0.0 });
}

/// Counts a producer rebuild.
pub fn producer_rebuilt() {
    counter!(PRODUCER_REBUILDS).increment(1);
}

/// The `status` label values: the codes the gateway answers with, and
/// `other`, so the labels stay bounded and allocate nothing.
const STATUS_LABELS: [&str; 12] = [
    "200", "202", "400", "401", "404", "405", "408", "413", "415", "429", "503", "other",
];

/// Where `status` is in [`STATUS_LABELS`].
fn status_index(status: StatusCode) -> usize {
    let code = status.as_str();
    STATUS_LABELS
        .iter()
        .position(|label| *label == code)
        .unwrap_or(STATUS_LABELS.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answered_status_has_its_own_label_and_the_rest_share_other() {
        for label in &STATUS_LABELS[..STATUS_LABELS.len() - 1] {
            let status = StatusCode::from_bytes(label.as_bytes()).expect("a status code");
            assert_eq!(STATUS_LABELS[status_index(status)], *label);
        }
        assert_eq!(
            STATUS_LABELS[status_index(StatusCode::IM_A_TEAPOT)],
            "other"
        );
        assert_eq!(
            STATUS_LABELS[status_index(StatusCode::BAD_GATEWAY)],
            "other"
        );
    }
}
