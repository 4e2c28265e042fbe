//! All SQL on the insight tables (migrations/20261208000001_shared_insights.sql): one
//! batch written in one transaction, the windows pruned, the pages' reads.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use common::{db::Database, session::OTHER};
use sqlx::{FromRow, PgConnection, PgPool};

use super::{
    RECENT, UsersLastHour,
    pending::{Counts, Pending},
    user::{DONE_SAMPLES, ERROR_TRACES, JOURNEY_LEN, LATENCY_SAMPLES},
};

/// Writes `batch`: each user's counters (under their row, or `other`'s past
/// [`MAX_USERS`]), their requests, completions, and the routes' working traces. Returns
/// each row's counters as written (for the cost metric).
pub async fn write(pool: &PgPool, batch: &Pending) -> Result<HashMap<String, Counts>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // First seen, first served: the bound gives rows in the order users arrived.
    let mut names: Vec<&str> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let arrived = batch.visits.iter().map(|(u, _)| u.as_str());
    let rest = batch
        .users
        .keys()
        .chain(batch.completions.iter().map(|(u, _, _)| u));
    for name in arrived.chain(rest.map(String::as_str)) {
        if seen.insert(name) {
            names.push(name);
        }
    }
    let rows = common::cost::user_rows(&mut tx, &names).await?;
    let slots: HashMap<&str, String> = names.iter().copied().zip(rows).collect();
    let slot = |user: &str| slots.get(user).map_or(OTHER, String::as_str).to_owned();

    let mut by_slot: HashMap<String, Counts> = HashMap::new();
    for (user, counts) in &batch.users {
        by_slot.entry(slot(user)).or_default().add(counts);
    }
    add_counts(&mut tx, &by_slot).await?;
    add_visits(&mut tx, batch, &slot).await?;
    if !batch.completions.is_empty() {
        let users: Vec<String> = batch.completions.iter().map(|(u, _, _)| slot(u)).collect();
        let at: Vec<DateTime<Utc>> = batch.completions.iter().map(|(_, at, _)| *at).collect();
        let done: Vec<f64> = batch.completions.iter().map(|(_, _, d)| *d).collect();
        sqlx::query(
            "INSERT INTO insight_completions (user_name, at, done_in_s) \
             SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::float8[])",
        )
        .bind(users)
        .bind(at)
        .bind(done)
        .execute(&mut *tx)
        .await?;
    }
    if !batch.working.0.is_empty() {
        let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (method, route, trace, at) in &batch.working.0 {
            columns.0.push(method.as_str().to_owned());
            columns.1.push(route.as_str().to_owned());
            columns.2.push(trace.to_string());
            columns.3.push(*at);
        }
        sqlx::query(
            "INSERT INTO working_traces (method, route, trace_id, at) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) \
             ON CONFLICT (method, route) DO UPDATE SET trace_id = excluded.trace_id, at = excluded.at \
             WHERE excluded.at > working_traces.at",
        )
        .bind(columns.0)
        .bind(columns.1)
        .bind(columns.2)
        .bind(columns.3)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(by_slot)
}

async fn add_counts(
    tx: &mut PgConnection,
    by_slot: &HashMap<String, Counts>,
) -> Result<(), sqlx::Error> {
    if by_slot.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&Counts) -> i64| by_slot.values().map(f).collect::<Vec<i64>>();
    let users: Vec<&str> = by_slot.keys().map(String::as_str).collect();
    sqlx::query(
        "UPDATE insight_users u SET \
           requests = u.requests + d.requests, errors = u.errors + d.errors, \
           writes = u.writes + d.writes, writes_over_5ms = u.writes_over_5ms + d.o5, \
           writes_over_10ms = u.writes_over_10ms + d.o10, \
           writes_over_100ms = u.writes_over_100ms + d.o100, \
           todos_created = u.todos_created + d.created, \
           todos_completed = u.todos_completed + d.completed, \
           web_cpu_us = u.web_cpu_us + d.cpu, db_us = u.db_us + d.db, \
           sqs_requests = u.sqs_requests + d.sqs, s3_puts = u.s3_puts + d.puts, \
           s3_gets = u.s3_gets + d.gets, \
           last_seen = GREATEST(u.last_seen, d.last_seen), \
           last_error = GREATEST(u.last_error, d.last_error) \
         FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], \
                     $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[], \
                     $13::int8[], $14::int8[], $15::timestamptz[], $16::timestamptz[]) \
           AS d(user_name, requests, errors, writes, o5, o10, o100, created, completed, cpu, db, \
                sqs, puts, gets, last_seen, last_error) \
         WHERE u.user_name = d.user_name",
    )
    .bind(users)
    .bind(column(|c| c.requests))
    .bind(column(|c| c.errors))
    .bind(column(|c| c.writes))
    .bind(column(|c| c.writes_over[0]))
    .bind(column(|c| c.writes_over[1]))
    .bind(column(|c| c.writes_over[2]))
    .bind(column(|c| c.created))
    .bind(column(|c| c.completed))
    .bind(column(|c| c.web_cpu_us))
    .bind(column(|c| c.db_us))
    .bind(column(|c| c.sqs_requests))
    .bind(column(|c| c.s3_puts))
    .bind(column(|c| c.s3_gets))
    .bind(by_slot.values().map(|c| c.last_seen).collect::<Vec<_>>())
    .bind(by_slot.values().map(|c| c.last_error).collect::<Vec<_>>())
    .execute(tx)
    .await?;
    Ok(())
}

