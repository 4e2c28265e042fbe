//! Log lines joined to traces. Every line written inside a span carries the trace and
//! span ids of the current OpenTelemetry context's span (a request's SERVER span, or the
//! `tracing` span entered: the bridge makes its context current), so a log search leads
//! to the trace, and a trace id from the error page to its log lines.
//! `LOG_FORMAT=json`: one JSON object per line, for ECS and Lambda (CloudWatch Logs
//! Insights reads the fields); `text` (the default): readable, the ids at the end.
//! Events inside spans still reach the trace as span events: tracing-opentelemetry's
//! inside a `tracing` span, [`ContextEvents`] inside a span made with the OpenTelemetry
//! API (a request's SERVER span, current as the OpenTelemetry context).

use std::{borrow::Cow, fmt};

use opentelemetry::trace::{SpanId, TraceContextExt as _, TraceId};
use serde_json::{Map, Value};
use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    fmt::{
        FmtContext, FormatEvent, FormatFields,
        format::{self, Writer},
        time::{FormatTime as _, SystemTime},
    },
    layer::Layer,
    registry::LookupSpan,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl LogFormat {
    /// `LOG_FORMAT`: `text` (default) or `json`.
    pub fn from_env() -> Result<Self, String> {
        Self::parse(super::env::var("LOG_FORMAT").as_deref())
    }

    fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim) {
            None | Some("text") => Ok(Self::Text),
            Some("json") => Ok(Self::Json),
            Some(other) => Err(format!(
                "LOG_FORMAT={other:?} is invalid: text or json expected"
            )),
        }
    }
}

/// The trace and span id of the span an event is inside: the current OpenTelemetry
/// context's (module docs), if it has a span.
fn ids() -> Option<(TraceId, SpanId)> {
    opentelemetry::Context::map_current(|cx| {
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| (sc.trace_id(), sc.span_id()))
    })
}

/// Text: the compact line as tracing-subscriber writes it (without colours: it is
/// written to a buffer first), then ` trace_id=… span_id=…`.
pub struct TextWithIds {
    inner: format::Format<format::Compact>,
}

impl Default for TextWithIds {
    fn default() -> Self {
        Self {
            inner: format::format()
                .compact()
                .with_target(false)
                .with_ansi(false),
        }
    }
}

impl<S, N> FormatEvent<S, N> for TextWithIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let ids = ids();
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let line = line.trim_end_matches('\n');
        match ids {
            Some((trace_id, span_id)) => {
                writeln!(writer, "{line} trace_id={trace_id} span_id={span_id}")
            }
            None => writeln!(writer, "{line}"),
        }
    }
}

/// JSON: `{"timestamp", "level", "target", "message", "trace_id", "span_id", "span",
/// …the event's own fields}`, one object per line.
pub struct JsonWithIds;

impl<S, N> FormatEvent<S, N> for JsonWithIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut object = Map::new();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        object.insert("timestamp".into(), timestamp.into());
        object.insert("level".into(), meta.level().as_str().into());
        object.insert("target".into(), meta.target().into());
        if let Some((trace_id, span_id)) = ids() {
            object.insert("trace_id".into(), trace_id.to_string().into());
            object.insert("span_id".into(), span_id.to_string().into());
        }
        if let Some(span) = ctx.lookup_current() {
            object.insert("span".into(), span.name().into());
        }
        event.record(&mut JsonFields(&mut object));
        let line = serde_json::to_string(&object).map_err(|_| fmt::Error)?;
        writeln!(writer, "{line}")
    }
}

/// What tracing-opentelemetry does for an event inside a `tracing` span, for an event
/// outside any: it becomes an event of the current OpenTelemetry context's span (named
/// by its message, with its level, target and fields), and an ERROR marks that span
/// failed. So a request's log lines stay in its SERVER span.
pub struct ContextEvents;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for ContextEvents {
    fn on_event(&self, event: &Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        // An explicit parent, or a current `tracing` span: tracing-opentelemetry's.
        if !event.is_contextual() || ctx.lookup_current().is_some() {
            return;
        }
        opentelemetry::Context::map_current(|cx| {
            let span = cx.span();
            if !span.is_recording() {
                return;
            }
            let meta = event.metadata();
            let mut fields = EventFields {
                name: None,
                attributes: vec![
                    opentelemetry::KeyValue::new("level", meta.level().as_str()),
                    opentelemetry::KeyValue::new("target", meta.target()),
                ],
            };
            event.record(&mut fields);
            if *meta.level() == tracing::Level::ERROR {
                span.set_status(opentelemetry::trace::Status::error(""));
            }
            let name = fields.name.map_or(Cow::Borrowed(meta.name()), Cow::Owned);
            span.add_event(name, fields.attributes);
        });
    }
}

