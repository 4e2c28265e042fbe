//! The to-dos table: every query web makes on it, each in a DB client span (through
//! [`Db`], so the request's user, faults and measurements apply). A to-do belongs to
//! its owner, the work's user (`guest` when nobody signed in). The list reads each
//! to-do's latest job alongside it; everything else on `jobs` is the outbox's.

use chrono::{DateTime, Utc};
use common::{db::Db, faults::Fault};
use sqlx::{FromRow, PgConnection, Row as _, postgres::PgRow};

use crate::outbox;
use uuid::Uuid;

/// A to-do with the state of its latest job, as the list shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TodoRow {
    pub id: Uuid,
    pub title: String,
    pub completed: bool,
    pub tags: Vec<String>,
    pub priority: Option<String>,
    pub done_in_seconds: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub created_trace_id: Option<String>,
    pub updated_trace_id: Option<String>,
    /// Whether files are attached (the list fetches them only for such rows).
    pub has_attachments: bool,
    pub job_kind: Option<String>,
    pub job_state: Option<String>,
    pub job_attempts: Option<i32>,
    pub job_error: Option<String>,
    pub job_trace_id: Option<String>,
}

/// Columns by position, in [`todo_sql`]'s order: a 20-row page decodes 280 columns, and
/// looking each up by name cost ~7 % of the page (bench/cost.sh under callgrind). Types
/// are still checked; the fast tier's list tests fail if the order drifts.
impl<'r> FromRow<'r, PgRow> for TodoRow {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get(0)?,
            title: row.try_get(1)?,
            completed: row.try_get(2)?,
            tags: row.try_get(3)?,
            priority: row.try_get(4)?,
            done_in_seconds: row.try_get(5)?,
            created_at: row.try_get(6)?,
            created_trace_id: row.try_get(7)?,
            updated_trace_id: row.try_get(8)?,
            has_attachments: row.try_get(9)?,
            job_kind: row.try_get(10)?,
            job_state: row.try_get(11)?,
            job_attempts: row.try_get(12)?,
            job_error: row.try_get(13)?,
            job_trace_id: row.try_get(14)?,
        })
    }
}

/// The to-do columns of [`TodoRow`], then `$jobs` (its job's five columns) and `$tail`:
/// one place for the columns, each query still one literal (a span's query text).
macro_rules! todo_sql {
    ($jobs:expr, $tail:expr) => {
        concat!(
            "SELECT t.id, t.title, t.completed, t.tags, t.priority, t.done_in_seconds, \
             t.created_at, t.created_trace_id, t.updated_trace_id, \
             EXISTS (SELECT 1 FROM attachments a WHERE a.todo_id = t.id), ",
            $jobs,
            " FROM todos t",
            $tail
        )
    };
}

/// The latest job of each row, joined (the list as it should be queried).
macro_rules! list_sql {
    ($tail:literal) => {
        todo_sql!(
            "j.kind AS job_kind, j.state AS job_state, j.attempts AS job_attempts, \
             j.last_error AS job_error, j.trace_id AS job_trace_id",
            concat!(
                " LEFT JOIN LATERAL (SELECT kind, state, attempts, last_error, trace_id \
                 FROM jobs WHERE jobs.todo_id = t.id ORDER BY created_at DESC LIMIT 1) j ON true",
                $tail
            )
        )
    };
}

/// The owner's to-dos, oldest first. Under the `n_plus_one` fault: the classic ORM
/// mistake instead, one query for the rows and one per row for its job.
pub async fn list(db: &Db) -> Result<Vec<TodoRow>, sqlx::Error> {
    if let Some(fault) = db.fault(Fault::NPlusOne) {
        fault.mark(&mut opentelemetry::Context::current());
        return list_one_by_one(db).await;
    }
    const SQL: &str = list_sql!(" WHERE t.owner = $1 ORDER BY t.created_at, t.id");
    let mut span = db.span("SELECT todos", SQL);
    let rows = db
        .run_in(
            &mut span,
            sqlx::query_as::<_, TodoRow>(SQL)
                .bind(db.session().owner())
                .fetch_all(db.pool()),
        )
        .await?;
    Db::returned_rows(&mut span, rows.len());
    Ok(rows)
}

/// kind, state, attempts, last error, trace id
type LatestJob = (String, String, i32, Option<String>, Option<String>);

/// The `n_plus_one` fault's list: in the trace, a ladder of `SELECT jobs` spans.
async fn list_one_by_one(db: &Db) -> Result<Vec<TodoRow>, sqlx::Error> {
    const TODOS: &str = todo_sql!(
        "NULL::text AS job_kind, NULL::text AS job_state, NULL::int AS job_attempts, \
         NULL::text AS job_error, NULL::text AS job_trace_id",
        " WHERE t.owner = $1 ORDER BY t.created_at, t.id"
    );
    let mut rows: Vec<TodoRow> = db
        .run(
            db.span("SELECT todos", TODOS),
            sqlx::query_as(TODOS)
                .bind(db.session().owner())
                .fetch_all(db.pool()),
        )
        .await?;
    const JOB: &str = "SELECT kind, state, attempts, last_error, trace_id FROM jobs \
        WHERE todo_id = $1 ORDER BY created_at DESC LIMIT 1";
    for row in &mut rows {
        let job: Option<LatestJob> = db
            .run(
                db.span("SELECT jobs", JOB),
                sqlx::query_as(JOB).bind(row.id).fetch_optional(db.pool()),
            )
            .await?;
        if let Some((kind, state, attempts, error, trace_id)) = job {
            row.job_kind = Some(kind);
            row.job_state = Some(state);
            row.job_attempts = Some(attempts);
            row.job_error = error;
            row.job_trace_id = trace_id;
        }
    }
    Ok(rows)
}

