//! Each module has its own `router()`; this joins them.

pub mod assets;
pub mod dead_letters;
pub mod faults;
pub mod health;
pub mod insights;
pub mod todos;
pub mod users;

use axum::{Router, http::StatusCode, response::Response};

use crate::{error::error_page, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(todos::router())
        .merge(health::router())
        .merge(insights::router())
        .merge(users::router())
        .merge(dead_letters::router())
        .merge(assets::router())
        .fallback(not_found)
}

async fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "There is no page at this address.".into(),
    )
}
