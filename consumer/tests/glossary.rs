//! The glossary (the crate's docs) names each thing once; the old names of
//! things that were renamed must not come back.

use std::path::Path;

/// An old name, as it would be written again, and what the thing is called now.
const FORBIDDEN: &[(&str, &str)] = &[
    ("struct Downstream", "a destination is `Destination`"),
    ("Downstream::", "a destination is `Destination`"),
    ("struct Place", "room for one delivery is a slot: `Slot`"),
    ("Place<", "room for one delivery is a slot: `Slot`"),
    (
        "enum Destination",
        "where a hop goes is `HopTo`; a `Destination` is where events are delivered",
    ),
    ("Destination::Retry", "where a hop goes is `HopTo`"),
    ("Destination::DeadLetter", "where a hop goes is `HopTo`"),
    (
        "GroupTopicNames",
        "a group's topics are the `Ladder`'s (built on `GroupTopics`)",
    ),
    (
        "struct Outgoing",
        "what a destination's requests carry is its `Credentials`",
    ),
    (
        "HttpDelivery",
        "the destinations by source are `Destinations`",
    ),
    (
        "DownstreamSettings",
        "`[destination]` is `DestinationTable`",
    ),
    ("require_downstream", "`require_destination`"),
    (
        "Verdict::Held",
        "an open breaker makes events wait: `Decision::Wait`; a hold is a `Retry-After`",
    ),
    (
        "struct Held",
        "a partition whose hand-off is refused is `Stuck`",
    ),
    ("LoopEvent", "what the poll loop is told is a `Notice`"),
    (
        "completion_tx",
        "the loop's channel is `notices` / `notices_tx`",
    ),
    (
        "completions",
        "the loop's channel is `notices` / `notices_tx`",
    ),
    (
        "struct Completion",
        "what a finished task tells the loop is a `Report`",
    ),
];

fn sources(dir: &Path, found: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("source dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("source");
            found.push((path.display().to_string(), text));
        }
    }
}

/// Whether `text` holds `old` not followed by more of an identifier
/// (`struct Downstream` is not `struct DownstreamSettings`).
fn holds(text: &str, old: &str) -> bool {
    text.match_indices(old).any(|(at, _)| {
        !text[at + old.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

#[test]
fn old_names_do_not_come_back() {
    assert!(holds("pub struct Place<'a>", "struct Place"));
    assert!(!holds("struct DownstreamSettings {", "struct Downstream"));
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 40, "read the crate's sources");
    let mut found = Vec::new();
    for (path, text) in &files {
        for (old, now) in FORBIDDEN {
            if holds(text, old) {
                found.push(format!("{path}: `{old}`: {now}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "old names are back:\n{}",
        found.join("\n")
    );
}
