//! HTTP SERVER spans by the OpenTelemetry HTTP semantic conventions, made with the
//! OpenTelemetry API (no `tracing` span: a request's span costs one context, not a
//! registry entry with an enter and exit on every poll) as a `common::otlp::direct` span.
//!
//! [`serve`] continues a W3C `traceparent` sent by the caller, names the span after the
//! route template (`GET /todos/{id}`), makes it the current OpenTelemetry context while
//! the request runs (the parent of its query and PRODUCER spans; what
//! [`common::spans::current`] marks and logs are joined to), records the status (5xx →
//! span status Error), and answers with the W3C `traceresponse` header.

use std::{
    borrow::Cow,
    hash::{Hash as _, Hasher as _},
};

use axum::{
    extract::{MatchedPath, Request, State},
    http::HeaderValue,
    middleware::Next,
    response::Response,
};
use common::{otlp::fixed::FixedAttributes, spans::Tracer};
use opentelemetry::{
    Context, KeyValue,
    context::FutureExt as _,
    propagation::Extractor,
    trace::{SpanKind, Status, TraceContextExt as _},
};

/// Runs the request inside its SERVER span (route-level: after routing, so the span can
/// use the route template). With spans disabled it only runs the request.
///
/// What tracing adds is in two functions of their own, [`start`] and [`finish`], not
/// inlined here: this future's poll is the whole request's, and the traced path's code
/// laid out among it took ~110 instruction-cache misses a request (callgrind); apart,
/// it is fetched as two runs of lines (README, "The SERVER span's code in one place").
pub async fn serve(State(tracer): State<Tracer>, request: Request, next: Next) -> Response {
    let Some(cx) = start(&tracer, &request) else {
        return next.run(request).await;
    };
    let mut response = next.run(request).with_context(cx.clone()).await;
    finish(&cx, &mut response);
    response
}

/// Ends the SERVER span in `cx` with the response's status, and answers with the W3C
/// `traceresponse` header.
#[inline(never)]
fn finish(cx: &Context, response: &mut Response) {
    let status = response.status();
    let span = cx.span();
    // i64: the conventions' type (an OpenTelemetry attribute has no unsigned integer).
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
    // Ended here, not when the last clone of the context goes (a child's context holds
    // its parent's).
    span.end();
    let sc = span.span_context();
    if sc.is_valid()
        && let Ok(value) = HeaderValue::from_bytes(&traceparent(sc))
    {
        response.headers_mut().insert(TRACERESPONSE, value);
    }
}

const TRACERESPONSE: http::HeaderName = http::HeaderName::from_static("traceresponse");

/// A request's headers as the propagators read them. They ask by `&str`, which
/// `HeaderMap` would check and lower-case byte by byte before each look-up; the names
/// they ask for are known here.
pub struct Headers<'a>(pub &'a http::HeaderMap);

impl Headers<'_> {
    fn known(key: &str) -> Option<http::HeaderName> {
        const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
        const TRACESTATE: http::HeaderName = http::HeaderName::from_static("tracestate");
        const BAGGAGE: http::HeaderName = http::HeaderName::from_static("baggage");
        match key {
            "traceparent" => Some(TRACEPARENT),
            "tracestate" => Some(TRACESTATE),
            "baggage" => Some(BAGGAGE),
            _ => None,
        }
    }
}

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let value = match Self::known(key) {
            Some(name) => self.0.get(name),
            None => self.0.get(key),
        };
        value.and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let all = match Self::known(key) {
            Some(name) => self.0.get_all(name),
            None => self.0.get_all(key),
        };
        let values: Vec<&str> = all.iter().filter_map(|v| v.to_str().ok()).collect();
        (!values.is_empty()).then_some(values)
    }
}

/// The request's SERVER span, as the context its work runs in. Not inlined: see [`serve`].
#[inline(never)]
fn start(tracer: &Tracer, req: &Request) -> Option<Context> {
    let tracer = tracer.direct()?;
    // Methods the HTTP conventions do not know are `_OTHER` (and `HTTP` in the name):
    // any token a client sends must not make a new span name or metric series.
    let original = req.method().as_str();
    let method = common::metrics::http_method(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let version = protocol_version(req.version());
    let path = req.uri().path();
    // A route without parameters matches only its own path: `url.path` is then the
    // route's too, made and encoded once with its other attributes.
    let path_is_route = route == Some(path);
    let fixed = server_attributes(method, route, version, path_is_route);
    // Room made now for the status code set at the end (and a few more): the size a
    // first push would allocate, without the grow path at the end of every request.
    let mut attributes = Vec::with_capacity(4);
    let name = if fixed.is_empty() {
        attributes.extend(fixed_attributes(method, route, version, None));
        Cow::Owned(span_name(method, route))
    } else {
        Cow::Borrowed(fixed.name())
    };
    if method != original {
        attributes.push(KeyValue::new(
            "http.request.method_original",
            original.to_owned(),
        ));
    }
    if fixed.is_empty() || !path_is_route {
        attributes.push(KeyValue::new("url.path", path.to_owned()));
    }
    if let Some(agent) = req
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        attributes.push(KeyValue::new("user_agent.original", agent.to_owned()));
    }
    // A malformed or missing traceparent yields an empty context: a new trace starts.
    let parent = common::telemetry::extract(&Headers(req.headers()));
    let span = tracer.start_fixed(name, SpanKind::Server, fixed, attributes, &parent);
    Some(parent.with_span(span))
}

