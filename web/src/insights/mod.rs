//! Application questions answered from the app's own measurements, per user: what
//! share of their database writes took longer than 5, 10, 100 ms; their error rate and
//! request latency; the traces of their last errors; their journey (last requests in
//! order); their to-dos created and completed and the median time to done; what they
//! cost; and, over all users, who hit an error in the last hour and whose every click
//! worked. Also the latest working trace of each route, to compare a broken one with.
//!
//! Shared by every web task and kept across restarts, in PostgreSQL (ARCHITECTURE.md
//! says why there): the request path only adds to this process's [`pending::Pending`]
//! (one lock, no I/O); [`Insights::run_flusher`] writes it in one transaction every
//! `INSIGHTS_FLUSH_MS`, and at shutdown. A page flushes this process's batch before it
//! reads, so a user's own clicks are always there; another task's arrive within its
//! flush interval. The insights hear of queries as the database's observer, of SQS and
//! S3 calls as their observer, of requests from `observe::requests`, of to-dos from
//! `observe::todo_*`.

mod pending;
mod store;
mod user;
mod working;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::{
    cost::{Billed, Cost, Prices, Usage, UsageObserver},
    db::{Database, QueryObserver},
    metrics::Metrics,
    session::GUEST,
};
use opentelemetry::trace::TraceId;
use serde::Serialize;
use sqlx::PgPool;

pub use user::{JOURNEY_LEN, Visit};
pub use working::SLOW_MS;

use pending::Pending;
use working::WorkingTraces;

pub use common::cost::MAX_USERS;

/// "Recently": the window of the users-with-errors count.
pub const RECENT: Duration = Duration::from_secs(3600);

/// Thresholds for the write-latency shares, in milliseconds.
pub const THRESHOLDS_MS: [u64; 3] = [5, 10, 100];

/// Users whose windows are pruned at most this often (each batch notes who to prune).
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// `INSIGHTS_FLUSH_MS`, `INSIGHTS_RETENTION_DAYS`, `PRICES`.
#[derive(Debug, Clone)]
pub struct InsightsConfig {
    pub flush_every: Duration,
    pub retention_days: i32,
    pub prices: Prices,
}

impl Default for InsightsConfig {
    fn default() -> Self {
        Self {
            flush_every: Duration::from_secs(1),
            retention_days: 30,
            prices: Prices::default(),
        }
    }
}

/// Each user's figures (`guest` when nobody signed in). A handle: clones share it.
#[derive(Clone)]
pub struct Insights(Arc<Inner>);

struct Inner {
    pool: PgPool,
    config: InsightsConfig,
    metrics: Metrics,
    pending: Mutex<Pending>,
    /// One batch at a time (the flusher's, a page's, shutdown's): in order, never twice.
    writing: tokio::sync::Mutex<Prune>,
    /// Everyone's working traces, and the last hour's users, as of the last batch.
    shared: Mutex<(WorkingTraces, UsersLastHour)>,
}

/// Who was written since the last prune, and when that was.
struct Prune {
    users: std::collections::HashSet<String>,
    last: Instant,
}

impl QueryObserver for Insights {
    /// Adds the query's time to its user's (cost), and counts writes by duration.
    fn query(&self, user: Option<&str>, operation: &'static str, elapsed: Duration, ok: bool) {
        let write = ok && matches!(operation, "INSERT" | "UPDATE" | "DELETE");
        let ms = elapsed.as_secs_f64() * 1000.0;
        let mut pending = self.lock();
        let counts = pending.user(user.unwrap_or(GUEST));
        counts.db_us += elapsed.as_micros() as i64;
        if write {
            counts.writes += 1;
            for (i, threshold) in THRESHOLDS_MS.iter().enumerate() {
                if ms > *threshold as f64 {
                    counts.writes_over[i] += 1;
                }
            }
        }
    }
}

