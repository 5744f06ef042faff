//! One HTTP exchange with a destination: the request (the event's body,
//! our headers, the destination's headers, credentials and signature), its
//! answer read in full, and what that answer means ([`Answer`]). With OAuth2
//! a 401 gets one more try with a fresh token.

use std::time::{Duration, SystemTime};

use http::header::{
    HeaderMap, HeaderName, HeaderValue, InvalidHeaderValue, AUTHORIZATION, CONTENT_TYPE,
    RETRY_AFTER, USER_AGENT,
};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use switchboard_proto::Envelope;

use super::answer::{cause_of_request_error, classify, parse_retry_after, Answer, Outcome};
use super::Destination;
use crate::credentials::oauth::Token;
use crate::http::error_chain;
use crate::metrics::{AnswerClass, FailureCause};

/// Request header carrying the event id, so a destination can dedupe too.
pub static X_EVENT_ID: HeaderName = HeaderName::from_static("x-event-id");
/// Request header carrying the attempt number (1 for the first).
pub static X_ATTEMPT: HeaderName = HeaderName::from_static("x-attempt");
/// Request header carrying the source name.
pub static X_SOURCE: HeaderName = HeaderName::from_static("x-source");
/// Request header carrying the W3C trace context.
static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// Request header carrying the vendors' trace state.
static TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// The headers every request starts with, built straight into one map
/// (names and constant values are static: no parsing or copying of them per
/// request). Fails on a value of the envelope no header may carry.
fn request_headers(event: &Envelope, attempt: u32) -> Result<HeaderMap, InvalidHeaderValue> {
    static JSON: HeaderValue = HeaderValue::from_static("application/json");
    static AGENT: HeaderValue =
        HeaderValue::from_static(concat!("switchboard-consumer/", env!("CARGO_PKG_VERSION")));
    // Room for these, the forwarded headers and the credentials' without a regrowth.
    let mut headers = HeaderMap::with_capacity(16);
    let content_type = if event.content_type.is_empty() {
        JSON.clone()
    } else {
        HeaderValue::from_str(&event.content_type)?
    };
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(USER_AGENT, AGENT.clone());
    headers.insert(X_EVENT_ID.clone(), HeaderValue::from_str(&event.event_id)?);
    headers.insert(X_ATTEMPT.clone(), HeaderValue::from(attempt));
    headers.insert(X_SOURCE.clone(), HeaderValue::from_str(&event.source)?);
    if !event.traceparent.is_empty() {
        headers.insert(
            TRACEPARENT.clone(),
            HeaderValue::from_str(&event.traceparent)?,
        );
        if !event.tracestate.is_empty() {
            headers.insert(
                TRACESTATE.clone(),
                HeaderValue::from_str(&event.tracestate)?,
            );
        }
    }
    Ok(headers)
}

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
    let mut request = Request::new(Full::new(event.body.clone()));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = target.uri.clone();
    match request_headers(event, attempt) {
        Ok(headers) => *request.headers_mut() = headers,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope {
        Envelope {
            event_id: "evt-1".into(),
            source: "genesys".into(),
            ..Envelope::default()
        }
    }

    #[test]
    fn a_request_carries_the_event_s_headers() {
        let plain = request_headers(&envelope(), 3).expect("valid");
        assert_eq!(plain[CONTENT_TYPE], "application/json", "the default type");
        assert_eq!(plain[&X_EVENT_ID], "evt-1");
        assert_eq!(plain[&X_ATTEMPT], "3");
        assert_eq!(plain[&X_SOURCE], "genesys");
        let agent = plain[USER_AGENT].as_bytes();
        assert!(agent.starts_with(b"switchboard-consumer/"));
        assert!(!plain.contains_key(&TRACEPARENT));

        let traced = Envelope {
            content_type: "application/cloudevents+json".into(),
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
            tracestate: "vendor=1".into(),
            ..envelope()
        };
        let traced = request_headers(&traced, 1).expect("valid");
        assert_eq!(traced[CONTENT_TYPE], "application/cloudevents+json");
        assert_eq!(traced[&TRACESTATE], "vendor=1");
        assert_eq!(traced.len(), 7);
    }

    #[test]
    fn an_envelope_value_no_header_may_carry_is_refused() {
        let broken = Envelope {
            event_id: "evt\n1".into(),
            ..envelope()
        };
        assert!(request_headers(&broken, 1).is_err());
        let untraced_state = Envelope {
            tracestate: "bad\r".into(),
            ..envelope()
        };
        assert!(
            request_headers(&untraced_state, 1).is_ok(),
            "a trace state without a trace parent is not sent"
        );
    }
}
