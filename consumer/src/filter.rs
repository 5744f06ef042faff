//! A destination's filter: which events it takes. An event its filter does
//! not take is committed without a delivery and counted
//! (`outcome="filtered"`): never retried, never dead-lettered, never a
//! breaker failure.
//!
//! - `types`: glob patterns on the event type (`*` any run of characters,
//!   `?` one), such as `v2.detail.events.conversation.*.customer.end`. The
//!   type is read from the record's `sb-event-type` header, so an event
//!   filtered by type costs a header match, not a body decode.
//! - `where`: conditions on the JSON body by pointer, all of which must
//!   hold: `equals` a value, `in` a list, `exists` true or false. Only these
//!   decode the body.
//!
//! An event without a type is not taken by a filter that lists types.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use switchboard_proto::{headers as h, Envelope};
use wildmatch::WildMatch;

use crate::record::ConsumedRecord;

/// A `filter` table as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSettings {
    /// Event type patterns; empty takes every type.
    #[serde(default)]
    pub types: Vec<String>,
    /// Conditions on the body, all of which must hold.
    #[serde(default, rename = "where")]
    pub conditions: Vec<ConditionSettings>,
}

/// One `where` condition as written: a pointer and exactly one test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSettings {
    /// RFC 6901 pointer into the body.
    pub pointer: String,
    /// The value there equals this.
    pub equals: Option<Value>,
    /// The value there is one of these.
    #[serde(rename = "in")]
    pub one_of: Option<Vec<Value>>,
    /// Something is (true) or is not (false) there.
    pub exists: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    Equals(Value),
    In(Vec<Value>),
    Exists(bool),
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    pointer: String,
    test: Test,
}

/// What a filter says from the event type alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Taken.
    Takes,
    /// Not taken.
    Skips,
    /// The type passes; the body conditions decide.
    NeedsBody,
}

/// A validated filter.
#[derive(Debug, Clone)]
pub struct Filter {
    types: Vec<(String, WildMatch)>,
    conditions: Vec<Condition>,
}

impl Filter {
    /// Validates `settings` of `setting` (for the error); `None` when it
    /// filters nothing.
    pub fn new(setting: &str, settings: &FilterSettings) -> Result<Option<Self>, String> {
        let mut types = Vec::new();
        for pattern in &settings.types {
            if pattern.trim().is_empty() || pattern.trim() != pattern || pattern.len() > 256 {
                return Err(format!(
                    "{setting}.filter: type pattern {pattern:?} can never match an event type (types are 1 to 256 bytes without leading or trailing spaces)"
                ));
            }
            types.push((pattern.clone(), WildMatch::new(pattern)));
        }
        let mut conditions = Vec::new();
        for given in &settings.conditions {
            if !(given.pointer.is_empty() || given.pointer.starts_with('/')) {
                return Err(format!(
                    "{setting}.filter: pointer {:?} is not a JSON pointer (\"/detail/eventBody/mediaType\")",
                    given.pointer
                ));
            }
            let test = match (&given.equals, &given.one_of, given.exists) {
                (Some(value), None, None) => Test::Equals(value.clone()),
                (None, Some(values), None) => Test::In(values.clone()),
                (None, None, Some(exists)) => Test::Exists(exists),
                _ => {
                    return Err(format!(
                        "{setting}.filter: the condition on {:?} needs exactly one of equals, in, exists",
                        given.pointer
                    ))
                }
            };
            conditions.push(Condition {
                pointer: given.pointer.clone(),
                test,
            });
        }
        Ok((!types.is_empty() || !conditions.is_empty()).then_some(Self { types, conditions }))
    }

    /// What the event type decides.
    pub fn by_type(&self, event_type: Option<&str>) -> Verdict {
        if !self.types.is_empty() {
            let matched =
                event_type.is_some_and(|t| self.types.iter().any(|(_, glob)| glob.matches(t)));
            if !matched {
                return Verdict::Skips;
            }
        }
        if self.conditions.is_empty() {
            Verdict::Takes
        } else {
            Verdict::NeedsBody
        }
    }

    /// Whether every body condition holds for `body` (a body that is not
    /// JSON has nothing at any pointer).
    pub fn by_body(&self, body: &[u8]) -> bool {
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        self.conditions.iter().all(|c| {
            let found = json.pointer(&c.pointer).filter(|_| !json.is_null());
            match &c.test {
                Test::Equals(value) => found == Some(value),
                Test::In(values) => found.is_some_and(|v| values.contains(v)),
                Test::Exists(exists) => found.is_some() == *exists,
            }
        })
    }

    /// Whether it takes `event` (its type, then its body).
    pub fn takes(&self, event: &Envelope) -> bool {
        let event_type = (!event.event_type.is_empty()).then_some(event.event_type.as_str());
        match self.by_type(event_type) {
            Verdict::Takes => true,
            Verdict::Skips => false,
            Verdict::NeedsBody => self.by_body(&event.body),
        }
    }

    /// One line for `consumer check`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.types.is_empty() {
            let types: Vec<&str> = self.types.iter().map(|(p, _)| p.as_str()).collect();
            parts.push(format!("types {}", types.join(" | ")));
        }
        for c in &self.conditions {
            parts.push(match &c.test {
                Test::Equals(v) => format!("{} = {v}", c.pointer),
                Test::In(vs) => format!("{} in {}", c.pointer, Value::Array(vs.clone())),
                Test::Exists(true) => format!("{} exists", c.pointer),
                Test::Exists(false) => format!("{} absent", c.pointer),
            });
        }
        parts.join(", ")
    }
}

/// The filters of a group's destinations, by the source they serve.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// The default destination's.
    pub default: Option<Arc<Filter>>,
    /// Each source with a destination of its own: its filter (or none).
    pub sources: BTreeMap<String, Option<Arc<Filter>>>,
}

/// The destination whose filter skipped an event (a source name, or
/// `default`).
pub type SkippedBy<'a> = &'a str;

impl Filters {
    /// Whether no destination filters.
    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.sources.values().all(Option::is_none)
    }

    /// The destination serving `source` and its filter.
    pub fn of<'s>(&'s self, source: &str) -> (&'s str, Option<&'s Filter>) {
        match self.sources.get_key_value(source) {
            Some((name, filter)) => (name.as_str(), filter.as_deref()),
            None => (crate::metrics::DEFAULT_DESTINATION, self.default.as_deref()),
        }
    }

    /// The destination that skips `record` by its headers alone (source and
    /// type), if one does; `None` when it is taken or the body decides.
    pub fn skips_by_headers(&self, record: &ConsumedRecord) -> Option<SkippedBy<'_>> {
        if self.is_empty() {
            return None;
        }
        let source = record.header(h::SOURCE)?;
        let event_type = record.header(h::EVENT_TYPE)?;
        let (name, filter) = self.of(source);
        (filter?.by_type(Some(event_type)) == Verdict::Skips).then_some(name)
    }

    /// The destination that skips `event`, if one does.
    pub fn skips(&self, event: &Envelope) -> Option<SkippedBy<'_>> {
        let (name, filter) = self.of(&event.source);
        (!filter?.takes(event)).then_some(name)
    }
}

#[cfg(test)]
mod tests;
