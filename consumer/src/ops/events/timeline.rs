//! One event's journey, from the records found for its id: each step in
//! time order (received, handed to a retry stage, dead-lettered, re-driven,
//! delivered, received again) and how it ended. Pure: the reader finds the
//! records ([`super::read`]), this decides what they say.

use serde::Serialize;
use switchboard_proto::hop::HopState;
use switchboard_proto::DltReason;

/// Which of the group's topics a record was found in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The main topic (the gateway's).
    Main,
    /// A retry stage, by name (`retry-1m`).
    Stage(String),
    /// The dead-letter topic.
    DeadLetter,
    /// The delivered-marker log.
    Delivered,
}

/// One record found for the event.
#[derive(Debug, Clone)]
pub struct Found {
    /// Where.
    pub role: Role,
    /// Its partition and offset.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its timestamp (unix ms): when it was written.
    pub at_ms: i64,
    /// Its hop headers (attempts, due time, error, reason, re-drive).
    pub hop: HopState,
    /// The gateway process that accepted it (records with an envelope).
    pub gateway: Option<String>,
    /// Whether it is a dead-letter *pointer* (no value).
    pub pointer: bool,
    /// A delivery marker's stage and attempt.
    pub delivered: Option<(String, u32)>,
}

/// One step of the journey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// When the record was written (unix ms).
    pub at_ms: i64,
    /// What happened: `received`, `duplicate`, `retry`, `redriven`,
    /// `dead_lettered`, `delivered`.
    pub kind: &'static str,
    /// The topic's role: `main`, the stage name, `dlt`, `delivered`.
    pub topic: String,
    /// Partition of the record.
    pub partition: i32,
    /// Offset of the record.
    pub offset: i64,
    /// The step in words.
    pub what: String,
}

/// How the journey ended, as far as the records show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Ending {
    /// Delivered (a marker says so).
    Delivered {
        /// When.
        at_ms: i64,
        /// From which stage.
        stage: String,
        /// At which attempt.
        attempt: u32,
    },
    /// In the dead-letter topic.
    DeadLettered {
        /// When.
        at_ms: i64,
        /// The reason code.
        reason: String,
        /// Whether only a pointer could be written.
        pointer: bool,
    },
    /// Waiting in a stage for its due time (or for the group to reach it).
    Waiting {
        /// The stage (`main` after a re-drive to it).
        stage: String,
        /// When it is due (unix ms), if the stage delays it.
        due_at_ms: Option<i64>,
    },
    /// Received, and nothing since: the group has not handled it yet.
    Received,
}

/// The whole answer: the steps in time order, the ending, and the counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timeline {
    /// Every step, oldest first.
    pub steps: Vec<Step>,
    /// How it ended.
    pub ending: Ending,
    /// How many times the gateway accepted the id (1 + duplicates).
    pub received: usize,
    /// How many delivery markers there are (1, or more after a re-delivery).
    pub deliveries: usize,
}

/// The journey the `found` records tell, or `None` when there are none.
pub fn timeline(mut found: Vec<Found>) -> Option<Timeline> {
    if found.is_empty() {
        return None;
    }
    found.sort_by_key(|f| (f.at_ms, order(&f.role), f.offset));
    let mut received = 0;
    let mut deliveries = 0;
    let mut ending = Ending::Received;
    let mut steps = Vec::with_capacity(found.len());
    for f in &found {
        let (kind, topic, what) = match &f.role {
            Role::Main if f.hop.redriven_at_ms.is_some() => {
                ending = Ending::Waiting {
                    stage: "main".into(),
                    due_at_ms: None,
                };
                (
                    "redriven",
                    "main".to_owned(),
                    "re-driven to the main topic".to_owned(),
                )
            }
            Role::Main => {
                received += 1;
                let gateway = f.gateway.as_deref().unwrap_or("an unknown gateway");
                if received == 1 {
                    (
                        "received",
                        "main".to_owned(),
                        format!("received by {gateway}"),
                    )
                } else {
                    (
                        "duplicate",
                        "main".to_owned(),
                        format!("received again by {gateway} (the same id: a sender's retry or a replay); dedupe delivers it once within its window"),
                    )
                }
            }
            Role::Stage(stage) => {
                ending = Ending::Waiting {
                    stage: stage.clone(),
                    due_at_ms: f.hop.due_at_ms,
                };
                if f.hop.redriven_at_ms.is_some() {
                    ("redriven", stage.clone(), format!("re-driven to {stage}"))
                } else {
                    let due = f.hop.due_at_ms.map_or(String::new(), |ms| {
                        format!(", due at {}", super::instant(ms))
                    });
                    (
                        "retry",
                        stage.clone(),
                        format!(
                            "handed to {stage} after attempt {} failed in {}: {}{due}",
                            f.hop.attempts,
                            f.hop.failed_stage.as_deref().unwrap_or("?"),
                            f.hop.last_error.as_deref().unwrap_or("(no error recorded)"),
                        ),
                    )
                }
            }
            Role::DeadLetter => {
                let reason = f
                    .hop
                    .dlt_reason
                    .map_or("unknown", DltReason::code)
                    .to_owned();
                ending = Ending::DeadLettered {
                    at_ms: f.at_ms,
                    reason: reason.clone(),
                    pointer: f.pointer,
                };
                let pointer = if f.pointer {
                    " as a pointer to its original"
                } else {
                    ""
                };
                (
                    "dead_lettered",
                    "dlt".to_owned(),
                    format!(
                        "dead-lettered{pointer} ({reason}) after {} attempt(s): {}",
                        f.hop.attempts,
                        f.hop.last_error.as_deref().unwrap_or("(no error recorded)")
                    ),
                )
            }
            Role::Delivered => {
                deliveries += 1;
                let (stage, attempt) = f.delivered.clone().unwrap_or_else(|| ("?".into(), 0));
                ending = Ending::Delivered {
                    at_ms: f.at_ms,
                    stage: stage.clone(),
                    attempt,
                };
                let again = if deliveries > 1 { " again" } else { "" };
                (
                    "delivered",
                    "delivered".to_owned(),
                    format!("delivered{again} from {stage} at attempt {attempt}"),
                )
            }
        };
        steps.push(Step {
            at_ms: f.at_ms,
            kind,
            topic,
            partition: f.partition,
            offset: f.offset,
            what,
        });
    }
    Some(Timeline {
        steps,
        ending,
        received,
        deliveries,
    })
}

