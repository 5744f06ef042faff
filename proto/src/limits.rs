//! Record sizes every component must agree on: the largest body the gateway
//! accepts by default, the room an envelope adds to a body, and the room a
//! retry or dead-letter hop adds to the record. A topic or client limit is
//! derived from these, so a record that fits the main topic fits every hop.

/// The gateway's default largest body (`max_body_bytes`): 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Room a record needs beyond its body: the envelope's other fields (event
/// id, forwarded headers, trace context) and the Kafka key and headers.
pub const ENVELOPE_HEADROOM_BYTES: usize = 64 * 1024;

/// Room a hop needs on top of the record as the gateway wrote it: about
/// eleven hop headers and an error chain capped at 1 KiB, with margin.
pub const HOP_HEADROOM_BYTES: usize = 64 * 1024;

/// The largest record the gateway writes for bodies up to `max_body_bytes`:
/// the main topic's `max.message.bytes` must be at least this.
pub const fn main_record_limit(max_body_bytes: usize) -> usize {
    max_body_bytes.saturating_add(ENVELOPE_HEADROOM_BYTES)
}

/// The main topic's `max.message.bytes` for the default body limit
/// (1,114,112 bytes; Kafka's own default, 1,048,588, is smaller).
pub const DEFAULT_MAIN_MAX_MESSAGE_BYTES: usize = main_record_limit(DEFAULT_MAX_BODY_BYTES);

/// The largest hop of a main-topic record of at most `main_max_message_bytes`:
/// the retry stages' and dead-letter topic's `max.message.bytes`, and the
/// hand-off producer's `message.max.bytes`.
pub const fn hop_record_limit(main_max_message_bytes: usize) -> usize {
    main_max_message_bytes.saturating_add(HOP_HEADROOM_BYTES)
}
