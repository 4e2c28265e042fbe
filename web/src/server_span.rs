//! HTTP SERVER spans by the OpenTelemetry HTTP semantic conventions: one middleware
//! written with the OpenTelemetry API, as upstream's `tracing-http-propagator` example
//! does. opentelemetry-instrumentation-tower 0.19 fits opentelemetry 0.33 but not the
//! conventions this demo shows: failed spans get no `error.type` and `url.scheme` is
//! always empty (opentelemetry-rust-contrib#777), and any method a client sends becomes
//! a span name and a metric series, where the conventions say `HTTP` and `_OTHER`.
//!
//! [`serve`] continues a caller's `traceparent` (and baggage), names the span after the
//! route template (`GET /todos/{id}`), makes it the current context while the request
//! runs (the parent of its query and PRODUCER spans, what faults mark and log lines
//! join), records the status (5xx: status Error), and answers with
//! the W3C `traceresponse` header.

use axum::{
    extract::{MatchedPath, Request, State},
    http::HeaderValue,
    middleware::Next,
    response::Response,
};
use opentelemetry::{
    Context, KeyValue,
    context::FutureExt as _,
    global,
    trace::{SpanKind, Status, TraceContextExt as _, TraceId, Tracer as _},
};
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::trace::SdkTracer;

/// Runs the request inside its SERVER span (a route layer: it runs after routing, so
/// the span can use the route template). Without a tracer the caller's context still
/// applies (its baggage may carry a fault scope).
pub async fn serve(
    State(tracer): State<Option<SdkTracer>>,
    request: Request,
    next: Next,
) -> Response {
    let parent =
        global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(request.headers())));
    let Some(tracer) = tracer else {
        return next.run(request).with_context(parent).await;
    };
    // A method the conventions do not know is `_OTHER`, and `HTTP` in the name: a
    // client's token must not make a span name or a metric series.
    let method = common::metrics::http_method(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let shown = if method == "_OTHER" { "HTTP" } else { method };
    let name = match route {
        Some(route) => format!("{shown} {route}"),
        None => shown.to_owned(),
    };
    let mut attributes = vec![
        KeyValue::new("http.request.method", method),
        KeyValue::new("url.path", request.uri().path().to_owned()),
        KeyValue::new("url.scheme", "http"),
        KeyValue::new(
            "network.protocol.version",
            protocol_version(request.version()),
        ),
    ];
    if let Some(route) = route {
        attributes.push(KeyValue::new("http.route", route.to_owned()));
    }
    if method == "_OTHER" {
        let original = request.method().as_str().to_owned();
        attributes.push(KeyValue::new("http.request.method_original", original));
    }
    if let Some(agent) = request.headers().get(http::header::USER_AGENT) {
        let agent = String::from_utf8_lossy(agent.as_bytes()).into_owned();
        attributes.push(KeyValue::new("user_agent.original", agent));
    }
    let span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes)
        .start_with_context(&tracer, &parent);
    let cx = parent.with_span(span);
    let mut response = next.run(request).with_context(cx.clone()).await;

    let span = cx.span();
    let status = response.status();
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    if status.is_server_error() {
        if response.extensions().get::<ErrorTyped>().is_none() {
            span.set_attribute(KeyValue::new("error.type", status.as_str().to_owned()));
        }
        span.set_status(Status::error(format!("HTTP {status}")));
    }
    // Ended here, not when the last clone of the context goes.
    span.end();
    let sc = span.span_context();
    let traceresponse = format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    );
    if let Ok(value) = HeaderValue::from_str(&traceresponse) {
        response.headers_mut().insert("traceresponse", value);
    }
    response
}

/// `network.protocol.version` as the conventions write it (`1.1`, `2`).
fn protocol_version(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// In a response's extensions: its SERVER span already has an `error.type` that says
/// more than the status code (which [`serve`] would record otherwise).
#[derive(Debug, Clone, Copy)]
pub struct ErrorTyped;

/// The trace of the SERVER span the code runs in, when it is sampled (so it will be in
/// Jaeger): what the insights link to.
pub fn sampled_trace_id() -> Option<TraceId> {
    let cx = Context::current();
    let sc = cx.span().span_context().clone();
    (sc.is_valid() && sc.is_sampled()).then(|| sc.trace_id())
}
