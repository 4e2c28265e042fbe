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
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let owner = request
        .extensions()
        .get::<RequestContext>()
        .map(|ctx| ctx.owner().to_owned())
        .unwrap_or_else(|| common::context::GUEST.to_owned());
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    app.metrics.http_request(&method, &route, status, elapsed);
    app.insights
        .record_request(&owner, elapsed, status, &route, current_trace_id);
    response
}
