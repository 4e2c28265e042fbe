//! One user's figures: bounded windows, allocated whole when the user is first seen
//! (so memory grows with users, in the warm-up, not with time).

use std::{collections::VecDeque, time::Instant};

use axum::{extract::MatchedPath, http::Method};
use chrono::{DateTime, Utc};
use opentelemetry::trace::TraceId;

/// Requests whose latency the percentiles are taken from.
const LATENCY_SAMPLES: usize = 2000;
/// Requests on the journey page.
pub const JOURNEY_LEN: usize = 50;
/// Errors whose traces are kept.
const ERROR_TRACES: usize = 10;
/// Completions the median time to done is taken from.
const DONE_SAMPLES: usize = 500;

/// One finished request, as the journey page shows it.
#[derive(Clone)]
pub struct Visit {
    pub at: DateTime<Utc>,
    pub method: Method,
    /// `None`: no route matched (a 404).
    pub route: Option<MatchedPath>,
    pub status: u16,
    pub latency_ms: f64,
    /// The request's trace, when it was sampled.
    pub trace: Option<TraceId>,
}

impl Visit {
    pub fn route(&self) -> &str {
        self.route.as_ref().map_or("unmatched", MatchedPath::as_str)
    }

    pub fn failed(&self) -> bool {
        self.status >= 500
    }
}

pub struct UserStats {
    pub writes: u64,
    pub writes_over: [u64; 3],
    pub requests: u64,
    pub errors: u64,
    pub latencies_ms: VecDeque<f64>,
    /// The last failed requests (status ≥ 500) with a trace.
    pub errors_seen: VecDeque<Visit>,
    pub journey: VecDeque<Visit>,
    pub created: u64,
    pub completed: u64,
    pub done_in_s: VecDeque<f64>,
    pub last_seen: Instant,
    pub last_error: Option<Instant>,
}

impl UserStats {
    pub fn new() -> Self {
        Self {
            writes: 0,
            writes_over: [0; 3],
            requests: 0,
            errors: 0,
            latencies_ms: VecDeque::with_capacity(LATENCY_SAMPLES),
            errors_seen: VecDeque::with_capacity(ERROR_TRACES),
            journey: VecDeque::with_capacity(JOURNEY_LEN),
            created: 0,
            completed: 0,
            done_in_s: VecDeque::with_capacity(DONE_SAMPLES),
            last_seen: Instant::now(),
            last_error: None,
        }
    }

    pub fn request(&mut self, visit: Visit, now: Instant) {
        self.requests += 1;
        self.last_seen = now;
        push(&mut self.latencies_ms, LATENCY_SAMPLES, visit.latency_ms);
        if visit.failed() {
            self.errors += 1;
            self.last_error = Some(now);
            if visit.trace.is_some() {
                push(&mut self.errors_seen, ERROR_TRACES, visit.clone());
            }
        }
        push(&mut self.journey, JOURNEY_LEN, visit);
    }

    pub fn completed(&mut self, done_in_s: f64) {
        self.completed += 1;
        push(&mut self.done_in_s, DONE_SAMPLES, done_in_s);
    }
}

/// Appends to a window of `cap`, dropping the oldest (never grows past its allocation).
fn push<T>(window: &mut VecDeque<T>, cap: usize, value: T) {
    if window.len() == cap {
        window.pop_front();
    }
    window.push_back(value);
}

/// The value at rank `q` (0–1) of an ascending slice; 0 when empty.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The median of `values` (sorted in place), or `None` for none.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    #[test]
    fn percentiles_pick_by_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(super::percentile(&v, 0.5), 51.0);
        assert_eq!(super::percentile(&v, 0.95), 95.0);
        assert_eq!(super::percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn median_of_even_and_odd_windows() {
        assert_eq!(super::median(&mut [1200.0, 600.0]), Some(900.0));
        assert_eq!(super::median(&mut [5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(super::median(&mut []), None);
    }

    #[test]
    fn windows_stay_within_their_allocation() {
        let mut w = VecDeque::with_capacity(3);
        let allocated = w.capacity();
        for i in 0..10 {
            super::push(&mut w, 3, i);
        }
        assert_eq!(w, [7, 8, 9]);
        assert_eq!(w.capacity(), allocated);
    }
}
