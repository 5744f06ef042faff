//! Reads the values at a few RFC 6901 JSON pointers while validating the
//! whole body, without building a tree of it ([`Pointers::values_at`]): the gateway needs one value
//! (the event id) out of a body of hundreds of bytes, and building and
//! dropping a `serde_json::Value` of the whole body was ~2.5 % of its CPU.
//!
//! The answers are those of `serde_json::Value::pointer` on the parsed body
//! (tested against it): the same token unescaping, array indices written
//! without leading zeros, and the last of duplicate object keys wins.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// What the pointers found, one entry per pointer (in the order given).
pub type Found = Vec<Option<Value>>;

/// Pointers merged into one tree of paths, built once per source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pointers {
    root: Node,
    count: usize,
}

impl Pointers {
    /// Pointers to look up, in order; text that is not a pointer (empty,
    /// or starting with `/`) finds nothing.
    pub fn new<'a>(pointers: impl IntoIterator<Item = &'a str>) -> Self {
        let mut merged = Self::default();
        for pointer in pointers {
            if let Some(tokens) = tokens(pointer) {
                merged.root.add(&tokens, merged.count);
            }
            merged.count += 1;
        }
        merged
    }

    /// Validates `body` as one JSON document and returns the value at each
    /// pointer (`None` where it finds nothing). Only the values found are
    /// built; everything else is checked and skipped.
    pub fn values_at(&self, body: &[u8]) -> Result<Found, serde_json::Error> {
        let mut found: Found = vec![None; self.count];
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        Seek {
            node: &self.root,
            found: &mut found,
        }
        .deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(found)
    }
}

/// A pointer's reference tokens, unescaped; `None` for text that is not a
/// pointer (it must be empty or start with `/`).
fn tokens(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

/// Where pointers end, and the tokens under which others go on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    /// Pointers (by index) that end here.
    ends: Vec<usize>,
    children: Vec<(String, Node)>,
}

impl Node {
    fn add(&mut self, tokens: &[String], index: usize) {
        let Some((first, rest)) = tokens.split_first() else {
            self.ends.push(index);
            return;
        };
        match self.children.iter_mut().find(|(t, _)| t == first) {
            Some((_, child)) => child.add(rest, index),
            None => {
                let mut child = Node::default();
                child.add(rest, index);
                self.children.push((first.clone(), child));
            }
        }
    }

    fn child(&self, token: &str) -> Option<&Node> {
        self.children
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, n)| n)
    }

    fn element(&self, index: usize) -> Option<&Node> {
        self.children
            .iter()
            .find(|(t, _)| array_index(t) == Some(index))
            .map(|(_, n)| n)
    }

    /// Forgets what this node's pointers found: a member seen again (a
    /// duplicate key) replaces the first, as it does in a parsed tree.
    fn clear(&self, found: &mut Found) {
        for index in &self.ends {
            found[*index] = None;
        }
        for (_, child) in &self.children {
            child.clear(found);
        }
    }

    /// Answers this node's pointers from a value already built.
    fn answer(&self, value: &Value, found: &mut Found) {
        for index in &self.ends {
            found[*index] = Some(value.clone());
        }
        for (token, child) in &self.children {
            let member = match value {
                Value::Object(map) => map.get(token),
                Value::Array(items) => array_index(token).and_then(|i| items.get(i)),
                _ => None,
            };
            match member {
                Some(member) => child.answer(member, found),
                None => child.clear(found),
            }
        }
    }
}

/// An array index as RFC 6901 writes it: digits, no leading zero.
fn array_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

/// Reads one value: builds it when a pointer ends here, descends into the
/// members the pointers name, and skips (validating) everything else.
struct Seek<'a> {
    node: &'a Node,
    found: &'a mut Found,
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.node.clear(self.found);
        if let ([index], true) = (self.node.ends.as_slice(), self.node.children.is_empty()) {
            // The usual case, one pointer ending here: keep the value itself.
            self.found[*index] = Some(Value::deserialize(deserializer)?);
            Ok(())
        } else if !self.node.ends.is_empty() {
            let value = Value::deserialize(deserializer)?;
            self.node.answer(&value, self.found);
            Ok(())
        } else if self.node.children.is_empty() {
            deserializer.deserialize_ignored_any(IgnoredAny).map(|_| ())
        } else {
            deserializer.deserialize_any(self)
        }
    }
}

/// An object member's name, matched against a node's tokens without
/// copying it.
struct MemberName<'a>(&'a Node);

