//! Every way a request can fail, and the one function that turns each into a
//! status code and an RFC 9457 `application/problem+json` body. The status
//! table of the gateway is the `match` in [`Rejection::status`].

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;

use crate::signature::AuthError;
use crate::source::IdError;

/// Why a request was not answered `202`.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// The path is not one the gateway serves.
    #[error("no route for {path}")]
    NotFound {
        /// The request path.
        path: String,
    },
    /// `POST /webhooks/{source}` for a source that is not configured.
    #[error("unknown source {source_name:?}")]
    UnknownSource {
        /// The name in the path.
        source_name: String,
    },
    /// The path exists but not for this method.
    #[error("method {method} not allowed; use {allow}")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The methods allowed (also sent as `Allow`).
        allow: &'static str,
    },
    /// The body is larger than the source allows.
    #[error("body exceeds {limit} bytes")]
    PayloadTooLarge {
        /// The limit, bytes.
        limit: usize,
    },
    /// The request declares a content type that is not JSON.
    #[error("content type {content_type:?} is not JSON; send application/json")]
    UnsupportedMediaType {
        /// The declared type.
        content_type: String,
    },
    /// The request's `Content-Encoding` is not one the gateway decodes.
    #[error("content encoding {encoding:?} is not supported; send gzip, deflate, br or none")]
    UnsupportedEncoding {
        /// The declared encoding.
        encoding: String,
    },
    /// The body does not decode with its declared `Content-Encoding`.
    #[error("body does not decode as {encoding}: {detail}")]
    MalformedEncoding {
        /// The declared encoding.
        encoding: &'static str,
        /// The decoder's message.
        detail: String,
    },
    /// The body is not well-formed JSON.
    #[error("body is not valid JSON: {detail}")]
    MalformedJson {
        /// The parser's message (line and column, no body content).
        detail: String,
    },
    /// The body could not be read (the client went away, or broken chunking).
    #[error("body could not be read: {detail}")]
    BodyUnreadable {
        /// What went wrong.
        detail: String,
    },
    /// No usable event id.
    #[error(transparent)]
    EventId(#[from] IdError),
    /// Authentication failed.
    #[error("{error}")]
    Unauthorized {
        /// What failed.
        error: AuthError,
        /// The `WWW-Authenticate` challenge of the source's scheme, if HTTP has one.
        challenge: Option<&'static str>,
    },
    /// The client did not send the whole request in time.
    #[error("request was not received within {secs} s")]
    RequestTimeout {
        /// The configured limit, seconds.
        secs: u64,
    },
    /// The producer's local queue is full: the broker is not keeping up.
    #[error("the gateway is overloaded; retry after {retry_after} s")]
    QueueFull {
        /// `Retry-After` seconds.
        retry_after: u64,
    },
    /// The broker did not acknowledge within the deadline, or refused for a
    /// transient reason; the event may or may not be stored, so the sender
    /// must retry (the consumer drops the duplicate).
    #[error("the event broker did not acknowledge in time; retry after {retry_after} s")]
    BrokerUnavailable {
        /// `Retry-After` seconds.
        retry_after: u64,
    },
    /// Too many body bytes are being read or held at once (slow senders):
    /// this body is not read.
    #[error("the gateway is reading too many request bodies at once; retry after {retry_after} s")]
    BodyBudgetExhausted {
        /// `Retry-After` seconds.
        retry_after: u64,
    },
    /// The gateway is shutting down.
    #[error("the gateway is shutting down; retry after {retry_after} s")]
    ShuttingDown {
        /// `Retry-After` seconds.
        retry_after: u64,
    },
}

impl Rejection {
    /// The HTTP status of this rejection.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::NotFound { .. } | Rejection::UnknownSource { .. } => StatusCode::NOT_FOUND,
            Rejection::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Rejection::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::UnsupportedMediaType { .. } | Rejection::UnsupportedEncoding { .. } => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Rejection::MalformedJson { .. }
            | Rejection::MalformedEncoding { .. }
            | Rejection::BodyUnreadable { .. }
            | Rejection::EventId(_) => StatusCode::BAD_REQUEST,
            Rejection::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Rejection::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Rejection::QueueFull { .. } => StatusCode::TOO_MANY_REQUESTS,
            Rejection::BrokerUnavailable { .. }
            | Rejection::ShuttingDown { .. }
            | Rejection::BodyBudgetExhausted { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A stable, machine-readable problem type slug.
    pub fn slug(&self) -> &'static str {
        match self {
            Rejection::NotFound { .. } => "not-found",
            Rejection::UnknownSource { .. } => "unknown-source",
            Rejection::MethodNotAllowed { .. } => "method-not-allowed",
            Rejection::PayloadTooLarge { .. } => "payload-too-large",
            Rejection::UnsupportedMediaType { .. } => "unsupported-media-type",
            Rejection::UnsupportedEncoding { .. } => "unsupported-content-encoding",
            Rejection::MalformedEncoding { .. } => "malformed-content-encoding",
            Rejection::MalformedJson { .. } => "malformed-json",
            Rejection::BodyUnreadable { .. } => "body-unreadable",
            Rejection::EventId(IdError::Missing { .. }) => "missing-event-id",
            Rejection::EventId(IdError::TooLong) => "event-id-too-long",
            Rejection::Unauthorized { .. } => "unauthorized",
            Rejection::RequestTimeout { .. } => "request-timeout",
            Rejection::QueueFull { .. } => "overloaded",
            Rejection::BrokerUnavailable { .. } => "broker-unavailable",
            Rejection::ShuttingDown { .. } => "shutting-down",
            Rejection::BodyBudgetExhausted { .. } => "body-budget-exhausted",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Rejection::QueueFull { retry_after }
            | Rejection::BrokerUnavailable { retry_after }
            | Rejection::ShuttingDown { retry_after }
            | Rejection::BodyBudgetExhausted { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The response: status, `Retry-After`/`Allow` where they apply, problem+json body.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let status = self.status();
        let body = serde_json::json!({
            "type": format!("urn:switchboard:problem:{}", self.slug()),
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": self.to_string(),
        });
        let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Rejection::MethodNotAllowed { allow, .. } = self {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if let Rejection::Unauthorized {
            challenge: Some(challenge),
            ..
        } = self
        {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body was not read: the connection cannot be reused.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn broker_unavailable_is_503_with_retry_after_and_problem_json() {
        let response = Rejection::BrokerUnavailable { retry_after: 2 }.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["status"], 503);
        assert_eq!(json["type"], "urn:switchboard:problem:broker-unavailable");
    }

    #[test]
    fn method_not_allowed_names_the_allowed_method() {
        let response = Rejection::MethodNotAllowed {
            method: "GET".into(),
            allow: "POST",
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "POST");
    }
}
