//! Application questions answered from the app's own measurements, per user: what
//! share of their database writes took longer than 5, 10, 100 ms; their error rate and
//! request latency; the traces of their last errors; their journey (last requests in
//! order); their to-dos created and completed and the median time to done; and, over
//! all users, who hit an error in the last hour and whose every click worked. Also the
//! latest working trace of each route, to compare a broken one with.
//!
//! An [`Insights`] value kept in memory by this process (reset on restart): enough to
//! ask "which user hit this?" during a demo. It hears of queries as the database's
//! observer, of requests from `observe::requests`, of to-dos from `observe::todo_*`.

mod user;
mod working;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::{
    db::QueryObserver,
    session::{GUEST, OTHER},
};
use opentelemetry::trace::TraceId;
use serde::Serialize;

pub use user::{JOURNEY_LEN, Visit};
pub use working::SLOW_MS;

use user::{UserStats, median, percentile};
use working::WorkingTraces;

/// Distinct users tracked; later ones are counted under `other` (bounded cardinality,
/// like the metrics' `enduser.id` attribute).
pub const MAX_USERS: usize = 200;

/// "Recently": the window of the users-with-errors count.
pub const RECENT: Duration = Duration::from_secs(3600);

/// Thresholds for the write-latency shares, in milliseconds.
pub const THRESHOLDS_MS: [u64; 3] = [5, 10, 100];

/// Each user's figures (`guest` when nobody signed in).
#[derive(Clone, Default)]
pub struct Insights(Arc<Mutex<State>>);

#[derive(Default)]
struct State {
    users: HashMap<String, UserStats>,
    working: WorkingTraces,
}

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

/// A request as the insights and journey pages show it.
#[derive(Debug, Clone, Serialize)]
pub struct VisitView {
    /// UTC, RFC 3339 with milliseconds.
    pub at: String,
    pub method: String,
    pub route: String,
    pub status: u16,
    pub latency_ms: f64,
    pub trace_id: Option<String>,
    pub failed: bool,
    pub slow: bool,
    /// The latest trace of the same method and route that worked, when this one failed
    /// or was slow.
    pub compare_with: Option<String>,
}

impl VisitView {
    /// `HH:MM:SS.mmm` of [`Self::at`].
    pub fn clock(&self) -> &str {
        self.at.get(11..23).unwrap_or(&self.at)
    }

    /// As a person reads it: `12.3 ms`, `1.52 s`.
    pub fn latency(&self) -> String {
        if self.latency_ms >= 1000.0 {
            format!("{:.2} s", self.latency_ms / 1000.0)
        } else {
            format!("{:.1} ms", self.latency_ms)
        }
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
    pub last_errors: Vec<VisitView>,
    pub todos_created: u64,
    pub todos_completed: u64,
    /// Median seconds from created to completed (the last 500 completions).
    pub median_time_to_done_s: Option<f64>,
    /// Whether a response of theirs failed (≥ 500) in the last hour.
    pub error_in_last_hour: bool,
}

/// Signed-in users seen in the last hour: how many hit an error (a response ≥ 500),
/// how many had every click work.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct UsersLastHour {
    pub with_errors: u64,
    pub all_ok: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub users: Vec<UserInsights>,
    pub last_hour: UsersLastHour,
}

#[derive(Debug, Clone, Serialize)]
pub struct Journey {
    pub user: String,
    /// Oldest first, at most [`JOURNEY_LEN`].
    pub visits: Vec<VisitView>,
}

