use common::{
    db::{query_span, traced},
    job::JobMessage,
};
use sqlx::PgExecutor;

/// Records a job as `pending` in the same transaction as the change that caused it.
pub async fn insert(
    db: impl PgExecutor<'_>,
    message: &JobMessage,
    trace_id: &str,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO jobs (id, todo_id, kind, trace_id) VALUES ($1, $2, $3, $4)";
    traced(
        query_span("INSERT", "jobs", SQL),
        sqlx::query(SQL)
            .bind(message.job_id)
            .bind(message.job.todo_id())
            .bind(message.job.kind())
            .bind(trace_id)
            .execute(db),
    )
    .await
    .map(|_| ())
}

/// `pending` → `queued` once SQS has the message. The worker may already have
/// finished it (it is fast), so only a still-pending job moves.
pub async fn mark_queued(
    db: impl PgExecutor<'_>,
    message: &JobMessage,
    message_id: &str,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE jobs SET state = 'queued', message_id = $2, updated_at = now() \
        WHERE id = $1 AND state = 'pending'";
    traced(
        query_span("UPDATE", "jobs", SQL),
        sqlx::query(SQL)
            .bind(message.job_id)
            .bind(message_id)
            .execute(db),
    )
    .await
    .map(|_| ())
}