/// The attributes every request of a route shares: method, route, scheme and protocol
/// version (and `url.path` when `path_is_route`), with the span's name, made and encoded
/// once per route (`common::otlp::fixed`). Found by the method's and version's addresses
/// (each a `&'static str` of a closed set), the route's hash, its length and
/// `path_is_route`; a route whose hash another route already took gets none (empty), and
/// its span carries them as its own.
fn server_attributes(
    method: &'static str,
    route: Option<&str>,
    version: &'static str,
    path_is_route: bool,
) -> &'static FixedAttributes {
    let hash = route.map_or(0, |route| {
        let mut hasher = rustc_hash::FxHasher::default();
        route.hash(&mut hasher);
        hasher.finish() as usize
    });
    let site = [
        method.as_ptr() as usize,
        version.as_ptr() as usize,
        hash,
        route.map_or(usize::MAX, |route| {
            route.len() << 1 | usize::from(path_is_route)
        }),
    ];
    let fixed = FixedAttributes::interned_named(site, || {
        let path = route.filter(|_| path_is_route);
        (
            span_name(method, route),
            fixed_attributes(method, route, version, path),
        )
    });
    let same_route = fixed
        .attributes()
        .iter()
        .find(|kv| kv.key.as_str() == "http.route")
        .map(|kv| kv.value.as_str());
    if same_route.as_deref() == route {
        fixed
    } else {
        &common::otlp::fixed::NONE
    }
}

/// `{method} {route}` as the HTTP conventions name a SERVER span; `HTTP` for a method
/// they do not know (`_OTHER`): a client's token must not make a new span name.
fn span_name(method: &'static str, route: Option<&str>) -> String {
    let shown = if method == "_OTHER" { "HTTP" } else { method };
    match route {
        Some(route) => format!("{shown} {route}"),
        None => shown.to_owned(),
    }
}

/// The attributes a route's spans share, and `url.path` when it is the route's own.
fn fixed_attributes(
    method: &'static str,
    route: Option<&str>,
    version: &'static str,
    path: Option<&str>,
) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(5);
    attributes.push(KeyValue::new("http.request.method", method));
    if let Some(route) = route {
        attributes.push(KeyValue::new("http.route", route.to_owned()));
    }
    attributes.push(KeyValue::new("url.scheme", "http"));
    attributes.push(KeyValue::new("network.protocol.version", version));
    if let Some(path) = path {
        attributes.push(KeyValue::new("url.path", path.to_owned()));
    }
    attributes
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

/// In a response's extensions: its SERVER span already has an `error.type` that says
/// more than the status code (which [`serve`] would record otherwise).
#[derive(Debug, Clone, Copy)]
pub struct ErrorTyped;

/// The trace of the SERVER span the code runs in, when it is sampled (so it will be in
/// Jaeger): what the insights link to. Read from the current context, which [`serve`]
/// sets while the request runs (no extension to allocate per request).
pub fn server_trace() -> Option<opentelemetry::trace::TraceId> {
    Context::map_current(|cx| {
        let span = cx.span();
        let sc = span.span_context();
        (sc.is_valid() && sc.is_sampled()).then(|| sc.trace_id())
    })
}

