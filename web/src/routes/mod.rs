//! Each module has its own `router()`; this joins them. Handlers take what they use as
//! extractors: `State<AppState>`, `request::Db` (the database for this request),
//! `request::CurrentSession` (whose request it is), `request::Page` (the header's facts).

pub mod assets;
pub mod attachments;
pub mod dead_letters;
pub mod faults;
pub mod health;
pub mod insights;
pub mod journey;
pub mod todos;
pub mod users;

use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(todos::router())
        .merge(health::router())
        .merge(insights::router())
        .merge(journey::router())
        .merge(users::router())
        .merge(dead_letters::router())
        .merge(assets::router())
        .fallback(|| async { crate::security::not_found() })
}
