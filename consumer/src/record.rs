//! A record as the consumer holds it, and how any hop's headers are rebuilt
//! from it: every hop header replaced, the gateway's own headers kept, so a
//! record never grows as it climbs the ladder.

use bytes::Bytes;
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use switchboard_proto::hop::is_hop_header;
pub use switchboard_proto::hop::{HopState, Origin};

use crate::stage::StageIndex;

/// One record read from a stage's topic, owned so a task can outlive the poll.
#[derive(Debug, Clone)]
pub struct ConsumedRecord {
    /// Stage whose topic it came from.
    pub stage: StageIndex,
    /// That topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Record timestamp, unix milliseconds (0 when absent).
    pub timestamp_ms: i64,
    /// Record key (the event id).
    pub key: Option<Bytes>,
    /// Encoded envelope.
    pub payload: Bytes,
    /// Headers that are not hop headers, carried unchanged onto every hop.
    pub carried: CarriedHeaders,
    /// Hop headers, parsed.
    pub hop: HopState,
}

impl ConsumedRecord {
    /// Copies what the consumer needs out of a polled message.
    pub fn from_message(message: &BorrowedMessage<'_>, stage: StageIndex) -> Self {
        let mut carried = CarriedHeaders::default();
        let mut hop = HopState::default();
        if let Some(headers) = message.headers() {
            let all = || {
                headers
                    .iter()
                    .map(|hd| (hd.key, hd.value.unwrap_or_default()))
            };
            hop = HopState::decode(all());
            carried = all().filter(|(key, _)| !is_hop_header(key)).collect();
        }
        Self {
            stage,
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp_ms: message.timestamp().to_millis().unwrap_or(0),
            key: message.key().map(Bytes::copy_from_slice),
            payload: Bytes::copy_from_slice(message.payload().unwrap_or_default()),
            carried,
            hop,
        }
    }

    /// The value of carried header `name` (the first), when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.carried
            .iter()
            .find(|(key, _)| *key == name)
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    /// When an operator asked for this copy to be delivered again
    /// (`consumer events redeliver`), if it is such a copy.
    pub fn redelivery_at_ms(&self) -> Option<i64> {
        self.header(switchboard_proto::headers::REDELIVERY_AT)?
            .parse()
            .ok()
    }

    /// The attempt number of the delivery about to be made (1 for the first).
    pub fn attempt(&self) -> u32 {
        self.hop.attempts.saturating_add(1)
    }

    /// Main-topic coordinates: from the headers, or this record's own.
    pub fn origin(&self) -> Origin {
        self.hop.origin.clone().unwrap_or_else(|| Origin {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
            timestamp_ms: self.timestamp_ms,
        })
    }
}

/// The headers a record carries unchanged onto every hop, in their order,
/// kept in one buffer: two allocations per record instead of two per header
/// (a gateway's record carries four or five).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CarriedHeaders {
    /// Each header's key and then its value, one after another.
    bytes: Vec<u8>,
    /// Where each header's key and its value end in `bytes`.
    ends: Vec<(usize, usize)>,
}

impl CarriedHeaders {
    /// Adds a header after those held.
    pub fn push(&mut self, key: &str, value: &[u8]) {
        self.bytes.extend_from_slice(key.as_bytes());
        let key_end = self.bytes.len();
        self.bytes.extend_from_slice(value);
        self.ends.push((key_end, self.bytes.len()));
    }

    /// The headers, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        let starts = std::iter::once(0).chain(self.ends.iter().map(|&(_, end)| end));
        starts.zip(&self.ends).map(|(start, &(key_end, end))| {
            // Every key was pushed as a `str`.
            let key = std::str::from_utf8(&self.bytes[start..key_end]).unwrap_or_default();
            (key, &self.bytes[key_end..end])
        })
    }
}

impl<'a> FromIterator<(&'a str, &'a [u8])> for CarriedHeaders {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a [u8])>>(headers: I) -> Self {
        let mut carried = Self::default();
        for (key, value) in headers {
            carried.push(key, value);
        }
        carried
    }
}

/// The headers of a record's next hop: every header of `previous` that is
/// not a hop header (the gateway's own, in order), then `next` encoded. Every
/// writer of a hop (retry, dead letter, re-drive) builds its headers here, so
/// a record never carries two values of a hop header.
pub fn rebuild_headers<'a>(
    previous: impl Iterator<Item = (&'a str, &'a [u8])>,
    next: &HopState,
) -> OwnedHeaders {
    let encoded = next.encode();
    let kept: Vec<(&str, &[u8])> = previous.filter(|(key, _)| !is_hop_header(key)).collect();
    let mut headers = OwnedHeaders::new_with_capacity(kept.len() + encoded.len());
    for (key, value) in kept {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    for (key, value) in &encoded {
        headers = headers.insert(Header {
            key,
            value: Some(value.as_bytes()),
        });
    }
    headers
}

/// A record of the unit tests: event `evt-1` at offset 7 of partition 2
/// of stage 1 (`webhooks.g.retry-1m`), with `hop`.
#[cfg(test)]
pub(crate) fn sample(hop: HopState) -> ConsumedRecord {
    ConsumedRecord {
        stage: 1,
        topic: "webhooks.g.retry-1m".into(),
        partition: 2,
        offset: 7,
        timestamp_ms: 1_000,
        key: Some(Bytes::from_static(b"evt-1")),
        payload: Bytes::from_static(b"x"),
        carried: [(switchboard_proto::headers::EVENT_ID, &b"evt-1"[..])]
            .into_iter()
            .collect(),
        hop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::sample as incoming;

    #[test]
    fn a_main_topic_record_is_its_own_origin() {
        let mut record = incoming(HopState::default());
        record.stage = 0;
        record.topic = "webhooks".into();
        assert_eq!(record.attempt(), 1);
        assert_eq!(record.origin().offset, 7);
        assert_eq!(record.origin().topic, "webhooks");
    }

    #[test]
    fn carried_headers_come_back_as_pushed_in_order() {
        let pushed: [(&str, &[u8]); 4] = [
            ("sb-source", b"genesys"),
            ("", b"empty key"),
            ("empty-value", b""),
            ("sb-source", b"second copy"),
        ];
        let carried: CarriedHeaders = pushed.into_iter().collect();
        assert_eq!(carried.iter().collect::<Vec<_>>(), pushed);
        assert_eq!(CarriedHeaders::default().iter().count(), 0);

        let mut record = incoming(HopState::default());
        record.carried = carried;
        assert_eq!(
            record.header("sb-source"),
            Some("genesys"),
            "the first copy"
        );
        assert_eq!(record.header("empty-value"), Some(""));
        assert_eq!(record.header("absent"), None);
    }
}
