//! The to-do pages (HTML forms; htmx boosts them, they work without JS) and a small
//! JSON API. A change that causes a job reads: begin, write, record the job (the
//! outbox), commit, send.

use axum::{
    Form, Json, Router,
    extract::{Path, State, rejection::FormRejection},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use common::{
    job::{Job, JobMessage},
    spans::current_trace_id,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    error::AppError,
    magic::{self, MagicWord},
    observe, outbox,
    pages::IndexPage,
    request::{Db, Page},
    state::AppState,
    todos::{self, TodoRow},
    validate,
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

type Result<T, E = AppError> = std::result::Result<T, E>;

#[derive(Deserialize)]
pub struct TitleForm {
    title: String,
}

#[derive(Deserialize)]
pub struct CompletedForm {
    completed: bool,
}

async fn index(State(app): State<AppState>, Db(db): Db, page: Page) -> Result<Response> {
    render(&app, &db, page, Shown::default(), StatusCode::OK).await
}

async fn add(
    State(app): State<AppState>,
    Db(db): Db,
    page: Page,
    form: Result<Form<TitleForm>, FormRejection>,
) -> Result<Response> {
    let Form(form) = form.map_err(bad_form)?;
    match MagicWord::parse(&form.title) {
        Some(MagicWord::HttpStat(status)) => return Ok(status_page(status)),
        Some(MagicWord::Cat) => {
            magic::mark("cat");
            let shown = Shown {
                cat: true,
                ..Shown::default()
            };
            return render(&app, &db, page, shown, StatusCode::OK).await;
        }
        Some(MagicWord::Meow) => {
            magic::mark("meow");
            let job = JobMessage::new(Job::Meow);
            let mut tx = db.begin().await?;
            outbox::record(&db, &mut tx, &job).await?;
            db.commit(tx).await?;
            app.outbox.send(&db, &job).await;
            return Ok(Redirect::to("/").into_response());
        }
        None => {}
    }
    let title = match validate::title(&form.title) {
        Ok(title) => title,
        Err(message) => return invalid(&app, &db, page, form.title, message).await,
    };
    let id = Uuid::new_v4();
    let job = JobMessage::new(Job::EnrichTodo { todo_id: id });
    let mut tx = db.begin().await?;
    todos::insert(&db, &mut tx, id, &title, &current_trace_id()).await?;
    outbox::record(&db, &mut tx, &job).await?;
    db.commit(tx).await?;
    observe::todo_created(&app, db.session().owner());
    app.outbox.send(&db, &job).await;
    Ok(Redirect::to("/").into_response())
}

async fn edit_title(
    State(app): State<AppState>,
    Db(db): Db,
    page: Page,
    Path(id): Path<String>,
    form: Result<Form<TitleForm>, FormRejection>,
) -> Result<Response> {
    let id = parse_id(&id)?;
    let Form(form) = form.map_err(bad_form)?;
    let title = match validate::title(&form.title) {
        Ok(title) => title,
        Err(message) => return invalid(&app, &db, page, String::new(), message).await,
    };
    // A new title means new tags: enrich again.
    let job = JobMessage::new(Job::EnrichTodo { todo_id: id });
    let mut tx = db.begin().await?;
    if !todos::update_title(&db, &mut tx, id, &title, &current_trace_id()).await? {
        return Err(AppError::NotFound("to-do"));
    }
    outbox::record(&db, &mut tx, &job).await?;
    db.commit(tx).await?;
    app.outbox.send(&db, &job).await;
    Ok(Redirect::to("/").into_response())
}

async fn set_completed(
    State(app): State<AppState>,
    Db(db): Db,
    Path(id): Path<String>,
    form: Result<Form<CompletedForm>, FormRejection>,
) -> Result<Response> {
    let id = parse_id(&id)?;
    let Form(form) = form.map_err(bad_form)?;
    let mut tx = db.begin().await?;
    let completion = todos::set_completed(&db, &mut tx, id, form.completed, &current_trace_id())
        .await?
        .ok_or(AppError::NotFound("to-do"))?;
    // Only a to-do that became completed has new statistics to record.
    let job = (completion.changed && form.completed)
        .then(|| JobMessage::new(Job::TodoCompleted { todo_id: id }));
    if let Some(job) = &job {
        outbox::record(&db, &mut tx, job).await?;
    }
    db.commit(tx).await?;
    if let Some(time_to_done) = completion.time_to_done {
        observe::todo_completed(&app, db.session().owner(), time_to_done);
    }
    if let Some(job) = &job {
        app.outbox.send(&db, job).await;
    }
    Ok(Redirect::to("/").into_response())
}

async fn delete(Db(db): Db, Path(id): Path<String>) -> Result<Response> {
    let id = parse_id(&id)?;
    let mut tx = db.begin().await?;
    if !todos::delete(&db, &mut tx, id).await? {
        return Err(AppError::NotFound("to-do"));
    }
    db.commit(tx).await?;
    Ok(Redirect::to("/").into_response())
}

async fn clear_completed(Db(db): Db) -> Result<Response> {
    let mut tx = db.begin().await?;
    todos::clear_completed(&db, &mut tx).await?;
    db.commit(tx).await?;
    Ok(Redirect::to("/").into_response())
}

async fn api_list(Db(db): Db) -> Result<Json<Vec<TodoRow>>> {
    Ok(Json(todos::list(&db).await?))
}

/// A to-do with its attachments.
#[derive(serde::Serialize)]
struct TodoView {
    #[serde(flatten)]
    todo: TodoRow,
    attachments: Vec<crate::attachments::Attachment>,
}

async fn api_get(Db(db): Db, Path(id): Path<String>) -> Result<Json<TodoView>> {
    let id = parse_id(&id)?;
    let todo = todos::get(&db, id)
        .await?
        .ok_or(AppError::NotFound("to-do"))?;
    let attachments = crate::attachments::of_todos(&db, &[id]).await?;
    Ok(Json(TodoView { todo, attachments }))
}

async fn httpstat(Path(code): Path<String>) -> Result<Response> {
    let status = magic::status(&code).ok_or(AppError::NotFound("status"))?;
    Ok(status_page(status))
}

fn status_page(status: StatusCode) -> Response {
    magic::mark("httpstat");
    if status.is_client_error() || status.is_server_error() {
        AppError::Status {
            status,
            message: format!("You asked for {status} (magic word httpstat)."),
        }
        .into_response()
    } else {
        (status, format!("httpstat: {status}\n")).into_response()
    }
}

/// What the list page shows besides the list.
#[derive(Default)]
struct Shown {
    /// The add form's value, kept when validation fails.
    new_title: String,
    error: Option<String>,
    cat: bool,
}

async fn render(
    app: &AppState,
    db: &common::db::Db,
    page: Page,
    shown: Shown,
    status: StatusCode,
) -> Result<Response> {
    let (todos, stats) = tokio::try_join!(todos::list(db), todos::completion_stats(db))?;
    // Rows whose job failed get "compare with a working one": one more query, only then.
    let failed_kinds = todos
        .iter()
        .filter(|t| matches!(t.job_state.as_deref(), Some("failed" | "dead")))
        .filter_map(|t| t.job_kind.as_deref());
    let working_jobs = outbox::store::working_traces(db, failed_kinds).await?;
    // Files only for the rows that have some: no query at all for a list without.
    let ids: Vec<Uuid> = todos
        .iter()
        .filter(|t| t.has_attachments)
        .map(|t| t.id)
        .collect();
    let attachments = crate::attachments::of_todos(db, &ids).await?;
    let page = IndexPage {
        page,
        todos,
        stats,
        new_title: shown.new_title,
        error: shown.error,
        cat: shown.cat,
        faults_on: app.faults.enabled_names(),
        working_jobs,
        attachments,
    };
    Ok((status, page).into_response())
}

/// 422 with the form and its message; nothing was stored.
async fn invalid(
    app: &AppState,
    db: &common::db::Db,
    page: Page,
    new_title: String,
    message: String,
) -> Result<Response> {
    tracing::info!(reason = %message, "invalid form");
    let shown = Shown {
        new_title,
        error: Some(message),
        cat: false,
    };
    render(app, db, page, shown, StatusCode::UNPROCESSABLE_ENTITY).await
}

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
