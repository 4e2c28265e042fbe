//! The to-do pages (HTML forms; htmx boosts them, they work without JS) and a small
//! JSON API. Every change that causes a job writes the job row in the same transaction,
//! then sends it to SQS inside the request's trace.

use axum::{
    Form, Json, Router,
    extract::{Path, State, rejection::FormRejection},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use common::{
    job::{Job, JobMessage},
    telemetry::current_trace_id,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    db::{self, todos::TodoRow},
    error::AppError,
    state::AppState,
    validate,
    views::IndexPage,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/todos", post(add))
        .route("/todos/clear-completed", post(clear_completed))
        .route("/todos/{id}/title", post(edit_title))
        .route("/todos/{id}/completed", post(set_completed))
        .route("/todos/{id}/delete", post(delete))
        .route("/api/todos", get(api_list))
        .route("/api/todos/{id}", get(api_get))
        .route("/httpstat/{code}", get(httpstat))
}

/// Words typed into the to-do box that do something instead of adding a to-do
/// (from the talk this demo grew out of).
enum MagicWord {
    /// `httpstat 418`: answer this request with that status.
    HttpStat(StatusCode),
    /// `meow`: send an extra message to the queue.
    Meow,
    /// `cat`: show buttons that each fire a request with a different status.
    Cat,
}

impl MagicWord {
    fn parse(title: &str) -> Option<Self> {
        let lower = title.trim().to_ascii_lowercase();
        match lower.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["meow"] => Some(MagicWord::Meow),
            ["cat"] => Some(MagicWord::Cat),
            ["httpstat", code] => code
                .parse::<u16>()
                .ok()
                .filter(|c| (200..=599).contains(c))
                .and_then(|c| StatusCode::from_u16(c).ok())
                .map(MagicWord::HttpStat),
            _ => None,
        }
    }
}

/// Marks the request's span so the trace says a magic word, not a bug, did this.
fn mark_magic(word: &str) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let span = tracing::Span::current();
    span.set_attribute("fault.name", format!("magic_word_{word}"));
    span.set_attribute("fault.injected", true);
    span.add_event(
        "fault injected",
        vec![opentelemetry::KeyValue::new(
            "fault.name",
            format!("magic_word_{word}"),
        )],
    );
}

async fn httpstat(Path(code): Path<String>) -> Result<Response> {
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|c| (200..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(AppError::NotFound("status"))?;
    Ok(status_page(status))
}

fn status_page(status: StatusCode) -> Response {
    mark_magic("httpstat");
    if status.is_client_error() || status.is_server_error() {
        crate::error::error_page(
            status,
            format!("You asked for {status} (magic word httpstat)."),
        )
    } else {
        (status, format!("httpstat: {status}\n")).into_response()
    }
}

#[derive(Deserialize)]
pub struct TitleForm {
    title: String,
}

#[derive(Deserialize)]
pub struct CompletedForm {
    completed: bool,
}

type Result<T, E = AppError> = std::result::Result<T, E>;

async fn index(State(state): State<AppState>) -> Result<Response> {
    render_index(&state, String::new(), None, StatusCode::OK).await
}

async fn add(
    State(state): State<AppState>,
    form: Result<Form<TitleForm>, FormRejection>,
) -> Result<Response> {
    let Form(form) = form.map_err(bad_form)?;
    match MagicWord::parse(&form.title) {
        Some(MagicWord::HttpStat(status)) => return Ok(status_page(status)),
        Some(MagicWord::Cat) => {
            mark_magic("cat");
            return render(&state, String::new(), None, StatusCode::OK, true).await;
        }
        Some(MagicWord::Meow) => {
            mark_magic("meow");
            let job = JobMessage::new(Job::Meow);
            db::jobs::insert(&state.db, &job, &current_trace_id()).await?;
            enqueue(&state, &job).await;
            return Ok(Redirect::to("/").into_response());
        }
        None => {}
    }
    let title = match validate::title(&form.title) {
        Ok(title) => title,
        Err(message) => return invalid(&state, form.title, message).await,
    };
    let id = Uuid::new_v4();
    let trace_id = current_trace_id();
    let job = JobMessage::new(Job::EnrichTodo { todo_id: id });
    let mut tx = db::begin(&state.db).await?;
    db::todos::insert(&mut *tx, &owner(), id, &title, &trace_id).await?;
    db::jobs::insert(&mut *tx, &job, &trace_id).await?;
    db::commit(tx).await?;
    enqueue(&state, &job).await;
    Ok(Redirect::to("/").into_response())
}

async fn edit_title(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: Result<Form<TitleForm>, FormRejection>,
) -> Result<Response> {
    let id = parse_id(&id)?;
    let Form(form) = form.map_err(bad_form)?;
    let title = match validate::title(&form.title) {
        Ok(title) => title,
        Err(message) => return invalid(&state, String::new(), message).await,
    };
    let trace_id = current_trace_id();
    // A new title means new tags: enrich again.
    let job = JobMessage::new(Job::EnrichTodo { todo_id: id });
    let mut tx = db::begin(&state.db).await?;
    if !db::todos::update_title(&mut *tx, &owner(), id, &title, &trace_id).await? {
        return Err(AppError::NotFound("to-do"));
    }
    db::jobs::insert(&mut *tx, &job, &trace_id).await?;
    db::commit(tx).await?;
    enqueue(&state, &job).await;
    Ok(Redirect::to("/").into_response())
}

async fn set_completed(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: Result<Form<CompletedForm>, FormRejection>,
) -> Result<Response> {
    let id = parse_id(&id)?;
    let Form(form) = form.map_err(bad_form)?;
    let trace_id = current_trace_id();
    let mut tx = db::begin(&state.db).await?;
    let changed = db::todos::set_completed(&mut *tx, &owner(), id, form.completed, &trace_id)
        .await?
        .ok_or(AppError::NotFound("to-do"))?;
    let job =
        (changed && form.completed).then(|| JobMessage::new(Job::TodoCompleted { todo_id: id }));
    if let Some(job) = &job {
        db::jobs::insert(&mut *tx, job, &trace_id).await?;
    }
    db::commit(tx).await?;
    if let Some(job) = &job {
        enqueue(&state, job).await;
    }
    Ok(Redirect::to("/").into_response())
}

async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let id = parse_id(&id)?;
    let mut tx = db::begin(&state.db).await?;
    if !db::todos::delete(&mut tx, &owner(), id).await? {
        return Err(AppError::NotFound("to-do"));
    }
    db::commit(tx).await?;
    Ok(Redirect::to("/").into_response())
}

