//! Every query web makes on the jobs table (the outbox), each in a DB client span but
//! the relay's idle polls.

use std::collections::HashMap;

use common::{
    db::Db,
    job::{Job, JobMessage},
    telemetry::propagation,
};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

/// Records a job as `pending` in the transaction of the change that caused it, with the
/// current span's trace context and the work's baggage (user, fault scope), so the relay
/// can send it later in the same trace.
pub async fn insert(
    db: &Db,
    conn: &mut PgConnection,
    message: &JobMessage,
    trace_id: &str,
) -> Result<(), sqlx::Error> {
    let cx = db.session().into_baggage(opentelemetry::Context::current());
    let fields = propagation::inject_fields(&cx);
    const SQL: &str = "INSERT INTO jobs (id, todo_id, kind, trace_id, traceparent, baggage, attachment_id) \
        VALUES ($1, $2, $3, $4, $5, $6, $7)";
    db.run(
        db.span("INSERT jobs", SQL),
        sqlx::query(SQL)
            .bind(message.job_id)
            .bind(message.job.todo_id())
            .bind(message.job.kind())
            .bind(trace_id)
            .bind(fields.get("traceparent"))
            .bind(fields.get("baggage"))
            .bind(message.job.attachment_id())
            .execute(conn),
    )
    .await
    .map(|_| ())
}

/// Locks a still-pending job for sending; false when it is not pending any more or
/// the relay holds it.
pub async fn claim_pending(
    db: &Db,
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    const SQL: &str =
        "SELECT id FROM jobs WHERE id = $1 AND state = 'pending' FOR UPDATE SKIP LOCKED";
    db.run(
        db.span("SELECT jobs", SQL),
        sqlx::query_scalar::<_, Uuid>(SQL)
            .bind(id)
            .fetch_optional(conn),
    )
    .await
    .map(|row| row.is_some())
}

/// `pending` → `queued` once SQS has the message. The worker may already have
/// finished it (it is fast), so only a still-pending job moves.
pub async fn mark_queued(
    db: &Db,
    conn: &mut PgConnection,
    job_id: Uuid,
    message_id: &str,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE jobs SET state = 'queued', message_id = $2, sent_at = now(), \
        updated_at = now() WHERE id = $1 AND state = 'pending'";
    db.run(
        db.span("UPDATE jobs", SQL),
        sqlx::query(SQL).bind(job_id).bind(message_id).execute(conn),
    )
    .await
    .map(|_| ())
}

/// Locks the jobs of the owner's to-dos a delete is about to touch (`id`, or with `None`
/// the completed ones). Deleting a to-do sets its jobs' `todo_id` to NULL, which locks
/// those job rows; the worker locks a job row first and the to-do second. Taking the job
/// rows first here too keeps one lock order, so a delete racing a job waits for it
/// instead of deadlocking.
pub async fn lock_jobs_of_todos(
    db: &Db,
    conn: &mut PgConnection,
    id: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "SELECT j.id FROM jobs j JOIN todos t ON t.id = j.todo_id \
        WHERE t.owner = $1 AND ($2::uuid IS NULL AND t.completed OR t.id = $2) \
        ORDER BY j.id FOR UPDATE OF j";
    db.run(
        db.span("SELECT jobs", SQL),
        sqlx::query(SQL)
            .bind(db.session().owner())
            .bind(id)
            .execute(conn),
    )
    .await
    .map(|_| ())
}

/// A job as stored: enough to send it again in the trace that caused it.
#[derive(Debug, Clone, FromRow)]
pub struct StoredJob {
    pub id: Uuid,
    pub todo_id: Option<Uuid>,
    pub attachment_id: Option<Uuid>,
    pub kind: String,
    pub traceparent: Option<String>,
    pub baggage: Option<String>,
}

impl StoredJob {
    pub fn message(&self) -> Option<JobMessage> {
        Job::from_parts(&self.kind, self.todo_id, self.attachment_id).map(|job| JobMessage {
            v: common::job::VERSION,
            job_id: self.id,
            job,
        })
    }

    /// The stored trace context of the request that caused the job.
    pub fn origin(&self) -> opentelemetry::Context {
        let mut fields = HashMap::new();
        if let Some(tp) = &self.traceparent {
            fields.insert("traceparent".to_owned(), tp.clone());
        }
        if let Some(b) = &self.baggage {
            fields.insert("baggage".to_owned(), b.clone());
        }
        propagation::extract_fields(&fields)
    }
}

/// Pending jobs older than `grace_ms` (younger ones are still being sent by their
/// request), locked so that two web instances never send the same job. Not traced while
/// idle: one trace per poll would bury the real ones in Jaeger.
pub async fn lock_pending(
    conn: &mut PgConnection,
    grace_ms: i64,
    limit: i64,
) -> Result<Vec<StoredJob>, sqlx::Error> {
    const SQL: &str = "SELECT id, todo_id, attachment_id, kind, traceparent, baggage FROM jobs \
        WHERE state = 'pending' AND created_at < now() - make_interval(secs => $1 / 1000.0) \
        ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED";
    sqlx::query_as(SQL)
        .bind(grace_ms as f64)
        .bind(limit)
        .fetch_all(conn)
        .await
}

