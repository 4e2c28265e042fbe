//! One trace's spans as an indented tree, across services: a header line
//! (`trace {id}: {n} spans, {services}`), then one line per span, children under their
//! parent in order of start. A span whose parent is not among them (still in flight, or
//! in a part of the trace that has not arrived) is a root.

use std::{
    borrow::Borrow,
    collections::{BTreeSet, HashMap},
    fmt::Write as _,
};

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use crate::receiver::Span;

/// The tree of `spans`, all of one trace.
pub fn render<S: Borrow<Span>>(spans: &[S]) -> String {
    let spans: Vec<&Span> = spans.iter().map(Borrow::borrow).collect();
    let ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut children: HashMap<&str, Vec<&Span>> = HashMap::new();
    let mut roots = Vec::new();
    for span in &spans {
        if ids.contains(span.parent_span_id.as_str()) {
            children.entry(&span.parent_span_id).or_default().push(span);
        } else {
            roots.push(*span);
        }
    }
    roots.sort_by_key(|s| s.start_unix_nanos);
    for list in children.values_mut() {
        list.sort_by_key(|s| s.start_unix_nanos);
    }
    let services: BTreeSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    let trace_id = spans.first().map_or("", |s| s.trace_id.as_str());
    let mut out = format!(
        "trace {trace_id}: {} spans, {}\n",
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
    // After the duration: a query's text (shortened), or a server span's status code.
    let detail = match (
        span.attr_str("db.query.text"),
        span.attr("http.response.status_code"),
    ) {
        (Some(query), _) => format!("  {}", shortened(query, 70)),
        (None, Some(code)) => format!("  → {code}"),
        (None, None) => String::new(),
    };
    let error = if span.is_error() { "  ✗ ERROR" } else { "" };
    let _ = writeln!(
        out,
        "{:indent$}{:<12} {} [{kind}] {:.1} ms{detail}{error}",
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

fn shortened(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((end, _)) => format!("{}…", &s[..end]),
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
        let mut query = span("d", "a", "todo-web", "SELECT todos", 4);
        query.kind = SpanKind::Client;
        query.attributes.insert(
            "db.query.text".into(),
            format!("SELECT id FROM todos WHERE {}", "é".repeat(80)).into(),
        );
        query.status_code = 2;
        let mut root = span("a", "", "todo-web", "POST /todos", 1);
        root.kind = SpanKind::Server;
        root.attributes
            .insert("http.response.status_code".into(), 303.into());
        let text = render(&[
            span("c", "b", "todo-worker", "process jobs", 3),
            root,
            span("b", "a", "todo-web", "send jobs", 2),
            query,
        ]);
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines[0], "trace t: 4 spans, todo-web → todo-worker");
        assert_eq!(
            lines[1],
            "  todo-web     POST /todos [server] 1.0 ms  → 303"
        );
        assert!(lines[2].starts_with("    todo-web     send jobs [internal]"));
        assert!(lines[3].starts_with("      todo-worker  process jobs"));
        assert!(
            lines[4].starts_with("    todo-web     SELECT todos [client] 1.0 ms  SELECT id"),
            "{text}"
        );
        assert!(
            lines[4].ends_with("é…  ✗ ERROR"),
            "70 characters, then …: {text}"
        );
        assert_eq!(lines.len(), 5);
    }
}
