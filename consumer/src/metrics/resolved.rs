//! The hot path's series, each resolved once and kept. Counting a delivery
//! by its labels looked its series up in the registry every time (the
//! labels hashed and compared, a key built): ~3 % of the consumer's CPU at
//! full rate in the profile of 2026-12-07.
//!
//! A series is resolved on its first use, which comes after [`super::install`]
//! put the recorder in place: a handle taken before would count nowhere.

use std::sync::{OnceLock, RwLock};

use metrics::{counter, histogram, Counter, Histogram};
use switchboard_runtime::lock;

use super::{ExchangeOutcome, Handled, DELIVERY_DURATION, END_TO_END, HANDLED};

/// What one delivery of a source, read from one stage, counts.
#[derive(Debug)]
pub(super) struct DeliveredSeries {
    /// [`HANDLED`] with the outcome `delivered`.
    pub handled: Counter,
    /// [`END_TO_END`] of the source.
    pub end_to_end: Histogram,
}

/// The series of one key, as the cache holds them.
type Known = (&'static str, &'static str, &'static DeliveredSeries);

/// The [`DeliveredSeries`] of `source` read from `stage`. Both labels are
/// bounded (interned sources, configured stages), and so is what is kept.
pub(super) fn delivered(source: &'static str, stage: &'static str) -> &'static DeliveredSeries {
    static KNOWN: OnceLock<RwLock<Vec<Known>>> = OnceLock::new();
    let known = KNOWN.get_or_init(Default::default);
    let find = |list: &[Known]| {
        list.iter()
            .find(|(so, st, _)| *so == source && *st == stage)
            .map(|(_, _, series)| *series)
    };
    if let Some(series) = find(&lock::read(known)) {
        return series;
    }
    let mut list = lock::write(known);
    if let Some(series) = find(&list) {
        return series;
    }
    // Leaked once per key, bounded as above, for the process lifetime.
    let series: &'static DeliveredSeries = Box::leak(Box::new(DeliveredSeries {
        handled: counter!(HANDLED, "source" => source, "stage" => stage, "outcome" => Handled::Delivered.code()),
        end_to_end: histogram!(END_TO_END, "source" => source),
    }));
    list.push((source, stage, series));
    series
}

/// [`DELIVERY_DURATION`] of `outcome`.
pub(super) fn exchange_duration(outcome: ExchangeOutcome) -> &'static Histogram {
    static BY_OUTCOME: OnceLock<[Histogram; ExchangeOutcome::ALL.len()]> = OnceLock::new();
    let all = BY_OUTCOME.get_or_init(|| {
        ExchangeOutcome::ALL
            .map(|outcome| histogram!(DELIVERY_DURATION, "outcome" => outcome.code()))
    });
    &all[outcome as usize]
}
