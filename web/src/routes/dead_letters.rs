//! Dead-lettered jobs: the ones whose last attempt failed and that SQS moved to the
//! DLQ. Each can be redriven (see `Outbox::redrive`).

use axum::{
    Router,
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use uuid::Uuid;

use crate::{
    error::AppError,
    outbox::store,
    pages::DeadLettersPage,
    request::{Db, Page},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dead-letters", get(page))
        .route("/dead-letters/{id}/redrive", post(redrive))
}

async fn page(State(app): State<AppState>, Db(db): Db, page: Page) -> Result<Response, AppError> {
    let (jobs, dlq_depth) = app.outbox.dead_letters(&db).await?;
    let working_jobs = store::working_traces(&db, jobs.iter().map(|j| j.kind.as_str())).await?;
    Ok(DeadLettersPage {
        page,
        jobs,
        dlq_depth,
        working_jobs,
    }
    .into_response())
}

async fn redrive(
    State(app): State<AppState>,
    Db(db): Db,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = Uuid::parse_str(&id).map_err(|_| AppError::NotFound("dead-lettered job"))?;
    app.outbox.redrive(&db, id).await?;
    Ok(Redirect::to("/dead-letters").into_response())
}
