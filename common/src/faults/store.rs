//! The fault settings table. These queries skip fault injection (plain sqlx in a query
//! span), or `db_unavailable` could never be switched off again.

use sqlx::{FromRow, PgPool};

use crate::{
    faults::{Fault, Loader, Setting},
    spans::{self, Tracer},
};

const SELECT: &str = "SELECT name, enabled, probability, params, scope FROM faults";

#[derive(FromRow)]
struct Row {
    name: String,
    enabled: bool,
    probability: f64,
    params: sqlx::types::Json<serde_json::Value>,
    scope: Option<String>,
}

impl From<Row> for Setting {
    fn from(r: Row) -> Self {
        Setting {
            name: r.name,
            enabled: r.enabled,
            probability: r.probability,
            params: r.params.0,
            scope: r.scope,
        }
    }
}

/// The stored settings (untraced: the registry reads them at most once per TTL in
/// every request, and would add a span to each).
async fn stored(pool: &PgPool) -> Result<Vec<Setting>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(SELECT).fetch_all(pool).await?;
    Ok(rows.into_iter().map(Setting::from).collect())
}

/// Runs `fut` in `span`, marking the span failed on error (no fault injection).
async fn traced<T>(
    mut span: spans::QuerySpan,
    fut: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    let result = fut.await;
    if let Err(e) = &result {
        spans::record_error(&mut span, "db_error", e);
    }
    result
}

/// Every fault of the catalogue, with its stored setting or "off".
pub async fn list(pool: &PgPool, tracer: &Tracer) -> Result<Vec<Setting>, sqlx::Error> {
    let span = spans::query(tracer, "SELECT faults", SELECT, None);
    let mut stored = traced(span, stored(pool)).await?;
    Ok(Fault::ALL
        .into_iter()
        .map(|f| match stored.iter().position(|s| s.name == f.name()) {
            Some(i) => stored.swap_remove(i),
            None => Setting::off(f),
        })
        .collect())
}

pub async fn upsert(pool: &PgPool, tracer: &Tracer, s: &Setting) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO faults (name, enabled, probability, params, scope) \
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET enabled = $2, \
        probability = $3, params = $4, scope = $5, updated_at = now()";
    traced(
        spans::query(tracer, "INSERT faults", SQL, None),
        sqlx::query(SQL)
            .bind(&s.name)
            .bind(s.enabled)
            .bind(s.probability)
            .bind(sqlx::types::Json(&s.params))
            .bind(&s.scope)
            .execute(pool),
    )
    .await
    .map(|_| ())
}

/// The loader the registry refreshes from.
pub fn loader(pool: PgPool) -> Loader {
    std::sync::Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move { stored(&pool).await.map_err(|e| e.to_string()) })
    })
}
