//! The worker's queries on the jobs table, each in a DB client span.

use common::db::{query_span, traced};
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use uuid::Uuid;

pub async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    traced(query_span("BEGIN", "", "BEGIN"), pool.begin()).await
}

pub async fn commit(tx: Transaction<'static, Postgres>) -> Result<(), sqlx::Error> {
    traced(query_span("COMMIT", "", "COMMIT"), tx.commit()).await
}

/// The job's state, row-locked until the transaction ends: two deliveries of the same
/// message (visibility timeout passed mid-run) are serialised here.
pub async fn lock_job(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    const SQL: &str = "SELECT state FROM jobs WHERE id = $1 FOR UPDATE";
    traced(
        query_span("SELECT", "jobs", SQL),
        sqlx::query_scalar(SQL).bind(id).fetch_optional(db),
    )
    .await
}

pub async fn mark_done(db: impl PgExecutor<'_>, id: Uuid, attempt: i32) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE jobs SET state = 'done', attempts = $2, last_error = NULL, \
        updated_at = now() WHERE id = $1";
    traced(
        query_span("UPDATE", "jobs", SQL),
        sqlx::query(SQL).bind(id).bind(attempt).execute(db),
    )
    .await
    .map(|_| ())
}

/// Best effort, outside the failed transaction: the UI shows "failed, retrying", or
/// `dead` when this was the last attempt before the queue's redrive to the DLQ.
pub async fn mark_failed(
    db: impl PgExecutor<'_>,
    id: Uuid,
    attempt: i32,
    error: &str,
    last_attempt: bool,
) -> Result<(), sqlx::Error> {
    // Attempts can finish out of order (a stale delivery after a newer one): never turn
    // `dead` back into `failed`, nor lower the attempt count.
    const SQL: &str = "UPDATE jobs SET \
        state = CASE WHEN $4 OR state = 'dead' THEN 'dead' ELSE 'failed' END, \
        attempts = GREATEST(attempts, $2), last_error = $3, updated_at = now() \
        WHERE id = $1 AND state <> 'done'";
    traced(
        query_span("UPDATE", "jobs", SQL),
        sqlx::query(SQL)
            .bind(id)
            .bind(attempt)
            .bind(error)
            .bind(last_attempt)
            .execute(db),
    )
    .await
    .map(|_| ())
}
