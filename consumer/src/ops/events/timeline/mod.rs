//! One event's journey, from the records found for its id: each step in
//! time order (received, handed to a retry stage, dead-lettered, re-driven,
//! replayed, copied for re-delivery, delivered, received again) and how it
//! ended. Pure: the reader finds the records (`super::read`), this
//! decides what they say.

#[cfg(test)]
mod tests;

use serde::Serialize;
use switchboard_proto::hop::HopState;
use switchboard_proto::DltReason;

use crate::dedupe::Fence;

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

impl Role {
    /// The role's name in a step: `main`, the stage's name, `dlt`, `delivered`.
    fn name(&self) -> &str {
        match self {
            Role::Main => "main",
            Role::Stage(stage) => stage,
            Role::DeadLetter => "dlt",
            Role::Delivered => "delivered",
        }
    }

    /// Records written in the same millisecond keep the pipeline's order.
    fn order(&self) -> u8 {
        match self {
            Role::Main => 0,
            Role::Stage(_) => 1,
            Role::DeadLetter => 2,
            Role::Delivered => 3,
        }
    }
}

/// What a delivery marker says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The stage it was delivered from.
    pub stage: String,
    /// The attempt that succeeded.
    pub attempt: u32,
    /// The group member that delivered it (markers written before members
    /// were recorded have none).
    pub member: Option<String>,
}

/// One record found for the event.
#[derive(Debug, Clone)]
pub struct Found {
    /// Where.
    pub role: Role,
    /// The topic's name.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its timestamp (unix ms): when it was written.
    pub at_ms: i64,
    /// Its hop headers (attempts, due time, error, reason, re-drive).
    pub hop: HopState,
    /// When `events redeliver` asked for this copy, if it is one.
    pub redelivery_at_ms: Option<i64>,
    /// The gateway process that accepted it (records with an envelope).
    pub gateway: Option<String>,
    /// Whether it is a dead-letter *pointer* (no value).
    pub pointer: bool,
    /// What a delivery marker says.
    pub delivered: Option<Delivery>,
}

/// One step of the journey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// When the record was written (unix ms).
    pub at_ms: i64,
    /// What happened: `received`, `duplicate`, `retry`, `redriven`,
    /// `replayed`, `redelivery`, `dead_lettered`, `delivered`.
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
        /// By which member of the group.
        member: Option<String>,
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
        /// The stage (`main` after a re-drive, a replay or a re-delivery).
        stage: String,
        /// When it is due (unix ms), if the stage delays it.
        due_at_ms: Option<i64>,
    },
    /// Received, and nothing since: the group has not handled it yet.
    Received,
    /// Received, and not taken by its destination's filter: committed
    /// without a delivery.
    Filtered {
        /// The destination whose filter does not take it.
        destination: String,
    },
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
    /// How many delivery markers there are (1, or more after a replay or a
    /// re-delivery).
    pub deliveries: usize,
}

/// One thing that happened: a record found, or a replay fence that covers one.
enum Entry<'a> {
    Record(&'a Found),
    Replay(&'a Fence, &'a Found),
}

impl Entry<'_> {
    fn sort_key(&self) -> (i64, u8, i64) {
        match self {
            Entry::Record(f) => (f.at_ms, f.role.order(), f.offset),
            Entry::Replay(fence, _) => (fence.at_ms, 1, fence.from),
        }
    }
}

/// The journey the `found` records and the replay `fences` of their
/// partition tell, or `None` when no record was found. `filtered_by` names
/// the destination whose filter (as configured now) does not take the
/// event: a journey that ends at its receipt ends there.
pub fn timeline(found: &[Found], fences: &[Fence], filtered_by: Option<&str>) -> Option<Timeline> {
    if found.is_empty() {
        return None;
    }
    let mut entries: Vec<Entry<'_>> = found.iter().map(Entry::Record).collect();
    for fence in fences {
        let covered = found.iter().find(|f| {
            f.role != Role::Delivered
                && f.topic == fence.topic
                && (fence.from..fence.to).contains(&f.offset)
        });
        if let Some(f) = covered {
            entries.push(Entry::Replay(fence, f));
        }
    }
    entries.sort_by_key(Entry::sort_key);
    let mut journey = Journey {
        steps: Vec::with_capacity(entries.len()),
        ending: Ending::Received,
        received: 0,
        deliveries: 0,
    };
    for entry in &entries {
        let step = match entry {
            Entry::Record(f) => journey.record(f),
            Entry::Replay(fence, f) => journey.replay(fence, f),
        };
        journey.steps.push(step);
    }
    if let (Ending::Received, Some(destination)) = (&journey.ending, filtered_by) {
        journey.ending = Ending::Filtered {
            destination: destination.to_owned(),
        };
    }
    Some(Timeline {
        steps: journey.steps,
        ending: journey.ending,
        received: journey.received,
        deliveries: journey.deliveries,
    })
}

