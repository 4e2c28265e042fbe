//! One trace's spans as an indented tree, across services: what trace-console prints
//! for each trace it receives, and what a process without an OTLP endpoint prints for
//! its own ([`crate::console_spans`]).

use std::{
    collections::{BTreeSet, HashMap},
    fmt::Write,
};

/// What a tree line shows of a span.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeSpan {
    pub service: String,
    pub name: String,
    /// `server`, `client`, `producer`, `consumer` or `internal`.
    pub kind: &'static str,
    /// Hex ids, as OTLP's JSON and the W3C headers write them; no parent is empty.
    pub span_id: String,
    pub parent_span_id: String,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    pub error: bool,
    /// After the duration: a query's text, or a server span's `→ status`.
    pub detail: Option<String>,
}

impl TreeSpan {
    /// The detail a line shows: the query (`db.query.text`, shortened), else the HTTP
    /// response status.
    pub fn detail(query: Option<&str>, status_code: Option<i64>) -> Option<String> {
        query
            .map(|q| truncate(q, 70))
            .or_else(|| status_code.map(|c| format!("→ {c}")))
    }

    fn duration_ms(&self) -> f64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos) as f64 / 1e6
    }
}

/// A header line (`trace {id}: {n} spans, {services}`), then one line per span, children
/// under parents (ordered by start time); spans whose parent is not in `spans` (still in
/// flight, or in another process's part of the trace) are roots.
pub fn render(trace_id: &str, spans: &[TreeSpan]) -> String {
    let ids: HashMap<&str, &TreeSpan> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let mut children: HashMap<&str, Vec<&TreeSpan>> = HashMap::new();
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
    let services: BTreeSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    let mut out = String::new();
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

fn line(out: &mut String, span: &TreeSpan, children: &HashMap<&str, Vec<&TreeSpan>>, depth: usize) {
    let status = if span.error { "  ✗ ERROR" } else { "" };
    let detail = span.detail.as_deref().unwrap_or_default();
    let gap = if detail.is_empty() { "" } else { "  " };
    let _ = writeln!(
        out,
        "{:indent$}{:<12} {} [{}] {:.1} ms{gap}{detail}{status}",
        "",
        span.service,
        span.name,
        span.kind,
        span.duration_ms(),
        indent = depth * 2
    );
    for child in children.get(span.span_id.as_str()).into_iter().flatten() {
        line(out, child, children, depth + 1);
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((end, _)) => format!("{}…", &s[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: &str, service: &str, name: &str, start: u64) -> TreeSpan {
        TreeSpan {
            service: service.into(),
            name: name.into(),
            kind: "internal",
            span_id: id.into(),
            parent_span_id: parent.into(),
            start_unix_nanos: start,
            end_unix_nanos: start + 1_000_000,
            error: false,
            detail: None,
        }
    }

    #[test]
    fn children_are_indented_under_their_parent_across_services() {
        let mut query = span("d", "a", "todo-web", "SELECT todos", 4);
        query.detail = TreeSpan::detail(Some("SELECT id FROM todos"), None);
        query.error = true;
        let text = render(
            "t",
            &[
                span("c", "b", "todo-worker", "process jobs", 3),
                span("a", "", "todo-web", "POST /todos", 1),
                span("b", "a", "todo-web", "send jobs", 2),
                query,
            ],
        );
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines[0], "trace t: 4 spans, todo-web → todo-worker");
        assert_eq!(lines[1], "  todo-web     POST /todos [internal] 1.0 ms");
        assert!(lines[2].starts_with("    todo-web     send jobs"));
        assert!(lines[3].starts_with("      todo-worker  process jobs"));
        assert_eq!(
            lines[4],
            "    todo-web     SELECT todos [internal] 1.0 ms  SELECT id FROM todos  ✗ ERROR"
        );
    }

    #[test]
    fn details_are_the_query_shortened_or_the_status() {
        let long = "é".repeat(80);
        let shown = TreeSpan::detail(Some(&long), Some(200)).unwrap();
        assert_eq!(shown.chars().count(), 71);
        assert!(shown.ends_with('…'));
        assert_eq!(TreeSpan::detail(None, Some(503)).as_deref(), Some("→ 503"));
        assert_eq!(TreeSpan::detail(None, None), None);
    }
}
