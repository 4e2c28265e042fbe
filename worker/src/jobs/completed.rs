//! `todo_completed`: record how long the to-do took and add it to the totals.

use common::db::Db;
use sqlx::PgConnection;
use uuid::Uuid;

/// Returns false when the to-do no longer exists or is no longer completed.
pub async fn run(db: &Db, conn: &mut PgConnection, todo_id: Uuid) -> Result<bool, sqlx::Error> {
    const UPDATE: &str = "UPDATE todos SET done_in_seconds = \
        EXTRACT(EPOCH FROM (completed_at - created_at))::double precision \
        WHERE id = $1 AND completed AND completed_at IS NOT NULL RETURNING done_in_seconds";
    let seconds: Option<f64> = db
        .run(
            db.span("UPDATE todos", UPDATE),
            sqlx::query_scalar(UPDATE)
                .bind(todo_id)
                .fetch_optional(&mut *conn),
        )
        .await?;
    let Some(seconds) = seconds else {
        return Ok(false);
    };
    const STATS: &str = "UPDATE completion_stats SET completed_count = completed_count + 1, \
        total_seconds = total_seconds + $1 WHERE id = 1";
    db.run(
        db.span("UPDATE completion_stats", STATS),
        sqlx::query(STATS).bind(seconds).execute(conn),
    )
    .await?;
    Ok(true)
}
