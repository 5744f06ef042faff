//! The protobuf envelope around each accepted webhook.

#![allow(missing_docs)] // generated code; the .proto file carries the docs
include!(concat!(env!("OUT_DIR"), "/switchboard.v1.rs"));

/// The envelope schema version this build writes and the newest it reads.
///
/// Versioning policy: a change that old readers can ignore (a new field
/// with a new number) keeps the version; field numbers are never reused or
/// retyped. A change that old readers would misread bumps it, and consumers
/// that read the new version ship before gateways that write it. A reader
/// refuses a newer version ([`decode_known`]) rather than guess.
pub const SCHEMA_VERSION: u32 = 1;

/// Decodes an envelope this build understands: the protobuf must decode,
/// and its schema version must not be newer than [`SCHEMA_VERSION`]
/// (version 0, a writer that did not set it, reads as version 1).
pub fn decode_known(bytes: bytes::Bytes) -> Result<Envelope, String> {
    use prost::Message as _;
    let envelope = Envelope::decode(bytes).map_err(|e| e.to_string())?;
    if envelope.schema_version > SCHEMA_VERSION {
        return Err(format!(
            "envelope schema version {} is newer than this build reads ({SCHEMA_VERSION}): upgrade the consumer, then re-drive",
            envelope.schema_version
        ));
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn envelope_round_trips_body_bytes_unchanged() {
        let body = bytes::Bytes::from_static(b"{\"id\":\"a\",\"x\":[1,2,3]}\xff");
        let envelope = Envelope {
            schema_version: SCHEMA_VERSION,
            event_id: "a".into(),
            id_origin: IdOrigin::BodyPointer as i32,
            source: "genesys".into(),
            received_at_unix_ms: 1_795_269_731_000,
            content_type: "application/json".into(),
            body: body.clone(),
            headers: vec![Header {
                name: "user-agent".into(),
                value: bytes::Bytes::from_static(b"curl"),
            }],
            traceparent: String::new(),
            tracestate: String::new(),
            gateway_instance: "gw-1".into(),
            event_type: "v2.detail.events.conversation.{id}.customer.end".into(),
        };
        let decoded = Envelope::decode(envelope.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(decoded.body, body);
        assert_eq!(decoded, envelope);
        assert_eq!(decoded.id_origin(), IdOrigin::BodyPointer);
        let known = decode_known(envelope.encode_to_vec().into()).expect("known version");
        assert_eq!(known, envelope);
    }

    #[test]
    fn a_newer_schema_version_is_refused_not_guessed() {
        let newer = Envelope {
            schema_version: SCHEMA_VERSION + 1,
            event_id: "a".into(),
            ..Envelope::default()
        };
        let why = decode_known(newer.encode_to_vec().into()).expect_err("refused");
        assert!(why.contains("newer"), "{why}");
        assert!(decode_known(bytes::Bytes::from_static(b"\xff\xff")).is_err());
    }
}
