//! Per-request measurements: `http.server.request.duration` (metrics) and each user's
//! request count, latency and errors (insights). Runs inside the cross-site refusal, so
//! what it counts are requests the app really handled.

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use common::{context::RequestContext, spans::current_trace_id};

use crate::state::AppState;

pub async fn requests(State(app): State<AppState>, request: Request, next: Next) -> Response {
    // MatchedPath and the method are cheap to clone (an Arc, an enum); the owner is one
    // short string.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let owner = request
        .extensions()
        .get::<RequestContext>()
        .and_then(|ctx| ctx.user.clone());
    let method = request.method().clone();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let owner = owner.as_deref().unwrap_or(common::context::GUEST);
    app.metrics
        .http_request(method.as_str(), route, status, elapsed);
    app.insights
        .record_request(owner, elapsed, status, route, current_trace_id);
    response
}
