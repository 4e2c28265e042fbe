//! Attachments' rows: one per file on a to-do, the key of its object, who stored it in
//! which trace, and what the worker's job learnt from it. All SQL on `attachments`.

use chrono::{DateTime, Utc};
use common::db::Db;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Attachment {
    pub id: Uuid,
    pub todo_id: Uuid,
    pub key: String,
    pub name: String,
    pub size: i64,
    pub content_type: String,
    pub owner: String,
    pub trace_id: Option<String>,
    /// Null until the worker's job has read the object back.
    pub sha256: Option<String>,
    pub preview: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub created_at: DateTime<Utc>,
}

/// The object key of a new attachment: generated here, never from the file's name.
pub fn key_for(todo_id: Uuid, id: Uuid) -> String {
    format!("attachments/{todo_id}/{id}")
}

pub async fn insert(db: &Db, conn: &mut PgConnection, a: &Attachment) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO attachments (id, todo_id, key, name, size, content_type, owner, trace_id) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    db.run(
        db.span("INSERT attachments", SQL),
        sqlx::query(SQL)
            .bind(a.id)
            .bind(a.todo_id)
            .bind(&a.key)
            .bind(&a.name)
            .bind(a.size)
            .bind(&a.content_type)
            .bind(&a.owner)
            .bind(&a.trace_id)
            .execute(conn),
    )
    .await
    .map(|_| ())
}

/// The attachments of these to-dos, the request's user's only, oldest first.
pub async fn of_todos(db: &Db, todo_ids: &[Uuid]) -> Result<Vec<Attachment>, sqlx::Error> {
    if todo_ids.is_empty() {
        return Ok(Vec::new());
    }
    const SQL: &str = "SELECT * FROM attachments WHERE todo_id = ANY($1) AND owner = $2 \
        ORDER BY created_at, id";
    db.run(
        db.span("SELECT attachments", SQL),
        sqlx::query_as(SQL)
            .bind(todo_ids)
            .bind(db.session().owner())
            .fetch_all(db.pool()),
    )
    .await
}

/// One attachment of the request's user.
pub async fn one(db: &Db, id: Uuid) -> Result<Option<Attachment>, sqlx::Error> {
    const SQL: &str = "SELECT * FROM attachments WHERE id = $1 AND owner = $2";
    db.run(
        db.span("SELECT attachments", SQL),
        sqlx::query_as(SQL)
            .bind(id)
            .bind(db.session().owner())
            .fetch_optional(db.pool()),
    )
    .await
}

/// Deletes the request's user's attachment; its key, if there was one.
pub async fn delete(
    db: &Db,
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    const SQL: &str = "DELETE FROM attachments WHERE id = $1 AND owner = $2 RETURNING key";
    db.run(
        db.span("DELETE attachments", SQL),
        sqlx::query_scalar(SQL)
            .bind(id)
            .bind(db.session().owner())
            .fetch_optional(conn),
    )
    .await
}
