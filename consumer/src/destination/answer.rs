//! Reading a destination's answer: what an HTTP exchange means for the event
//! (delivered, retry, dead letter, or a hold of the destination), the
//! `Retry-After` header, and how long a hold lasts.

use std::time::{Duration, SystemTime};

use http::StatusCode;

use crate::metrics::{ExchangeOutcome, FailureCause};

/// The shortest hold, whatever the destination asked for: `Retry-After: 0`
/// or a date in the past must not turn into a tight loop of requests.
pub const HOLD_FLOOR: Duration = Duration::from_secs(1);
/// The longest floor consecutive holds grow to.
pub const HOLD_FLOOR_CAP: Duration = Duration::from_secs(60);

/// How long to hold after the `holds`-th consecutive backpressure answer
/// (1 for the first) that asked for `asked`: at least a floor that doubles
/// with each hold (1 s, 2 s, 4 s … up to [`HOLD_FLOOR_CAP`]).
pub fn hold_wait(asked: Duration, holds: u32) -> Duration {
    let doublings = holds.saturating_sub(1).min(16);
    let floor = HOLD_FLOOR
        .saturating_mul(1u32 << doublings)
        .min(HOLD_FLOOR_CAP);
    asked.max(floor)
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Delivered,
    /// Worth another attempt later.
    Retryable(String),
    /// Will never work: dead-letter it now.
    Permanent(String),
}

/// How one HTTP exchange ended.
pub(super) enum Answer {
    /// The event's outcome: delivered, or rejected for what it is.
    Done(Outcome),
    /// A failure that may be the destination's rather than the event's:
    /// its breaker judges (the event waits, or takes the ladder).
    DestinationFailed {
        /// Why, as the breaker counts it.
        cause: FailureCause,
        /// The answer or error, for the error chain.
        error: String,
        /// Whether the request went out: a failure before it (a token
        /// endpoint down, a secret that cannot be read) is never the event's.
        sent: bool,
    },
    /// The destination asked to be left alone for `wait`.
    Backpressure {
        /// How long it asked for.
        wait: Duration,
        /// The answer, for the error chain.
        error: String,
    },
}

pub(super) fn exchange_outcome(answer: &Answer) -> ExchangeOutcome {
    match answer {
        Answer::Done(Outcome::Delivered) => ExchangeOutcome::Delivered,
        Answer::Done(Outcome::Retryable(_)) | Answer::DestinationFailed { .. } => {
            ExchangeOutcome::Retryable
        }
        Answer::Done(Outcome::Permanent(_)) => ExchangeOutcome::Permanent,
        Answer::Backpressure { .. } => ExchangeOutcome::Backpressure,
    }
}

pub(super) fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    snippet: &[u8],
) -> Answer {
    if status.is_success() {
        return Answer::Done(Outcome::Delivered);
    }
    let error = if snippet.is_empty() {
        format!("HTTP {}", status.as_u16())
    } else {
        format!(
            "HTTP {}: {}",
            status.as_u16(),
            String::from_utf8_lossy(snippet).trim()
        )
    };
    let cause = match (status.as_u16(), retry_after) {
        (429 | 503, Some(wait)) => return Answer::Backpressure { wait, error },
        (408 | 429, _) => FailureCause::Overloaded,
        (500..=599, _) => FailureCause::ServerError,
        (401 | 403 | 407, _) => FailureCause::Credentials,
        (300..=399 | 404, _) => FailureCause::Moved,
        _ => return Answer::Done(Outcome::Permanent(error)),
    };
    Answer::DestinationFailed {
        cause,
        error,
        sent: true,
    }
}

/// The cause of a request that got no HTTP answer: TLS (a failed
/// handshake, or the server's alert after it, such as a client certificate
/// it wants), or a destination that cannot be reached.
pub(super) fn cause_of_request_error(error: &(dyn std::error::Error + 'static)) -> FailureCause {
    let mut next = Some(error);
    while let Some(cause) = next {
        if is_tls_error(cause) {
            return FailureCause::Tls;
        }
        next = cause.source();
    }
    FailureCause::Unreachable
}

fn is_tls_error(error: &(dyn std::error::Error + 'static)) -> bool {
    #[cfg(not(any(target_os = "windows", target_vendor = "apple")))]
    if error.is::<openssl::ssl::Error>() || error.is::<openssl::error::ErrorStack>() {
        return true;
    }
    error.is::<native_tls::Error>()
}

/// Parses `Retry-After`: delay-seconds or an HTTP date, relative to `now`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Seen {
        Done(Outcome),
        Destination(FailureCause),
        Hold(Duration),
    }

    fn outcome(status: u16, retry_after: Option<u64>) -> Seen {
        let status = StatusCode::from_u16(status).expect("valid");
        match classify(status, retry_after.map(Duration::from_secs), b"") {
            Answer::Done(outcome) => Seen::Done(outcome),
            Answer::DestinationFailed { cause, .. } => Seen::Destination(cause),
            Answer::Backpressure { wait, .. } => Seen::Hold(wait),
        }
    }

    #[test]
    fn answers_are_classified_as_documented() {
        assert_eq!(outcome(200, None), Seen::Done(Outcome::Delivered));
        assert_eq!(outcome(204, None), Seen::Done(Outcome::Delivered));
        let destination = |cause| Seen::Destination(cause);
        for (status, cause) in [
            (408, FailureCause::Overloaded),
            (429, FailureCause::Overloaded),
            (500, FailureCause::ServerError),
            (502, FailureCause::ServerError),
            (503, FailureCause::ServerError),
            (401, FailureCause::Credentials),
            (403, FailureCause::Credentials),
            (407, FailureCause::Credentials),
            (301, FailureCause::Moved),
            (308, FailureCause::Moved),
            (404, FailureCause::Moved),
        ] {
            assert_eq!(outcome(status, None), destination(cause), "{status}");
        }
        for permanent in [400, 409, 410, 413, 422] {
            assert!(
                matches!(outcome(permanent, None), Seen::Done(Outcome::Permanent(_))),
                "{permanent}"
            );
        }
        assert_eq!(outcome(429, Some(3)), Seen::Hold(Duration::from_secs(3)));
        assert_eq!(outcome(503, Some(1)), Seen::Hold(Duration::from_secs(1)));
        assert!(
            matches!(outcome(400, Some(3)), Seen::Done(Outcome::Permanent(_))),
            "Retry-After on a 400 is not backpressure"
        );
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn holds_have_a_floor_that_doubles_and_never_overflow() {
        assert_eq!(hold_wait(Duration::ZERO, 1), Duration::from_secs(1));
        assert_eq!(hold_wait(Duration::ZERO, 2), Duration::from_secs(2));
        assert_eq!(hold_wait(Duration::ZERO, 4), Duration::from_secs(8));
        assert_eq!(hold_wait(Duration::ZERO, 40), HOLD_FLOOR_CAP);
        assert_eq!(
            hold_wait(Duration::from_secs(30), 1),
            Duration::from_secs(30)
        );
        assert_eq!(hold_wait(Duration::MAX, u32::MAX), Duration::MAX);
        let far = parse_retry_after(&u64::MAX.to_string(), SystemTime::now()).expect("parsed");
        assert!(Duration::ZERO.saturating_add(far) >= far);
    }
}