async fn add_visits(
    tx: &mut PgConnection,
    batch: &Pending,
    slot: &impl Fn(&str) -> String,
) -> Result<(), sqlx::Error> {
    if batch.visits.is_empty() {
        return Ok(());
    }
    let n = batch.visits.len();
    let (mut users, mut at, mut methods, mut routes, mut statuses, mut latencies, mut traces) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (user, v) in &batch.visits {
        users.push(slot(user));
        at.push(v.at);
        methods.push(v.method.as_str().to_owned());
        routes.push(v.route().to_owned());
        statuses.push(v.status as i16);
        latencies.push(v.latency_ms);
        traces.push(v.trace.map(|t| t.to_string()));
    }
    sqlx::query(
        "INSERT INTO insight_visits (user_name, at, method, route, status, latency_ms, trace_id) \
         SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::int2[], \
                              $6::float8[], $7::text[])",
    )
    .bind(users)
    .bind(at)
    .bind(methods)
    .bind(routes)
    .bind(statuses)
    .bind(latencies)
    .bind(traces)
    .execute(tx)
    .await?;
    Ok(())
}

/// Keeps each of `users`' windows to its size (their last failed requests too, for the
/// error traces), and everyone's to `retention_days`.
pub async fn prune(
    pool: &PgPool,
    users: &[String],
    retention_days: i32,
) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut removed = sqlx::query(
        "DELETE FROM insight_visits v USING ( \
           SELECT id, status, \
             row_number() OVER (PARTITION BY user_name ORDER BY at DESC, id DESC) AS n, \
             row_number() OVER (PARTITION BY user_name, status >= 500 ORDER BY at DESC, id DESC) AS n_kind \
           FROM insight_visits WHERE user_name = ANY($1)) old \
         WHERE v.id = old.id AND old.n > $2 AND (old.status < 500 OR old.n_kind > $3)",
    )
    .bind(users)
    .bind(LATENCY_SAMPLES)
    .bind(ERROR_TRACES)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    removed += sqlx::query(
        "DELETE FROM insight_completions c USING ( \
           SELECT id, row_number() OVER (PARTITION BY user_name ORDER BY at DESC, id DESC) AS n \
           FROM insight_completions WHERE user_name = ANY($1)) old \
         WHERE c.id = old.id AND old.n > $2",
    )
    .bind(users)
    .bind(DONE_SAMPLES)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    for sql in [
        "DELETE FROM insight_visits WHERE at < now() - make_interval(days => $1)",
        "DELETE FROM insight_completions WHERE at < now() - make_interval(days => $1)",
        "DELETE FROM working_traces WHERE at < now() - make_interval(days => $1)",
        "DELETE FROM insight_users WHERE last_seen < now() - make_interval(days => $1)",
    ] {
        removed += sqlx::query(sql)
            .bind(retention_days)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    tx.commit().await?;
    Ok(removed)
}

/// Every route's working trace, and the last hour's users (for the gauge and the pages).
pub async fn refresh(
    pool: &PgPool,
) -> Result<(Vec<(String, String, String)>, UsersLastHour), sqlx::Error> {
    let working = sqlx::query_as(
        "SELECT method, route, trace_id FROM working_traces ORDER BY at DESC LIMIT $1",
    )
    .bind(super::working::MAX_ROUTES as i64)
    .fetch_all(pool)
    .await?;
    let (with_errors, all_ok): (i64, i64) = sqlx::query_as(LAST_HOUR)
        .bind(RECENT.as_secs_f64())
        .fetch_one(pool)
        .await?;
    Ok((
        working,
        UsersLastHour {
            with_errors: with_errors as u64,
            all_ok: all_ok as u64,
        },
    ))
}

/// Signed-in users only: `guest` is everyone else, `other` many users.
const LAST_HOUR: &str = "SELECT \
      count(*) FILTER (WHERE last_error > now() - make_interval(secs => $1)), \
      count(*) FILTER (WHERE last_error IS NULL OR last_error <= now() - make_interval(secs => $1)) \
    FROM insight_users \
    WHERE user_name NOT IN ('guest', 'other') AND last_seen > now() - make_interval(secs => $1)";

