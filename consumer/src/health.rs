//! `/metrics`, `/livez` and `/readyz` on the metrics address. Live: the poll
//! loop turned recently. Ready: the broker answers and the group's topics
//! exist.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tracing::warn;

use crate::marker::unix_ms;

/// A poll loop silent for longer than this is reported not live.
pub const LIVENESS_LIMIT: Duration = Duration::from_secs(60);

/// Health shared by the loop, the readiness probe and the server.
#[derive(Debug, Default)]
pub struct Health {
    /// Set by the readiness probe.
    pub ready: AtomicBool,
    /// Last turn of the poll loop, unix ms.
    pub loop_beat_ms: AtomicI64,
}

impl Health {
    /// Records a turn of the poll loop.
    pub fn beat(&self) {
        self.loop_beat_ms.store(unix_ms(), Ordering::Relaxed);
    }

    fn live(&self) -> bool {
        unix_ms() - self.loop_beat_ms.load(Ordering::Relaxed) <= LIVENESS_LIMIT.as_millis() as i64
    }
}

/// Serves the endpoints on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, health: Arc<Health>, metrics: PrometheusHandle) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "metrics listener accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let health = health.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let response = respond(request.uri().path(), &health, &metrics);
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn respond(path: &str, health: &Health, metrics: &PrometheusHandle) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match path {
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4",
            metrics.render(),
        ),
        "/livez" if health.live() => (StatusCode::OK, "text/plain", "live\n".into()),
        "/livez" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "poll loop stalled\n".into(),
        ),
        "/readyz" if health.ready.load(Ordering::Relaxed) => {
            (StatusCode::OK, "text/plain", "ready\n".into())
        }
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "broker unreachable or topics missing\n".into(),
        ),
        _ => (StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
