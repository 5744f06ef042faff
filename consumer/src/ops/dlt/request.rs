//! What a `dlt list` or `dlt redrive` asks for, read from its arguments and
//! checked against the safety rules before anything touches the cluster.
//! Pure and unit-tested.

use super::read::DltFilter;
use super::{FilterArgs, RedriveArgs};
use crate::ops::parse_time;
use crate::stage::Ladder;

/// The dead-letter records a `dlt list` or `dlt redrive` selects.
pub fn dlt_filter(args: &FilterArgs, now_ms: i64) -> Result<DltFilter, String> {
    let time = |t: &Option<String>| t.as_deref().map(|t| parse_time(t, now_ms)).transpose();
    Ok(DltFilter {
        since_ms: time(&args.since)?,
        until_ms: time(&args.until)?,
        source: args.source.clone(),
        reason_contains: args.reason_contains.clone(),
        ids: ids(args)?,
        limit: args.limit,
        newest: args.newest,
    })
}

/// The event ids `--id` and `--ids-from` name, or `None` for any id.
fn ids(args: &FilterArgs) -> Result<Option<std::collections::BTreeSet<String>>, String> {
    let mut ids: std::collections::BTreeSet<String> = args.ids.iter().cloned().collect();
    if let Some(path) = &args.ids_from {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--ids-from {}: {e}", path.display()))?;
        ids.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
    }
    Ok((!ids.is_empty() || args.ids_from.is_some()).then_some(ids))
}

/// A re-drive without any filter takes every dead-letter record of the
/// group: it must say so with `--all`.
pub fn refuse_unfiltered_redrive(args: &RedriveArgs) -> Result<(), String> {
    let f = &args.filter;
    let unfiltered = f.since.is_none()
        && f.until.is_none()
        && f.source.is_none()
        && f.reason_contains.is_none()
        && f.ids.is_empty()
        && f.ids_from.is_none()
        && f.limit.is_none();
    if unfiltered && !args.all {
        return Err("a re-drive without a filter takes every dead-letter record of the group: say so with --all (or filter with --since/--until/--source/--reason-contains/--id/--ids-from/--limit)".into());
    }
    Ok(())
}

/// Where a re-drive republishes: `retry` (the group's first retry stage, or
/// main when the ladder has none), `main`, or a topic named in full.
pub fn redrive_target(to: &str, ladder: &Ladder) -> String {
    match to {
        "retry" if ladder.len() > 1 => ladder.topic(1).to_owned(),
        "retry" | "main" => ladder.topics().main().to_owned(),
        topic => topic.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::parse_retry_stages;
    use clap::Parser;
    use switchboard_proto::GroupTopics;

    #[derive(Parser)]
    struct Redrive {
        #[command(flatten)]
        args: RedriveArgs,
    }

    fn ladder() -> Ladder {
        let topics = GroupTopics::new("webhooks", "crm").expect("names");
        Ladder::new(
            topics,
            parse_retry_stages("retry-1m=60s,retry-10m=600s").expect("stages"),
        )
    }

    fn redrive(line: &str) -> RedriveArgs {
        Redrive::try_parse_from(std::iter::once("redrive").chain(line.split_whitespace()))
            .expect("parses")
            .args
    }

    #[test]
    fn a_redrive_without_a_filter_must_say_all() {
        assert!(refuse_unfiltered_redrive(&redrive("")).is_err());
        assert!(refuse_unfiltered_redrive(&redrive("--all")).is_ok());
        assert!(refuse_unfiltered_redrive(&redrive("--since 2h")).is_ok());
        assert!(refuse_unfiltered_redrive(&redrive("--limit 5")).is_ok());
    }

    #[test]
    fn a_dlt_filter_reads_times_as_instants_or_durations_ago() {
        let args = redrive("--since 2h --until 2026-11-23T09:05:00Z --source genesys");
        let filter = dlt_filter(&args.filter, 10_000_000).expect("filter");
        assert_eq!(filter.since_ms, Some(10_000_000 - 7_200_000));
        assert_eq!(filter.until_ms, Some(1_795_424_700_000));
        assert_eq!(filter.source.as_deref(), Some("genesys"));
        assert!(dlt_filter(&redrive("--since soon").filter, 0).is_err());
    }

    #[test]
    fn a_redrive_goes_to_the_first_retry_stage_main_or_a_named_topic() {
        let ladder = ladder();
        assert_eq!(redrive_target("retry", &ladder), "webhooks.crm.retry-1m");
        assert_eq!(redrive_target("main", &ladder), "webhooks");
        assert_eq!(redrive_target("elsewhere", &ladder), "elsewhere");
    }
}
