//! The admin surface every component serves: `/metrics` (Prometheus text),
//! `/livez` and `/readyz`, plus the loops that keep them true: the readiness
//! probe and the Prometheus histogram upkeep.
//!
//! - Live: the process's main loop turned recently (when it reports beats at
//!   all); a stuck loop is restarted by the orchestrator.
//! - Ready: the process is not stopping, and its readiness probe succeeded
//!   (the last one; or, for a process [that stays ready through
//!   outages](Health::staying_ready_through_outages), any one so far).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::shutdown::Shutdown;
use crate::time::{millis, unix_ms};

/// Path of the Prometheus scrape endpoint.
pub const METRICS_PATH: &str = "/metrics";
/// Path of the liveness probe.
pub const LIVEZ_PATH: &str = "/livez";
/// Path of the readiness probe.
pub const READYZ_PATH: &str = "/readyz";

/// Health shared by the process's loops and the admin endpoints.
#[derive(Debug)]
pub struct Health {
    probe_ok: AtomicBool,
    reached: AtomicBool,
    stays_ready: bool,
    shutdown: Shutdown,
    beat_ms: AtomicI64,
    liveness_limit: Option<Duration>,
}

impl Health {
    /// Health of a process that is live as long as it runs.
    pub fn always_live() -> Self {
        Self::with_liveness(None)
    }

    /// Health of a process whose main loop must call [`Health::beat`] at least
    /// every `limit`, or it is reported not live.
    pub fn beating_within(limit: Duration) -> Self {
        Self::with_liveness(Some(limit))
    }

    fn with_liveness(liveness_limit: Option<Duration>) -> Self {
        Self {
            probe_ok: AtomicBool::new(false),
            reached: AtomicBool::new(false),
            stays_ready: false,
            shutdown: Shutdown::new(),
            beat_ms: AtomicI64::new(unix_ms()),
            liveness_limit,
        }
    }

    /// Keeps the process ready once its probe first succeeded, whatever later
    /// probes find (until it stops). For a server that answers correctly
    /// without its dependency (the gateway answers 503 with `Retry-After`
    /// during a broker outage): taking every replica out of the load balancer
    /// would turn those answers into the balancer's own 503 without one.
    pub fn staying_ready_through_outages(mut self) -> Self {
        self.stays_ready = true;
        self
    }

    /// Records a turn of the main loop.
    pub fn beat(&self) {
        self.beat_ms.store(unix_ms(), Ordering::Relaxed);
    }