async fn clear_completed(State(state): State<AppState>) -> Result<Response> {
    let mut tx = db::begin(&state.db).await?;
    db::todos::clear_completed(&mut tx, &owner()).await?;
    db::commit(tx).await?;
    Ok(Redirect::to("/").into_response())
}

async fn api_list(State(state): State<AppState>) -> Result<Json<Vec<TodoRow>>> {
    Ok(Json(db::todos::list(&state.db, &owner()).await?))
}

async fn api_get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<TodoRow>> {
    let id = parse_id(&id)?;
    db::todos::get(&state.db, &owner(), id)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound("to-do"))
}

/// Sends the job; on failure the job stays `pending` in the database (the to-do is
/// saved either way) and the producer span carries the error.
/// Sends the job now (the fast path), holding its row so that the outbox relay, which
/// skips locked rows, never sends it too. If SQS refuses, the job stays `pending` and
/// the relay delivers it later; the to-do is saved either way.
async fn enqueue(state: &AppState, job: &JobMessage) {
    let result: Result<(), sqlx::Error> = async {
        let mut tx = db::begin(&state.db).await?;
        if !db::jobs::claim_pending(&mut *tx, job.job_id).await? {
            // The relay got there first.
            return db::commit(tx).await;
        }
        match state.queue.send(job).await {
            Ok(message_id) => db::jobs::mark_queued(&mut *tx, job.job_id, &message_id).await?,
            Err(e) => {
                tracing::error!(error = %e, job.id = %job.job_id, "job not sent; it stays pending")
            }
        }
        db::commit(tx).await
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, job.id = %job.job_id, "job left for the outbox relay");
    }
}

async fn render_index(
    state: &AppState,
    new_title: String,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response> {
    render(state, new_title, error, status, false).await
}

async fn render(
    state: &AppState,
    new_title: String,
    error: Option<String>,
    status: StatusCode,
    cat: bool,
) -> Result<Response> {
    let owner = owner();
    let (todos, stats) = tokio::try_join!(
        db::todos::list(&state.db, &owner),
        db::todos::completion_stats(&state.db)
    )?;
    let page = IndexPage {
        todos,
        stats,
        new_title,
        error,
        jaeger_ui_url: state.config.jaeger_ui_url.clone(),
        cat,
        faults_on: common::faults::enabled_names(),
    };
    Ok((status, page).into_response())
}

/// 422 with the form and its message; nothing was stored.
async fn invalid(state: &AppState, new_title: String, message: String) -> Result<Response> {
    tracing::info!(reason = %message, "invalid form");
    render_index(
        state,
        new_title,
        Some(message),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// The signed-in user, or `guest`: to-dos belong to whoever is signed in.
pub fn owner() -> String {
    common::context::user().unwrap_or_else(|| GUEST.to_owned())
}

pub const GUEST: &str = "guest";

fn parse_id(raw: &str) -> Result<Uuid> {
    Uuid::parse_str(raw).map_err(|_| AppError::NotFound("to-do"))
}

fn bad_form(rejection: FormRejection) -> AppError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge
    } else {
        AppError::BadRequest(rejection.body_text())
    }
}
