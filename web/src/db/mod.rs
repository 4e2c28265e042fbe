//! Queries, each in its own DB client span (see `common::db`).

pub mod jobs;
pub mod todos;

use common::db::{query_span, traced};
use sqlx::{PgPool, Postgres, Transaction};

pub async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    traced(query_span("BEGIN", "", "BEGIN"), pool.begin()).await
}

pub async fn commit(tx: Transaction<'static, Postgres>) -> Result<(), sqlx::Error> {
    traced(query_span("COMMIT", "", "COMMIT"), tx.commit()).await
}

/// Readiness probe.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    const SQL: &str = "SELECT 1";
    traced(
        query_span("SELECT", "", SQL),
        sqlx::query(SQL).execute(pool),
    )
    .await
    .map(|_| ())
}
