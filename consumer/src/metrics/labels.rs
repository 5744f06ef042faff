//! The consumer's bounded label values as enums: each has `ALL` and
//! `code()`, and writes its metric's help text, so the values are listed in
//! one place that `/metrics`, the docs test and the call sites share.

use switchboard_proto::DltReason;
use switchboard_runtime::labels::help_naming;

#[cfg(doc)]
use super::{DEAD_LETTERED, DELIVERY_DURATION, DESTINATION_ANSWERS, HANDLED};

/// How a stage finished with a record: the `outcome` label of [`HANDLED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// The destination took it.
    Delivered,
    /// Handed off to the next retry stage.
    Retried,
    /// Handed off to the dead-letter topic.
    DeadLettered,
    /// A copy of an event already delivered, suppressed.
    Duplicate,
    /// Not taken by its destination's filter: committed without a delivery.
    Filtered,
}

impl Handled {
    /// Every outcome, in the order docs and metrics list them.
    pub const ALL: [Handled; 5] = [
        Handled::Delivered,
        Handled::Retried,
        Handled::DeadLettered,
        Handled::Duplicate,
        Handled::Filtered,
    ];

    /// The label value.
    pub const fn code(self) -> &'static str {
        match self {
            Handled::Delivered => "delivered",
            Handled::Retried => "retried",
            Handled::DeadLettered => "dead_lettered",
            Handled::Duplicate => "duplicate",
            Handled::Filtered => "filtered",
        }
    }
}

/// The help text of [`HANDLED`], naming every outcome.
pub fn handled_help() -> String {
    help_naming(
        "Events finished by a stage, by source, stage and outcome",
        Handled::ALL.map(Handled::code),
    )
}

/// The help text of [`DEAD_LETTERED`], naming every reason.
pub fn dead_lettered_help() -> String {
    help_naming(
        "Records written to the dead-letter topic, by source, failed stage and reason",
        DltReason::ALL.map(DltReason::code),
    )
}

/// How one exchange with a destination ended: the `outcome` label of
/// [`DELIVERY_DURATION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeOutcome {
    /// 2xx.
    Delivered,
    /// Worth another attempt (5xx, 408, 429 without `Retry-After`, no answer).
    Retryable,
    /// Never worth another attempt (other 3xx and 4xx).
    Permanent,
    /// 429 or 503 with `Retry-After`: the destination is held.
    Backpressure,
}

impl ExchangeOutcome {
    /// Every outcome, in the order docs and metrics list them.
    pub const ALL: [ExchangeOutcome; 4] = [
        ExchangeOutcome::Delivered,
        ExchangeOutcome::Retryable,
        ExchangeOutcome::Permanent,
        ExchangeOutcome::Backpressure,
    ];

    /// The label value.
    pub const fn code(self) -> &'static str {
        match self {
            ExchangeOutcome::Delivered => "delivered",
            ExchangeOutcome::Retryable => "retryable",
            ExchangeOutcome::Permanent => "permanent",
            ExchangeOutcome::Backpressure => "backpressure",
        }
    }
}

/// The help text of [`DELIVERY_DURATION`], naming every outcome.
pub fn delivery_duration_help() -> String {
    help_naming(
        "Duration of one exchange with a destination, by outcome",
        ExchangeOutcome::ALL.map(ExchangeOutcome::code),
    )
}

/// How a destination answered one request: the `class` label of
/// [`DESTINATION_ANSWERS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerClass {
    /// 2xx: delivered.
    Success,
    /// 3xx.
    Redirect,
    /// 4xx (a 429 among them).
    ClientError,
    /// 5xx.
    ServerError,
    /// No HTTP answer: refused, reset, TLS failure, timeout.
    NoAnswer,
}

impl AnswerClass {
    /// Every class, in the order docs and metrics list them.
    pub const ALL: [AnswerClass; 5] = [
        AnswerClass::Success,
        AnswerClass::Redirect,
        AnswerClass::ClientError,
        AnswerClass::ServerError,
        AnswerClass::NoAnswer,
    ];

