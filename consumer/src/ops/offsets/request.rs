//! What an `offsets reset` asks for, read from its arguments before anything
//! touches the cluster. Pure and unit-tested.

use super::plan::ResetTo;
use super::ResetTarget;
use crate::ops::parse_instant;
use crate::stage::Ladder;

/// The topics a reset moves: `topic` as a stage name (`main`, `retry-1m`)
/// or a full topic name, or every stage of the group when none is given.
pub fn reset_topics(ladder: &Ladder, topic: Option<&str>) -> Vec<String> {
    match topic {
        Some(topic) => vec![(0..ladder.len())
            .find(|&s| ladder.name(s) == topic)
            .map_or(topic.to_owned(), |s| ladder.topic(s).to_owned())],
        None => (0..ladder.len())
            .map(|s| ladder.topic(s).to_owned())
            .collect(),
    }
}

/// Where a reset moves the offsets (exactly one target).
pub fn reset_target(target: &ResetTarget, now_ms: i64) -> Result<ResetTo, String> {
    if let Some(text) = &target.to_datetime {
        return parse_instant(text)
            .map(ResetTo::Time)
            .map_err(|why| format!("--to-datetime: {why}"));
    }
    if let Some(ago) = target.by_duration {
        return Ok(ResetTo::Time(now_ms - ago.as_millis() as i64));
    }
    if target.to_earliest {
        return Ok(ResetTo::Earliest);
    }
    if target.to_latest {
        return Ok(ResetTo::Latest);
    }
    if let Some(offset) = target.to_offset {
        return Ok(ResetTo::Offset(offset));
    }
    if let Some(n) = target.shift_by {
        return Ok(ResetTo::ShiftBy(n));
    }
    Err("give one of --to-datetime, --by-duration, --to-earliest, --to-latest, --to-offset, --shift-by".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::offsets::ResetArgs;
    use crate::stage::parse_retry_stages;
    use clap::Parser;
    use switchboard_proto::GroupTopics;

    #[derive(Parser)]
    struct Reset {
        #[command(flatten)]
        args: ResetArgs,
    }

    fn ladder() -> Ladder {
        let topics = GroupTopics::new("webhooks", "crm").expect("names");
        Ladder::new(
            topics,
            parse_retry_stages("retry-1m=60s,retry-10m=600s").expect("stages"),
        )
    }

    fn reset(line: &str) -> ResetArgs {
        Reset::try_parse_from(std::iter::once("reset").chain(line.split_whitespace()))
            .expect("parses")
            .args
    }

    #[test]
    fn a_reset_names_a_stage_a_topic_or_every_stage() {
        let ladder = ladder();
        assert_eq!(
            reset_topics(&ladder, Some("retry-1m")),
            ["webhooks.crm.retry-1m"]
        );
        assert_eq!(reset_topics(&ladder, Some("main")), ["webhooks"]);
        assert_eq!(reset_topics(&ladder, Some("other")), ["other"]);
        assert_eq!(
            reset_topics(&ladder, None),
            [
                "webhooks",
                "webhooks.crm.retry-1m",
                "webhooks.crm.retry-10m"
            ]
        );
    }

    #[test]
    fn each_reset_target_reads_as_one_destination() {
        let now = 10_000_000;
        let to = |line: &str| reset_target(&reset(line).to, now);
        assert_eq!(
            to("--topic main --to-datetime 2026-11-23T09:05:00Z"),
            Ok(ResetTo::Time(1_795_424_700_000))
        );
        assert_eq!(
            to("--topic main --by-duration 30m"),
            Ok(ResetTo::Time(now - 1_800_000))
        );
        assert_eq!(to("--topic main --to-earliest"), Ok(ResetTo::Earliest));
        assert_eq!(to("--topic main --shift-by -5"), Ok(ResetTo::ShiftBy(-5)));
        let bad = to("--topic main --to-datetime yesterday").expect_err("refused");
        assert!(bad.starts_with("--to-datetime:"), "{bad}");
    }
}
