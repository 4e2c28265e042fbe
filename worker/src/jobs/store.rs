//! The worker's queries on the jobs table, each in a DB client span (through [`Db`]).

use common::db::Db;
use sqlx::PgConnection;
use uuid::Uuid;

/// The job's state, row-locked until the transaction ends: two deliveries of the same
/// message (visibility timeout passed mid-run) are serialised here.
pub async fn lock_job(
    db: &Db,
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    const SQL: &str = "SELECT state FROM jobs WHERE id = $1 FOR UPDATE";
    db.run(
        db.span("SELECT jobs", SQL),
        sqlx::query_scalar(SQL).bind(id).fetch_optional(conn),
    )
    .await
}

pub async fn mark_done(
    db: &Db,
    conn: &mut PgConnection,
    id: Uuid,
    attempt: i32,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE jobs SET state = 'done', attempts = $2, last_error = NULL, \
        updated_at = now() WHERE id = $1";
    db.run(
        db.span("UPDATE jobs", SQL),
        sqlx::query(SQL).bind(id).bind(attempt).execute(conn),
    )
    .await
    .map(|_| ())
}

/// Best effort, outside the failed transaction: the UI shows "failed, retrying", or
/// `dead` when this was the last attempt before the queue's redrive to the DLQ.
pub async fn mark_failed(
    db: &Db,
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
    db.run(
        db.span("UPDATE jobs", SQL),
        sqlx::query(SQL)
            .bind(id)
            .bind(attempt)
            .bind(error)
            .bind(last_attempt)
            .execute(db.pool()),
    )
    .await
    .map(|_| ())
}
