//! A configured webhook source: where its events go, how their id is found,
//! how requests are authenticated and which headers travel with them.

use http::HeaderMap;
use sha2::{Digest, Sha256};
use switchboard_proto::IdOrigin;

use std::collections::BTreeMap;

use crate::event_type::EventTypes;
use crate::json_pointer::{Found, Pointers};
use crate::locator::{first, pointers_of, Locator};
use crate::signature::{AuthConfig, Verifier};

/// Longest event id accepted; ids are Kafka keys and header values.
pub const MAX_EVENT_ID_LEN: usize = 256;

/// What to do when no locator yields an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdFallback {
    /// Use the hex SHA-256 of the raw body, so a sender's retry of the same
    /// payload gets the same key.
    #[default]
    BodySha256,
    /// Refuse the request with `400`.
    Reject,
}

/// Why no usable event id was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// No locator matched and the source requires an id.
    #[error("no event id found (tried {tried})")]
    Missing {
        /// The locators tried, for the problem detail.
        tried: String,
    },
    /// The id found is longer than [`MAX_EVENT_ID_LEN`].
    #[error("event id is longer than {MAX_EVENT_ID_LEN} bytes")]
    TooLong,
}

/// A source, resolved from configuration and ready to serve requests.
#[derive(Clone)]
pub struct Source {
    /// Name used in the path, metrics and the envelope (leaked once at
    /// start-up, so metrics labels need no allocation).
    pub name: &'static str,
    /// Kafka topic its events are produced to.
    pub topic: String,
    /// Where the event id is looked for, in order.
    pub id_locators: Vec<Locator>,
    /// The pointer locators of the id, then of the type, merged for one
    /// pass over the body.
    pub pointers: Pointers,
    /// What happens when no locator matches.
    pub id_fallback: IdFallback,
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// Authentication scheme.
    pub verifier: Verifier,
    /// Request headers copied into the envelope.
    pub forward_headers: Vec<http::HeaderName>,
    /// Where the event type is found, and its metrics labels.
    pub types: EventTypes,
}

/// A `[sources.NAME]` table as written, before validation.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceSettings {
    /// Target topic (default: the gateway's `topic`).
    topic: Option<String>,
    /// Where the id is looked for: JSON pointers (`/id`) or `header:Name`.
    event_id: Option<Vec<String>>,
    /// What happens when no locator matches.
    id_fallback: IdFallback,
    /// Largest accepted body (default: the gateway's `max_body_bytes`).
    max_body_bytes: Option<usize>,
    /// Headers copied into the envelope (default `user-agent`).
    forward_headers: Option<Vec<String>>,
    /// Where the event type is: JSON pointers or `header:Name` (default by
    /// auth scheme, [`crate::event_type::default_locators`]).
    event_type: Option<Vec<String>>,
    /// Event type patterns that get a metrics label of their own.
    event_types: Vec<String>,
    /// Authentication; required. `{ scheme = "none" }` written out is the
    /// one way to accept unauthenticated webhooks.
    auth: Option<AuthConfig>,
}

/// Headers that carry credentials: never copied into an envelope.
const NEVER_FORWARDED: &[&str] = &["authorization", "proxy-authorization", "cookie"];

