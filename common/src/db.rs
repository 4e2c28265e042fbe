//! DB client spans by the OpenTelemetry database semantic conventions.
//!
//! sqlx emits no spans of its own, so every query goes through [`query_span`] +
//! [`traced`]. The query text is the parameterised SQL (`$1`, `$2`…): values never
//! reach a span, so `db.query.text` is sanitised by construction.

use std::future::Future;

use opentelemetry::{KeyValue, trace::Status};
use tracing::{Instrument, Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::faults::{self, Fault};

/// A query's CLIENT span and its operation (for [`observe`]rs).
#[derive(Clone)]
pub struct QuerySpan {
    pub span: Span,
    pub operation: &'static str,
}

/// Called after every query with its operation (`INSERT`…), its duration (injected
/// latency included: that is what the user waited) and whether it succeeded.
pub type Observer = fn(operation: &'static str, elapsed: std::time::Duration, ok: bool);

static OBSERVER: std::sync::OnceLock<Observer> = std::sync::OnceLock::new();

/// Installs the process's query observer (web's insights).
pub fn observe(observer: Observer) {
    let _ = OBSERVER.set(observer);
}

/// A CLIENT span named `{operation} {collection}` (e.g. `INSERT todos`), or just
/// `{operation}` when the statement has no collection (`BEGIN`, `SELECT 1`).
pub fn query_span(
    operation: &'static str,
    collection: &'static str,
    sql: &'static str,
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
        enduser.id = crate::context::user(),
        error.type = Empty,
    );
    QuerySpan { span, operation }
}

/// Runs a query inside `span`, applying the `db_unavailable` and `slow_db` faults; an
/// error sets the span's status and `error.type` and adds an `exception` event, so a
/// failed query explains itself in the trace.
pub async fn traced<T, F>(query: QuerySpan, fut: F) -> Result<T, sqlx::Error>
where
    F: Future<Output = Result<T, sqlx::Error>>,
{
    let started = std::time::Instant::now();
    let span = query.span.clone();
    if let Some(fault) = faults::active(Fault::DbUnavailable) {
        fault.mark(&span);
        record_error(
            &span,
            "db_unavailable",
            &"connection refused: database unavailable (fault injected)",
        );
        notify(query.operation, started, false);
        // What sqlx reports when no connection can be had: callers treat it as an outage.
        return Err(sqlx::Error::PoolTimedOut);
    }
    if let Some(fault) = faults::active(Fault::SlowDb) {
        fault.mark(&span);
        let latency = std::time::Duration::from_millis(fault.param("latency_ms"));
        tokio::time::sleep(latency).instrument(span.clone()).await;
    }
    let result = traced_raw(query.clone(), fut).await;
    notify(query.operation, started, result.is_ok());
    result
}

fn notify(operation: &'static str, started: std::time::Instant, ok: bool) {
    let elapsed = started.elapsed();
    crate::metrics::db_operation(operation, elapsed, ok);
    if let Some(observer) = OBSERVER.get() {
        observer(operation, elapsed, ok);
    }
}

/// [`traced`] without fault injection: for the fault settings themselves (switching
/// `db_unavailable` off must still work) and for infrastructure queries.
pub async fn traced_raw<T, E, F>(query: QuerySpan, fut: F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let span = query.span;
    let result = fut.instrument(span.clone()).await;
    if let Err(e) = &result {
        record_error(&span, "db_error", e);
    }
    result
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