/// A dead-lettered job, for the dead-letters page.
#[derive(Debug, FromRow)]
pub struct DeadJob {
    #[sqlx(flatten)]
    pub stored: StoredJob,
    pub title: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub trace_id: Option<String>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl std::ops::Deref for DeadJob {
    type Target = StoredJob;
    fn deref(&self) -> &StoredJob {
        &self.stored
    }
}

/// The dead-letter query with `$tail` appended (a macro, so each query stays one
/// literal, as a span's query text must be).
macro_rules! dead_sql {
    ($tail:literal) => {
        concat!(
            "SELECT j.id, j.todo_id, j.attachment_id, j.kind, j.traceparent, j.baggage, t.title, \
             j.attempts, j.last_error, j.trace_id, j.updated_at FROM jobs j \
             LEFT JOIN todos t ON t.id = j.todo_id WHERE j.state = 'dead'",
            $tail
        )
    };
}

pub async fn dead(db: &Db) -> Result<Vec<DeadJob>, sqlx::Error> {
    const SQL: &str = dead_sql!(" ORDER BY j.updated_at DESC LIMIT 200");
    db.run(
        db.span("SELECT jobs", SQL),
        sqlx::query_as(SQL).fetch_all(db.pool()),
    )
    .await
}

pub async fn dead_one(db: &Db, id: Uuid) -> Result<Option<DeadJob>, sqlx::Error> {
    const SQL: &str = dead_sql!(" AND j.id = $1");
    db.run(
        db.span("SELECT jobs", SQL),
        sqlx::query_as(SQL).bind(id).fetch_optional(db.pool()),
    )
    .await
}

/// Back in the queue after a redrive: attempts start again; the row now points at the
/// redrive's trace.
pub async fn redriven(
    db: &Db,
    id: Uuid,
    message_id: &str,
    trace_id: &str,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE jobs SET state = 'queued', attempts = 0, last_error = NULL, \
        message_id = $2, trace_id = $3, sent_at = now(), updated_at = now() \
        WHERE id = $1 AND state = 'dead'";
    db.run(
        db.span("UPDATE jobs", SQL),
        sqlx::query(SQL)
            .bind(id)
            .bind(message_id)
            .bind(trace_id)
            .execute(db.pool()),
    )
    .await
    .map(|_| ())
}

/// Marks the jobs whose message sits in the DLQ as `dead` (a periodic background
/// check: untraced). Returns how many changed.
pub async fn mark_dead(pool: &PgPool, ids: &[Uuid]) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE jobs SET state = 'dead', updated_at = now() \
         WHERE id = ANY($1) AND state NOT IN ('done', 'dead')",
    )
    .bind(ids)
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
}

/// Age of the oldest job not yet done (untraced, like the relay's polls).
pub async fn oldest_unfinished_age(pool: &PgPool) -> Result<std::time::Duration, sqlx::Error> {
    let age: Option<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM now() - min(created_at))::float8 FROM jobs \
         WHERE state IN ('pending', 'queued', 'failed')",
    )
    .fetch_one(pool)
    .await?;
    Ok(std::time::Duration::from_secs_f64(
        age.unwrap_or(0.0).max(0.0),
    ))
}

/// A job a request caused (the job row keeps the trace of the request that recorded
/// it), for the journey page.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct CausedJob {
    pub trace_id: String,
    pub id: Uuid,
    pub kind: String,
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub title: Option<String>,
}

/// The jobs `owner`'s requests of `trace_ids` caused, oldest first (through the owner's
/// to-dos: jobs of deleted to-dos are not found).
pub async fn caused_by(
    db: &Db,
    owner: &str,
    trace_ids: &[String],
) -> Result<Vec<CausedJob>, sqlx::Error> {
    const SQL: &str = "SELECT j.trace_id, j.id, j.kind, j.state, j.attempts, j.last_error, \
        t.title FROM todos t JOIN jobs j ON j.todo_id = t.id \
        WHERE t.owner = $1 AND j.trace_id = ANY($2) ORDER BY j.created_at";
    db.run(
        db.span("SELECT jobs", SQL),
        sqlx::query_as(SQL)
            .bind(owner)
            .bind(trace_ids)
            .fetch_all(db.pool()),
    )
    .await
}

/// For each of `kinds` (repeats are fine), the trace of its latest job that was done
/// and sampled (its stored `traceparent` ends in flags `01`, so Jaeger has it): the
/// working example a failed or dead job of that kind is compared with. No kinds, no
/// query: pages call this for every render.
pub async fn working_traces<'a>(
    db: &Db,
    kinds: impl IntoIterator<Item = &'a str>,
) -> Result<HashMap<String, String>, sqlx::Error> {
    let mut kinds: Vec<&str> = kinds.into_iter().collect();
    kinds.sort_unstable();
    kinds.dedup();
    if kinds.is_empty() {
        return Ok(HashMap::new());
    }
    const SQL: &str = "SELECT k.kind, (SELECT j.trace_id FROM jobs j WHERE j.kind = k.kind \
        AND j.state = 'done' AND j.trace_id IS NOT NULL AND j.traceparent LIKE '%-01' \
        ORDER BY j.updated_at DESC LIMIT 1) \
        FROM unnest($1::text[]) AS k(kind)";
    let rows: Vec<(String, Option<String>)> = db
        .run(
            db.span("SELECT jobs", SQL),
            sqlx::query_as(SQL).bind(&kinds).fetch_all(db.pool()),
        )
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(kind, trace)| Some((kind, trace?)))
        .collect())
}
