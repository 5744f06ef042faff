//! Reading request bodies within two limits: each body's own
//! (`max_body_bytes`, `413`), and the process's budget of body bytes being
//! read or held at once (`[http] body_budget_bytes`, `503` with
//! `Retry-After`), so a crowd of slow senders cannot grow the gateway past
//! its memory limit.
//!
//! A body with a `Content-Length` reserves all of it before a byte is read;
//! a chunked body reserves each chunk as it arrives. The reservation is held
//! until the request is answered (the envelope is built from the body).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::problem::Rejection;

/// A body declared this small (`Content-Length`) is "small": small bodies
/// may use the whole budget, larger or undeclared ones only
/// [`LARGE_SHARE`] of it, so ordinary events are still read while slow
/// senders of large bodies hold the rest.
pub const SMALL_BODY_BYTES: u64 = 64 * 1024;

/// The part of the budget large or undeclared bodies may hold together,
/// in eighths: 7/8.
pub const LARGE_SHARE: (usize, usize) = (7, 8);

/// The process-wide budget of body bytes being read or held.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    total: Arc<Semaphore>,
    large: Arc<Semaphore>,
    retry_after_secs: u64,
}

/// Bytes reserved from the budget; returned when dropped.
#[derive(Debug, Default)]
pub struct Reservation {
    total: Option<OwnedSemaphorePermit>,
    large: Option<OwnedSemaphorePermit>,
}

fn merge(held: &mut Option<OwnedSemaphorePermit>, more: OwnedSemaphorePermit) {
    match held {
        Some(held) => held.merge(more),
        None => *held = Some(more),
    }
}

impl BodyBudget {
    /// A budget of `bytes`; a request past it is told to retry after
    /// `retry_after_secs`.
    pub fn new(bytes: usize, retry_after_secs: u64) -> Self {
        let bytes = bytes.clamp(1, Semaphore::MAX_PERMITS);
        let large = (bytes / LARGE_SHARE.1 * LARGE_SHARE.0).max(1);
        Self {
            total: Arc::new(Semaphore::new(bytes)),
            large: Arc::new(Semaphore::new(large)),
            retry_after_secs,
        }
    }

    /// Bytes not reserved now.
    pub fn available(&self) -> usize {
        self.total.available_permits()
    }

    fn reserve(
        &self,
        reservation: &mut Reservation,
        bytes: usize,
        large: bool,
    ) -> Result<(), Rejection> {
        if bytes == 0 {
            return Ok(());
        }
        let exhausted = |()| Rejection::BodyBudgetExhausted {
            retry_after: self.retry_after_secs,
        };
        let n = u32::try_from(bytes).map_err(|_| exhausted(()))?;
        let large_permit = if large {
            Some(
                self.large
                    .clone()
                    .try_acquire_many_owned(n)
                    .map_err(|_| exhausted(()))?,
            )
        } else {
            None
        };
        let total_permit = self
            .total
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| exhausted(()))?;
        merge(&mut reservation.total, total_permit);
        if let Some(permit) = large_permit {
            merge(&mut reservation.large, permit);
        }
        Ok(())
    }

    /// Reserves `bytes` more for a body already read (its decoded form).
    pub fn reserve_more(
        &self,
        reservation: &mut Reservation,
        bytes: usize,
    ) -> Result<(), Rejection> {
        self.reserve(reservation, bytes, true)
    }

    /// Reads `body` (at most `limit` bytes, within `timeout`) into one
    /// buffer, reserving its bytes from the budget: all of `declared` up
    /// front when the sender declared a length, else chunk by chunk.
    pub async fn read(
        &self,
        body: Incoming,
        declared: Option<u64>,
        limit: usize,
        timeout: Duration,
    ) -> Result<(Bytes, Reservation), Rejection> {
        let mut reservation = Reservation::default();
        let large = declared.is_none_or(|n| n > SMALL_BODY_BYTES);
        let up_front = declared.map(|n| (n as usize).min(limit));
        if let Some(bytes) = up_front {
            self.reserve(&mut reservation, bytes, large)?;
        }
        let read = async {
            let mut buffer = BytesMut::with_capacity(up_front.unwrap_or(0));
            let mut body = body;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|error| Rejection::BodyUnreadable {
                    detail: error.to_string(),
                })?;
                let Ok(data) = frame.into_data() else {
                    continue; // trailers
                };
                if buffer.len() + data.len() > limit {
                    return Err(Rejection::PayloadTooLarge { limit });
                }
                let beyond_reserved =
                    (buffer.len() + data.len()).saturating_sub(up_front.unwrap_or(0));
                let already_beyond = buffer.len().saturating_sub(up_front.unwrap_or(0));
                self.reserve(&mut reservation, beyond_reserved - already_beyond, large)?;
                buffer.extend_from_slice(&data);
            }
            Ok(buffer.freeze())
        };
        match tokio::time::timeout(timeout, read).await {
            Err(_) => Err(Rejection::RequestTimeout {
                secs: timeout.as_secs(),
            }),
            Ok(read) => read.map(|bytes| (bytes, reservation)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_come_back_when_dropped_and_refuse_past_the_budget() {
        let budget = BodyBudget::new(800, 2);
        let mut first = Reservation::default();
        budget.reserve(&mut first, 600, false).expect("fits");
        budget.reserve(&mut first, 100, false).expect("fits");
        assert_eq!(budget.available(), 100);
        let mut second = Reservation::default();
        let refused = budget
            .reserve(&mut second, 101, false)
            .expect_err("over budget");
        assert!(matches!(
            refused,
            Rejection::BodyBudgetExhausted { retry_after: 2 }
        ));
        drop(first);
        assert_eq!(budget.available(), 800);
        budget.reserve(&mut second, 800, false).expect("fits again");
    }

    #[test]
    fn large_bodies_leave_an_eighth_for_small_ones() {
        let budget = BodyBudget::new(800, 1);
        let mut large = Reservation::default();
        budget.reserve(&mut large, 700, true).expect("7/8 fits");
        let mut more_large = Reservation::default();
        budget
            .reserve(&mut more_large, 1, true)
            .expect_err("large bodies hold their share");
        assert_eq!(
            budget.available(),
            100,
            "a refused reservation takes nothing"
        );
        let mut small = Reservation::default();
        budget
            .reserve(&mut small, 100, false)
            .expect("small bodies still fit");
    }
}
