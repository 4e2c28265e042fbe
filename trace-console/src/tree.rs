//! Renders the spans of one trace as an indented tree, across services.

use std::{collections::HashMap, fmt::Write};

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use crate::receiver::Span;

/// One line per span, children under parents (ordered by start time); spans whose
/// parent is not in `spans` (still in flight, or in another trace) are roots.
pub fn render(spans: &[Span]) -> String {
    let ids: HashMap<&str, &Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let mut children: HashMap<&str, Vec<&Span>> = HashMap::new();
    let mut roots = Vec::new();
    for span in spans {
        if ids.contains_key(span.parent_span_id.as_str()) {
            children
                .entry(span.parent_span_id.as_str())
                .or_default()
                .push(span);
        } else {
            roots.push(span);
        }
    }
    roots.sort_by_key(|s| s.start_unix_nanos);
    for list in children.values_mut() {
        list.sort_by_key(|s| s.start_unix_nanos);
    }
    let services: std::collections::BTreeSet<&str> =
        spans.iter().map(|s| s.service.as_str()).collect();
    let mut out = String::new();
    let trace_id = spans
        .first()
        .map(|s| s.trace_id.as_str())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "trace {trace_id}: {} spans, {}",
        spans.len(),
        services.into_iter().collect::<Vec<_>>().join(" → ")
    );
    for root in roots {
        line(&mut out, root, &children, 1);
    }
    out
}

fn line(out: &mut String, span: &Span, children: &HashMap<&str, Vec<&Span>>, depth: usize) {
    let kind = match span.kind {
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        _ => "internal",
    };
    let status = if span.is_error() { "  ✗ ERROR" } else { "" };
    let detail = span
        .attr_str("db.query.text")
        .map(|q| format!("  {}", truncate(q, 70)))
        .or_else(|| {
            span.attr("http.response.status_code")
                .map(|c| format!("  → {c}"))
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{:indent$}{:<12} {} [{kind}] {:.1} ms{detail}{status}",
        "",
        span.service,
        span.name,
        span.duration_ms(),
        indent = depth * 2
    );
    for child in children.get(span.span_id.as_str()).into_iter().flatten() {
        line(out, child, children, depth + 1);
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: &str, service: &str, name: &str, start: u64) -> Span {
        Span {
            service: service.into(),
            name: name.into(),
            kind: SpanKind::Internal,
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
    fn children_are_indented_under_their_parent_across_services() {
        let text = render(&[
            span("c", "b", "todo-worker", "process jobs", 3),
            span("a", "", "todo-web", "POST /todos", 1),
            span("b", "a", "todo-web", "send jobs", 2),
        ]);
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines[0], "trace t: 3 spans, todo-web → todo-worker");
        assert!(lines[1].starts_with("  todo-web     POST /todos"));
        assert!(lines[2].starts_with("    todo-web     send jobs"));
        assert!(lines[3].starts_with("      todo-worker  process jobs"));
    }
}
