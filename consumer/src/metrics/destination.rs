//! The series of one destination (the default destination, or a source with
//! a URL of its own), resolved once.

use metrics::{counter, gauge, Counter, Gauge};

use super::labels::{AnswerClass, FailureCause, TokenFetch};
use super::{
    DESTINATION_ANSWERS, DESTINATION_BREAKER_OPEN, DESTINATION_FAILURES, DESTINATION_HELD_UNTIL,
    DESTINATION_IN_FLIGHT, DESTINATION_TOKEN_FETCHES, DESTINATION_WAITING,
};

/// The series of one destination, resolved once when it is set up (the
/// label set is bounded: the default destination and each source with a URL
/// of its own), every one present from the start at zero.
#[derive(Debug)]
pub struct DestinationSeries {
    /// Events waiting for the destination.
    pub waiting: Gauge,
    /// Requests in flight to it.
    pub in_flight: Gauge,
    /// Unix seconds until which it is held.
    pub held_until: Gauge,
    answers: [Counter; AnswerClass::ALL.len()],
}

impl DestinationSeries {
    /// The series of `destination`.
    pub fn new(destination: &str) -> Self {
        let label = destination.to_owned();
        let series = Self {
            waiting: gauge!(DESTINATION_WAITING, "destination" => label.clone()),
            in_flight: gauge!(DESTINATION_IN_FLIGHT, "destination" => label.clone()),
            held_until: gauge!(DESTINATION_HELD_UNTIL, "destination" => label.clone()),
            answers: AnswerClass::ALL.map(|class| {
                counter!(DESTINATION_ANSWERS, "destination" => label.clone(), "class" => class.code())
            }),
        };
        series.waiting.set(0.0);
        series.in_flight.set(0.0);
        series.held_until.set(0.0);
        for answers in &series.answers {
            answers.increment(0);
        }
        for result in TokenFetch::ALL {
            counter!(DESTINATION_TOKEN_FETCHES, "destination" => label.clone(), "result" => result.code())
                .increment(0);
        }
        series
    }

    /// The destination answered (or did not) one request.
    pub fn answered(&self, class: AnswerClass) {
        self.answers[class as usize].increment(1);
    }
}

/// The breaker series of one destination: failures and the open gauge by
/// cause, every one present from the start at zero.
#[derive(Debug)]
pub struct BreakerSeries {
    failures: [Counter; FailureCause::ALL.len()],
    open: [Gauge; FailureCause::ALL.len()],
}

impl BreakerSeries {
    /// The series of `destination`.
    pub fn new(destination: &str) -> Self {
        let series = Self {
            failures: FailureCause::ALL.map(|cause| {
                counter!(DESTINATION_FAILURES, "destination" => destination.to_owned(), "cause" => cause.code())
            }),
            open: FailureCause::ALL.map(|cause| {
                gauge!(DESTINATION_BREAKER_OPEN, "destination" => destination.to_owned(), "cause" => cause.code())
            }),
        };
        for (failures, open) in series.failures.iter().zip(&series.open) {
            failures.increment(0);
            open.set(0.0);
        }
        series
    }

    /// One request failed for `cause`.
    pub fn failed(&self, cause: FailureCause) {
        self.failures[cause as usize].increment(1);
    }

    /// The breaker opened (or its latest failure changed to `cause`).
    pub fn opened(&self, cause: FailureCause) {
        self.open[cause as usize].set(1.0);
    }

    /// The breaker is no longer open for `cause`.
    pub fn closed(&self, cause: FailureCause) {
        self.open[cause as usize].set(0.0);
    }
}
