//! Measurements: per request, `http.server.request.duration` (metrics) and the user's
//! request, latency, error, journey and CPU time (insights); per to-do created or completed, the
//! application metrics and the user's figures. Runs inside the cross-site refusal, so
//! what it counts are requests the app really handled.

use std::time::Duration;

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use common::session::{GUEST, Session};

use crate::{cpu_time, insights::Visit, server_span, state::AppState};

pub async fn requests(State(app): State<AppState>, request: Request, next: Next) -> Response {
    // MatchedPath and the method are cheap to clone (an Arc, an enum); the owner is one
    // short string; the trace id is the current SERVER span's.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let owner = request
        .extensions()
        .get::<Session>()
        .and_then(|session| session.user.clone());
    let trace = server_span::sampled_trace_id();
    let method = request.method().clone();
    let at = chrono::Utc::now();
    let started = std::time::Instant::now();
    // The CPU time of everything inside this layer: the handler, its queries' encoding
    // and decoding, rendering (not hyper's parsing, nor the layers outside).
    let (response, cpu) = cpu_time::measure(next.run(request)).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let route_name = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    app.metrics
        .http_request(&method, route_name, status, elapsed);
    app.insights.record_request(
        owner.as_deref().unwrap_or(GUEST),
        Visit {
            at,
            method,
            route,
            status,
            latency_ms: elapsed.as_secs_f64() * 1000.0,
            trace,
        },
        cpu,
    );
    response
}

/// `user` created a to-do.
pub fn todo_created(app: &AppState, user: &str) {
    app.metrics.todo_created(user);
    app.insights.todo_created(user);
}

/// `user` completed a to-do `time_to_done` after creating it.
pub fn todo_completed(app: &AppState, user: &str, time_to_done: Duration) {
    app.metrics.todo_completed(user, time_to_done);
    app.insights.todo_completed(user, time_to_done);
}
