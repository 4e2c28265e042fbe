//! `/journey/{user}` (page) and `/api/journey/{user}` (JSON): "what was the chain of
//! calls this user made?" Their last requests in order, each with its trace, the jobs it
//! caused and how they ended, and a "compare with a working one" link where it failed
//! or was slow. `/journey` is the signed-in user's (or `guest`'s).

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Json, Router,
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Serialize;

use crate::{
    error::AppError,
    insights::VisitView,
    outbox::store::{self, CausedJob},
    request::{CurrentSession, Db, Page},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/journey", get(mine))
        .route("/journey/{user}", get(page))
        .route("/api/journey/{user}", get(api))
}

#[derive(Template, WebTemplate)]
#[template(path = "journey.html")]
pub struct JourneyPage {
    pub page: Page,
    pub journey: JourneyView,
}

/// One request of the journey and the jobs it caused.
#[derive(Debug, Serialize)]
pub struct Step {
    #[serde(flatten)]
    pub visit: VisitView,
    pub jobs: Vec<CausedJob>,
}

#[derive(Debug, Serialize)]
pub struct JourneyView {
    pub user: String,
    /// Jaeger's search for this user's traces (`enduser.id`) of the last hour.
    pub jaeger_search_url: String,
    /// Oldest first.
    pub steps: Vec<Step>,
}

async fn mine(CurrentSession(session): CurrentSession) -> Redirect {
    Redirect::to(&format!("/journey/{}", session.owner()))
}

async fn page(
    State(app): State<AppState>,
    Db(db): Db,
    page: Page,
    Path(user): Path<String>,
) -> Result<Response, AppError> {
    let journey = journey(&app, &db, &page, user).await?;
    Ok(JourneyPage { page, journey }.into_response())
}

async fn api(
    State(app): State<AppState>,
    Db(db): Db,
    page: Page,
    Path(user): Path<String>,
) -> Result<Json<JourneyView>, AppError> {
    Ok(Json(journey(&app, &db, &page, user).await?))
}

async fn journey(
    app: &AppState,
    db: &common::db::Db,
    page: &Page,
    user: String,
) -> Result<JourneyView, AppError> {
    if !common::session::valid_user(&user) {
        return Err(AppError::NotFound("user"));
    }
    let visits = app.insights.journey(&app.db, &user).await?.visits;
    let traces: Vec<String> = visits.iter().filter_map(|v| v.trace_id.clone()).collect();
    let mut jobs: HashMap<String, Vec<CausedJob>> = HashMap::new();
    if !traces.is_empty() {
        // To-do titles are their owner's: others see what happened, not what was written.
        let own = db.session().owner() == user;
        for mut job in store::caused_by(db, &user, &traces).await? {
            if !own {
                job.title = None;
            }
            jobs.entry(job.trace_id.clone()).or_default().push(job);
        }
    }
    let steps = visits
        .into_iter()
        .map(|visit| Step {
            jobs: visit
                .trace_id
                .as_ref()
                .and_then(|t| jobs.remove(t))
                .unwrap_or_default(),
            visit,
        })
        .collect();
    Ok(JourneyView {
        jaeger_search_url: page.user_search_url(&user),
        user,
        steps,
    })
}