impl Source {
    /// Validates the settings of source `name`; `default_topic` and
    /// `default_max_body` are the gateway's, `vars` holds named secrets.
    pub fn from_settings(
        name: &str,
        settings: SourceSettings,
        default_topic: &str,
        default_max_body: usize,
        vars: &BTreeMap<String, String>,
    ) -> Result<Source, String> {
        switchboard_proto::topics::validate_name("source name", name).map_err(|e| e.to_string())?;
        let topic = settings.topic.unwrap_or_else(|| default_topic.to_owned());
        switchboard_proto::topics::validate_name("topic", &topic).map_err(|e| e.to_string())?;
        let id_locators = settings
            .event_id
            .unwrap_or_else(|| vec!["/id".to_owned()])
            .iter()
            .map(|spec| Locator::parse(spec, "event_id"))
            .collect::<Result<Vec<_>, _>>()?;
        let auth = settings.auth.ok_or_else(|| {
            "has no auth table, so anyone who can reach the gateway could write events to it; \
             configure its sender's scheme (api-key, basic, hmac-sha256, standard-webhooks, …), \
             or accept unauthenticated webhooks explicitly with auth = { scheme = \"none\" }"
                .to_owned()
        })?;
        let type_locators = settings
            .event_type
            .unwrap_or_else(|| crate::event_type::default_locators(&auth))
            .iter()
            .map(|spec| Locator::parse(spec, "event_type"))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(bad) = settings
            .event_types
            .iter()
            .find(|p| p.trim().is_empty() || p.len() > crate::event_type::MAX_EVENT_TYPE_LEN)
        {
            return Err(format!(
                "event_types entry {bad:?} is empty or longer than {} bytes",
                crate::event_type::MAX_EVENT_TYPE_LEN
            ));
        }
        let patterns: Vec<&str> = settings.event_types.iter().map(String::as_str).collect();
        let types = EventTypes::new(type_locators, &patterns);
        let verifier = auth.into_verifier(vars)?;

        let mut credential_headers: Vec<&str> = NEVER_FORWARDED.to_vec();
        if let Verifier::ApiKey { header, .. } | Verifier::Basic { header, .. } = &verifier {
            credential_headers.push(header);
        }
        let mut forward: Vec<String> = settings
            .forward_headers
            .unwrap_or_else(|| vec!["user-agent".to_owned()]);
        forward.extend(verifier.signature_headers().iter().map(|h| (*h).to_owned()));
        forward.extend(id_locators.iter().filter_map(|l| match l {
            Locator::Header(h) => Some(h.as_str().to_owned()),
            Locator::Pointer(_) => None,
        }));
        let mut forward_headers = Vec::new();
        for header in forward {
            let parsed = http::HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| format!("invalid header name {header:?}"))?;
            let is_credential = credential_headers
                .iter()
                .any(|c| c.eq_ignore_ascii_case(parsed.as_str()));
            if !is_credential && !forward_headers.contains(&parsed) {
                forward_headers.push(parsed);
            }
        }

        Ok(Source {
            name: Box::leak(name.to_owned().into_boxed_str()),
            topic,
            pointers: pointers_of(id_locators.iter().chain(&types.locators)),
            id_locators,
            id_fallback: settings.id_fallback,
            max_body_bytes: settings.max_body_bytes.unwrap_or(default_max_body),
            verifier,
            forward_headers,
            types,
        })
    }
}

/// The event id and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventId {
    /// The id, used as Kafka key.
    pub value: String,
    /// Where it came from.
    pub origin: IdOrigin,
}

impl Source {
    /// Finds the event id: each locator in order, then the fallback.
    /// `pointed` is what the id's pointers among [`Source::pointers`] found
    /// in the body ([`Source::split_found`]); the id is taken out of it, not
    /// copied.
    pub fn event_id(
        &self,
        headers: &HeaderMap,
        pointed: Found,
        body: &[u8],
    ) -> Result<EventId, IdError> {
        if let Some((value, found_by)) = first(&self.id_locators, headers, pointed) {
            if value.len() > MAX_EVENT_ID_LEN {
                return Err(IdError::TooLong);
            }
            let origin = match found_by {
                Locator::Header(_) => IdOrigin::Header,
                Locator::Pointer(_) => IdOrigin::BodyPointer,
            };
            return Ok(EventId { value, origin });
        }
        match self.id_fallback {
            IdFallback::BodySha256 => Ok(EventId {
                value: hex::encode(Sha256::digest(body)),
                origin: IdOrigin::BodySha256,
            }),
            IdFallback::Reject => Err(IdError::Missing {
                tried: self.describe_locators(),
            }),
        }
    }

    /// Splits what [`Source::pointers`] found into the id's part and the
    /// type's part.
    pub fn split_found(&self, mut found: Found) -> (Found, Found) {
        let id_count = self
            .id_locators
            .iter()
            .filter(|l| matches!(l, Locator::Pointer(_)))
            .count();
        let types = found.split_off(id_count.min(found.len()));
        (found, types)
    }

