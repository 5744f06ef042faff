//! The webhook server: accept loop with a connection cap and graceful
//! shutdown, routing, body limits and timeouts. Decisions about events are
//! `ingest.rs`'s; the admin endpoints have a listener of their own.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use metrics::Gauge;
use switchboard_runtime::admin::Health;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::body::BodyBudget;
use crate::config::HttpLimits;
use crate::encoding;
use crate::ingest::{check_head, ingest, Body, IngestSettings};
use crate::metrics::SourceSeries;
use crate::problem::Rejection;
use crate::producer::EventProducer;
use crate::source::Source;

/// Path prefix of webhook intake.
pub const WEBHOOK_PREFIX: &str = "/webhooks/";

/// A configured source and its metric series.
pub struct Route {
    /// The source.
    pub source: Source,
    /// Its request series.
    pub series: SourceSeries,
}

impl Route {
    /// Routes to `source`, resolving its series (at zero) with the installed recorder.
    pub fn new(source: Source) -> Self {
        let series = SourceSeries::configured(source.name);
        source.types.register(source.name);
        Self { source, series }
    }
}

/// Everything a request handler needs, shared by all connections.
pub struct App {
    /// Configured sources by name.
    pub sources: HashMap<String, Route>,
    /// The series of requests to sources that are not configured.
    pub unknown_source: SourceSeries,
    /// Webhook requests being handled.
    pub in_flight: Gauge,
    /// Deadline, Retry-After, instance id.
    pub settings: IngestSettings,
    /// The Kafka producer.
    pub producer: EventProducer,
    /// Readiness (set by the probe) and stopping (set when shutdown starts:
    /// new webhooks get 503).
    pub health: Arc<Health>,
    /// Connection limits and timeouts.
    pub limits: HttpLimits,
    /// Body bytes being read or held, across requests.
    pub budget: BodyBudget,
}

/// Serves `listener` until `shutdown` resolves, then stops accepting and gives
/// open connections `grace` to finish their requests.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let connections = Arc::new(Semaphore::new(app.limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(app.limits.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);

    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = service_fn(move |request| {
            let app = app.clone();
            async move { Ok::<_, Infallible>(route(&app, request).await) }
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(%peer, %error, "connection ended with an error");
            }
            drop(permit);
        });
    }

    drop(listener);
    app.health.set_stopping();
    info!("stopped accepting; finishing in-flight requests");
    tokio::select! {
        _ = graceful.shutdown() => info!("all connections closed"),
        _ = tokio::time::sleep(grace) => warn!(?grace, "grace period over; closing remaining connections"),
    }
}

async fn route(app: &App, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    if let Some(name) = path.strip_prefix(WEBHOOK_PREFIX) {
        return match app.sources.get(name) {
            Some(route) => webhook(app, Ok(route), request).await,
            None => {
                let source_name = name.to_owned();
                webhook(app, Err(source_name), request).await
            }
        };
    }
    Rejection::NotFound {
        path: path.to_owned(),
    }
    .into_response()
}

/// Serves `POST /webhooks/{source}`; `source` is the configured source, or
/// the unknown name from the path.
async fn webhook(
    app: &App,
    route: Result<&Route, String>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    app.in_flight.increment(1.0);
    let (series, answer) = match route {
        Err(source_name) => (
            &app.unknown_source,
            Err(Rejection::UnknownSource { source_name }),
        ),
        Ok(route) => (&route.series, accept(app, &route.source, request).await),
    };
    let response = answer.unwrap_or_else(Rejection::into_response);
    app.in_flight.decrement(1.0);
    series.answered(response.status(), started.elapsed());
    response
}

async fn accept(
    app: &App,
    source: &Source,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Rejection> {
    if request.method() != Method::POST {
        return Err(Rejection::MethodNotAllowed {
            method: request.method().to_string(),
            allow: "POST",
        });
    }
    if app.health.is_stopping() {
        return Err(Rejection::ShuttingDown {
            retry_after: app.settings.retry_after_secs,
        });
    }
    let (head, body) = request.into_parts();
    let limit = source.max_body_bytes;
    let declared = head
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Rejection::PayloadTooLarge { limit });
    }
    let content_type = check_head(source, &head.headers)?;
    let coding = encoding::coding_of(&head.headers)?;
    // The reservation is held until the answer: the envelope holds the body.
    let (read, mut reservation) = app
        .budget
        .read(body, declared, limit, app.limits.request_timeout)
        .await?;
    let body = Body {
        decoded: encoding::decode(coding, read.clone(), limit, &app.budget, &mut reservation)?,
        as_sent: (coding != encoding::Coding::Identity).then_some(read),
    };
    let accepted = ingest(
        source,
        &app.settings,
        &app.producer,
        &head.headers,
        content_type,
        body,
    )
    .await?;
    let mut response = Response::new(Full::new(Bytes::from(accepted.to_json())));
    *response.status_mut() = StatusCode::ACCEPTED;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