/// `00-{trace id}-{span id}-{flags}` in lower-case hex, written into a fixed buffer (the
/// `format!` it replaces went through `fmt` machinery for each of the three), eight
/// digits at a time ([`hex8`]: straight-line code, no loop or table).
fn traceparent(sc: &opentelemetry::trace::SpanContext) -> [u8; 55] {
    let mut out = *b"00-00000000000000000000000000000000-0000000000000000-00";
    let trace = u128::from_be_bytes(sc.trace_id().to_bytes());
    let span = u64::from_be_bytes(sc.span_id().to_bytes());
    // Each 32-bit word of the ids and where its digits go: the trace id's four from 3,
    // the span id's two from 36.
    let words = [
        ((trace >> 96) as u32, 3),
        ((trace >> 64) as u32, 11),
        ((trace >> 32) as u32, 19),
        (trace as u32, 27),
        ((span >> 32) as u32, 36),
        (span as u32, 44),
    ];
    for (word, at) in words {
        out[at..at + 8].copy_from_slice(&hex8(word));
    }
    let flags = hex8(u32::from(sc.trace_flags().to_u8()));
    out[53..].copy_from_slice(&flags[6..]);
    out
}

/// `word` as eight lower-case hex digits: each nibble spread into a byte of its own,
/// then `'0'` added, and `'a' - '0' - 10` more where the nibble is over 9.
fn hex8(word: u32) -> [u8; 8] {
    let mut x = u64::from(word);
    x = (x | x << 16) & 0x0000_ffff_0000_ffff;
    x = (x | x << 8) & 0x00ff_00ff_00ff_00ff;
    x = (x | x << 4) & 0x0f0f_0f0f_0f0f_0f0f;
    // A nibble over 9 carries into its byte's bit 4 once 6 is added.
    let over9 = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    // The most significant nibble is in the highest byte, and comes first: big-endian.
    (x + 0x3030_3030_3030_3030 + over9 * u64::from(b'a' - b'0' - 10)).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use opentelemetry::{
        KeyValue,
        propagation::Extractor as _,
        trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState},
    };

    use super::{fixed_attributes, server_attributes};

    #[test]
    fn each_route_gets_its_own_fixed_attributes_once() {
        let todo = server_attributes("GET", Some("/todos/{id}"), "1.1", false);
        assert!(std::ptr::eq(
            todo,
            server_attributes("GET", Some("/todos/{id}"), "1.1", false)
        ));
        assert_eq!(todo.name(), "GET /todos/{id}");
        for route in [Some("/todos/{id}"), Some("/todos"), None] {
            assert_eq!(
                server_attributes("GET", route, "1.1", false).attributes(),
                fixed_attributes("GET", route, "1.1", None),
                "{route:?}"
            );
        }
        assert_eq!(
            server_attributes("_OTHER", None, "1.1", false).name(),
            "HTTP"
        );
    }

    #[test]
    fn a_route_that_is_its_path_shares_url_path_too() {
        let with_path = server_attributes("POST", Some("/todos"), "1.1", true);
        let without = server_attributes("POST", Some("/todos"), "1.1", false);
        assert!(!std::ptr::eq(with_path, without));
        assert_eq!(with_path.name(), "POST /todos");
        assert_eq!(
            with_path.attributes().last(),
            Some(&KeyValue::new("url.path", "/todos"))
        );
        assert!(
            without
                .attributes()
                .iter()
                .all(|kv| kv.key.as_str() != "url.path")
        );
    }

    #[test]
    fn headers_are_read_by_known_and_other_names() {
        let mut map = http::HeaderMap::new();
        map.insert("traceparent", "00-a-b-01".parse().unwrap());
        map.append("baggage", "k=v".parse().unwrap());
        map.append("baggage", "other=1".parse().unwrap());
        map.insert("x-other", "yes".parse().unwrap());
        let headers = super::Headers(&map);
        assert_eq!(headers.get("traceparent"), Some("00-a-b-01"));
        assert_eq!(headers.get("tracestate"), None);
        assert_eq!(headers.get("x-other"), Some("yes"));
        assert_eq!(headers.get_all("baggage"), Some(vec!["k=v", "other=1"]));
        assert_eq!(headers.get_all("missing"), None);
    }

    #[test]
    fn traceparent_writes_every_digit_as_format_does() {
        // A spread of ids: every nibble value in every position, both flag bytes.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for i in 0..2_000_u64 {
            let trace = u128::from(next()) << 64 | u128::from(next());
            let span = next() | 1;
            let flags = if i % 2 == 0 {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            };
            let sc = SpanContext::new(
                TraceId::from(trace),
                SpanId::from(span),
                flags,
                false,
                TraceState::NONE,
            );
            assert_eq!(
                std::str::from_utf8(&super::traceparent(&sc)).unwrap(),
                format!("00-{trace:032x}-{span:016x}-{:02x}", flags.to_u8())
            );
        }
        assert_eq!(&super::hex8(0x0123_abcf), b"0123abcf");
        assert_eq!(&super::hex8(u32::MAX), b"ffffffff");
        assert_eq!(&super::hex8(0), b"00000000");
    }

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