    fn describe_locators(&self) -> String {
        let parts: Vec<String> = self
            .id_locators
            .iter()
            .map(|l| match l {
                Locator::Header(h) => format!("header {h}"),
                Locator::Pointer(p) => format!("JSON pointer {p}"),
            })
            .collect();
        if parts.is_empty() {
            "nothing".into()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// What `s`'s pointers find in `json` written out.
    fn pointed(s: &Source, json: &Value) -> Found {
        let body = serde_json::to_vec(json).expect("json");
        s.pointers.values_at(&body).expect("valid")
    }

    fn source(locators: Vec<Locator>, fallback: IdFallback) -> Source {
        Source {
            name: "t",
            topic: "webhooks".into(),
            pointers: pointers_of(&locators),
            id_locators: locators,
            id_fallback: fallback,
            max_body_bytes: 1024,
            verifier: Verifier::None,
            forward_headers: vec![],
            types: EventTypes::new(vec![], &[]),
        }
    }

    #[test]
    fn locators_are_tried_in_order() {
        let s = source(
            vec![
                Locator::Header(http::HeaderName::from_static("idempotency-key")),
                Locator::Pointer("/id".into()),
            ],
            IdFallback::Reject,
        );
        let json: Value = serde_json::json!({"id": "body-id"});
        let mut headers = HeaderMap::new();
        let found = s.event_id(&headers, pointed(&s, &json), b"").expect("id");
        assert_eq!(found.value, "body-id");
        assert_eq!(found.origin, IdOrigin::BodyPointer);
        headers.insert("idempotency-key", "hdr-id".parse().expect("header"));
        let found = s.event_id(&headers, pointed(&s, &json), b"").expect("id");
        assert_eq!(found.value, "hdr-id");
        assert_eq!(found.origin, IdOrigin::Header);
    }

    #[test]
    fn missing_id_falls_back_to_body_hash_or_rejects() {
        let json: Value = serde_json::json!({"metadata": {"CorrelationId": "c"}, "id": ""});
        let body = br#"{"metadata":{"CorrelationId":"c"},"id":""}"#;
        let hashing = source(vec![Locator::Pointer("/id".into())], IdFallback::BodySha256);
        let found = hashing
            .event_id(&HeaderMap::new(), pointed(&hashing, &json), body)
            .expect("id");
        assert_eq!(found.origin, IdOrigin::BodySha256);
        assert_eq!(found.value, hex::encode(Sha256::digest(body)));
        assert_eq!(found.value.len(), 64);

        let strict = source(vec![Locator::Pointer("/id".into())], IdFallback::Reject);
        assert_eq!(
            strict.event_id(&HeaderMap::new(), pointed(&strict, &json), body),
            Err(IdError::Missing {
                tried: "JSON pointer /id".into()
            })
        );
    }

    /// Found by the property tests: a blank id is no id.
    #[test]
    fn a_blank_id_counts_as_none_and_ids_are_trimmed() {
        let s = source(vec![Locator::Pointer("/id".into())], IdFallback::Reject);
        let blank: Value = serde_json::json!({"id": " "});
        assert!(s
            .event_id(&HeaderMap::new(), pointed(&s, &blank), b"")
            .is_err());
        let padded: Value = serde_json::json!({"id": " a b "});
        let found = s
            .event_id(&HeaderMap::new(), pointed(&s, &padded), b"")
            .expect("id");
        assert_eq!(found.value, "a b");
    }

    #[test]
    fn numeric_ids_are_accepted_and_huge_ids_refused() {
        let s = source(vec![Locator::Pointer("/n".into())], IdFallback::Reject);
        let json = serde_json::json!({"n": 42});
        assert_eq!(
            s.event_id(&HeaderMap::new(), pointed(&s, &json), b"")
                .expect("id")
                .value,
            "42"
        );
        let json = serde_json::json!({"n": "x".repeat(MAX_EVENT_ID_LEN + 1)});
        assert_eq!(
            s.event_id(&HeaderMap::new(), pointed(&s, &json), b""),
            Err(IdError::TooLong)
        );
    }
}
