//! A source's event type: where it lives in a request (the same locators as
//! the event id: a JSON pointer such as `/detail-type`, or
//! `header:X-GitHub-Event`), and its bounded metrics label (the first of the
//! source's configured `event_types` patterns it matches, else `other`).
//!
//! The type travels in the `sb-event-type` record header and the
//! envelope, so a consumer can filter without decoding the body.

use std::sync::OnceLock;

use http::HeaderMap;
use metrics::{counter, Counter};
use wildmatch::WildMatch;

use crate::json_pointer::Found;
use crate::locator::Locator;
use crate::metrics::EVENT_TYPES;
use crate::signature::AuthConfig;

/// Longest event type kept; a longer one is cut (at a character boundary).
pub const MAX_EVENT_TYPE_LEN: usize = 256;

/// Label of an event whose type matches none of the configured patterns.
pub const OTHER: &str = "other";
/// Label of an event without a type.
pub const NONE: &str = "none";

/// Where a source's event type is found, and its labels.
pub struct EventTypes {
    /// Where the type is looked for, in order.
    pub locators: Vec<Locator>,
    /// The configured patterns (`*` any run of characters, `?` one), in order.
    patterns: Vec<(&'static str, WildMatch)>,
    /// The accepted-events counter of each label: the patterns, then
    /// `other` and `none`; resolved at first use.
    counters: Vec<OnceLock<Counter>>,
}

impl std::fmt::Debug for EventTypes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventTypes")
            .field("locators", &self.locators)
            .field("patterns", &self.labels())
            .finish()
    }
}

impl Clone for EventTypes {
    /// A copy with series of its own, resolved at first use; the patterns'
    /// names were leaked once, by [`EventTypes::new`], and are shared.
    fn clone(&self) -> Self {
        Self {
            locators: self.locators.clone(),
            patterns: self
                .patterns
                .iter()
                .map(|(p, _)| (*p, WildMatch::new(p)))
                .collect(),
            counters: (0..self.counters.len()).map(|_| OnceLock::new()).collect(),
        }
    }
}

/// The default locators of a source by its auth scheme (Standard Webhooks
/// and Stripe put the type at `/type`, GitHub in `X-GitHub-Event`); the
/// rest look where EventBridge (Genesys Cloud's road) puts it, then `/type`.
pub fn default_locators(auth: &AuthConfig) -> Vec<String> {
    match auth {
        AuthConfig::Github { .. } => vec!["header:X-GitHub-Event".into()],
        AuthConfig::StandardWebhooks { .. } | AuthConfig::Stripe { .. } => vec!["/type".into()],
        _ => vec!["/detail-type".into(), "/type".into()],
    }
}

impl EventTypes {
    /// Types found by `locators`, labelled by `patterns`.
    pub fn new(locators: Vec<Locator>, patterns: &[&str]) -> Self {
        let patterns: Vec<(&'static str, WildMatch)> = patterns
            .iter()
            .map(|p| {
                let leaked: &'static str = Box::leak(p.to_string().into_boxed_str());
                (leaked, WildMatch::new(leaked))
            })
            .collect();
        let counters = (0..patterns.len() + 2).map(|_| OnceLock::new()).collect();
        Self {
            locators,
            patterns,
            counters,
        }
    }

    /// Every label value this source can have, in order.
    pub fn labels(&self) -> Vec<&'static str> {
        let mut labels: Vec<&'static str> = self.patterns.iter().map(|(p, _)| *p).collect();
        labels.extend([OTHER, NONE]);
        labels
    }

    /// The type: the first locator that finds a non-empty string or number.
    /// `pointed` holds what the body's pointer locators found, in order.
    pub fn find(&self, headers: &HeaderMap, pointed: Found) -> Option<String> {
        let (mut found, _) = crate::locator::first(&self.locators, headers, pointed)?;
        if found.len() > MAX_EVENT_TYPE_LEN {
            let mut end = MAX_EVENT_TYPE_LEN;
            while !found.is_char_boundary(end) {
                end -= 1;
            }
            found.truncate(end);
        }
        Some(found)
    }

    /// The label index of `event_type`.
    fn index(&self, event_type: Option<&str>) -> usize {
        match event_type {
            None => self.patterns.len() + 1,
            Some(t) => self
                .patterns
                .iter()
                .position(|(_, m)| m.matches(t))
                .unwrap_or(self.patterns.len()),
        }
    }

    /// The bounded label of `event_type`.
    pub fn label(&self, event_type: Option<&str>) -> &'static str {
        self.labels()[self.index(event_type)]
    }

    /// Counts one accepted event of `event_type` from `source`.
    pub fn accepted(&self, source: &'static str, event_type: Option<&str>) {
        let index = self.index(event_type);
        self.counters[index]
            .get_or_init(
                || counter!(EVENT_TYPES, "source" => source, "event_type" => self.labels()[index]),
            )
            .increment(1);
    }

    /// Creates the source's series at zero, so they exist before traffic.
    pub fn register(&self, source: &'static str) {
        for (index, label) in self.labels().into_iter().enumerate() {
            self.counters[index]
                .get_or_init(|| counter!(EVENT_TYPES, "source" => source, "event_type" => label))
                .increment(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn types(locators: &[&str], patterns: &[&str]) -> EventTypes {
        let locators = locators
            .iter()
            .map(|l| Locator::parse(l, "event_type").expect("locator"))
            .collect();
        EventTypes::new(locators, patterns)
    }

    #[test]
    fn the_first_locator_that_finds_a_type_wins_and_labels_are_bounded() {
        let t = types(
            &["header:X-GitHub-Event", "/detail-type"],
            &[
                "v2.detail.events.conversation.*.customer.end",
                "v2.audits.*",
            ],
        );
        let end = "v2.detail.events.conversation.{id}.customer.end";
        let mut headers = HeaderMap::new();
        let found = t.find(&headers, vec![Some(Value::String(end.into()))]);
        assert_eq!(found.as_deref(), Some(end));
        headers.insert("x-github-event", "push".parse().expect("header"));
        let found = t.find(&headers, vec![Some(Value::String(end.into()))]);
        assert_eq!(found.as_deref(), Some("push"));

        assert_eq!(
            t.label(Some(end)),
            "v2.detail.events.conversation.*.customer.end"
        );
        assert_eq!(
            t.label(Some("v2.audits.entitytype.{id}.entityid.{id}")),
            "v2.audits.*"
        );
        assert_eq!(t.label(Some("v2.users.{id}.presence")), OTHER);
        assert_eq!(t.label(None), NONE);
    }

    #[test]
    fn blank_or_structured_values_are_no_type_and_long_ones_are_cut() {
        let t = types(&["/type"], &[]);
        let none = HeaderMap::new();
        for value in [
            Value::String(" ".into()),
            serde_json::json!({"a": 1}),
            Value::Null,
        ] {
            assert_eq!(t.find(&none, vec![Some(value)]), None);
        }
        let long = "é".repeat(MAX_EVENT_TYPE_LEN);
        let cut = t
            .find(&none, vec![Some(Value::String(long))])
            .expect("type");
        assert!(cut.len() <= MAX_EVENT_TYPE_LEN && cut.chars().all(|c| c == 'é'));
    }
}