/// A user's row with the figures taken from their windows.
#[derive(FromRow)]
pub struct UserRow {
    pub user_name: String,
    pub requests: i64,
    pub errors: i64,
    pub writes: i64,
    pub writes_over_5ms: i64,
    pub writes_over_10ms: i64,
    pub writes_over_100ms: i64,
    pub todos_created: i64,
    pub todos_completed: i64,
    pub web_cpu_us: i64,
    pub db_us: i64,
    pub worker_mb_ms: i64,
    pub worker_records: i64,
    pub sqs_requests: i64,
    pub s3_puts: i64,
    pub s3_gets: i64,
    pub error_recently: bool,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub median_done_s: Option<f64>,
    pub bytes_stored: i64,
}

/// A request, as stored.
#[derive(FromRow)]
pub struct VisitRow {
    pub user_name: String,
    pub at: DateTime<Utc>,
    pub method: String,
    pub route: String,
    pub status: i16,
    pub latency_ms: f64,
    pub trace_id: Option<String>,
}

/// One SELECT's span, outside any request's faults: the insights are how one looks at
/// a fault, so `db_unavailable` and `slow_db` do not reach them.
async fn traced<T>(
    db: &Database,
    name: &'static str,
    sql: &'static str,
    run: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    let mut span = db.span(name, sql, None);
    let result = run.await;
    if let Err(e) = &result {
        common::spans::record_error(&mut span, "db_error", e);
    }
    result
}

const USERS: &str = "SELECT u.user_name, u.requests, u.errors, u.writes, u.writes_over_5ms, \
      u.writes_over_10ms, u.writes_over_100ms, u.todos_created, u.todos_completed, \
      u.web_cpu_us, u.db_us, u.worker_mb_ms, u.worker_records, u.sqs_requests, u.s3_puts, \
      u.s3_gets, COALESCE(u.last_error > now() - make_interval(secs => $1), false) AS error_recently, \
      p.p50_ms, p.p95_ms, c.median_done_s, COALESCE(b.bytes, 0)::int8 AS bytes_stored \
    FROM insight_users u \
    LEFT JOIN LATERAL ( \
      SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50_ms, \
             percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_ms \
      FROM (SELECT latency_ms FROM insight_visits v WHERE v.user_name = u.user_name \
            ORDER BY at DESC, id DESC LIMIT $2) w) p ON true \
    LEFT JOIN LATERAL ( \
      SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY done_in_s) AS median_done_s \
      FROM (SELECT done_in_s FROM insight_completions c WHERE c.user_name = u.user_name \
            ORDER BY at DESC, id DESC LIMIT $3) w) c ON true \
    LEFT JOIN LATERAL ( \
      SELECT sum(size) AS bytes FROM attachments a WHERE a.owner = u.user_name) b ON true \
    ORDER BY u.user_name";

const ERRORS: &str = "SELECT e.user_name, e.at, e.method, e.route, e.status, e.latency_ms, e.trace_id \
    FROM insight_users u CROSS JOIN LATERAL ( \
      SELECT * FROM insight_visits v \
      WHERE v.user_name = u.user_name AND v.status >= 500 AND v.trace_id IS NOT NULL \
      ORDER BY at DESC, id DESC LIMIT $1) e \
    ORDER BY e.user_name, e.at DESC, e.id DESC";

/// Every user's row, and their last errors (newest first).
pub async fn users(db: &Database) -> Result<(Vec<UserRow>, Vec<VisitRow>), sqlx::Error> {
    let users = traced(
        db,
        "SELECT insight_users",
        USERS,
        sqlx::query_as(USERS)
            .bind(RECENT.as_secs_f64())
            .bind(LATENCY_SAMPLES)
            .bind(DONE_SAMPLES)
            .fetch_all(db.pool()),
    )
    .await?;
    let errors = traced(
        db,
        "SELECT insight_visits",
        ERRORS,
        sqlx::query_as(ERRORS)
            .bind(ERROR_TRACES)
            .fetch_all(db.pool()),
    )
    .await?;
    Ok((users, errors))
}

const JOURNEY: &str = "SELECT * FROM ( \
      SELECT user_name, at, method, route, status, latency_ms, trace_id, id FROM insight_visits \
      WHERE user_name = $1 ORDER BY at DESC, id DESC LIMIT $2) last ORDER BY at, id";

/// `user`'s last requests, in the order they started.
pub async fn journey(db: &Database, user: &str) -> Result<Vec<VisitRow>, sqlx::Error> {
    traced(
        db,
        "SELECT insight_visits",
        JOURNEY,
        sqlx::query_as(JOURNEY)
            .bind(user)
            .bind(JOURNEY_LEN)
            .fetch_all(db.pool()),
    )
    .await
}
