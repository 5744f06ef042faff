//! One webhook, from checked request to acknowledged record: content type,
//! authentication, JSON, event id, envelope, produce. HTTP framing (routing,
//! body limits, timeouts) is `http.rs`'s job.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{header, HeaderMap};
use prost::Message;
use switchboard_proto::{Envelope, Header, SCHEMA_VERSION};

use crate::json_pointer::Found;
use crate::problem::Rejection;
use crate::producer::{Acked, EventProducer, OutgoingRecord, ProduceError};
use crate::source::Source;

/// What the gateway tells the sender after the broker acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted<'a> {
    /// The event id (Kafka key).
    pub id: String,
    /// Topic written.
    pub topic: &'a str,
    /// Where it landed.
    pub acked: Acked,
}

/// The `202` body, serialised straight from borrowed fields (no JSON tree).
#[derive(serde::Serialize)]
struct AcceptedBody<'a> {
    id: &'a str,
    topic: &'a str,
    partition: i32,
    offset: i64,
}

impl Accepted<'_> {
    /// The `202` body: `{"id","topic","partition","offset"}`.
    pub fn to_json(&self) -> String {
        let body = AcceptedBody {
            id: &self.id,
            topic: self.topic,
            partition: self.acked.partition,
            offset: self.acked.offset,
        };
        // Strings and integers always serialise.
        serde_json::to_string(&body).unwrap_or_default()
    }
}

/// Settings of the ingest path that are not per source.
pub struct IngestSettings {
    /// Broker-ack deadline.
    pub deadline: std::time::Duration,
    /// `Retry-After` seconds for `503`/`429`.
    pub retry_after_secs: u64,
    /// Written into every envelope.
    pub instance_id: String,
}

/// Checks what a request's head alone decides, before its body is read:
/// the content type, and the credentials of a scheme that signs no body
/// (API key, Basic), so a refused sender costs no body read. Returns the
/// content type to record.
pub fn check_head<'h>(source: &Source, headers: &'h HeaderMap) -> Result<&'h str, Rejection> {
    let content_type = check_content_type(headers)?;
    if !source.verifier.signs_body() {
        verify(source, headers, &[])?;
    }
    Ok(content_type)
}

fn verify(source: &Source, headers: &HeaderMap, body: &[u8]) -> Result<(), Rejection> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    source
        .verifier
        .verify(headers, body, now.as_secs())
        .map_err(|error| Rejection::Unauthorized {
            error,
            challenge: source.verifier.challenge(),
        })
}

/// A request's body, read in full.
pub struct Body {
    /// The body itself: decoded when it came compressed.
    pub decoded: Bytes,
    /// The bytes as they came over the wire, when they were compressed.
    pub as_sent: Option<Bytes>,
}

/// Checks a request whose head passed [`check_head`] and whose body was
/// read in full, builds its envelope and waits for the broker's
/// acknowledgement.
///
/// A signature is checked over the decoded body (what a sender signs before
/// its HTTP client compresses: GitHub, Stripe, Standard Webhooks and
/// Genesys sign their JSON payload), and, for a compressed body only, over
/// the bytes as sent when that fails (a sender that signs its wire bytes).
/// Either can only be made with the source's secret.
pub async fn ingest<'s>(
    source: &'s Source,
    settings: &IngestSettings,
    producer: &EventProducer,
    headers: &HeaderMap,
    content_type: &str,
    body: Body,
) -> Result<Accepted<'s>, Rejection> {
    if source.verifier.signs_body() {
        let signed = verify(source, headers, &body.decoded);
        match (signed, &body.as_sent) {
            (Ok(()), _) => {}
            (Err(_), Some(as_sent)) => verify(source, headers, as_sent)?,
            (Err(refused), None) => return Err(refused),
        }
    }
    let body = body.decoded;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (pointed, type_pointed) = source.split_found(parse_json(source, &body)?);
    let event_id = source.event_id(headers, pointed, &body)?;
    let event_type = source.types.find(headers, type_pointed);

    let traceparent = header_text(headers, "traceparent");
    let envelope = Envelope {
        schema_version: SCHEMA_VERSION,
        event_id: event_id.value,
        id_origin: event_id.origin as i32,
        source: source.name.to_owned(),
        received_at_unix_ms: now.as_millis() as i64,
        content_type: content_type.to_owned(),
        body,
        headers: source
            .forward_headers
            .iter()
            .filter_map(|name| {
                headers.get(name).map(|value| Header {
                    name: name.as_str().to_owned(),
                    value: Bytes::copy_from_slice(value.as_bytes()),
                })
            })
            .collect(),
        traceparent: traceparent.unwrap_or_default().to_owned(),
        tracestate: header_text(headers, "tracestate")
            .unwrap_or_default()
            .to_owned(),
        gateway_instance: settings.instance_id.clone(),
        event_type: event_type.unwrap_or_default(),
    };
    let payload = envelope.encode_to_vec();
    let record = OutgoingRecord {
        topic: &source.topic,
        key: &envelope.event_id,
        payload: &payload,
        source: source.name,
        event_type: (!envelope.event_type.is_empty()).then_some(envelope.event_type.as_str()),
        traceparent,
    };
    match producer.send(record, settings.deadline).await {
        Ok(acked) => {
            let event_type =
                (!envelope.event_type.is_empty()).then_some(envelope.event_type.as_str());
            source.types.accepted(source.name, event_type);
            Ok(Accepted {
                id: envelope.event_id,
                topic: &source.topic,
                acked,
            })
        }
        Err(error) => {
            crate::metrics::produce_failed(source.name, error.kind());
            if matches!(error, ProduceError::NotAuthorised { .. }) {
                tracing::error!(source = source.name, event_id = %envelope.event_id, %error, "event not acknowledged: the broker refuses this gateway's identity");
            } else {
                tracing::warn!(source = source.name, event_id = %envelope.event_id, %error, "event not acknowledged");
            }
            Err(match error {
                ProduceError::QueueFull => Rejection::QueueFull {
                    retry_after: settings.retry_after_secs,
                },
                ProduceError::TooLarge(_) => Rejection::PayloadTooLarge {
                    limit: source.max_body_bytes,
                },
                ProduceError::Deadline(_)
                | ProduceError::NotAuthorised { .. }
                | ProduceError::Broker(_) => Rejection::BrokerUnavailable {
                    retry_after: settings.retry_after_secs,
                },
            })
        }
    }
}

