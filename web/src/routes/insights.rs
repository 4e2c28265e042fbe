//! `/insights` (page) and `/api/insights` (JSON): per-user answers, see `crate::insights`.

use axum::{
    Json, Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::get,
};

use crate::{insights, state::AppState, views::InsightsPage};

pub fn router() -> Router<AppState> {
    Router::new().route("/insights", get(page)).route(
        "/api/insights",
        get(|| async { Json(insights::snapshot()) }),
    )
}

async fn page(State(state): State<AppState>) -> Response {
    InsightsPage {
        users: insights::snapshot(),
        jaeger_ui_url: state.config.jaeger_ui_url.clone(),
    }
    .into_response()
}