impl<'de, 'a> DeserializeSeed<'de> for MemberName<'a> {
    type Value = Option<&'a Node>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, 'a> Visitor<'de> for MemberName<'a> {
    type Value = Option<&'a Node>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object member name")
    }

    fn visit_str<E>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self.0.child(name))
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(member) = map.next_key_seed(MemberName(self.node))? {
            match member {
                Some(node) => map.next_value_seed(Seek {
                    node,
                    found: self.found,
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for index in 0usize.. {
            let more = match self.node.element(index) {
                Some(node) => seq
                    .next_element_seed(Seek {
                        node,
                        found: self.found,
                    })?
                    .is_some(),
                None => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                break;
            }
        }
        Ok(())
    }

    // Scalars where a pointer wanted to go deeper: it finds nothing.
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tree_answers(body: &[u8], pointers: &[&str]) -> Found {
        let tree: Value = serde_json::from_slice(body).expect("valid");
        pointers.iter().map(|p| tree.pointer(p).cloned()).collect()
    }

    #[test]
    fn finds_what_a_parsed_tree_finds() {
        let body = br#"{"id":"evt-1","detail":{"a/b":[10,{"~x":7}],"n":null},"id2":3.5}"#;
        let pointers = [
            "/id",
            "/detail/a~1b/1/~0x",
            "/detail/a~1b/0",
            "/detail/a~1b/01",
            "/detail/n",
            "/id2",
            "/missing",
            "",
            "id",
            "/detail",
            "/detail/a~1b",
        ];
        assert_eq!(
            Pointers::new(pointers).values_at(body).expect("valid"),
            tree_answers(body, &pointers)
        );
    }

    #[test]
    fn the_last_of_duplicate_keys_wins() {
        let body = br#"{"id":"first","d":{"x":1},"id":"second","d":{"y":2}}"#;
        let pointers = ["/id", "/d/x", "/d/y"];
        assert_eq!(
            Pointers::new(pointers).values_at(body).expect("valid"),
            tree_answers(body, &pointers)
        );
        assert_eq!(
            Pointers::new(["/d/x"]).values_at(body).expect("valid"),
            vec![None]
        );
    }

    #[test]
    fn invalid_json_is_refused_anywhere_in_the_body() {
        for body in [
            &br#"{"id":"x","rest":[1,2,}"#[..],
            br#"{"id":"x"} trailing"#,
            br#"{"id":"x""#,
            b"",
        ] {
            let ours = Pointers::new(["/id"]).values_at(body).expect_err("invalid");
            let tree = serde_json::from_slice::<Value>(body).expect_err("invalid");
            assert_eq!(
                (ours.classify(), ours.line(), ours.column()),
                (tree.classify(), tree.line(), tree.column())
            );
        }
    }

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[a-z0-9~/]{0,4}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-z0-9~/]{0,3}", inner), 0..4)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    /// The pointer of every value in `value`, escaped.
    fn every_path(value: &Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        match value {
            Value::Object(map) => {
                for (key, member) in map {
                    let token = key.replace('~', "~0").replace('/', "~1");
                    every_path(member, format!("{at}/{token}"), out);
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    every_path(item, format!("{at}/{index}"), out);
                }
            }
            _ => {}
        }
    }

    proptest! {
        #[test]
        fn any_document_and_pointer_agree_with_the_tree(
            doc in json(),
            pointers in prop::collection::vec("(/([a-z0-9]|~0|~1|0[0-9]){0,2}){0,3}", 1..4),
        ) {
            let body = serde_json::to_vec(&doc).expect("valid");
            let pointers: Vec<&str> = pointers.iter().map(String::as_str).collect();
            prop_assert_eq!(
                Pointers::new(pointers.iter().copied()).values_at(&body).expect("valid"),
                tree_answers(&body, &pointers)
            );
        }

        #[test]
        fn every_path_of_a_document_is_found(doc in json()) {
            let mut paths = Vec::new();
            every_path(&doc, String::new(), &mut paths);
            let body = serde_json::to_vec(&doc).expect("json");
            let found = Pointers::new(paths.iter().map(String::as_str))
                .values_at(&body)
                .expect("valid");
            let pointers: Vec<&str> = paths.iter().map(String::as_str).collect();
            prop_assert!(found.iter().all(Option::is_some));
            prop_assert_eq!(found, tree_answers(&body, &pointers));
        }

        #[test]
        fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..64)) {
            let ours = Pointers::new(["/id", "/a/0"]).values_at(&body);
            prop_assert_eq!(ours.is_ok(), serde_json::from_slice::<Value>(&body).is_ok());
        }
    }
}
