//! Span helpers every hop shares: DB client spans by the OpenTelemetry database semantic
//! conventions (sqlx emits none), the span code runs in ([`current`]), marking a span
//! failed, and the current trace id.
//!
//! The hot spans are made with the OpenTelemetry API directly ([`Tracer`]): a request's
//! SERVER span (web's `http_span`, current as the OpenTelemetry context while the
//! request runs) and each query's CLIENT span. They need none of what `tracing` adds (an
//! entered-span stack, per-poll enter/exit, field visitors, a builder per span), nor the
//! SDK's per-span machinery: they are [`DirectSpan`]s (`crate::otlp::direct`). The
//! other spans are `tracing` spans (the worker's CONSUMER span, PRODUCER spans), and
//! [`current`] is whichever kind the code runs in (the bridge makes an entered `tracing`
//! span's context the current one).
//! The query text is the parameterised SQL (`$1`, `$2`…): values never reach a span, so
//! `db.query.text` is sanitised by construction.

use opentelemetry::{
    KeyValue,
    trace::{Span as _, SpanKind, Status, TraceContextExt},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::otlp::{
    direct::{DirectSpan, DirectTracer},
    fixed::FixedAttributes,
};

/// Makes the hot spans (a request's SERVER span, query spans) as [`DirectSpan`]s;
/// `disabled()` makes none (`OTEL_SDK_DISABLED`, or a test).
#[derive(Clone, Copy, Debug, Default)]
pub struct Tracer(Option<&'static DirectTracer>);

impl Tracer {
    pub fn new(tracer: &'static DirectTracer) -> Self {
        Self(Some(tracer))
    }

    pub fn disabled() -> Self {
        Self(None)
    }

    /// The tracer, unless spans are disabled.
    pub fn direct(&self) -> Option<&'static DirectTracer> {
        self.0
    }
}

/// The span code runs in, as the current OpenTelemetry context: a request's SERVER span
/// (`http_span` makes it current while the request runs), or the `tracing` span entered
/// (the worker's CONSUMER span, a PRODUCER span: the bridge makes an entered span's
/// context current, `telemetry::otel_layer`). Neither, and what it is told goes nowhere.
pub fn current() -> opentelemetry::Context {
    opentelemetry::Context::current()
}

/// What a span can be told, whichever kind it is: the `tracing` spans (HTTP, messaging)
/// and the query spans made with the OpenTelemetry API.
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

impl Marks for opentelemetry::Context {
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
    span: Option<DirectSpan>,
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

/// A CLIENT span named `name`: `{operation} {collection}` (e.g. `INSERT todos`), or just
/// `{operation}` when the statement has no collection (`BEGIN`, `SELECT 1`): the
/// attributes are slices of it, so nothing is formatted or copied per query. It carries
/// the user it runs for and is a child of the span code runs in ([`current`]).
pub fn query(
    tracer: &Tracer,
    name: &'static str,
    sql: &'static str,
    user: Option<&str>,
) -> QuerySpan {
    let (operation, collection) = name.split_once(' ').unwrap_or((name, ""));
    let Some(tracer) = tracer.0 else {
        return QuerySpan {
            span: None,
            operation,
        };
    };
    debug_assert!(
        one_line(sql),
        "write the query on one line (a `\\` line continuation): {sql:?}"
    );
    // The same for every span of this call site: made and encoded once (`otlp::fixed`).
    let site = [
        name.as_ptr() as usize,
        name.len(),
        sql.as_ptr() as usize,
        sql.len(),
    ];
    let fixed = FixedAttributes::interned(site, || {
        let mut attributes = Vec::with_capacity(4);
        attributes.push(KeyValue::new("db.system.name", "postgresql"));
        attributes.push(KeyValue::new("db.operation.name", operation));
        if !collection.is_empty() {
            attributes.push(KeyValue::new("db.collection.name", collection));
        }
        attributes.push(KeyValue::new("db.query.text", sql));
        attributes
    });
    let attributes = match user {
        Some(user) => vec![KeyValue::new("enduser.id", user.to_owned())],
        None => Vec::new(),
    };
    // The parent where it lies, not a copy (no reference counts taken and given back).
    let span = opentelemetry::Context::map_current(|parent| {
        tracer.start_fixed(name.into(), SpanKind::Client, fixed, attributes, parent)
    });
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
    current().span().span_context().trace_id().to_string()
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
