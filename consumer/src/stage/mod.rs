//! The retry ladder: the main topic, then each retry stage with its one fixed
//! delay, then the dead-letter topic. Because every record in a stage's topic
//! waited the same delay, the head of each partition is always the next
//! record due.

use std::time::Duration;

use switchboard_proto::hop::HopState;
use switchboard_proto::topics::{validate_name, RETRY_10M, RETRY_1M};
use switchboard_proto::GroupTopics;
use switchboard_runtime::time::millis;

/// Index of a stage: 0 is the main topic, 1.. are the retry stages in order.
pub type StageIndex = usize;

/// Label of the main stage in metrics and headers.
pub const MAIN_STAGE: &str = "main";

/// One retry stage: its name (part of its topic name) and its delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryStage {
    /// Topic suffix, for example `retry-1m`.
    pub name: String,
    /// How long a record waits in this stage before it is handled.
    pub delay: Duration,
}

/// When a retry record becomes due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// Set when the record's own due time could not be used as written.
    pub corrected: Option<DueCorrection>,
}

/// Why a record's due time was not used as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueCorrection {
    /// Further ahead than the stage's delay allows: clamped to it.
    Clamped,
    /// Not a number: due at once.
    Unreadable,
}

/// The stages a consumer group reads, and where a failure goes next.
#[derive(Debug, Clone)]
pub struct Ladder {
    topics: GroupTopics,
    retries: Vec<RetryStage>,
    stage_topics: Vec<String>,
    labels: Vec<&'static str>,
    dlt: String,
    delivered: String,
}

/// A `RETRY_STAGES` value that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StageSpecError {
    /// Not `name=delay`.
    #[error("retry stage {0:?} is not name=delay (for example retry-1m=60s)")]
    Shape(String),
    /// The delay is not a duration.
    #[error("retry stage {name:?}: delay {delay:?} is not a duration (examples: 500ms, 60s, 10m)")]
    Delay {
        /// The stage.
        name: String,
        /// The text given.
        delay: String,
    },
    /// The name cannot be part of a topic name, or repeats.
    #[error("retry stage name {0:?} is not usable: {1}")]
    Name(String, String),
}

/// The default ladder: `retry-1m` (60 s) then `retry-10m` (10 min).
pub fn default_retry_stages() -> Vec<RetryStage> {
    vec![
        RetryStage {
            name: RETRY_1M.to_owned(),
            delay: Duration::from_secs(60),
        },
        RetryStage {
            name: RETRY_10M.to_owned(),
            delay: Duration::from_secs(600),
        },
    ]
}

/// Parses `retry-1m=60s,retry-10m=10m` (an empty text means no retry stages).
pub fn parse_retry_stages(spec: &str) -> Result<Vec<RetryStage>, StageSpecError> {
    let mut stages: Vec<RetryStage> = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, delay) = part
            .split_once('=')
            .ok_or_else(|| StageSpecError::Shape(part.to_owned()))?;
        let (name, delay) = (name.trim(), delay.trim());
        validate_name("retry stage", name)
            .map_err(|e| StageSpecError::Name(name.to_owned(), e.to_string()))?;
        if name == MAIN_STAGE || stages.iter().any(|s| s.name == name) {
            return Err(StageSpecError::Name(
                name.to_owned(),
                "names must be unique and not \"main\"".into(),
            ));
        }
        let delay = humantime::parse_duration(delay).map_err(|_| StageSpecError::Delay {
            name: name.to_owned(),
            delay: delay.to_owned(),
        })?;
        stages.push(RetryStage {
            name: name.to_owned(),
            delay,
        });
    }
    Ok(stages)
}

impl Ladder {
    /// A ladder over `topics` with `retries` in order.
    pub fn new(topics: GroupTopics, retries: Vec<RetryStage>) -> Self {
        let mut stage_topics = vec![topics.main().to_owned()];
        stage_topics.extend(retries.iter().map(|r| topics.retry(&r.name)));
        let mut labels = vec![MAIN_STAGE];
        labels.extend(retries.iter().map(|r| intern(&r.name)));
        Self {
            dlt: topics.dlt(),
            delivered: topics.delivered(),
            topics,
            retries,
            stage_topics,
            labels,
        }
    }

    /// The group's dead-letter topic (named once, not per record).
    pub fn dlt_topic(&self) -> &str {
        &self.dlt
    }

