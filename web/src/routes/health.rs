//! `/healthz`: the process is alive. `/readyz`: it can do its job (database and queue
//! reachable); up is not the same as working.

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use serde_json::{Value, json};

use crate::{request::Db, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
}

async fn readyz(State(app): State<AppState>, Db(db): Db) -> (StatusCode, Json<Value>) {
    let (database, queue) = tokio::join!(db.ping(), app.outbox.queue().ping(db.session()));
    let status = if database.is_ok() && queue.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let describe = |r: Result<(), String>| match r {
        Ok(()) => json!("ok"),
        Err(e) => json!({ "error": e }),
    };
    let body = json!({
        "database": describe(database.map_err(|e| e.to_string())),
        "queue": describe(queue.map_err(|e| e.to_string())),
    });
    (status, Json(body))
}
