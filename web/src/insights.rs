//! Application questions answered from the app's own measurements, per user: what
//! share of their database writes took longer than 5, 10, 100 ms; their error rate and
//! request latency; the traces of their last errors. An [`Insights`] value kept in memory
//! by this process (reset on restart): enough to ask "which user hit this?" during a
//! demo. It hears of queries as the database's observer, of requests from
//! `observe::requests`.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{context::GUEST, db::QueryObserver};
use serde::Serialize;

/// Distinct users tracked; later ones are counted under `other` (bounded cardinality,
/// like the metrics' `enduser.id` attribute).
pub const MAX_USERS: usize = 200;
const LATENCY_SAMPLES: usize = 2000;
const ERROR_TRACES: usize = 10;

#[derive(Default)]
struct UserStats {
    writes: u64,
    writes_over: [u64; 3],
    requests: u64,
    errors: u64,
    latencies_ms: VecDeque<f64>,
    error_traces: VecDeque<ErrorTrace>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorTrace {
    pub trace_id: String,
    pub status: u16,
    pub route: String,
}

/// Thresholds for the write-latency shares, in milliseconds.
pub const THRESHOLDS_MS: [u64; 3] = [5, 10, 100];

/// Each user's figures (`guest` when nobody signed in).
#[derive(Clone, Default)]
pub struct Insights(Arc<Mutex<HashMap<String, UserStats>>>);

impl QueryObserver for Insights {
    /// Counts writes by duration.
    fn query(&self, user: Option<&str>, operation: &'static str, elapsed: Duration, ok: bool) {
        if !ok || !matches!(operation, "INSERT" | "UPDATE" | "DELETE") {
            return;
        }
        let ms = elapsed.as_secs_f64() * 1000.0;
        self.with_user(user.unwrap_or(GUEST), |s| {
            s.writes += 1;
            for (i, threshold) in THRESHOLDS_MS.iter().enumerate() {
                if ms > *threshold as f64 {
                    s.writes_over[i] += 1;
                }
            }
        });
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UserInsights {
    pub user: String,
    pub writes: u64,
    /// Percent of writes slower than 5, 10 and 100 ms.
    pub writes_slower_than_pct: [f64; 3],
    pub requests: u64,
    pub error_rate_pct: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    /// Newest first.
    pub last_errors: Vec<ErrorTrace>,
}

impl Insights {
    fn with_user<R>(&self, user: &str, f: impl FnOnce(&mut UserStats) -> R) -> R {
        let mut stats = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let key = if stats.contains_key(user) || stats.len() < MAX_USERS {
            user.to_owned()
        } else {
            "other".to_owned()
        };
        f(stats.entry(key).or_default())
    }

    /// One finished request of `user`; `trace_id` is asked for only when it failed.
    pub fn record_request(
        &self,
        user: &str,
        elapsed: Duration,
        status: u16,
        route: &str,
        trace_id: impl FnOnce() -> String,
    ) {
        self.with_user(user, |s| {
            s.requests += 1;
            if s.latencies_ms.len() == LATENCY_SAMPLES {
                s.latencies_ms.pop_front();
            }
            s.latencies_ms.push_back(elapsed.as_secs_f64() * 1000.0);
            if status >= 500 {
                s.errors += 1;
                if s.error_traces.len() == ERROR_TRACES {
                    s.error_traces.pop_front();
                }
                s.error_traces.push_back(ErrorTrace {
                    trace_id: trace_id(),
                    status,
                    route: route.to_owned(),
                });
            }
        });
    }

    pub fn snapshot(&self) -> Vec<UserInsights> {
        let stats = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = stats
            .iter()
            .map(|(user, s)| {
                let pct = |n: u64, of: u64| {
                    if of == 0 {
                        0.0
                    } else {
                        100.0 * n as f64 / of as f64
                    }
                };
                let mut sorted: Vec<f64> = s.latencies_ms.iter().copied().collect();
                sorted.sort_by(f64::total_cmp);
                UserInsights {
                    user: user.clone(),
                    writes: s.writes,
                    writes_slower_than_pct: s.writes_over.map(|n| pct(n, s.writes)),
                    requests: s.requests,
                    error_rate_pct: pct(s.errors, s.requests),
                    p50_ms: percentile(&sorted, 0.50),
                    p95_ms: percentile(&sorted, 0.95),
                    last_errors: s.error_traces.iter().rev().cloned().collect(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.user.cmp(&b.user));
        out
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentiles_pick_by_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(super::percentile(&v, 0.5), 51.0);
        assert_eq!(super::percentile(&v, 0.95), 95.0);
        assert_eq!(super::percentile(&[], 0.5), 0.0);
    }
}
