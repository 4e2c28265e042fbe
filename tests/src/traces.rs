//! Finding spans in what the OTLP receiver got: one helper for every story's question
//! ("the web's SERVER span", "the one `UPDATE jobs` of the worker").

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::json;

use crate::otlp::Span;

/// The span of `service` with that kind and name, if any.
pub fn find<'a>(spans: &'a [Span], service: &str, kind: SpanKind, name: &str) -> Option<&'a Span> {
    spans
        .iter()
        .find(|s| s.service == service && s.kind == kind && s.name == name)
}

/// Every span of `service` with that name.
pub fn named<'a>(spans: &'a [Span], service: &str, name: &str) -> Vec<&'a Span> {
    spans
        .iter()
        .filter(|s| s.service == service && s.name == name)
        .collect()
}

/// The one span of `service` with that name; panics (listing what there is) otherwise.
pub fn one<'a>(spans: &'a [Span], service: &str, name: &str) -> &'a Span {
    let found = named(spans, service, name);
    assert_eq!(
        found.len(),
        1,
        "one {service} span {name:?} in {:#?}",
        names(spans)
    );
    found[0]
}

/// The web's SERVER span ends last among its spans: once it is in, they all are.
pub fn has_server(spans: &[Span]) -> bool {
    spans
        .iter()
        .any(|s| s.service == "todo-web" && s.kind == SpanKind::Server)
}

/// `service:name` of each span, for failure messages.
pub fn names(spans: &[Span]) -> Vec<String> {
    spans
        .iter()
        .map(|s| format!("{}:{}", s.service, s.name))
        .collect()
}

/// Whether `span` says `fault` was injected (attributes and event).
pub fn is_marked(span: &Span, fault: &str) -> bool {
    span.attr_str("fault.name") == Some(fault)
        && span.attr("fault.injected") == Some(&json!(true))
        && span.events.iter().any(|e| e == "fault injected")
}
