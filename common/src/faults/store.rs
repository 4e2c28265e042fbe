//! The fault settings table, as every process reads it: untraced (the registry reads
//! it at most once per TTL in every request, and would add a span to each) and free of
//! fault injection, or `db_unavailable` could never be switched off again. Web writes
//! it (`web::fault_settings`).

use sqlx::{FromRow, PgPool};

use crate::faults::{Loader, Setting};

pub const SELECT: &str = "SELECT name, enabled, probability, params, scope FROM faults";

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

/// The stored settings.
pub async fn stored(pool: &PgPool) -> Result<Vec<Setting>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(SELECT).fetch_all(pool).await?;
    Ok(rows.into_iter().map(Setting::from).collect())
}

/// The loader the registry refreshes from.
pub fn loader(pool: PgPool) -> Loader {
    std::sync::Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move { stored(&pool).await.map_err(|e| e.to_string()) })
    })
}
