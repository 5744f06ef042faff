use rdkafka::message::Headers;
use switchboard_proto::headers as h;
use switchboard_proto::hop::Origin;

use super::*;

use crate::record::sample as incoming;

fn header_values(headers: &OwnedHeaders, key: &str) -> Vec<String> {
    headers
        .iter()
        .filter(|h| h.key == key)
        .map(|h| String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned())
        .collect()
}

#[test]
fn a_hop_replaces_hop_headers_and_keeps_the_rest() {
    let record = incoming(HopState {
        attempts: 1,
        due_at_ms: Some(5),
        first_failure_at_ms: Some(100),
        last_error: Some("main attempt 1: HTTP 500".into()),
        origin: Some(Origin {
            topic: "webhooks".into(),
            partition: 2,
            offset: 41,
            timestamp_ms: 50,
        }),
        ..HopState::default()
    });
    let failure = HopFailure {
        failed_stage: "retry-1m",
        error: "HTTP 503",
        group: "g",
        now_ms: 9_000,
    };
    let headers = hop_headers(
        &record,
        &failure,
        HopTo::Retry {
            stage: 2,
            due_at_ms: 11_000,
        },
    );
    assert_eq!(header_values(&headers, h::EVENT_ID), vec!["evt-1"]);
    assert_eq!(header_values(&headers, h::ATTEMPT), vec!["2"]);
    assert_eq!(header_values(&headers, h::DUE_AT), vec!["11000"]);
    assert_eq!(header_values(&headers, h::FIRST_FAILURE_AT), vec!["100"]);
    assert_eq!(
        header_values(&headers, h::LAST_ERROR),
        vec!["retry-1m attempt 2: HTTP 503; main attempt 1: HTTP 500"]
    );
    assert_eq!(header_values(&headers, h::ORIGINAL_OFFSET), vec!["41"]);
    assert_eq!(header_values(&headers, h::ORIGINAL_TOPIC), vec!["webhooks"]);
    assert!(header_values(&headers, h::DLT_REASON).is_empty());
    assert_eq!(headers.count(), 11, "one of each, nothing appended");
}

#[test]
fn a_re_driven_event_keeps_its_stamp_through_later_hops() {
    let record = incoming(HopState {
        redriven_at_ms: Some(7_000),
        ..HopState::default()
    });
    let failure = HopFailure {
        failed_stage: "retry-1m",
        error: "HTTP 500",
        group: "g",
        now_ms: 9_000,
    };
    let headers = hop_headers(
        &record,
        &failure,
        HopTo::DeadLetter {
            reason: DltReason::Exhausted,
        },
    );
    assert_eq!(header_values(&headers, h::REDRIVEN_AT), vec!["7000"]);
}

#[test]
fn the_error_chain_stays_capped_however_many_hops() {
    let mut record = incoming(HopState::default());
    for attempt in 0..50 {
        let failure = HopFailure {
            failed_stage: "retry-1m",
            error: &"boom ".repeat(40),
            group: "g",
            now_ms: attempt,
        };
        let headers = hop_headers(
            &record,
            &failure,
            HopTo::DeadLetter {
                reason: DltReason::Exhausted,
            },
        );
        record.hop.last_error = header_values(&headers, h::LAST_ERROR).pop();
        record.hop.attempts += 1;
    }
    let chain = record.hop.last_error.expect("set");
    assert!(chain.len() <= h::LAST_ERROR_MAX_BYTES);
    assert!(chain.starts_with("retry-1m attempt 50:"), "newest first");
}
