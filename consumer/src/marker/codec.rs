//! The delivered-marker log's records, both kinds, encoded and decoded here
//! only (the writer, the reset's fence writer and the loader all use it):
//!
//! - a **delivery**: key `source/event-id` ([`dedupe_key`]), value the JSON
//!   [`Marker`] (stage, attempt), headers `sb-event-id` and `sb-source`; one
//!   per delivered event, on the event's partition number;
//! - a **replay fence** ([`Fence`]): key `fence/<topic>/<partition>/<at_ms>`
//!   (unique, so compaction keeps each), value the fence as JSON, header
//!   `sb-replay-fence: 1`.

use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use serde::Serialize;
use switchboard_proto::{headers as h, Envelope};

use crate::dedupe::{dedupe_key, id_hash, Fence, IdHash};

/// The value of a delivery record: what an operator reading the topic wants to know.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Marker<'a> {
    /// Stage the event was delivered from.
    pub stage: &'a str,
    /// Attempt that succeeded (1 for the first).
    pub attempt: u32,
    /// The group member that delivered it.
    pub member: &'a str,
}

impl Marker<'_> {
    /// The record value.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// One record for the marker log, ready to produce.
pub struct MarkerRecord {
    /// Record key.
    pub key: String,
    /// Record value.
    pub value: Vec<u8>,
    /// Record headers.
    pub headers: OwnedHeaders,
}

impl MarkerRecord {
    /// The delivery marker of `event`, delivered as `marker` says.
    pub fn delivery(event: &Envelope, marker: &Marker<'_>) -> Self {
        let headers = OwnedHeaders::new_with_capacity(2)
            .insert(Header {
                key: h::EVENT_ID,
                value: Some(event.event_id.as_bytes()),
            })
            .insert(Header {
                key: h::SOURCE,
                value: Some(event.source.as_bytes()),
            });
        Self {
            key: dedupe_key(&event.source, &event.event_id),
            value: marker.to_bytes(),
            headers,
        }
    }

    /// The record of `fence` on marker partition `partition`.
    pub fn fence(partition: i32, fence: &Fence) -> Self {
        Self {
            key: format!("fence/{}/{partition}/{}", fence.topic, fence.at_ms),
            value: serde_json::to_vec(fence).unwrap_or_default(),
            headers: OwnedHeaders::new().insert(Header {
                key: h::REPLAY_FENCE,
                value: Some("1"),
            }),
        }
    }
}

/// What a marker-log record says.
#[derive(Debug, PartialEq, Eq)]
pub enum MarkerRead {
    /// An event was delivered (the hash of its dedupe key).
    Delivery(IdHash),
    /// A replay fence.
    Fence(Fence),
    /// Neither (no key, or a fence whose value does not parse): skipped.
    Unreadable,
}

/// Reads one marker-log record from its key, value and whether it carries
/// the fence header.
pub fn read(key: Option<&[u8]>, value: &[u8], fence_header: bool) -> MarkerRead {
    if fence_header {
        return serde_json::from_slice(value).map_or(MarkerRead::Unreadable, MarkerRead::Fence);
    }
    match key.and_then(|k| std::str::from_utf8(k).ok()) {
        Some(key) => MarkerRead::Delivery(id_hash(key)),
        None => MarkerRead::Unreadable,
    }
}

/// [`read`] of a consumed record.
pub fn read_message(message: &BorrowedMessage<'_>) -> MarkerRead {
    let fence_header = message
        .headers()
        .is_some_and(|headers| headers.iter().any(|hd| hd.key == h::REPLAY_FENCE));
    read(
        message.key(),
        message.payload().unwrap_or_default(),
        fence_header,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_keys(headers: &OwnedHeaders) -> Vec<&str> {
        headers.iter().map(|hd| hd.key).collect()
    }

    #[test]
    fn a_delivery_reads_back_as_its_dedupe_key() {
        let event = Envelope {
            event_id: "evt-1".into(),
            source: "genesys".into(),
            ..Envelope::default()
        };
        let marker = Marker {
            stage: "retry-1m",
            attempt: 2,
            member: "consumer-0",
        };
        let record = MarkerRecord::delivery(&event, &marker);
        assert_eq!(record.key, "genesys/evt-1");
        assert_eq!(
            record.value,
            br#"{"stage":"retry-1m","attempt":2,"member":"consumer-0"}"#
        );
        assert_eq!(header_keys(&record.headers), [h::EVENT_ID, h::SOURCE]);
        assert_eq!(
            read(Some(record.key.as_bytes()), &record.value, false),
            MarkerRead::Delivery(id_hash("genesys/evt-1"))
        );
    }

    #[test]
    fn a_fence_reads_back_as_itself_and_only_with_its_header() {
        let fence = Fence {
            topic: "webhooks".into(),
            from: 10,
            to: 30,
            at_ms: 5_000,
        };
        let record = MarkerRecord::fence(3, &fence);
        assert_eq!(record.key, "fence/webhooks/3/5000");
        assert_eq!(header_keys(&record.headers), [h::REPLAY_FENCE]);
        assert_eq!(
            read(Some(record.key.as_bytes()), &record.value, true),
            MarkerRead::Fence(fence)
        );
        assert_eq!(read(None, b"not json", true), MarkerRead::Unreadable);
        assert_eq!(read(None, b"{}", false), MarkerRead::Unreadable, "no key");
    }
}
