//! One HTTP exchange with a destination: the request (the event's body,
//! our headers, the destination's headers, credentials and signature), its
//! answer read in full, and what that answer means ([`Answer`]). With OAuth2
//! a 401 gets one more try with a fresh token.

use std::time::{Duration, SystemTime};

use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use switchboard_proto::Envelope;

use super::answer::{cause_of_request_error, classify, parse_retry_after, Answer, Outcome};
use super::Destination;
use crate::credentials::oauth::Token;
use crate::http::error_chain;
use crate::metrics::{AnswerClass, FailureCause};

/// Request header carrying the event id, so a destination can dedupe too.
pub const X_EVENT_ID: &str = "x-event-id";
/// Request header carrying the attempt number (1 for the first).
pub const X_ATTEMPT: &str = "x-attempt";
/// Request header carrying the source name.
pub const X_SOURCE: &str = "x-source";

/// What one request got: its meaning, its class, and the status if any.
struct Exchanged {
    answer: Answer,
    class: AnswerClass,
    status: Option<StatusCode>,
}

impl Exchanged {
    fn failed_before_sending(cause: FailureCause, error: String) -> Self {
        Self {
            answer: Answer::DestinationFailed {
                cause,
                error,
                sent: false,
            },
            class: AnswerClass::NoAnswer,
            status: None,
        }
    }
}

/// Delivers `event` (attempt `attempt`) to `target` once over its client
/// (its tokens come over its token client), each request limited to its
/// timeout.
pub(super) async fn exchange(
    target: &Destination,
    event: &Envelope,
    attempt: u32,
) -> (Answer, AnswerClass) {
    let timeout = target.timeout;
    let Some(tokens) = target.credentials.oauth() else {
        let done = send(timeout, target, event, attempt, None).await;
        return (done.answer, done.class);
    };
    let mut fresh_tried = false;
    loop {
        let token = match tokens.token(&target.tokens, timeout, target.name()).await {
            Ok(token) => token,
            Err(failed) => {
                let done = Exchanged::failed_before_sending(failed.cause, failed.error);
                return (done.answer, done.class);
            }
        };
        let done = send(timeout, target, event, attempt, Some(&token)).await;
        if done.status != Some(StatusCode::UNAUTHORIZED) || fresh_tried {
            return (done.answer, done.class);
        }
        // Revoked or expired early: drop it, and try once with a new one.
        tokens.refused(&token).await;
        fresh_tried = true;
    }
}

async fn send(
    timeout: Duration,
    target: &Destination,
    event: &Envelope,
    attempt: u32,
    token: Option<&Token>,
) -> Exchanged {
    let content_type = if event.content_type.is_empty() {
        "application/json"
    } else {
        &event.content_type
    };
    let mut request = Request::post(target.uri.clone())
        .header(CONTENT_TYPE, content_type)
        .header(
            USER_AGENT,
            concat!("switchboard-consumer/", env!("CARGO_PKG_VERSION")),
        )
        .header(X_EVENT_ID, &event.event_id)
        .header(X_ATTEMPT, attempt)
        .header(X_SOURCE, &event.source);
    if !event.traceparent.is_empty() {
        request = request.header("traceparent", &event.traceparent);
        if !event.tracestate.is_empty() {
            request = request.header("tracestate", &event.tracestate);
        }
    }
    let mut request = match request.body(Full::new(event.body.clone())) {
        Ok(request) => request,
        Err(error) => {
            return Exchanged {
                answer: Answer::Done(Outcome::Permanent(format!(
                    "cannot build the request (bad header value in the envelope?): {error}"
                ))),
                class: AnswerClass::NoAnswer,
                status: None,
            }
        }
    };
    let now_s = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let credentials = &target.credentials;
    credentials.forward(request.headers_mut(), &event.headers);
    if let Some(token) = token {
        request
            .headers_mut()
            .insert(AUTHORIZATION, token.authorization.clone());
    }
    if let Err(why) = credentials.apply(request.headers_mut(), &event.event_id, &event.body, now_s)
    {
        // The destination's settings, not the event, are at fault: hold it.
        return Exchanged::failed_before_sending(
            FailureCause::Credentials,
            format!("cannot add the destination's credentials or signature: {why}"),
        );
    }
    let call = async {
        let response = target.client.request(request).await?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let mut body = response.into_body();
        let mut snippet = Vec::new();
        // Read the whole answer so the connection can be reused, keeping
        // the start of an error body for the error chain.
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                if snippet.len() < 200 {
                    snippet.extend_from_slice(&data[..data.len().min(200 - snippet.len())]);
                }
            }
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, retry_after, snippet))
    };
    let failed = |cause, error| Exchanged {
        answer: Answer::DestinationFailed {
            cause,
            error,
            sent: true,
        },
        class: AnswerClass::NoAnswer,
        status: None,
    };
    match tokio::time::timeout(timeout, call).await {
        Err(_) => failed(
            FailureCause::Timeout,
            format!("no answer within {timeout:?}"),
        ),
        Ok(Err(error)) => failed(
            cause_of_request_error(&*error),
            format!("request failed: {}", error_chain(&*error)),
        ),
        Ok(Ok((status, retry_after, snippet))) => Exchanged {
            answer: classify(status, retry_after, &snippet),
            class: AnswerClass::of_status(status.as_u16()),
            status: Some(status),
        },
    }
}
