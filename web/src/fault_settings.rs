//! The fault switches as the panel, the API and `FAULTS` write them: the settings
//! table's queries, each in a CLIENT span but free of fault injection (or
//! `db_unavailable` could never be switched off again).

use common::{
    db::Database,
    faults::{Fault, Setting, store},
    spans::{self, QuerySpan},
};

/// Every fault of the catalogue, with its stored setting or "off".
pub async fn list(db: &Database) -> Result<Vec<Setting>, sqlx::Error> {
    let span = db.span("SELECT faults", store::SELECT, None);
    let mut stored = traced(span, store::stored(db.pool())).await?;
    Ok(Fault::ALL
        .into_iter()
        .map(|f| match stored.iter().position(|s| s.name == f.name()) {
            Some(i) => stored.swap_remove(i),
            None => Setting::off(f),
        })
        .collect())
}

pub async fn upsert(db: &Database, s: &Setting) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO faults (name, enabled, probability, params, scope) \
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET enabled = $2, \
        probability = $3, params = $4, scope = $5, updated_at = now()";
    let query = sqlx::query(SQL)
        .bind(&s.name)
        .bind(s.enabled)
        .bind(s.probability)
        .bind(sqlx::types::Json(&s.params))
        .bind(&s.scope)
        .execute(db.pool());
    traced(db.span("INSERT faults", SQL, None), query)
        .await
        .map(|_| ())
}

/// Runs `fut` in `span`, marking the span failed on error.
async fn traced<T>(
    mut span: QuerySpan,
    fut: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    let result = fut.await;
    if let Err(e) = &result {
        spans::record_error(&mut span, "db_error", e);
    }
    result
}
