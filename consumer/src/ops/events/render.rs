//! A trace as an operator reads it: one line saying how it ended, then a
//! table of the steps.

use super::read::Wanted;
use super::timeline::{Ending, Timeline};
use crate::ops::{instant, table};

/// The trace of `wanted` as text.
pub fn render(wanted: &Wanted<'_>, timeline: &Timeline) -> String {
    let mut rows = vec![vec![
        "TIME".to_owned(),
        "TOPIC".to_owned(),
        "OFFSET".to_owned(),
        "WHAT".to_owned(),
    ]];
    for step in &timeline.steps {
        rows.push(vec![
            instant(step.at_ms),
            step.topic.clone(),
            format!("{}/{}", step.partition, step.offset),
            step.what.clone(),
        ]);
    }
    format!(
        "event {} of source {}: {}; received {} time(s), delivered {} time(s)\n{}",
        wanted.id,
        wanted.source,
        ending(wanted, &timeline.ending),
        timeline.received,
        timeline.deliveries,
        table(&rows).trim_end()
    )
}

fn ending(wanted: &Wanted<'_>, ending: &Ending) -> String {
    match ending {
        Ending::Delivered {
            at_ms,
            stage,
            attempt,
            member,
        } => format!(
            "delivered at {} from {stage} (attempt {attempt}{})",
            instant(*at_ms),
            member
                .as_deref()
                .map_or(String::new(), |member| format!(", by {member}"))
        ),
        Ending::DeadLettered {
            at_ms,
            reason,
            pointer,
        } => format!(
            "dead-lettered at {} ({reason}{}); re-drive it with `consumer dlt redrive --id {} --execute`",
            instant(*at_ms),
            if *pointer { ", a pointer" } else { "" },
            wanted.id
        ),
        Ending::Waiting { stage, due_at_ms } => match due_at_ms {
            Some(due) => format!("waiting in {stage}, due at {}", instant(*due)),
            None => format!("waiting in {stage}"),
        },
        Ending::Received => "received; the group has not handled it yet (see its lag)".to_owned(),
        Ending::Filtered { destination } => format!(
            "filtered: destination {destination}'s filter does not take it (committed without a delivery; `consumer check` prints the filter)"
        ),
    }
}
