//! The protobuf envelope around each accepted webhook.

#![allow(missing_docs)] // generated code; the .proto file carries the docs
include!(concat!(env!("OUT_DIR"), "/switchboard.v1.rs"));

/// The envelope schema version this build writes.
pub const SCHEMA_VERSION: u32 = 1;

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
        };
        let decoded = Envelope::decode(envelope.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(decoded.body, body);
        assert_eq!(decoded, envelope);
        assert_eq!(decoded.id_origin(), IdOrigin::BodyPointer);
    }
}
