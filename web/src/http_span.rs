//! HTTP SERVER spans by the OpenTelemetry HTTP semantic conventions.
//!
//! tower-http's `TraceLayer` drives the span's life; this module names it after the
//! route template (`GET /todos/{id}`), continues a W3C `traceparent` sent by the caller,
//! and records the status (5xx → span status Error).

use std::time::Duration;

use axum::{body::Body, extract::MatchedPath, http::Request, response::Response};
use opentelemetry::trace::Status;
use opentelemetry_http::HeaderExtractor;
use tower_http::{
    classify::{ServerErrorsAsFailures, SharedClassifier},
    trace::{MakeSpan, OnFailure, OnResponse, TraceLayer},
};
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub type HttpTraceLayer = TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    MakeServerSpan,
    (),
    RecordResponse,
    (),
    (),
    RecordFailure,
>;

pub fn layer() -> HttpTraceLayer {
    TraceLayer::new_for_http()
        .make_span_with(MakeServerSpan)
        .on_request(())
        .on_response(RecordResponse)
        .on_body_chunk(())
        .on_eos(())
        .on_failure(RecordFailure)
}

#[derive(Clone, Copy)]
pub struct MakeServerSpan;

impl MakeSpan<Body> for MakeServerSpan {
    fn make_span(&mut self, req: &Request<Body>) -> Span {
        // Methods the HTTP conventions do not know are `_OTHER` (and `HTTP` in the name):
        // any token a client sends must not make a new span name or metric series.
        let original = req.method().as_str();
        let method = common::metrics::http_method(original);
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str);
        let shown = if method == "_OTHER" { "HTTP" } else { method };
        let name = match route {
            Some(route) => format!("{shown} {route}"),
            None => shown.to_owned(),
        };
        let user_agent = req
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        let span = tracing::info_span!(
            "http.request",
            otel.name = name,
            otel.kind = "server",
            http.request.method = method,
            http.request.method_original = (method != original).then_some(original),
            http.route = route,
            url.path = req.uri().path(),
            url.scheme = "http",
            network.protocol.version = protocol_version(req.version()),
            user_agent.original = user_agent,
            http.response.status_code = Empty,
            enduser.id = Empty,
            error.type = Empty,
        );
        // A malformed or missing traceparent yields an empty context: a new trace starts.
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract_with_context(
                &opentelemetry::Context::new(),
                &HeaderExtractor(req.headers()),
            )
        });
        let _ = span.set_parent(parent);
        span
    }
}

/// `network.protocol.version` as the HTTP conventions write it (`1.1`, `2`).
fn protocol_version(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

#[derive(Clone, Copy)]
pub struct RecordResponse;

impl<B> OnResponse<B> for RecordResponse {
    /// The status on the span. No per-request log event: the span and the metrics say it
    /// all, and an event is copied into every exported span.
    fn on_response(self, response: &Response<B>, _latency: Duration, span: &Span) {
        let status = response.status();
        // i64: tracing-opentelemetry turns unsigned integers into strings.
        span.record("http.response.status_code", i64::from(status.as_u16()));
        if status.is_server_error() {
            span.record("error.type", status.as_str());
            span.set_status(Status::error(format!("HTTP {status}")));
        }
    }
}

/// The trace of this request's SERVER span, in the request's extensions when it is
/// sampled (so it will be in Jaeger): what the insights and pages link to.
#[derive(Debug, Clone, Copy)]
pub struct ServerTrace(pub opentelemetry::trace::TraceId);

/// Adds the W3C `traceresponse` header (`00-{trace id}-{span id}-{flags}`), so any
/// client can find the trace of the response it got, and leaves [`ServerTrace`] for the
/// layers inside (one look-up of the span's context per request).
pub async fn traceresponse(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use opentelemetry::trace::TraceContextExt;
    let cx = Span::current().context();
    let sc = cx.span().span_context().clone();
    if sc.is_valid() && sc.is_sampled() {
        request.extensions_mut().insert(ServerTrace(sc.trace_id()));
    }
    let mut response = next.run(request).await;
    if sc.is_valid()
        && let Ok(value) = http::HeaderValue::from_bytes(&traceparent(&sc))
    {
        response.headers_mut().insert("traceresponse", value);
    }
    response
}

/// `00-{trace id}-{span id}-{flags}` in lower-case hex, written into a fixed buffer (the
/// `format!` it replaces went through `fmt` machinery for each of the three).
fn traceparent(sc: &opentelemetry::trace::SpanContext) -> [u8; 55] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = *b"00-00000000000000000000000000000000-0000000000000000-00";
    let flags = [sc.trace_flags().to_u8()];
    let fields: [(&[u8], usize); 3] = [
        (&sc.trace_id().to_bytes(), 3),
        (&sc.span_id().to_bytes(), 36),
        (&flags, 53),
    ];
    for (bytes, at) in fields {
        for (i, byte) in bytes.iter().enumerate() {
            out[at + 2 * i] = HEX[usize::from(byte >> 4)];
            out[at + 2 * i + 1] = HEX[usize::from(byte & 0xf)];
        }
    }
    out
}

#[derive(Clone, Copy)]
pub struct RecordFailure;

impl<E: std::fmt::Display> OnFailure<E> for RecordFailure {
    fn on_failure(&mut self, failure: E, _latency: Duration, span: &Span) {
        span.set_status(Status::error(failure.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    #[test]
    fn traceparent_is_the_w3c_form() {
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        );
        assert_eq!(
            std::str::from_utf8(&super::traceparent(&sc)).unwrap(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
    }
}