impl UsageObserver for Insights {
    fn billed(&self, user: &str, call: Billed) {
        let mut pending = self.lock();
        let counts = pending.user(user);
        match call {
            Billed::SqsRequest => counts.sqs_requests += 1,
            Billed::S3Put => counts.s3_puts += 1,
            Billed::S3Get => counts.s3_gets += 1,
            Billed::S3Free => {}
        }
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
    /// Of their last 2,000 requests (`percentile_disc`).
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
    /// What their requests and jobs used, and what that cost.
    pub usage: Usage,
    pub cost: Cost,
    /// `cost.total_usd` over the to-dos they created.
    pub cost_per_todo_usd: Option<f64>,
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
    /// The price table the costs are estimated with, and its source.
    pub prices: Prices,
    pub prices_as_of: &'static str,
    pub prices_region: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Journey {
    pub user: String,
    /// Oldest first, at most [`JOURNEY_LEN`].
    pub visits: Vec<VisitView>,
}

impl Insights {
    /// Insights kept on `pool` (migrated), the cost metric recorded through `metrics`.
    pub fn new(pool: PgPool, config: InsightsConfig, metrics: Metrics) -> Self {
        Self(Arc::new(Inner {
            pool,
            config,
            metrics,
            pending: Mutex::default(),
            writing: tokio::sync::Mutex::new(Prune {
                users: Default::default(),
                last: Instant::now(),
            }),
            shared: Mutex::default(),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.0.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, (WorkingTraces, UsersLastHour)> {
        self.0.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One finished request of `user`, which used `cpu` of this process. A sampled one
    /// that worked (below 400, not slow) becomes its route's working example.
    pub fn record_request(&self, user: &str, visit: Visit, cpu: Duration) {
        let mut pending = self.lock();
        if let (Some(trace), Some(route)) = (visit.trace, &visit.route)
            && visit.status < 400
            && visit.latency_ms < SLOW_MS
        {
            pending
                .working
                .record(&visit.method, route, trace, visit.at);
        }
        let counts = pending.user(user);
        counts.requests += 1;
        counts.web_cpu_us += cpu.as_micros() as i64;
        counts.last_seen = counts.last_seen.max(Some(visit.at));
        if visit.failed() {
            counts.errors += 1;
            counts.last_error = counts.last_error.max(Some(visit.at));
        }
        pending.visit(user, visit);
    }

    pub fn todo_created(&self, user: &str) {
        self.lock().user(user).created += 1;
    }

    pub fn todo_completed(&self, user: &str, time_to_done: Duration) {
        let mut pending = self.lock();
        pending.user(user).completed += 1;
        if pending.completions.len() < pending::MAX_VISITS {
            pending.completions.push((
                user.to_owned(),
                chrono::Utc::now(),
                time_to_done.as_secs_f64(),
            ));
        }
    }

    /// The latest working trace of `method` `route`: this process's newest, else
    /// everyone's as of the last batch.
    pub fn working_trace(&self, method: &str, route: &str) -> Option<TraceId> {
        let own = self.lock().working.get(method, route);
        own.or_else(|| self.shared().0.get(method, route))
    }

    /// Signed-in users seen in the last hour, with and without an error, as of the last
    /// batch (the metrics' gauge reads it; it cannot wait on the database).
    pub fn users_last_hour(&self) -> UsersLastHour {
        self.shared().1
    }

    /// Writes this process's batch, then refreshes the shared working traces and
    /// last-hour counts; prunes the windows of whoever was written, at most every
    /// minute. A batch that fails goes back to be written with the next one. Runs as a
    /// task of its own: a caller that goes away (a closed connection, the flusher
    /// aborted at shutdown) never cancels a batch half-written.
    pub async fn flush(&self) -> Result<(), sqlx::Error> {
        let insights = self.clone();
        tokio::spawn(async move { insights.write_batch().await })
            .await
            .unwrap_or(Err(sqlx::Error::WorkerCrashed))
    }

    async fn write_batch(&self) -> Result<(), sqlx::Error> {
        let mut prune = self.0.writing.lock().await;
        let batch = std::mem::take(&mut *self.lock());
        let pool = &self.0.pool;
        if !batch.is_empty() {
            match store::write(pool, &batch).await {
                Ok(written) => {
                    if batch.dropped > 0 {
                        tracing::warn!(
                            dropped = batch.dropped,
                            "insights: requests dropped while the database could not take them"
                        );
                    }
                    self.record_costs(&written);
                    prune.users.extend(written.into_keys());
                }
                Err(e) => {
                    self.lock().put_back(batch);
                    return Err(e);
                }
            }
        }
        let (working, last_hour) = store::refresh(pool).await?;
        let working = working
            .into_iter()
            .filter_map(|(m, r, t)| Some((m, r, TraceId::from_hex(&t).ok()?)))
            .collect();
        *self.shared() = (WorkingTraces(working), last_hour);
        if prune.last.elapsed() >= PRUNE_EVERY && !prune.users.is_empty() {
            let users: Vec<String> = prune.users.drain().collect();
            prune.last = Instant::now();
            store::prune(pool, &users, self.0.config.retention_days).await?;
        }
        Ok(())
    }

    /// `INSIGHTS_RETENTION_DAYS`.
    pub fn retention_days(&self) -> i32 {
        self.0.config.retention_days
    }

    /// Prunes every window now (tests; the flusher does it every minute).
    pub async fn prune_now(&self) -> Result<u64, sqlx::Error> {
        let users: Vec<String> = sqlx::query_scalar("SELECT user_name FROM insight_users")
            .fetch_all(&self.0.pool)
            .await?;
        store::prune(&self.0.pool, &users, self.0.config.retention_days).await
    }

    /// `todo.user.cost`: what web's part of each user's batch cost.
    fn record_costs(&self, written: &std::collections::HashMap<String, pending::Counts>) {
        for (user, c) in written {
            let usage = Usage {
                web_cpu_s: c.web_cpu_us as f64 / 1e6,
                db_s: c.db_us as f64 / 1e6,
                sqs_requests: c.sqs_requests as u64,
                s3_puts: c.s3_puts as u64,
                s3_gets: c.s3_gets as u64,
                ..Usage::default()
            };
            self.0
                .metrics
                .user_cost(user, self.0.config.prices.cost(&usage).total_usd);
        }
    }

    /// Flushes every `INSIGHTS_FLUSH_MS` until aborted (web's shutdown flushes once more).
    pub async fn run_flusher(self) {
        let mut failing = false;
        loop {
            tokio::time::sleep(self.0.config.flush_every).await;
            match self.flush().await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("insights: written again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "insights: batch not written; kept for the next one");
                }
                Err(_) => {}
            }
        }
    }

    /// Every user's figures, across all web tasks (this one's batch written first).
    pub async fn overview(&self, db: &Database) -> Result<Overview, sqlx::Error> {
        self.flush_for_read().await;
        let (rows, errors) = store::users(db).await?;
        let prices = self.0.config.prices;
        let last_hour = self.users_last_hour();
        let shared = self.shared();
        let pct = |n: i64, of: i64| {
            if of == 0 {
                0.0
            } else {
                100.0 * n as f64 / of as f64
            }
        };
        let users = rows
            .into_iter()
            .map(|r| {
                let usage = Usage {
                    web_cpu_s: r.web_cpu_us as f64 / 1e6,
                    db_s: r.db_us as f64 / 1e6,
                    worker_mb_ms: r.worker_mb_ms as u64,
                    worker_records: r.worker_records as u64,
                    sqs_requests: r.sqs_requests as u64,
                    s3_puts: r.s3_puts as u64,
                    s3_gets: r.s3_gets as u64,
                    bytes_stored: r.bytes_stored as u64,
                };
                let cost = prices.cost(&usage);
                UserInsights {
                    last_errors: errors
                        .iter()
                        .filter(|e| e.user_name == r.user_name)
                        .map(|e| view(e, &shared.0))
                        .collect(),
                    writes_slower_than_pct: [
                        pct(r.writes_over_5ms, r.writes),
                        pct(r.writes_over_10ms, r.writes),
                        pct(r.writes_over_100ms, r.writes),
                    ],
                    writes: r.writes as u64,
                    requests: r.requests as u64,
                    error_rate_pct: pct(r.errors, r.requests),
                    p50_ms: r.p50_ms.unwrap_or(0.0),
                    p95_ms: r.p95_ms.unwrap_or(0.0),
                    todos_created: r.todos_created as u64,
                    todos_completed: r.todos_completed as u64,
                    median_time_to_done_s: r.median_done_s,
                    error_in_last_hour: r.error_recently,
                    cost_per_todo_usd: (r.todos_created > 0)
                        .then(|| cost.total_usd / r.todos_created as f64),
                    usage,
                    cost,
                    user: r.user_name,
                }
            })
            .collect();
        Ok(Overview {
            users,
            last_hour,
            prices,
            prices_as_of: common::cost::PRICES_AS_OF,
            prices_region: common::cost::PRICES_REGION,
        })
    }

    /// `user`'s last requests across all web tasks, in the order they started (they
    /// finish out of order); none for a user never seen.
    pub async fn journey(&self, db: &Database, user: &str) -> Result<Journey, sqlx::Error> {
        self.flush_for_read().await;
        let rows = store::journey(db, user).await?;
        let shared = self.shared();
        Ok(Journey {
            user: user.to_owned(),
            visits: rows.iter().map(|v| view(v, &shared.0)).collect(),
        })
    }

    /// A page shows this process's own latest requests too; if the batch cannot be
    /// written, the page shows what the table has (and the flusher keeps trying).
    async fn flush_for_read(&self) {
        if let Err(e) = self.flush().await {
            tracing::warn!(error = %e, "insights: batch not written before a read");
        }
    }
}

fn view(v: &store::VisitRow, working: &WorkingTraces) -> VisitView {
    let failed = v.status >= 500;
    let slow = v.latency_ms >= SLOW_MS;
    let compare_with = (failed || slow)
        .then(|| working.get(&v.method, &v.route))
        .flatten()
        .map(|w| w.to_string())
        .filter(|w| Some(w) != v.trace_id.as_ref());
    VisitView {
        at: v.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        method: v.method.clone(),
        route: v.route.clone(),
        status: v.status as u16,
        latency_ms: (v.latency_ms * 10.0).round() / 10.0,
        trace_id: v.trace_id.clone(),
        failed,
        slow,
        compare_with,
    }
}