pub async fn get(db: &Db, id: Uuid) -> Result<Option<TodoRow>, sqlx::Error> {
    const SQL: &str = list_sql!(" WHERE t.id = $1 AND t.owner = $2");
    db.run(
        db.span("SELECT todos", SQL),
        sqlx::query_as::<_, TodoRow>(SQL)
            .bind(id)
            .bind(db.session().owner())
            .fetch_optional(db.pool()),
    )
    .await
}

pub async fn insert(
    db: &Db,
    conn: &mut PgConnection,
    id: Uuid,
    title: &str,
    trace_id: &str,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO todos (id, title, created_trace_id, updated_trace_id, owner) \
        VALUES ($1, $2, $3, $3, $4)";
    db.run(
        db.span("INSERT todos", SQL),
        sqlx::query(SQL)
            .bind(id)
            .bind(title)
            .bind(trace_id)
            .bind(db.session().owner())
            .execute(conn),
    )
    .await
    .map(|_| ())
}

/// Records a change to the to-do that is not in its own columns (a file attached):
/// it was last changed now, by this trace.
pub async fn touch(
    db: &Db,
    conn: &mut PgConnection,
    id: Uuid,
    trace_id: &str,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE todos SET updated_at = now(), updated_trace_id = $2 WHERE id = $1";
    db.run(
        db.span("UPDATE todos", SQL),
        sqlx::query(SQL).bind(id).bind(trace_id).execute(conn),
    )
    .await
    .map(|_| ())
}

/// Returns false when the to-do does not exist.
pub async fn update_title(
    db: &Db,
    conn: &mut PgConnection,
    id: Uuid,
    title: &str,
    trace_id: &str,
) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE todos SET title = $2, updated_at = now(), updated_trace_id = $3 \
        WHERE id = $1 AND owner = $4";
    db.run(
        db.span("UPDATE todos", SQL),
        sqlx::query(SQL)
            .bind(id)
            .bind(title)
            .bind(trace_id)
            .bind(db.session().owner())
            .execute(conn),
    )
    .await
    .map(|r| r.rows_affected() == 1)
}

/// What completing (or reopening) a to-do did.
#[derive(Debug, Clone, Copy)]
pub struct Completion {
    /// Whether the state changed (completing a completed to-do again is a no-op, and
    /// enqueues nothing).
    pub changed: bool,
    /// Created → now, when it was completed just now.
    pub time_to_done: Option<std::time::Duration>,
}

/// Returns `None` when the to-do does not exist.
pub async fn set_completed(
    db: &Db,
    conn: &mut PgConnection,
    id: Uuid,
    completed: bool,
    trace_id: &str,
) -> Result<Option<Completion>, sqlx::Error> {
    const SQL: &str = "WITH old AS (SELECT completed FROM todos WHERE id = $1 AND owner = $4 FOR UPDATE) \
        UPDATE todos t SET completed = $2, \
        completed_at = CASE WHEN $2 THEN now() ELSE NULL END, \
        done_in_seconds = CASE WHEN $2 THEN t.done_in_seconds ELSE NULL END, \
        updated_at = now(), updated_trace_id = $3 \
        FROM old WHERE t.id = $1 \
        RETURNING old.completed <> $2, EXTRACT(EPOCH FROM t.completed_at - t.created_at)::float8";
    let row: Option<(bool, Option<f64>)> = db
        .run(
            db.span("UPDATE todos", SQL),
            sqlx::query_as(SQL)
                .bind(id)
                .bind(completed)
                .bind(trace_id)
                .bind(db.session().owner())
                .fetch_optional(conn),
        )
        .await?;
    Ok(row.map(|(changed, seconds)| Completion {
        changed,
        time_to_done: seconds
            .filter(|_| changed && completed)
            .map(|s| std::time::Duration::from_secs_f64(s.max(0.0))),
    }))
}

/// Deletes one to-do (in a transaction, after locking its jobs); false when it does not
/// exist.
pub async fn delete(db: &Db, conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    outbox::store::lock_jobs_of_todos(db, conn, Some(id)).await?;
    const SQL: &str = "DELETE FROM todos WHERE id = $1 AND owner = $2";
    db.run(
        db.span("DELETE todos", SQL),
        sqlx::query(SQL)
            .bind(id)
            .bind(db.session().owner())
            .execute(conn),
    )
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Deletes the owner's completed to-dos (in a transaction, after locking their jobs).
pub async fn clear_completed(db: &Db, conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    outbox::store::lock_jobs_of_todos(db, conn, None).await?;
    const SQL: &str = "DELETE FROM todos WHERE completed AND owner = $1";
    db.run(
        db.span("DELETE todos", SQL),
        sqlx::query(SQL).bind(db.session().owner()).execute(conn),
    )
    .await
    .map(|r| r.rows_affected())
}

#[derive(Debug, Clone, Copy, Default, FromRow)]
pub struct CompletionStats {
    pub completed_count: i64,
    pub total_seconds: f64,
}

pub async fn completion_stats(db: &Db) -> Result<CompletionStats, sqlx::Error> {
    const SQL: &str = "SELECT completed_count, total_seconds FROM completion_stats WHERE id = 1";
    db.run(
        db.span("SELECT completion_stats", SQL),
        sqlx::query_as::<_, CompletionStats>(SQL).fetch_optional(db.pool()),
    )
    .await
    .map(Option::unwrap_or_default)
}
