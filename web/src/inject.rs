//! Request context middleware: refreshes the fault snapshot, sets the request's user
//! (cookie `user`, recorded as `enduser.id`) and fault scope (cookie `fault_scope` or
//! baggage `fault.scope`), and injects `web_error`.

use axum::{
    extract::Request,
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::Response,
};
use common::{
    context::RequestContext,
    faults::{self, Fault, SCOPE_COOKIE},
};
use opentelemetry_http::HeaderExtractor;

use crate::error::error_page;

/// Paths a fault never breaks: the switches themselves, assets and probes.
fn exempt(path: &str) -> bool {
    ["/faults", "/api/faults", "/static/", "/healthz", "/readyz"]
        .iter()
        .any(|p| path.starts_with(p))
}

pub async fn faults(request: Request, next: Next) -> Response {
    faults::refresh_if_stale().await;
    let ctx = RequestContext {
        user: user_of(request.headers()),
        fault_scope: scope_of(&request),
    };
    if let Some(user) = &ctx.user {
        tracing::Span::current().record("enduser.id", user.as_str());
    }
    common::context::scope(ctx, async move {
        let route = request
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "unmatched".into());
        let method = request.method().as_str().to_owned();
        let started = std::time::Instant::now();
        let response = match faults::active(Fault::WebError) {
            Some(fault) if !exempt(request.uri().path()) => web_error(&fault),
            _ => next.run(request).await,
        };
        common::metrics::http_request(
            &method,
            &route,
            response.status().as_u16(),
            started.elapsed(),
        );
        crate::insights::record_request(
            started.elapsed(),
            response.status().as_u16(),
            &route,
            common::telemetry::current_trace_id(),
        );
        response
    })
    .await
}

fn web_error(fault: &faults::Active) -> Response {
    let span = tracing::Span::current();
    fault.mark(&span);
    let status = u16::try_from(fault.param("status"))
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = "Something broke while handling this request (fault web_error is on).";
    common::db::record_error(&span, "web_error", &message);
    error_page(status, message.into())
}

/// The value of cookie `name`, if the request sent one.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Cookie naming the signed-in user (see `routes::users`).
pub const USER_COOKIE: &str = "user";

/// The signed-in user, if the cookie holds a valid name.
pub fn user_of(headers: &HeaderMap) -> Option<String> {
    cookie(headers, USER_COOKIE).filter(|u| common::context::valid_user(u))
}

fn scope_of(request: &Request) -> Option<String> {
    cookie(request.headers(), SCOPE_COOKIE).or_else(|| {
        let cx = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract_with_context(
                &opentelemetry::Context::new(),
                &HeaderExtractor(request.headers()),
            )
        });
        common::context::from_baggage(&cx).fault_scope
    })
}
