use std::collections::HashMap;

use common::{
    db::{query_span, traced},
    job::{Job, JobMessage},
    propagation,
};
use sqlx::{FromRow, PgExecutor};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

/// Records a job as `pending` in the same transaction as the change that caused it,
/// with the request's trace context, so the relay can send it later in the same trace.
pub async fn insert(
    db: impl PgExecutor<'_>,
    message: &JobMessage,
    trace_id: &str,
) -> Result<(), sqlx::Error> {
    let cx = common::context::with_baggage(tracing::Span::current().context());
    let fields = propagation::inject_fields(&cx);
    const SQL: &str = "INSERT INTO jobs (id, todo_id, kind, trace_id, traceparent, baggage) \
        VALUES ($1, $2, $3, $4, $5, $6)";
    traced(
        query_span("INSERT", "jobs", SQL),
        sqlx::query(SQL)
            .bind(message.job_id)
            .bind(message.job.todo_id())
            .bind(message.job.kind())
            .bind(trace_id)
            .bind(fields.get("traceparent"))
            .bind(fields.get("baggage"))
            .execute(db),
    )
    .await
    .map(|_| ())
}

/// `pending` → `queued` once SQS has the message. The worker may already have
/// finished it (it is fast), so only a still-pending job moves.
pub async fn mark_queued(
    db: impl PgExecutor<'_>,
    job_id: Uuid,
    message_id: &str,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE jobs SET state = 'queued', message_id = $2, sent_at = now(), \
        updated_at = now() WHERE id = $1 AND state = 'pending'";
    traced(
        query_span("UPDATE", "jobs", SQL),
        sqlx::query(SQL).bind(job_id).bind(message_id).execute(db),
    )
    .await
    .map(|_| ())
}

/// Locks a still-pending job for sending; false when it is not pending any more or
/// the relay holds it.
pub async fn claim_pending(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    const SQL: &str =
        "SELECT id FROM jobs WHERE id = $1 AND state = 'pending' FOR UPDATE SKIP LOCKED";
    traced(
        query_span("SELECT", "jobs", SQL),
        sqlx::query_scalar::<_, Uuid>(SQL)
            .bind(id)
            .fetch_optional(db),
    )
    .await
    .map(|row| row.is_some())
}

/// A job the relay has to (re)send.
#[derive(Debug, Clone, FromRow)]
pub struct PendingJob {
    pub id: Uuid,
    pub todo_id: Option<Uuid>,
    pub kind: String,
    pub traceparent: Option<String>,
    pub baggage: Option<String>,
}

impl PendingJob {
    pub fn message(&self) -> Option<JobMessage> {
        Job::from_parts(&self.kind, self.todo_id).map(|job| JobMessage {
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
/// request), locked so that two web instances never send the same job.
pub async fn lock_pending(
    db: impl PgExecutor<'_>,
    grace_ms: i64,
    limit: i64,
) -> Result<Vec<PendingJob>, sqlx::Error> {
    const SQL: &str = "SELECT id, todo_id, kind, traceparent, baggage FROM jobs \
        WHERE state = 'pending' AND created_at < now() - make_interval(secs => $1 / 1000.0) \
        ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED";
    // Not traced while idle: one trace per poll would bury the real ones in Jaeger.
    sqlx::query_as(SQL)
        .bind(grace_ms as f64)
        .bind(limit)
        .fetch_all(db)
        .await
}

/// A dead-lettered job, for the dead-letters page.
#[derive(Debug, FromRow)]
pub struct DeadJob {
    #[sqlx(flatten)]
    pub pending: PendingJob,
    pub title: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub trace_id: Option<String>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl std::ops::Deref for DeadJob {
    type Target = PendingJob;
    fn deref(&self) -> &PendingJob {
        &self.pending
    }
}

pub async fn dead(pool: &sqlx::PgPool) -> Result<Vec<DeadJob>, sqlx::Error> {
    const SQL: &str = "SELECT j.id, j.todo_id, j.kind, j.traceparent, j.baggage, t.title, \
        j.attempts, j.last_error, j.trace_id, j.updated_at FROM jobs j \
        LEFT JOIN todos t ON t.id = j.todo_id WHERE j.state = 'dead' ORDER BY j.updated_at DESC LIMIT 200";
    traced(
        query_span("SELECT", "jobs", SQL),
        sqlx::query_as(SQL).fetch_all(pool),
    )
    .await
}

/// Back in the queue after a redrive: attempts start again; the row now points at the
/// redrive's trace.
pub async fn redriven(
    db: impl PgExecutor<'_>,
    id: Uuid,
    message_id: &str,
    trace_id: &str,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE jobs SET state = 'queued', attempts = 0, last_error = NULL, \
        message_id = $2, trace_id = $3, sent_at = now(), updated_at = now() \
        WHERE id = $1 AND state = 'dead'";
    traced(
        query_span("UPDATE", "jobs", SQL),
        sqlx::query(SQL)
            .bind(id)
            .bind(message_id)
            .bind(trace_id)
            .execute(db),
    )
    .await
    .map(|_| ())
}
