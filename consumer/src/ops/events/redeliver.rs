//! `consumer events redeliver`: one event that was delivered goes out once
//! more (the destination lost it).
//!
//! The copy is the event's first main-topic record, written to the group's
//! first retry stage (only this group reads it; the operator may write
//! there), on the event's partition number, due at once, with its origin and
//! `sb-redelivery-at` stamped. The dedupe gate does not count deliveries
//! made before that time for this copy ([`crate::dedupe::ReadAt`]), so it is
//! delivered once; its delivery marker is written like any other, and read
//! twice (a replay) the copy is a duplicate again. Without retry stages the
//! copy goes to the main topic, where every group would see it: refused.

use std::process::ExitCode;

use rdkafka::message::{Header, OwnedHeaders};
use switchboard_proto::headers as h;
use switchboard_proto::hop::{is_hop_header, HopState};
use switchboard_runtime::exit;
use switchboard_runtime::time::unix_ms;

use super::read::{Original, Wanted};
use super::timeline::Ending;
use super::Looked;
use crate::config::ConsumerConfig;
use crate::handoff::{self, Handoff};
use crate::ops::instant;
use crate::ops::{OpsError, TIMEOUT};
use crate::record::rebuild_headers;

/// Writes (or with `execute` false, describes) the re-delivery copy of
/// the event `looked` found.
pub fn run(
    config: &ConsumerConfig,
    wanted: &Wanted<'_>,
    looked: &Looked,
    execute: bool,
) -> ExitCode {
    let refuse = |why: String| exit::fail("consumer", exit::FAILED, why);
    let Some(timeline) = &looked.timeline else {
        return refuse(super::not_found(wanted, &looked.reading));
    };
    let delivered_at = match &timeline.ending {
        Ending::Delivered { at_ms, .. } => *at_ms,
        Ending::DeadLettered { .. } => {
            return refuse(format!(
                "event {} is in the dead-letter topic, not delivered: re-drive it with `consumer dlt redrive --id {} --execute`",
                wanted.id, wanted.id
            ))
        }
        Ending::Waiting { stage, .. } => {
            return refuse(format!(
                "event {} is waiting in {stage} and will be delivered from there; see `consumer events trace`",
                wanted.id
            ))
        }
        Ending::Filtered { destination } => {
            return refuse(format!(
                "event {} is not taken by destination {destination}'s filter; change the filter to deliver it",
                wanted.id
            ))
        }
        Ending::Received => {
            return refuse(format!(
                "event {} has not been handled by the group yet; see `consumer events trace`",
                wanted.id
            ))
        }
    };
    let Some(original) = &looked.reading.original else {
        return refuse(format!(
            "event {} was delivered, but its main-topic record is not in the window: widen --since (it may be past the main topic's retention)",
            wanted.id
        ));
    };
    if config.ladder.len() < 2 {
        return refuse(
            "the group has no retry stage: a re-delivery written to the main topic would reach every group; add a stage (RETRY_STAGES)".into(),
        );
    }
    let (stage, topic) = (config.ladder.name(1), config.ladder.topic(1));
    let (partition, from) = (original.origin.partition, &original.origin);
    if !execute {
        println!(
            "event {} was delivered at {}; its record {}/{}/{} would be copied to {stage} ({topic}), due at once, and delivered once more to this group.\ndry run: nothing changed. Add --execute to apply.",
            wanted.id,
            instant(delivered_at),
            from.topic,
            from.partition,
            from.offset
        );
        return ExitCode::SUCCESS;
    }
    let now_ms = unix_ms();
    let written = exit::block_on("consumer", async {
        let result = write_copy(config, wanted, original, topic, now_ms).await;
        crate::ops::command::finish(&config.consumer_kafka, result)
    });
    if written == ExitCode::SUCCESS {
        println!(
            "re-delivery of event {} written to {stage} ({topic}) partition {partition}; follow it with `consumer events trace --source {} --id {}`",
            wanted.id, wanted.source, wanted.id
        );
    }
    written
}

/// The copy's headers: the gateway's, due at once, its origin and group, and
/// when the re-delivery was asked for.
fn copy_headers(original: &Original, group: &str, now_ms: i64) -> OwnedHeaders {
    let kept = original
        .headers
        .iter()
        .filter(|(key, _)| key != h::REDELIVERY_AT && !is_hop_header(key))
        .map(|(key, value)| (key.as_str(), value.as_slice()));
    let hop = HopState {
        due_at_ms: Some(now_ms),
        origin: Some(original.origin.clone()),
        group: Some(group.to_owned()),
        ..HopState::default()
    };
    rebuild_headers(kept, &hop).insert(Header {
        key: h::REDELIVERY_AT,
        value: Some(now_ms.to_string().as_bytes()),
    })
}

async fn write_copy(
    config: &ConsumerConfig,
    wanted: &Wanted<'_>,
    original: &Original,
    topic: &str,
    now_ms: i64,
) -> Result<(), OpsError> {
    let producer = handoff::replaceable("hand-off", &config.producer_kafka)?;
    let copy = Handoff {
        topic,
        partition: original.origin.partition,
        key: Some(wanted.id.as_bytes()),
        payload: &original.value,
        headers: copy_headers(original, config.ladder.topics().group(), now_ms),
    };
    tokio::time::timeout(TIMEOUT, handoff::send(&producer, copy))
        .await
        .map_err(|_| {
            OpsError::Failed(format!(
                "no acknowledgement from the broker within {TIMEOUT:?}"
            ))
        })??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::Headers;
    use switchboard_proto::hop::Origin;

    #[test]
    fn the_copy_keeps_the_gateway_headers_and_is_stamped_due_now() {
        let original = Original {
            origin: Origin {
                topic: "webhooks".into(),
                partition: 2,
                offset: 40,
                timestamp_ms: 1_000,
            },
            value: b"envelope".to_vec(),
            headers: vec![
                (h::EVENT_ID.into(), b"e-1".to_vec()),
                (h::ATTEMPT.into(), b"3".to_vec()),
                (h::REDELIVERY_AT.into(), b"5".to_vec()),
            ],
        };
        let headers = copy_headers(&original, "crm-sync", 9_000);
        let all: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|hd| (hd.key, hd.value.unwrap_or_default()))
            .collect();
        let values = |name: &str| {
            all.iter()
                .filter(|(key, _)| *key == name)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(values(h::EVENT_ID), ["e-1"]);
        assert_eq!(values(h::REDELIVERY_AT), ["9000"], "one stamp, the new one");
        let hop = HopState::decode(all.iter().copied());
        assert_eq!(hop.attempts, 0, "a first attempt");
        assert_eq!(hop.due_at_ms, Some(9_000));
        assert_eq!(hop.origin, Some(original.origin.clone()));
        assert_eq!(hop.group.as_deref(), Some("crm-sync"));
    }
}
