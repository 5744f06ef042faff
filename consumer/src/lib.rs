//! Switchboard's consumer: consumer-group workers that deliver each event,
//! retry failures through delay topics without blocking anything else,
//! dead-letter what cannot be delivered, and suppress duplicates by event id.
//!
//! # Layout
//! - [`config`]: settings, their defaults and variables, validation; the two Kafka clients' settings.
//! - [`stage`]: the retry ladder (main, retry stages with fixed delays, DLT).
//! - [`worker`]: the group member: poll loop, dispatch, rebalances, commits.
//! - [`watermark`]: per-partition commit watermark over concurrent work.
//! - [`process`]: one event through one stage: handle, then deliver or hand on.
//! - [`deliver`]: the handler trait, and HTTP delivery routing each event to its destination.
//! - [`destination`]: one destination, behind one door ([`destination::Destination::deliver`]):
//!   its limits, holds and breaker, the exchange, and what an answer means.
//! - [`credentials`]: what a destination's requests carry: headers, auth (static, OAuth2),
//!   secrets, signing, its own TLS.
//! - [`http`]: the HTTP client that deliveries and token fetches share.
//! - [`filter`]: which events a destination takes (by event type, then body conditions).
//! - [`record`]: a consumed record as held in memory, and how a hop's headers are rebuilt.
//! - [`hop`]: one hop along the ladder: where to, its hop headers, the record and its pointer.
//! - [`handoff`]: retry, dead-letter and marker records, written with the runtime's replaceable producer.
//! - [`dedupe`]: duplicate suppression by event id (design and bounds) and the gate every record passes.
//! - [`marker`]: the delivered-marker log (its codec, writer and loader) that dedupe reloads on assignment.
//! - [`topics`]: the group's topics and the start-up partition check.
//! - [`events`]: what happens to a record, each logged and counted in one function.
//! - [`metrics`]: metric names, descriptions, label enums and recording helpers.
//! - [`ops`]: operator commands: `topics ensure`, `offsets reset`, `dlt list|redrive`,
//!   `events trace|redeliver` (and the trace endpoint).
//! - [`run`]: wires it all together and runs to a clean stop.
//!
//! Process plumbing (logging, shutdown, exit codes, configuration layering,
//! admin endpoints, the replaceable producer) is `switchboard-runtime`'s.
//!
//! # One record's way
//! A started record goes down a short chain of owners, each once:
//! [`process::run_job`] (its way through one stage) → its destination
//! ([`destination::Destination::deliver`]: admit, exchange, settle the
//! answer) → the next step ([`process::Next`]: a marker, a retry stage or the
//! DLT; a hop built by [`hop`]) → the hand-on ([`handoff::Handoffs::hand_on`],
//! which waits for the broker) → the report ([`events::settled`]). The poll
//! loop around it is [`worker`]'s.
//!
//! walk: consumer/src/process.rs:run_job:job
//!
//! Followed from there through the code (a static walk of the parameter and
//! its parts, the files it stays in, the returns to a file already left, the
//! names it goes by):
//!
//! | | stays | returns | names |
//! |---|---|---|---|
//! | before (47641d5, issue 29 filed) | 14, in 9 files | 5 | 12 |
//! | now | 8, in 7 files | 1 | 6 (`job`, `attempt`, `record`, `report`, `stage`, `event_id`) |
//!
//! The walk now reaches the end: `process.rs`, `destination/mod.rs`,
//! `destination/exchange.rs`, `destination/mod.rs` again (the one return: the
//! destination settles its answer after the exchange), `hop/mod.rs`,
//! `handoff/mod.rs`, `events.rs`, `metrics/mod.rs`. One name over the five aimed
//! at: `event_id` is the log field every outcome carries.
//!
//! # Glossary
//! One word per thing; the code's names follow it, and `tests/glossary.rs`
//! keeps old names from coming back.
//! - **consumed record** ([`record::ConsumedRecord`]): a record read from the
//!   main topic or a retry stage, owned so a task can outlive the poll.
//! - **stage**: one rung of the [`stage::Ladder`]: the main topic, then each
//!   retry topic (`retry-1m`, `retry-10m`); the dead-letter topic (**DLT**)
//!   is where the ladder ends.
//! - **delivered**: the destination answered 2xx. Only that. A record the
//!   broker took is **acknowledged** (`switchboard_runtime::kafka::Acked`).
//! - **hand off** ([`handoff`]): the consumer produces a record itself: a
//!   hop (it counts once the broker acknowledges it), a delivered marker
//!   (queued, never awaited), a replay fence. Two producers write them
//!   ([`handoff::Producers`]): the **hand-off producer** (hops and pointers,
//!   a 10 ms linger) and the **marker producer** (markers, `marker_linger`).
//! - **hop**: one move of a record along the ladder, to the next retry
//!   stage or to the DLT (where it goes: [`hop::HopTo`]); it rewrites the **hop headers**
//!   (`switchboard_proto::hop`: attempt, due time, error chain, origin).
//! - **pointer**: a DLT record without a value, standing in for a record
//!   that could not be handed off; `dlt redrive` re-reads the original.
//! - **marker**: a record of the delivered-marker log ([`marker`]) saying
//!   an event was delivered; a **fence** in the same log asks for a
//!   replayed range to be delivered again.
//! - **partition move**: a rebalance taking a partition from one member to
//!   another (revocation, then assignment).
//! - **slot**: room for one delivery in progress: per partition
//!   (`CONSUMER_CONCURRENCY`) and per destination (`max_in_flight`); a
//!   **started** record holds a partition slot and may wait for a
//!   destination slot; a **buffered** record is read but not started.
//!   **In flight** means a request out to a destination, nothing else (the
//!   `events_in_flight` gauge, an older name, counts started records).
//! - **prefetched**: read ahead by librdkafka into a partition's queue, not
//!   yet taken by the loop (taken, a record is buffered); all a member's
//!   queues share one **prefetch budget** ([`prefetch`]).
//! - **destination**: where a source's events go (the default URL, or a
//!   source's own), with its own limits, credentials, TLS and breaker
//!   ([`destination::Destination`]); `destination` in metrics and logs,
//!   `[destination]` and `DESTINATION_*` in the configuration (`[downstream]`
//!   and `DOWNSTREAM_*`, its old names, still read for one release with a
//!   warning); its **credentials** ([`credentials`]) are everything its
//!   requests carry besides the event.
//! - **filter** ([`filter`]): which events a destination takes; an event it
//!   does not take is **filtered**: committed without a delivery, counted.
//! - **event type**: what kind of event it is (EventBridge's `detail-type`),
//!   found by the gateway and carried in the `sb-event-type` header.
//! - **hold**: the destination asked to be left alone (`Retry-After`);
//!   its events wait without using an attempt. Only that: an open breaker
//!   makes events **wait** ([`destination::breaker::Decision::Wait`]), and a
//!   partition whose hand-off the broker refuses is **stuck**.
//! - **notice**: what wakes the poll loop over its one channel (`notices`):
//!   a confirmed commit, loaded markers, a readable queue, and a finished
//!   task's **report** only while reports are few (the loop takes them all
//!   at each turn; a busy loop takes them every millisecond, unwoken).
//!   An **event** is always a webhook's.
//! - **settled**: a handled record's outcome is final: delivered (its marker
//!   queued), retried or dead-lettered (the broker acknowledged the hop),
//!   filtered, or a duplicate; reported once ([`events`]).
//! - **destination failure**: a failure that may be the destination's rather
//!   than the event's (no answer, TLS, 5xx, 401/403, a redirect or 404);
//!   the destination's **breaker** ([`destination::breaker`]) counts them and,
//!   once **open**, makes its events wait (no attempt used) and **probes**.
#![forbid(unsafe_code)]

pub mod config;
pub mod credentials;
pub mod dedupe;
pub mod deliver;
pub mod destination;
pub mod events;
pub mod filter;
pub mod handoff;
pub mod hop;
pub mod http;
pub mod marker;
pub mod metrics;
pub mod ops;
pub mod prefetch;
pub mod process;
pub mod record;
pub mod run;
pub mod stage;
pub mod topics;
pub mod watermark;
pub mod worker;
