//! `GET /events/{source}/{id}[?since=24h]` on the consumer's admin
//! listener: the answer of `consumer events trace --json`, for tools. Off
//! unless `trace_endpoint` (`CONSUMER_TRACE_ENDPOINT=true`).
//!
//! Its cost is a trace's: it reads the key's partition of each of the
//! group's topics over the window (BENCHMARKS.md gives the time at peak
//! volume), on a blocking thread, with the operator's reader settings and
//! this process's Kafka identity (which must be allowed to Read the group's
//! topics and the reader group, `switchboard-dlt-reader`). One trace runs at
//! a time; a second request meanwhile is answered 429 with `Retry-After`.
//!
//! Answers: 200 with the trace; 404 not found in the window (problem+json
//! saying where it looked); 400 a bad `since` or path; 405 a method other
//! than GET; 429 busy; 503 the broker failed.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Response, StatusCode, Uri};
use http_body_util::Full;
use switchboard_runtime::admin::{Answering, Extra};
use switchboard_runtime::time::unix_ms;
use tokio::sync::Semaphore;

use super::read::Wanted;
use crate::config::ConsumerConfig;
use crate::ops::parse_time;

/// The path prefix served.
pub const PATH: &str = "/events/";

/// The endpoint, for [`switchboard_runtime::admin::serve_with`].
pub fn extra(config: ConsumerConfig) -> Extra {
    let config = Arc::new(config);
    let one_at_a_time = Arc::new(Semaphore::new(1));
    Arc::new(move |method: &Method, uri: &Uri| {
        let rest = uri.path().strip_prefix(PATH)?;
        let asked = parse(method, rest, uri.query());
        let (config, gate) = (config.clone(), one_at_a_time.clone());
        let answering: Answering = Box::pin(async move {
            let asked = match asked {
                Ok(asked) => asked,
                Err((status, detail)) => {
                    let mut refused = problem(status, &detail);
                    if status == StatusCode::METHOD_NOT_ALLOWED {
                        refused
                            .headers_mut()
                            .insert(header::ALLOW, HeaderValue::from_static("GET"));
                    }
                    return refused;
                }
            };
            let Ok(_turn) = gate.try_acquire_owned() else {
                let mut busy = problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    "another trace is running; one runs at a time",
                );
                busy.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return busy;
            };
            tokio::task::spawn_blocking(move || answer(&config, &asked))
                .await
                .unwrap_or_else(|_| problem(StatusCode::INTERNAL_SERVER_ERROR, "the trace failed"))
        });
        Some(answering)
    })
}

/// A request's event and window.
struct Asked {
    source: String,
    id: String,
    since_ms: i64,
}

/// Why a request was refused before any reading: its status and detail.
type Refusal = (StatusCode, String);

fn parse(method: &Method, rest: &str, query: Option<&str>) -> Result<Asked, Refusal> {
    if method != Method::GET {
        return Err((StatusCode::METHOD_NOT_ALLOWED, "only GET".into()));
    }
    let decode = |part: &str| -> Option<String> {
        let text = percent_encoding::percent_decode_str(part)
            .decode_utf8()
            .ok()?;
        (!text.is_empty()).then(|| text.into_owned())
    };
    let (source, id) = rest
        .split_once('/')
        .and_then(|(source, id)| Some((decode(source)?, decode(id)?)))
        .ok_or_else(|| {
            (
                StatusCode::BAD_REQUEST,
                "the path is /events/{source}/{id} (the id percent-encoded)".to_owned(),
            )
        })?;
    let since = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "since")
        .map_or(Cow::Borrowed("24h"), |(_, value)| value);
    let since_ms = parse_time(&since, unix_ms())
        .map_err(|why| (StatusCode::BAD_REQUEST, format!("since: {why}")))?;
    Ok(Asked {
        source,
        id,
        since_ms,
    })
}

fn answer(config: &ConsumerConfig, asked: &Asked) -> Response<Full<Bytes>> {
    let wanted = Wanted {
        source: &asked.source,
        id: &asked.id,
        since_ms: asked.since_ms,
    };
    let looked = match super::look(config, &wanted) {
        Ok(looked) => looked,
        Err(error) => {
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("reading the group's topics failed: {error}"),
            )
        }
    };
    match super::answer(&wanted, &looked) {
        Some(answer) => {
            let body = serde_json::to_vec(&answer).unwrap_or_default();
            let mut response = Response::new(Full::new(Bytes::from(body)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        None => problem(
            StatusCode::NOT_FOUND,
            &super::not_found(&wanted, &looked.reading),
        ),
    }
}

/// An RFC 9457 problem answer.
fn problem(status: StatusCode, detail: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(result: Result<Asked, Refusal>) -> StatusCode {
        result.map_or_else(|(status, _)| status, |_| StatusCode::OK)
    }

    #[test]
    fn a_request_names_its_event_and_window_or_is_refused_clearly() {
        let asked = parse(&Method::GET, "genesys/7f3e%2F2a", Some("since=3d")).expect("ok");
        assert_eq!(
            (asked.source.as_str(), asked.id.as_str()),
            ("genesys", "7f3e/2a")
        );
        let three_days = unix_ms() - asked.since_ms;
        assert!(
            (259_000_000..=260_000_000).contains(&three_days),
            "{three_days}"
        );
        assert_eq!(
            status(parse(&Method::GET, "genesys/e-1", None)),
            StatusCode::OK
        );
        assert_eq!(
            status(parse(&Method::POST, "genesys/e-1", None)),
            StatusCode::METHOD_NOT_ALLOWED
        );
        for bad in ["genesys", "genesys/", "/e-1", "genesys/%FF"] {
            assert_eq!(
                status(parse(&Method::GET, bad, None)),
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
        assert_eq!(
            status(parse(&Method::GET, "genesys/e-1", Some("since=soon"))),
            StatusCode::BAD_REQUEST
        );
    }
}