/// Records written in the same millisecond keep the pipeline's order.
fn order(role: &Role) -> u8 {
    match role {
        Role::Main => 0,
        Role::Stage(_) => 1,
        Role::DeadLetter => 2,
        Role::Delivered => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(role: Role, at_ms: i64) -> Found {
        Found {
            role,
            partition: 0,
            offset: at_ms,
            at_ms,
            hop: HopState::default(),
            gateway: Some("gw-1".into()),
            pointer: false,
            delivered: None,
        }
    }

    fn delivered(at_ms: i64, stage: &str, attempt: u32) -> Found {
        Found {
            delivered: Some((stage.into(), attempt)),
            ..found(Role::Delivered, at_ms)
        }
    }

    #[test]
    fn each_path_ends_where_its_last_record_says() {
        assert_eq!(timeline(Vec::new()), None);
        let received = timeline(vec![found(Role::Main, 1)]).expect("found");
        assert_eq!(received.ending, Ending::Received);

        let mut retry = found(Role::Stage("retry-1m".into()), 2);
        retry.hop.attempts = 1;
        retry.hop.due_at_ms = Some(60_002);
        retry.hop.failed_stage = Some("main".into());
        retry.hop.last_error = Some("HTTP 500".into());
        let waiting = timeline(vec![found(Role::Main, 1), retry.clone()]).expect("found");
        assert_eq!(
            waiting.ending,
            Ending::Waiting {
                stage: "retry-1m".into(),
                due_at_ms: Some(60_002)
            }
        );
        assert!(
            waiting.steps[1].what.contains("HTTP 500"),
            "{:?}",
            waiting.steps
        );

        let later = timeline(vec![
            delivered(70_000, "retry-1m", 2),
            retry.clone(),
            found(Role::Main, 1),
        ])
        .expect("found");
        assert_eq!(
            later.steps.iter().map(|s| s.kind).collect::<Vec<_>>(),
            ["received", "retry", "delivered"]
        );
        assert!(matches!(later.ending, Ending::Delivered { attempt: 2, .. }));

        let mut dead = found(Role::DeadLetter, 3);
        dead.hop.dlt_reason = Some(DltReason::Rejected);
        let dlt = timeline(vec![found(Role::Main, 1), dead]).expect("found");
        assert!(
            matches!(dlt.ending, Ending::DeadLettered { ref reason, .. } if reason == "rejected"),
            "{dlt:?}"
        );
    }

    #[test]
    fn a_duplicate_after_delivery_keeps_it_delivered_and_a_redrive_reopens_it() {
        let dup = timeline(vec![
            found(Role::Main, 1),
            delivered(2, "main", 1),
            found(Role::Main, 3),
        ])
        .expect("found");
        assert_eq!(dup.received, 2);
        assert_eq!(dup.steps[2].kind, "duplicate");
        assert!(matches!(dup.ending, Ending::Delivered { .. }));

        let mut redriven = found(Role::Stage("retry-1m".into()), 5);
        redriven.hop.redriven_at_ms = Some(5);
        let again = timeline(vec![
            found(Role::Main, 1),
            found(Role::DeadLetter, 2),
            redriven,
        ])
        .expect("found");
        assert_eq!(again.steps[2].kind, "redriven");
        assert!(matches!(again.ending, Ending::Waiting { ref stage, .. } if stage == "retry-1m"));
    }
}
