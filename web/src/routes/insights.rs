//! `/insights` (page) and `/api/insights` (JSON): per-user answers, see `crate::insights`.

use axum::{
    Json, Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::get,
};

use crate::{
    error::AppError, insights::Overview, pages::InsightsPage, request::Page, state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/insights", get(page))
        .route("/api/insights", get(api))
}

async fn page(State(app): State<AppState>, page: Page) -> Result<Response, AppError> {
    Ok(InsightsPage {
        page,
        overview: app.insights.overview(&app.db).await?,
        retention_days: app.insights.retention_days(),
    }
    .into_response())
}

async fn api(State(app): State<AppState>) -> Result<Json<Overview>, AppError> {
    Ok(Json(app.insights.overview(&app.db).await?))
}
