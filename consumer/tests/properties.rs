//! Property tests of what the consumer parses from outside: a downstream's
//! `Retry-After`, the retry ladder's specification, and the dedupe key.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use switchboard_consumer::destination::parse_retry_after;
use switchboard_consumer::stage::parse_retry_stages;

proptest! {
    #[test]
    fn any_retry_after_text_parses_or_is_refused_never_a_panic(text in "\\PC{0,80}") {
        let _ = parse_retry_after(&text, SystemTime::now());
    }

    #[test]
    fn delay_seconds_round_trip(seconds in any::<u32>(), pad in "[ \t]{0,3}") {
        let text = format!("{pad}{seconds}{pad}");
        prop_assert_eq!(
            parse_retry_after(&text, SystemTime::now()),
            Some(Duration::from_secs(u64::from(seconds)))
        );
    }

    #[test]
    fn an_http_date_is_a_wait_from_now(ahead in 0u64..100_000) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let text = httpdate::fmt_http_date(now + Duration::from_secs(ahead));
        prop_assert_eq!(parse_retry_after(&text, now), Some(Duration::from_secs(ahead)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(ahead));
        prop_assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
    }

    #[test]
    fn any_retry_stage_spec_parses_or_is_refused_never_a_panic(text in "\\PC{0,80}") {
        let _ = parse_retry_stages(&text);
    }

    #[test]
    fn retry_stage_specs_round_trip(stages in prop::collection::vec(("[a-z][a-z0-9-]{0,15}", 1u64..1_000_000), 0..4)) {
        // Unique and never "main", as the ladder requires.
        let stages: Vec<(String, u64)> = stages
            .into_iter()
            .enumerate()
            .map(|(i, (name, secs))| (format!("s{i}-{name}"), secs))
            .collect();
        let text = stages
            .iter()
            .map(|(name, secs)| format!("{name}={secs}s"))
            .collect::<Vec<_>>()
            .join(",");
        let parsed = parse_retry_stages(&text).expect("a valid spec");
        prop_assert_eq!(parsed.len(), stages.len());
        for (stage, (name, secs)) in parsed.iter().zip(&stages) {
            prop_assert_eq!(&stage.name, name);
            prop_assert_eq!(stage.delay, Duration::from_secs(*secs));
        }
    }
}