    /// The label value.
    pub const fn code(self) -> &'static str {
        match self {
            AnswerClass::Success => "2xx",
            AnswerClass::Redirect => "3xx",
            AnswerClass::ClientError => "4xx",
            AnswerClass::ServerError => "5xx",
            AnswerClass::NoAnswer => "none",
        }
    }

    /// The class of an HTTP status.
    pub fn of_status(status: u16) -> Self {
        match status {
            200..=299 => AnswerClass::Success,
            300..=399 => AnswerClass::Redirect,
            500..=599 => AnswerClass::ServerError,
            _ => AnswerClass::ClientError,
        }
    }
}

/// The help text of [`DESTINATION_ANSWERS`], naming every class.
pub fn destination_answers_help() -> String {
    help_naming(
        "Answers from a destination, by destination and class",
        AnswerClass::ALL.map(AnswerClass::code),
    )
}

/// Why a destination failed a request in a way that may be the destination's
/// fault rather than the event's: the `cause` label of
/// [`DESTINATION_FAILURES`](super::DESTINATION_FAILURES) and
/// [`DESTINATION_BREAKER_OPEN`](super::DESTINATION_BREAKER_OPEN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCause {
    /// Connection refused or reset, name not resolved.
    Unreachable,
    /// The TLS handshake failed (an unknown CA, a refused client certificate).
    Tls,
    /// No answer within the request timeout.
    Timeout,
    /// 5xx.
    ServerError,
    /// 408, or 429 without `Retry-After`.
    Overloaded,
    /// 401, 403 or 407, a token endpoint that refuses our client, or a
    /// secret that cannot be read: the destination refuses our credentials.
    Credentials,
    /// A redirect or 404: the endpoint moved.
    Moved,
    /// The OAuth2 token endpoint is unreachable or fails.
    TokenEndpoint,
}

impl FailureCause {
    /// Every cause, in the order docs and metrics list them.
    pub const ALL: [FailureCause; 8] = [
        FailureCause::Unreachable,
        FailureCause::Tls,
        FailureCause::Timeout,
        FailureCause::ServerError,
        FailureCause::Overloaded,
        FailureCause::Credentials,
        FailureCause::Moved,
        FailureCause::TokenEndpoint,
    ];

    /// The label value.
    pub const fn code(self) -> &'static str {
        match self {
            FailureCause::Unreachable => "unreachable",
            FailureCause::Tls => "tls",
            FailureCause::Timeout => "timeout",
            FailureCause::ServerError => "server_error",
            FailureCause::Overloaded => "overloaded",
            FailureCause::Credentials => "credentials",
            FailureCause::Moved => "moved",
            FailureCause::TokenEndpoint => "token_endpoint",
        }
    }
}

/// The help text of [`DESTINATION_FAILURES`](super::DESTINATION_FAILURES), naming every cause.
pub fn destination_failures_help() -> String {
    help_naming(
        "Requests a destination failed in a way that counts towards its breaker, by destination and cause",
        FailureCause::ALL.map(FailureCause::code),
    )
}

/// The help text of [`DESTINATION_BREAKER_OPEN`](super::DESTINATION_BREAKER_OPEN), naming every cause.
pub fn destination_breaker_open_help() -> String {
    help_naming(
        "1 while a destination's breaker is open (deliveries to it wait), by destination and the cause of its last failure",
        FailureCause::ALL.map(FailureCause::code),
    )
}

/// How one OAuth2 token fetch ended: the `result` label of
/// [`DESTINATION_TOKEN_FETCHES`](super::DESTINATION_TOKEN_FETCHES).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFetch {
    /// A token came back.
    Fetched,
    /// The token endpoint refused our client (an OAuth2 error answer).
    Refused,
    /// The token endpoint could not be asked (unreachable, 5xx, no answer).
    Failed,
}

impl TokenFetch {
    /// Every result, in the order docs and metrics list them.
    pub const ALL: [TokenFetch; 3] = [TokenFetch::Fetched, TokenFetch::Refused, TokenFetch::Failed];

    /// The label value.
    pub const fn code(self) -> &'static str {
        match self {
            TokenFetch::Fetched => "fetched",
            TokenFetch::Refused => "refused",
            TokenFetch::Failed => "failed",
        }
    }
}

/// The help text of [`DESTINATION_TOKEN_FETCHES`](super::DESTINATION_TOKEN_FETCHES), naming every result.
pub fn destination_token_fetches_help() -> String {
    help_naming(
        "OAuth2 token fetches for a destination, by destination and result",
        TokenFetch::ALL.map(TokenFetch::code),
    )
}