    /// Sets what the readiness probe found.
    pub fn set_ready(&self, ready: bool) {
        self.probe_ok.store(ready, Ordering::Relaxed);
        if ready {
            self.reached.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the last readiness probe succeeded.
    pub fn probe_ok(&self) -> bool {
        self.probe_ok.load(Ordering::Relaxed)
    }

    /// Reads the process's stop from `shutdown` (shared with whatever else
    /// stops on it) instead of a shutdown of its own.
    pub fn stopping_with(mut self, shutdown: &Shutdown) -> Self {
        self.shutdown = shutdown.clone();
        self
    }

    /// Begins the process's stop: not ready from now on.
    pub fn set_stopping(&self) {
        self.shutdown.begin();
    }

    /// Whether the process is stopping.
    pub fn is_stopping(&self) -> bool {
        self.shutdown.has_begun()
    }

    /// Ready: not stopping, and the probe succeeded (for a process that
    /// stays ready through outages: at least once).
    pub fn is_ready(&self) -> bool {
        let probed = if self.stays_ready {
            self.reached.load(Ordering::Relaxed)
        } else {
            self.probe_ok()
        };
        probed && !self.is_stopping()
    }

    /// Live: the main loop beat within its limit (always, without a limit).
    pub fn is_live(&self) -> bool {
        self.liveness_limit.is_none_or(|limit| {
            unix_ms().saturating_sub(self.beat_ms.load(Ordering::Relaxed)) <= millis(limit)
        })
    }
}

/// The answer to an admin path, or `None` for any other path. Only `GET`
/// and `HEAD` are answered; another method gets `405` with `Allow`.
pub fn respond(
    method: &Method,
    path: &str,
    health: &Health,
    metrics: &PrometheusHandle,
) -> Option<Response<Full<Bytes>>> {
    if ![METRICS_PATH, LIVEZ_PATH, READYZ_PATH].contains(&path) {
        return None;
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response = Response::new(Full::new(Bytes::from_static(b"method not allowed\n")));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Some(response);
    }
    let (status, content_type, body) = match path {
        METRICS_PATH => (
            StatusCode::OK,
            "text/plain; version=0.0.4",
            metrics.render(),
        ),
        LIVEZ_PATH if health.is_live() => (StatusCode::OK, "text/plain", "live\n".into()),
        LIVEZ_PATH => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "main loop stalled\n".into(),
        ),
        READYZ_PATH if health.is_ready() && health.probe_ok() => {
            (StatusCode::OK, "text/plain", "ready\n".into())
        }
        READYZ_PATH if health.is_ready() => (
            StatusCode::OK,
            "text/plain",
            "ready; the broker is unreachable or a topic is missing: requests are answered 503 with Retry-After\n".into(),
        ),
        READYZ_PATH => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "not ready: broker unreachable, a topic missing, or stopping\n".into(),
        ),
        _ => return None,
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Some(response)
}

/// An answer an [`Extra`] endpoint is working on.
pub type Answering = Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>>;

/// A component's own admin endpoint beside the common ones: given a
/// request's method and URI, its answer, or `None` for a path it does not
/// serve.
pub type Extra = Arc<dyn Fn(&Method, &http::Uri) -> Option<Answering> + Send + Sync>;

/// Serves the admin endpoints on `listener` until the task is aborted; other
/// paths get 404. Logs the address it serves (useful with port 0).
pub async fn serve(listener: TcpListener, health: Arc<Health>, metrics: PrometheusHandle) {
    serve_with(listener, health, metrics, None).await;
}

/// [`serve`], with `extra` answering the paths the common endpoints do not.
pub async fn serve_with(
    listener: TcpListener,
    health: Arc<Health>,
    metrics: PrometheusHandle,
    extra: Option<Extra>,
) {
    if let Ok(addr) = listener.local_addr() {
        info!(listen = %addr, "admin endpoints listening");
    }
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "admin listener accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let health = health.clone();
        let metrics = metrics.clone();
        let extra = extra.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let common = respond(request.method(), request.uri().path(), &health, &metrics);
                let own = match common {
                    Some(_) => None,
                    None => extra
                        .as_ref()
                        .and_then(|extra| extra(request.method(), request.uri())),
                };
                async move {
                    let response = match (common, own) {
                        (Some(response), _) => response,
                        (None, Some(answering)) => answering.await,
                        (None, None) => not_found(),
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn not_found() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"not found\n")));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// Runs `probe` (a blocking check, run on a blocking thread) every
/// `interval`, publishes the result in `health` and in the `gauge` metric
/// (1 ready, 0 not), and logs each change once with the reason.
pub async fn watch_readiness<P>(
    health: Arc<Health>,
    gauge: &'static str,
    interval: Duration,
    probe: P,
) where
    P: Fn() -> Result<(), String> + Send + Sync + 'static,
{
    let probe = Arc::new(probe);
    let mut was_ready = None;
    loop {
        let check = probe.clone();
        let outcome = tokio::task::spawn_blocking(move || check())
            .await
            .unwrap_or_else(|error| Err(format!("readiness probe panicked: {error}")));
        let ready = outcome.is_ok();
        health.set_ready(ready);
        metrics::gauge!(gauge).set(if ready { 1.0 } else { 0.0 });
        if was_ready != Some(ready) {
            match &outcome {
                Ok(()) => info!("broker reachable; ready"),
                Err(why) => warn!(%why, "not ready"),
            }
            was_ready = Some(ready);
        }
        tokio::time::sleep(interval).await;
    }
}

/// Prometheus histograms need periodic upkeep; runs until aborted.
pub async fn metrics_upkeep(handle: PrometheusHandle) {
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        handle.run_upkeep();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_needs_a_good_probe_and_no_stop() {
        let health = Health::always_live();
        assert!(!health.is_ready(), "not ready before the first probe");
        health.set_ready(true);
        assert!(health.is_ready());
        health.set_stopping();
        assert!(!health.is_ready(), "a stopping process leaves the service");
        assert!(health.is_live());
    }

    #[test]
    fn a_process_staying_ready_needs_one_good_probe_and_no_stop() {
        let health = Health::always_live().staying_ready_through_outages();
        health.set_ready(false);
        assert!(!health.is_ready(), "not ready before the first good probe");
        health.set_ready(true);
        health.set_ready(false);
        assert!(health.is_ready(), "an outage keeps it in the service");
        assert!(!health.probe_ok());
        health.set_stopping();
        assert!(!health.is_ready(), "a stopping process leaves the service");
    }

    #[test]
    fn a_loop_that_stops_beating_is_not_live() {
        let health = Health::beating_within(Duration::ZERO);
        health.beat_ms.store(unix_ms() - 10, Ordering::Relaxed);
        assert!(!health.is_live());
        let health = Health::beating_within(Duration::from_secs(60));
        health.beat();
        assert!(health.is_live());
    }
}