impl Insights {
    fn with_user<R>(&self, user: &str, f: impl FnOnce(&mut UserStats) -> R) -> R {
        let mut state = self.lock();
        f(user_entry(&mut state.users, user))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One finished request of `user`. A sampled one that worked (below 400, not
    /// slow) becomes its route's working example.
    pub fn record_request(&self, user: &str, visit: Visit) {
        let now = Instant::now();
        let mut state = self.lock();
        if let (Some(trace), Some(route)) = (visit.trace, &visit.route)
            && visit.status < 400
            && visit.latency_ms < SLOW_MS
        {
            state.working.record(&visit.method, route, trace);
        }
        user_entry(&mut state.users, user).request(visit, now);
    }

    pub fn todo_created(&self, user: &str) {
        self.with_user(user, |s| s.created += 1);
    }

    pub fn todo_completed(&self, user: &str, time_to_done: Duration) {
        self.with_user(user, |s| s.completed(time_to_done.as_secs_f64()));
    }

    /// The latest working trace of `method` `route`.
    pub fn working_trace(&self, method: &str, route: &str) -> Option<TraceId> {
        self.lock().working.get(method, route)
    }

    /// Signed-in users seen in the last hour, with and without an error.
    pub fn users_last_hour(&self) -> UsersLastHour {
        last_hour(&self.lock(), Instant::now())
    }

    /// Every user's figures. Only copies are made under the lock (every request takes
    /// it); sorting for the percentiles and formatting happen after.
    pub fn overview(&self) -> Overview {
        let now = Instant::now();
        let state = self.lock();
        let last_hour = last_hour(&state, now);
        let raw: Vec<_> = state
            .users
            .iter()
            .map(|(user, s)| {
                let figures = UserInsights {
                    user: user.clone(),
                    writes: s.writes,
                    writes_slower_than_pct: [0.0; 3],
                    requests: s.requests,
                    error_rate_pct: 0.0,
                    p50_ms: 0.0,
                    p95_ms: 0.0,
                    last_errors: Vec::new(),
                    todos_created: s.created,
                    todos_completed: s.completed,
                    median_time_to_done_s: None,
                    error_in_last_hour: s
                        .last_error
                        .is_some_and(|t| now.saturating_duration_since(t) < RECENT),
                };
                let errors: Vec<_> = s
                    .errors_seen
                    .iter()
                    .rev()
                    .map(|v| (v.clone(), compare_with(v, &state.working)))
                    .collect();
                let latencies: Vec<f64> = s.latencies_ms.iter().copied().collect();
                let done_in: Vec<f64> = s.done_in_s.iter().copied().collect();
                (figures, s.writes_over, s.errors, errors, latencies, done_in)
            })
            .collect();
        drop(state);
        let pct = |n: u64, of: u64| {
            if of == 0 {
                0.0
            } else {
                100.0 * n as f64 / of as f64
            }
        };
        let mut users: Vec<_> = raw
            .into_iter()
            .map(|(mut u, over, errors, seen, mut latencies, mut done_in)| {
                latencies.sort_by(f64::total_cmp);
                u.writes_slower_than_pct = over.map(|n| pct(n, u.writes));
                u.error_rate_pct = pct(errors, u.requests);
                u.p50_ms = percentile(&latencies, 0.50);
                u.p95_ms = percentile(&latencies, 0.95);
                u.median_time_to_done_s = median(&mut done_in);
                u.last_errors = seen.iter().map(|(v, w)| view(v, *w)).collect();
                u
            })
            .collect();
        users.sort_by(|a, b| a.user.cmp(&b.user));
        Overview { users, last_hour }
    }

    /// `user`'s last requests in the order they started (they finish out of order);
    /// `None` for a user never seen.
    pub fn journey(&self, user: &str) -> Option<Journey> {
        let state = self.lock();
        let stats = state.users.get(user)?;
        let mut visits: Vec<_> = stats
            .journey
            .iter()
            .map(|v| (v.clone(), compare_with(v, &state.working)))
            .collect();
        drop(state);
        visits.sort_by_key(|(v, _)| v.at);
        Some(Journey {
            user: user.to_owned(),
            visits: visits.iter().map(|(v, w)| view(v, *w)).collect(),
        })
    }
}

fn last_hour(state: &State, now: Instant) -> UsersLastHour {
    let recent = |t: Instant| now.saturating_duration_since(t) < RECENT;
    let mut out = UsersLastHour::default();
    for (name, s) in &state.users {
        // Signed-in users only: `guest` is everyone else, `other` many users.
        if name == OTHER || name == GUEST || !recent(s.last_seen) {
            continue;
        }
        if s.last_error.is_some_and(recent) {
            out.with_errors += 1;
        } else {
            out.all_ok += 1;
        }
    }
    out
}

/// `user`'s entry, made on first sight; past [`MAX_USERS`] users, the shared `other`.
fn user_entry<'a>(users: &'a mut HashMap<String, UserStats>, user: &str) -> &'a mut UserStats {
    let key = if users.contains_key(user) || users.len() < MAX_USERS {
        user
    } else {
        OTHER
    };
    if !users.contains_key(key) {
        users.insert(key.to_owned(), UserStats::new());
    }
    users.get_mut(key).expect("inserted above")
}

/// The working trace a failed or slow visit is compared with (not itself).
fn compare_with(v: &Visit, working: &WorkingTraces) -> Option<TraceId> {
    if !(v.failed() || v.latency_ms >= SLOW_MS) {
        return None;
    }
    working
        .get(v.method.as_str(), v.route())
        .filter(|w| Some(*w) != v.trace)
}

fn view(v: &Visit, compare_with: Option<TraceId>) -> VisitView {
    VisitView {
        at: v.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        method: v.method.to_string(),
        route: v.route().to_owned(),
        status: v.status,
        latency_ms: (v.latency_ms * 10.0).round() / 10.0,
        trace_id: v.trace.map(|t| t.to_string()),
        failed: v.failed(),
        slow: v.latency_ms >= SLOW_MS,
        compare_with: compare_with.map(|w| w.to_string()),
    }
}