/// A request that declares a content type must declare JSON (`application/json`,
/// any `+json` type, or the unregistered `text/json` that some senders use:
/// refusing it would drop their events, and the body is checked as JSON
/// anyway). One that declares none is judged by its body.
fn check_content_type(headers: &HeaderMap) -> Result<&str, Rejection> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok("application/json");
    };
    let text = value.to_str().unwrap_or_default();
    let essence = text.split(';').next().unwrap_or_default().trim();
    let is_json = essence.eq_ignore_ascii_case("application/json")
        || essence.eq_ignore_ascii_case("text/json")
        || (essence.len() > 5 && essence[essence.len() - 5..].eq_ignore_ascii_case("+json"));
    if is_json {
        Ok(text)
    } else {
        Err(Rejection::UnsupportedMediaType {
            content_type: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        })
    }
}

/// Validates the body as JSON and reads the values at the source's id
/// pointers, without building a tree of the body.
fn parse_json(source: &Source, body: &[u8]) -> Result<Found, Rejection> {
    source
        .pointers
        .values_at(body)
        .map_err(|e| Rejection::MalformedJson {
            detail: format!(
                "{} at line {} column {}",
                classify(&e),
                e.line(),
                e.column()
            ),
        })
}

/// The parser's error category, without echoing any body content.
fn classify(error: &serde_json::Error) -> &'static str {
    match error.classify() {
        serde_json::error::Category::Eof => "unexpected end of input",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "invalid data",
        serde_json::error::Category::Io => "read error",
    }
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_body_names_where_the_record_is() {
        let accepted = Accepted {
            id: "evt-\"1\"".into(),
            topic: "webhooks",
            acked: Acked {
                partition: 2,
                offset: 41,
            },
        };
        let json: serde_json::Value = serde_json::from_str(&accepted.to_json()).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"id": "evt-\"1\"", "topic": "webhooks", "partition": 2, "offset": 41})
        );
    }

    fn headers(content_type: Option<&str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        if let Some(ct) = content_type {
            map.insert(header::CONTENT_TYPE, ct.parse().expect("header"));
        }
        map
    }

    #[test]
    fn json_content_types_are_accepted_and_others_refused() {
        assert!(check_content_type(&headers(Some("application/json"))).is_ok());
        assert!(check_content_type(&headers(Some("Application/JSON; charset=utf-8"))).is_ok());
        assert!(check_content_type(&headers(Some("application/cloudevents+json"))).is_ok());
        assert!(check_content_type(&headers(None)).is_ok());
        assert!(matches!(
            check_content_type(&headers(Some("text/plain"))),
            Err(Rejection::UnsupportedMediaType { .. })
        ));
        assert!(matches!(
            check_content_type(&headers(Some("+json"))),
            Err(Rejection::UnsupportedMediaType { .. })
        ));
    }
}
