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
mod tests {
    use super::*;

    fn ladder(spec: &str) -> Ladder {
        Ladder::new(
            GroupTopics::new("webhooks", "crm").expect("valid"),
            parse_retry_stages(spec).expect("valid"),
        )
    }

    #[test]
    fn stages_parse_with_their_delays() {
        let stages = parse_retry_stages("retry-1m=1s, retry-10m=2s").expect("valid");
        assert_eq!(stages.len(), 2);
        assert_eq!(stages[0].name, "retry-1m");
        assert_eq!(stages[0].delay, Duration::from_secs(1));
        assert_eq!(stages[1].delay, Duration::from_secs(2));
        assert_eq!(
            parse_retry_stages("retry-1m=500ms").expect("valid")[0].delay,
            Duration::from_millis(500)
        );
    }

    #[test]
    fn bad_stage_specs_are_refused() {
        assert!(matches!(
            parse_retry_stages("retry-1m"),
            Err(StageSpecError::Shape(_))
        ));
        assert!(matches!(
            parse_retry_stages("retry-1m=soon"),
            Err(StageSpecError::Delay { .. })
        ));
        assert!(matches!(
            parse_retry_stages("a=1s,a=2s"),
            Err(StageSpecError::Name(..))
        ));
        assert!(matches!(
            parse_retry_stages("re try=1s"),
            Err(StageSpecError::Name(..))
        ));
    }

    #[test]
    fn a_failure_climbs_the_ladder_then_falls_off() {
        let ladder = ladder("retry-1m=1s,retry-10m=2s");
        assert_eq!(ladder.len(), 3);
        assert_eq!(ladder.next(0), Some(1));
        assert_eq!(ladder.next(1), Some(2));
        assert_eq!(ladder.next(2), None);
        assert_eq!(ladder.topic(1), "webhooks.crm.retry-1m");
        assert_eq!(ladder.stage_of_topic("webhooks.crm.retry-10m"), Some(2));
        assert_eq!(ladder.name(0), "main");
        assert_eq!(ladder.static_name(2), "retry-10m");
        assert_eq!(ladder.delay(2), Duration::from_secs(2));
    }

    #[test]
    fn retry_records_are_due_by_header_or_by_timestamp_plus_delay() {
        let ladder = ladder("retry-1m=1s,retry-10m=2s");
        let header = |at: Option<i64>| HopState {
            due_at_ms: at,
            ..HopState::default()
        };
        let at = |stage, ts, hop: &HopState| ladder.due_at(stage, ts, hop).map(|d| d.at_ms);
        assert_eq!(
            at(0, 5_000, &header(Some(5_500))),
            None,
            "main is never held"
        );
        assert_eq!(at(1, 5_000, &header(Some(5_500))), Some(5_500));
        assert_eq!(at(1, 5_000, &header(None)), Some(6_000));
        assert_eq!(at(2, 5_000, &header(None)), Some(7_000));
        assert_eq!(
            at(2, i64::MAX, &header(None)),
            Some(i64::MAX),
            "no overflow"
        );
    }

    #[test]
    fn a_due_time_beyond_the_stage_delay_is_clamped_and_an_unreadable_one_is_due_now() {
        let ladder = ladder("retry-1m=1s,retry-10m=2s");
        let far = HopState {
            due_at_ms: Some(5_000 + 86_400_000),
            ..HopState::default()
        };
        assert_eq!(
            ladder.due_at(1, 5_000, &far),
            Some(Due {
                at_ms: 6_000,
                corrected: Some(DueCorrection::Clamped)
            })
        );
        let unreadable = HopState {
            due_at_unreadable: true,
            ..HopState::default()
        };
        assert_eq!(
            ladder.due_at(1, 5_000, &unreadable),
            Some(Due {
                at_ms: 5_000,
                corrected: Some(DueCorrection::Unreadable)
            })
        );
    }

    #[test]
    fn without_retry_stages_a_failure_goes_straight_to_the_dlt() {
        let ladder = ladder("");
        assert_eq!(ladder.len(), 1);
        assert_eq!(ladder.next(0), None);
    }
}