/// An event's message (its span event's name) and other fields (its attributes).
struct EventFields {
    name: Option<String>,
    attributes: Vec<opentelemetry::KeyValue>,
}

impl EventFields {
    fn put(&mut self, field: &Field, value: opentelemetry::Value) {
        self.attributes
            .push(opentelemetry::KeyValue::new(field.name(), value));
    }
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.name = Some(value.to_owned());
        } else {
            self.put(field, value.to_owned().into());
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        // Beyond i64, as text (an OpenTelemetry attribute has no unsigned integer).
        match i64::try_from(value) {
            Ok(v) => self.put(field, v.into()),
            Err(_) => self.put(field, value.to_string().into()),
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.name = Some(format!("{value:?}"));
        } else {
            self.put(field, format!("{value:?}").into());
        }
    }
}

/// An event's fields into the JSON object (`message` included); a field named like one
/// of the line's own keys is prefixed with `field.` rather than overwrite it.
struct JsonFields<'a>(&'a mut Map<String, Value>);

impl JsonFields<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name();
        let key = match name {
            "timestamp" | "level" | "target" | "trace_id" | "span_id" | "span" => {
                format!("field.{name}")
            }
            _ => name.to_owned(),
        };
        self.0.insert(key, value);
    }
}

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TracerProvider as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::{Layer as _, fmt::MakeWriter, layer::SubscriberExt as _};

    use super::*;

    /// Where the lines go.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buffer").write(bytes)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl MakeWriter<'_> for Buffer {
        type Writer = Buffer;
        fn make_writer(&self) -> Buffer {
            self.clone()
        }
    }

    /// What `body` logs in `format`, with the ids of the span it opens (if any). The
    /// bridge as `telemetry` sets it up: an entered span's context is the current one,
    /// and only spans at INFO and above are exported (the console prints all).
    fn capture(
        format: LogFormat,
        body: impl FnOnce() -> Option<(String, String)>,
    ) -> (String, Option<(String, String)>) {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let buffer = Buffer::default();
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(buffer.clone())
            .with_ansi(false);
        let fmt = match format {
            LogFormat::Json => fmt.event_format(JsonWithIds).boxed(),
            LogFormat::Text => fmt.event_format(TextWithIds::default()).boxed(),
        };
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(provider.tracer("test"))
                    .with_context_activation(true)
                    .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
            )
            .with(fmt);
        let ids = tracing::subscriber::with_default(subscriber, body);
        let out = String::from_utf8(buffer.0.lock().expect("buffer").clone()).expect("UTF-8");
        (out, ids)
    }

    fn failing_request() -> Option<(String, String)> {
        let span = tracing::info_span!("GET /");
        let _entered = span.enter();
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        tracing::error!(error = "boom", "request failed");
        Some((sc.trace_id().to_string(), sc.span_id().to_string()))
    }

    #[test]
    fn a_json_line_inside_a_span_carries_its_trace_and_span_ids() {
        let (out, ids) = capture(LogFormat::Json, failing_request);
        let (trace_id, span_id) = ids.expect("ids");
        assert_eq!(out.lines().count(), 1, "one object per line: {out}");
        let line: Value = serde_json::from_str(out.trim()).expect("JSON");
        assert_eq!(line["trace_id"], trace_id.as_str());
        assert_eq!(line["span_id"], span_id.as_str());
        assert_ne!(trace_id, "00000000000000000000000000000000");
        assert_eq!(line["message"], "request failed");
        assert_eq!(line["error"], "boom");
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["span"], "GET /");
        assert!(line["timestamp"].as_str().is_some_and(|t| t.contains('T')));
    }

    /// A span only the console records (below the bridge's filter, as a library's debug
    /// span with `RUST_LOG=debug`) is not in the trace: a line inside it carries the ids
    /// of the exported span around it, so it still leads to its trace.
    #[test]
    fn a_line_inside_a_span_only_the_console_records_joins_the_span_around_it() {
        let (out, ids) = capture(LogFormat::Json, || {
            let request = tracing::info_span!("GET /");
            let _request = request.enter();
            let sc = request.context().span().span_context().clone();
            let inner = tracing::debug_span!("pool.acquire");
            let _inner = inner.enter();
            tracing::warn!("slow to acquire");
            Some((sc.trace_id().to_string(), sc.span_id().to_string()))
        });
        let (trace_id, span_id) = ids.expect("ids");
        let line: Value = serde_json::from_str(out.trim()).expect("JSON");
        assert_eq!(line["trace_id"], trace_id.as_str(), "{line}");
        assert_eq!(line["span_id"], span_id.as_str(), "{line}");
        assert_eq!(
            line["span"], "pool.acquire",
            "the console's own span: {line}"
        );
    }

    #[test]
    fn a_text_line_ends_with_the_ids() {
        let (out, ids) = capture(LogFormat::Text, failing_request);
        let (trace_id, span_id) = ids.expect("ids");
        let line = out.trim_end();
        assert!(
            line.contains("request failed") && line.contains("boom"),
            "{line}"
        );
        assert!(
            line.ends_with(&format!(" trace_id={trace_id} span_id={span_id}")),
            "{line}"
        );
    }

    /// Keeps every ended span (the test's stand-in for an exporter).
    #[derive(Debug, Clone, Default)]
    struct Ended(Arc<Mutex<Vec<opentelemetry_sdk::trace::SpanData>>>);

    impl opentelemetry_sdk::trace::SpanProcessor for Ended {
        fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &opentelemetry::Context) {}
        fn on_end(&self, span: opentelemetry_sdk::trace::SpanData) {
            self.0.lock().expect("spans").push(span);
        }
        fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(
            &self,
            _: std::time::Duration,
        ) -> opentelemetry_sdk::error::OTelSdkResult {
            Ok(())
        }
    }

    /// A request's SERVER span is made with the OpenTelemetry API and is the current
    /// context, not a `tracing` span: a line logged inside it still carries its ids, and
    /// becomes one of its events (an ERROR marks it failed), as inside a `tracing` span.
    #[test]
    fn a_line_inside_an_opentelemetry_context_joins_its_span() {
        use opentelemetry::trace::{Status, Tracer as _};
        let ended = Ended::default();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_span_processor(ended.clone())
            .build();
        let tracer = provider.tracer("test");
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer.clone())
                    .and_then(ContextEvents),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(buffer.clone())
                    .with_ansi(false)
                    .event_format(JsonWithIds),
            );
        let cx = opentelemetry::Context::current_with_span(tracer.start("GET /"));
        tracing::subscriber::with_default(subscriber, || {
            let _attached = cx.clone().attach();
            tracing::error!(error = "boom", attempt = 2, "request failed");
        });
        cx.span().end();
        let sc = cx.span().span_context().clone();

        let out = String::from_utf8(buffer.0.lock().expect("buffer").clone()).expect("UTF-8");
        let line: Value = serde_json::from_str(out.trim()).expect("one JSON line");
        assert_eq!(
            line["trace_id"],
            sc.trace_id().to_string().as_str(),
            "{line}"
        );
        assert_eq!(line["span_id"], sc.span_id().to_string().as_str(), "{line}");

        let spans = ended.0.lock().expect("spans");
        assert_eq!(spans.len(), 1, "only the context's span: {spans:?}");
        let span = &spans[0];
        assert_eq!(span.events.len(), 1, "{:?}", span.events);
        let event = &span.events[0];
        assert_eq!(event.name, "request failed");
        let attribute = |key: &str| {
            event
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.clone())
        };
        assert_eq!(attribute("error"), Some("boom".into()));
        assert_eq!(attribute("attempt"), Some(2_i64.into()));
        assert_eq!(attribute("level"), Some("ERROR".into()));
        assert!(
            matches!(span.status, Status::Error { .. }),
            "{:?}",
            span.status
        );
    }

    #[test]
    fn a_line_outside_any_span_has_no_ids() {
        let (out, _) = capture(LogFormat::Json, || {
            tracing::info!(port = 3000, "listening");
            None
        });
        let line: Value = serde_json::from_str(out.trim()).expect("JSON");
        assert!(line.get("trace_id").is_none(), "{line}");
        assert_eq!(line["port"], 3000);
    }

    #[test]
    fn log_format_is_text_or_json() {
        assert_eq!(LogFormat::parse(None), Ok(LogFormat::Text));
        assert_eq!(LogFormat::parse(Some(" json")), Ok(LogFormat::Json));
        let error = LogFormat::parse(Some("logfmt")).expect_err("invalid");
        assert!(
            error.contains("LOG_FORMAT") && error.contains("text or json"),
            "{error}"
        );
    }
}
