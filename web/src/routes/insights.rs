//! `/insights` (page) and `/api/insights` (JSON): per-user answers, see `crate::insights`.

use axum::{
    Json, Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::get,
};

use crate::{insights::Overview, pages::InsightsPage, request::Page, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/insights", get(page))
        .route("/api/insights", get(api))
}

async fn page(State(app): State<AppState>, page: Page) -> Response {
    InsightsPage {
        page,
        overview: app.insights.overview(),
    }
    .into_response()
}

async fn api(State(app): State<AppState>) -> Json<Overview> {
    Json(app.insights.overview())
}
