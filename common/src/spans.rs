//! Span helpers every hop shares: DB client spans by the OpenTelemetry database semantic
//! conventions (sqlx emits none), marking a span failed, and the current trace id.
//!
//! The query text is the parameterised SQL (`$1`, `$2`…): values never reach a span, so
//! `db.query.text` is sanitised by construction.

use opentelemetry::{KeyValue, trace::Status};
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A query's CLIENT span and its operation (`INSERT`…, for metrics and observers).
#[derive(Clone)]
pub struct QuerySpan {
    pub span: Span,
    pub operation: &'static str,
}

/// A CLIENT span named `{operation} {collection}` (e.g. `INSERT todos`), or just
/// `{operation}` when the statement has no collection (`BEGIN`, `SELECT 1`), carrying
/// the user it runs for.
pub fn query(
    operation: &'static str,
    collection: &'static str,
    sql: &'static str,
    user: Option<&str>,
) -> QuerySpan {
    let (name, collection) = match collection {
        "" => (operation.to_owned(), None),
        c => (format!("{operation} {c}"), Some(c)),
    };
    let span = tracing::info_span!(
        "db.query",
        otel.name = name,
        otel.kind = "client",
        db.system.name = "postgresql",
        db.operation.name = operation,
        db.collection.name = collection,
        db.query.text = normalise(sql),
        db.response.returned_rows = Empty,
        enduser.id = user,
        error.type = Empty,
    );
    QuerySpan { span, operation }
}

/// Marks `span` as failed: status Error, `error.type`, and an `exception` event.
pub fn record_error(span: &Span, error_type: &str, error: &dyn std::fmt::Display) {
    let message = error.to_string();
    span.record("error.type", error_type);
    span.set_status(Status::error(message.clone()));
    span.add_event(
        "exception",
        vec![
            KeyValue::new("exception.type", error_type.to_owned()),
            KeyValue::new("exception.message", message),
        ],
    );
}

/// The trace id of the current span as 32 hex digits (all zeros outside a trace).
pub fn current_trace_id() -> String {
    use opentelemetry::trace::TraceContextExt;
    Span::current()
        .context()
        .span()
        .span_context()
        .trace_id()
        .to_string()
}

/// SQL laid out on one line, as it should read in a trace viewer.
fn normalise(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_text_is_one_line() {
        assert_eq!(
            super::normalise("SELECT id\n  FROM todos\n WHERE id = $1"),
            "SELECT id FROM todos WHERE id = $1"
        );
    }
}
