//! Property tests of the wire contract's decoders: nothing a record can
//! carry makes them panic, and what they encode they read back.

use proptest::prelude::*;
use prost::Message as _;
use switchboard_proto::envelope::decode_known;
use switchboard_proto::headers as h;
use switchboard_proto::hop::{HopState, Origin};
use switchboard_proto::{DltReason, Envelope, Header, SCHEMA_VERSION};

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(h::HOP_HEADERS.to_vec()).prop_map(str::to_owned),
        "[a-z-]{0,20}",
    ]
}

fn text() -> impl Strategy<Value = Option<String>> {
    prop::option::of("\\PC{0,200}")
}

fn number() -> impl Strategy<Value = Option<i64>> {
    prop::option::of(any::<i64>())
}

proptest! {
    #[test]
    fn hop_headers_of_any_bytes_decode_without_panic(
        headers in prop::collection::vec((header_name(), prop::collection::vec(any::<u8>(), 0..64)), 0..24)
    ) {
        let state = HopState::decode(headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
        // What was decoded encodes again, and reads back the same.
        let encoded = state.encode();
        let again = HopState::decode(encoded.iter().map(|(k, v)| (*k, v.as_bytes())));
        prop_assert_eq!(HopState { due_at_unreadable: state.due_at_unreadable, ..again }, state);
    }

    #[test]
    fn hop_state_round_trips(
        attempts in 0u32..1000,
        due_at_ms in number(),
        first_failure_at_ms in number(),
        last_error in text(),
        dlt_reason in prop::option::of(prop::sample::select(DltReason::ALL.to_vec())),
        failed_stage in text(),
        origin in prop::option::of(("\\PC{1,40}", any::<i32>(), any::<i64>(), any::<i64>())),
        group in text(),
        redriven_at_ms in number(),
    ) {
        let state = HopState {
            attempts,
            due_at_ms,
            due_at_unreadable: false,
            first_failure_at_ms,
            last_error,
            dlt_reason,
            failed_stage,
            origin: origin.map(|(topic, partition, offset, timestamp_ms)| Origin { topic, partition, offset, timestamp_ms }),
            group,
            redriven_at_ms,
        };
        let encoded = state.encode();
        let decoded = HopState::decode(encoded.iter().map(|(k, v)| (*k, v.as_bytes())));
        prop_assert_eq!(decoded, state);
    }

    #[test]
    fn any_bytes_decode_as_an_envelope_or_an_error_never_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_known(bytes.into());
    }

    #[test]
    fn envelopes_round_trip_with_their_body_unchanged(
        event_id in "\\PC{1,100}",
        source in "[a-z-]{1,20}",
        received in any::<i64>(),
        body in prop::collection::vec(any::<u8>(), 0..2048),
        headers in prop::collection::vec(("[a-z-]{1,20}", prop::collection::vec(any::<u8>(), 0..64)), 0..6),
        traceparent in "\\PC{0,60}",
    ) {
        let envelope = Envelope {
            schema_version: SCHEMA_VERSION,
            event_id,
            source,
            received_at_unix_ms: received,
            content_type: "application/json".into(),
            body: body.into(),
            headers: headers.into_iter().map(|(name, value)| Header { name, value: value.into() }).collect(),
            traceparent,
            ..Envelope::default()
        };
        let decoded = decode_known(envelope.encode_to_vec().into()).expect("decodes");
        prop_assert_eq!(decoded, envelope);
    }
}
