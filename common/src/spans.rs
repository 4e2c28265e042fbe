//! Span helpers every hop shares: a query's CLIENT span by the OpenTelemetry database
//! semantic conventions (sqlx makes none), marking a span failed, and the current
//! trace id.
//!
//! The query text is the parameterised SQL (`$1`, `$2`…): values never reach a span, so
//! `db.query.text` is sanitised by construction.

use opentelemetry::{
    Context, KeyValue,
    trace::{Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _},
};
use opentelemetry_sdk::trace::SdkTracer;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// What a span can be told, whichever kind it is: a `tracing` span (PRODUCER,
/// CONSUMER), the one in a context (`Context::current()`: a request's SERVER span, which
/// web's `server_span` makes current, or the `tracing` span entered), a query's.
pub trait Marks {
    fn attribute(&mut self, attribute: KeyValue);
    fn event(&mut self, name: &'static str, attributes: Vec<KeyValue>);
    fn error_status(&mut self, message: String);
}

impl Marks for tracing::Span {
    fn attribute(&mut self, attribute: KeyValue) {
        self.set_attribute(attribute.key, attribute.value);
    }

    fn event(&mut self, name: &'static str, attributes: Vec<KeyValue>) {
        self.add_event(name, attributes);
    }

    fn error_status(&mut self, message: String) {
        self.set_status(Status::error(message));
    }
}

impl Marks for Context {
    fn attribute(&mut self, attribute: KeyValue) {
        self.span().set_attribute(attribute);
    }

    fn event(&mut self, name: &'static str, attributes: Vec<KeyValue>) {
        self.span().add_event(name, attributes);
    }

    fn error_status(&mut self, message: String) {
        self.span().set_status(Status::error(message));
    }
}

/// A query's CLIENT span (ended when dropped) and its operation (for metrics).
pub struct QuerySpan {
    span: Option<opentelemetry_sdk::trace::Span>,
    pub operation: &'static str,
}

impl Marks for QuerySpan {
    fn attribute(&mut self, attribute: KeyValue) {
        if let Some(span) = &mut self.span {
            span.set_attribute(attribute);
        }
    }

    fn event(&mut self, name: &'static str, attributes: Vec<KeyValue>) {
        if let Some(span) = &mut self.span {
            span.add_event(name, attributes);
        }
    }

    fn error_status(&mut self, message: String) {
        if let Some(span) = &mut self.span {
            span.set_status(Status::error(message));
        }
    }
}

/// A CLIENT span named `name`, `{operation} {collection}` (`INSERT todos`), or just
/// `{operation}` when the statement has no collection (`BEGIN`, `SELECT 1`), as the
/// conventions name it; `server` holds `server.address`, `server.port` and
/// `db.namespace`. It carries the user it runs for and is a child of the span code
/// runs in (the current context's).
pub fn query(
    tracer: Option<&SdkTracer>,
    server: &[KeyValue],
    name: &'static str,
    sql: &'static str,
    user: Option<&str>,
) -> QuerySpan {
    let (operation, collection) = name.split_once(' ').unwrap_or((name, ""));
    let Some(tracer) = tracer else {
        return QuerySpan {
            span: None,
            operation,
        };
    };
    debug_assert!(
        one_line(sql),
        "write the query on one line (a `\\` line continuation): {sql:?}"
    );
    let mut attributes = vec![
        KeyValue::new("db.system.name", "postgresql"),
        KeyValue::new("db.operation.name", operation),
        KeyValue::new("db.query.text", sql),
    ];
    if !collection.is_empty() {
        attributes.push(KeyValue::new("db.collection.name", collection));
    }
    attributes.extend_from_slice(server);
    if let Some(user) = user {
        attributes.push(KeyValue::new("enduser.id", user.to_owned()));
    }
    let span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Client)
        .with_attributes(attributes)
        .start_with_context(tracer, &Context::current());
    QuerySpan {
        span: Some(span),
        operation,
    }
}

/// Marks `span` as failed: status Error, `error.type`, and an `exception` event.
pub fn record_error(span: &mut impl Marks, error_type: &str, error: &dyn std::fmt::Display) {
    let message = error.to_string();
    span.attribute(KeyValue::new("error.type", error_type.to_owned()));
    span.error_status(message.clone());
    span.event(
        "exception",
        vec![
            KeyValue::new("exception.type", error_type.to_owned()),
            KeyValue::new("exception.message", message),
        ],
    );
}

/// The trace id of the current span as 32 hex digits (all zeros outside a trace).
pub fn current_trace_id() -> String {
    Context::current()
        .span()
        .span_context()
        .trace_id()
        .to_string()
}

/// SQL laid out on one line, as it should read in a trace viewer. The queries are
/// written that way (Rust drops a `\`-continued line's break and indent), so the span
/// takes the text as it is; debug builds (every test run) check it.
fn one_line(sql: &str) -> bool {
    !sql.contains(['\n', '\t']) && !sql.contains("  ") && sql.trim() == sql
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_text_is_one_line() {
        assert!(!super::one_line("SELECT id\n  FROM todos\n WHERE id = $1"));
        assert!(super::one_line(
            "SELECT id \
             FROM todos"
        ));
    }
}
