//! Where a value is in a request: a header or a JSON pointer into the body.
//! A source finds its event id and its event type this way, each with an
//! ordered list of locators.

use http::HeaderMap;
use serde_json::Value;

use crate::json_pointer::{Found, Pointers};

/// One place a value may be found, tried in configured order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locator {
    /// A request header (written `header:Name` in the configuration).
    Header(http::HeaderName),
    /// An RFC 6901 JSON pointer into the body, such as `/id`.
    Pointer(String),
}

impl Locator {
    /// Parses `spec` (`header:Name` or a JSON pointer), an entry of the
    /// setting `setting` (for the error).
    pub fn parse(spec: &str, setting: &str) -> Result<Self, String> {
        if let Some(header) = spec.strip_prefix("header:") {
            let name = http::HeaderName::from_bytes(header.trim().as_bytes())
                .map_err(|_| format!("{setting} entry {spec:?} names an invalid header"))?;
            Ok(Locator::Header(name))
        } else if spec.starts_with('/') {
            Ok(Locator::Pointer(spec.to_owned()))
        } else {
            Err(format!(
                "{setting} entry {spec:?} is neither a JSON pointer (\"/id\") nor a header (\"header:X-Event-Id\")"
            ))
        }
    }
}

/// The pointer locators among `locators`, in order, merged for one pass
/// over the body.
pub fn pointers_of<'a>(locators: impl IntoIterator<Item = &'a Locator>) -> Pointers {
    Pointers::new(locators.into_iter().filter_map(|l| match l {
        Locator::Pointer(pointer) => Some(pointer.as_str()),
        Locator::Header(_) => None,
    }))
}

/// The first value `locators` find, trimmed and not empty, with the
/// locator that found it: a header's text, or a string or number at a
/// pointer (`pointed` holds what the body's pointer locators found, in
/// order; the value is taken out of it, not copied). Objects, arrays,
/// booleans and null are no value.
pub fn first<'a>(
    locators: &'a [Locator],
    headers: &HeaderMap,
    pointed: Found,
) -> Option<(String, &'a Locator)> {
    let mut pointed = pointed.into_iter();
    locators.iter().find_map(|locator| {
        let found = match locator {
            Locator::Header(name) => headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
            Locator::Pointer(_) => pointed.next().flatten().and_then(scalar),
        };
        found.map(|value| (value, locator))
    })
}

/// A string (trimmed, not empty) or a number, as text.
fn scalar(value: Value) -> Option<String> {
    match value {
        Value::String(s) => match s.trim() {
            "" => None,
            trimmed if trimmed.len() == s.len() => Some(s),
            trimmed => Some(trimmed.to_owned()),
        },
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
