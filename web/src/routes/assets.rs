//! Static files, compiled into the binary so the image needs nothing beside it.

use axum::{Router, http::header, response::IntoResponse, routing::get};

use crate::state::AppState;

const HTMX: &str = include_str!("../../../static/htmx.min.js");
const CSS: &str = include_str!("../../../static/app.css");

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/static/htmx.min.js",
            get(|| async { asset("text/javascript", HTMX) }),
        )
        .route("/static/app.css", get(|| async { asset("text/css", CSS) }))
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
}