/// The journey so far, while the entries are read in time order.
struct Journey {
    steps: Vec<Step>,
    ending: Ending,
    received: usize,
    deliveries: usize,
}

impl Journey {
    fn step(f: &Found, kind: &'static str, what: String) -> Step {
        Step {
            at_ms: f.at_ms,
            kind,
            topic: f.role.name().to_owned(),
            partition: f.partition,
            offset: f.offset,
            what,
        }
    }

    fn waiting(&mut self, stage: &str, due_at_ms: Option<i64>) {
        self.ending = Ending::Waiting {
            stage: stage.to_owned(),
            due_at_ms,
        };
    }

    fn record(&mut self, f: &Found) -> Step {
        match &f.role {
            Role::Main | Role::Stage(_) if f.hop.redriven_at_ms.is_some() => {
                self.waiting(
                    f.role.name(),
                    f.hop.due_at_ms.filter(|_| f.role != Role::Main),
                );
                let what = format!("re-driven to {}", f.role.name());
                Self::step(f, "redriven", what)
            }
            Role::Main | Role::Stage(_) if f.redelivery_at_ms.is_some() && f.hop.attempts == 0 => {
                self.waiting(f.role.name(), f.hop.due_at_ms);
                let what = format!(
                    "copied to {} by `events redeliver`, to be delivered once more",
                    f.role.name()
                );
                Self::step(f, "redelivery", what)
            }
            Role::Main => {
                self.received += 1;
                let gateway = f.gateway.as_deref().unwrap_or("an unknown gateway");
                if self.received == 1 {
                    Self::step(f, "received", format!("received by {gateway}"))
                } else {
                    let what = format!("received again by {gateway} (the same id: a sender's retry or a replay); dedupe delivers it once within its window");
                    Self::step(f, "duplicate", what)
                }
            }
            Role::Stage(stage) => {
                self.waiting(stage, f.hop.due_at_ms);
                let due = f.hop.due_at_ms.map_or(String::new(), |ms| {
                    format!(", due at {}", crate::ops::instant(ms))
                });
                let what = format!(
                    "handed to {stage} after attempt {} failed in {}: {}{due}",
                    f.hop.attempts,
                    f.hop.failed_stage.as_deref().unwrap_or("?"),
                    f.hop.last_error.as_deref().unwrap_or("(no error recorded)"),
                );
                Self::step(f, "retry", what)
            }
            Role::DeadLetter => {
                let reason = f.hop.dlt_reason.map_or("unknown", DltReason::code);
                self.ending = Ending::DeadLettered {
                    at_ms: f.at_ms,
                    reason: reason.to_owned(),
                    pointer: f.pointer,
                };
                let pointer = if f.pointer {
                    " as a pointer to its original"
                } else {
                    ""
                };
                let what = format!(
                    "dead-lettered{pointer} ({reason}) after {} attempt(s): {}",
                    f.hop.attempts,
                    f.hop.last_error.as_deref().unwrap_or("(no error recorded)")
                );
                Self::step(f, "dead_lettered", what)
            }
            Role::Delivered => {
                self.deliveries += 1;
                let Delivery {
                    stage,
                    attempt,
                    member,
                } = f.delivered.clone().unwrap_or(Delivery {
                    stage: "?".into(),
                    attempt: 0,
                    member: None,
                });
                let again = if self.deliveries > 1 { " again" } else { "" };
                let by = member
                    .as_deref()
                    .map_or(String::new(), |member| format!(" by {member}"));
                let what = format!("delivered{again} from {stage} at attempt {attempt}{by}");
                self.ending = Ending::Delivered {
                    at_ms: f.at_ms,
                    stage,
                    attempt,
                    member,
                };
                Self::step(f, "delivered", what)
            }
        }
    }

    fn replay(&mut self, fence: &Fence, covered: &Found) -> Step {
        self.waiting(covered.role.name(), None);
        Step {
            at_ms: fence.at_ms,
            kind: "replayed",
            topic: covered.role.name().to_owned(),
            partition: covered.partition,
            offset: covered.offset,
            what: format!(
                "replayed by `offsets reset --redeliver` (offsets {}..{} of {}): to be delivered again",
                fence.from, fence.to, fence.topic
            ),
        }
    }
}
