//! Dead-lettered jobs: the ones whose last attempt failed and that SQS moved to the
//! DLQ. Each can be redriven: sent again, rebuilt from its row, in the trace of the
//! redrive request, linked to the trace of the click that caused it.

use axum::{
    Router,
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use common::telemetry::current_trace_id;
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

use crate::{db, error::AppError, state::AppState, views::DeadLettersPage};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dead-letters", get(page))
        .route("/dead-letters/{id}/redrive", post(redrive))
}

async fn page(State(state): State<AppState>) -> Result<Response, AppError> {
    let jobs = db::jobs::dead(&state.db).await?;
    let dlq_depth = state.queue.dlq_depth().await.ok();
    Ok(DeadLettersPage {
        jobs,
        dlq_depth,
        jaeger_ui_url: state.config.jaeger_ui_url.clone(),
    }
    .into_response())
}

async fn redrive(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = Uuid::parse_str(&id).map_err(|_| AppError::NotFound("dead-lettered job"))?;
    let job = db::jobs::dead(&state.db)
        .await?
        .into_iter()
        .find(|j| j.id == id)
        .ok_or(AppError::NotFound("dead-lettered job"))?;
    let message = job
        .pending
        .message()
        .ok_or(AppError::NotFound("dead-lettered job"))?;
    // The redrive is a new trace (this request's); the send links to the original.
    let origin = job.pending.origin().span().span_context().clone();
    let span = tracing::Span::current();
    if origin.is_valid() {
        span.add_link(origin);
    }
    span.set_attribute("job.id", id.to_string());
    state.queue.remove_from_dlq(id).await;
    let message_id = state
        .queue
        .send(&message)
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    db::jobs::redriven(&state.db, id, &message_id, &current_trace_id()).await?;
    Ok(Redirect::to("/dead-letters").into_response())
}
