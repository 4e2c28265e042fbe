//! A received trace as a tree: [`common::trace_tree`]'s lines, from the receiver's spans.

use std::borrow::Borrow;

use common::trace_tree::TreeSpan;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use crate::receiver::Span;

/// The trace of `spans` (one trace's) as [`common::trace_tree::render`] prints it.
pub fn render<S: Borrow<Span>>(spans: &[S]) -> String {
    let trace_id = spans
        .first()
        .map(|s| s.borrow().trace_id.as_str())
        .unwrap_or_default();
    let tree: Vec<TreeSpan> = spans.iter().map(|s| tree_span(s.borrow())).collect();
    common::trace_tree::render(trace_id, &tree)
}

fn tree_span(span: &Span) -> TreeSpan {
    let kind = match span.kind {
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        _ => "internal",
    };
    TreeSpan {
        service: span.service.clone(),
        name: span.name.clone(),
        kind,
        span_id: span.span_id.clone(),
        parent_span_id: span.parent_span_id.clone(),
        start_unix_nanos: span.start_unix_nanos,
        end_unix_nanos: span.end_unix_nanos,
        error: span.is_error(),
        detail: TreeSpan::detail(
            span.attr_str("db.query.text"),
            span.attr("http.response.status_code")
                .and_then(serde_json::Value::as_i64),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn span(id: &str, parent: &str, service: &str, name: &str, start: u64) -> Span {
        Span {
            service: service.into(),
            name: name.into(),
            kind: SpanKind::Server,
            trace_id: "t".into(),
            span_id: id.into(),
            parent_span_id: parent.into(),
            attributes: HashMap::new(),
            status_code: 0,
            events: vec![],
            links: vec![],
            start_unix_nanos: start,
            end_unix_nanos: start + 1_000_000,
            received_unix_ms: 0,
        }
    }

    #[test]
    fn received_spans_render_with_their_kind_status_and_detail() {
        let mut root = span("a", "", "todo-web", "GET /", 1);
        root.attributes
            .insert("http.response.status_code".into(), 500.into());
        root.status_code = 2;
        let text = render(&[span("b", "a", "todo-web", "SELECT todos", 2), root]);
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines[0], "trace t: 2 spans, todo-web");
        assert_eq!(
            lines[1],
            "  todo-web     GET / [server] 1.0 ms  → 500  ✗ ERROR"
        );
        assert!(lines[2].starts_with("    todo-web     SELECT todos [server]"));
    }
}
