//! Where a value is in a request: a header or a JSON pointer into the body.
//! A source finds its event id and its event type this way, each with an
//! ordered list of locators.

use crate::json_pointer::Pointers;

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