    /// The group's delivered-marker topic (named once, not per record).
    pub fn delivered_topic(&self) -> &str {
        &self.delivered
    }

    /// Topic names of the group.
    pub fn topics(&self) -> &GroupTopics {
        &self.topics
    }

    /// The retry stages in order.
    pub fn retries(&self) -> &[RetryStage] {
        &self.retries
    }

    /// Every topic of the group: main, the retry stages, the DLT, the marker
    /// log (the order plans and reports list them in).
    pub fn all_topics(&self) -> Vec<String> {
        let mut all = vec![self.stage_topics[0].clone()];
        all.extend(self.topics_beside_main());
        all
    }

    /// Every topic but the main one: what the group itself adds.
    pub fn topics_beside_main(&self) -> Vec<String> {
        let mut beside = self.stage_topics[1..].to_vec();
        beside.extend([self.dlt.clone(), self.delivered.clone()]);
        beside
    }

    /// The topics that carry whole records (every one but the marker log,
    /// which holds small markers only).
    pub fn topics_carrying_records(&self) -> Vec<String> {
        let mut carrying = self.stage_topics.clone();
        carrying.push(self.dlt.clone());
        carrying
    }

    /// Every topic the group consumes: main first, then the retry stages.
    pub fn consumed_topics(&self) -> &[String] {
        &self.stage_topics
    }

    /// Number of stages including main.
    pub fn len(&self) -> usize {
        self.stage_topics.len()
    }

    /// Always false: the main stage exists.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The topic of `stage`.
    pub fn topic(&self, stage: StageIndex) -> &str {
        &self.stage_topics[stage]
    }

    /// The stage reading `topic`, if it is one of ours.
    pub fn stage_of_topic(&self, topic: &str) -> Option<StageIndex> {
        self.stage_topics.iter().position(|t| t == topic)
    }

    /// The label of `stage`: `main` or the retry stage's name.
    pub fn name(&self, stage: StageIndex) -> &str {
        match stage {
            0 => MAIN_STAGE,
            n => &self.retries[n - 1].name,
        }
    }

    /// How long records wait in `stage` (zero for main).
    pub fn delay(&self, stage: StageIndex) -> Duration {
        match stage {
            0 => Duration::ZERO,
            n => self.retries[n - 1].delay,
        }
    }

    /// When a record read from `stage` may be handled: `None` on the main
    /// stage (at once). On a retry stage, its `sb-due-at` header, but never
    /// later than its timestamp plus the stage's delay (a due time further
    /// ahead is clamped); without the header, timestamp plus delay; with an
    /// unreadable header, at once.
    pub fn due_at(
        &self,
        stage: StageIndex,
        record_timestamp_ms: i64,
        hop: &HopState,
    ) -> Option<Due> {
        if stage == 0 {
            return None;
        }
        let latest = record_timestamp_ms.saturating_add(millis(self.delay(stage)));
        Some(match hop.due_at_ms {
            _ if hop.due_at_unreadable => Due {
                at_ms: record_timestamp_ms,
                corrected: Some(DueCorrection::Unreadable),
            },
            Some(at_ms) if at_ms > latest => Due {
                at_ms: latest,
                corrected: Some(DueCorrection::Clamped),
            },
            Some(at_ms) => Due {
                at_ms,
                corrected: None,
            },
            None => Due {
                at_ms: latest,
                corrected: None,
            },
        })
    }

    /// Where a retryable failure in `stage` goes: the next retry stage, or
    /// `None` when the ladder is exhausted (the dead-letter topic).
    pub fn next(&self, stage: StageIndex) -> Option<StageIndex> {
        (stage + 1 < self.len()).then_some(stage + 1)
    }

    /// The stage label for metrics (bounded: one per configured stage).
    pub fn static_name(&self, stage: StageIndex) -> &'static str {
        self.labels[stage]
    }
}

/// Interns a stage name once for the process lifetime, so metric labels need
/// no allocation per event. Stage names are configuration: a handful.
fn intern(name: &str) -> &'static str {
    static NAMES: std::sync::OnceLock<std::sync::Mutex<Vec<&'static str>>> =
        std::sync::OnceLock::new();
    let names = NAMES.get_or_init(Default::default);
    let mut names = switchboard_runtime::lock::lock(names);
    if let Some(found) = names.iter().find(|n| **n == name) {
        return found;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.push(leaked);
    leaked
}

#[cfg(test)]
mod tests;
