//! The `web_error` fault: the request answers with an error status before any handler
//! runs; its SERVER span says why (fault event, exception, status Error).

use axum::{
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use common::{faults::Fault, session::Session, spans::record_error};

use crate::{error::AppError, server_span::ErrorTyped, state::AppState};

/// Paths a fault never breaks: the switches themselves, assets and probes.
fn exempt(path: &str) -> bool {
    ["/faults", "/api/faults", "/static/", "/healthz", "/readyz"]
        .iter()
        .any(|p| path.starts_with(p))
}

pub async fn inject(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let fault = match request.extensions().get::<Session>() {
        Some(session) if !exempt(request.uri().path()) => {
            app.faults.active(Fault::WebError, session)
        }
        _ => None,
    };
    let Some(fault) = fault else {
        return next.run(request).await;
    };
    let mut span = opentelemetry::Context::current();
    fault.mark(&mut span);
    let status = u16::try_from(fault.param("status"))
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = "Something broke while handling this request (fault web_error is on).";
    record_error(&mut span, "web_error", &message);
    let mut response = AppError::Status {
        status,
        message: message.into(),
    }
    .into_response();
    response.extensions_mut().insert(ErrorTyped);
    response
}
