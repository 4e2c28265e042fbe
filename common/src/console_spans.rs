//! Without an OTLP endpoint a process prints its own traces: each as one tree, the lines
//! trace-console prints ([`crate::trace_tree`]), when its local root ends (a request's
//! SERVER span, the function's CONSUMER span, a relay's PRODUCER span). Every span is
//! there, whether made with `tracing` or with the OpenTelemetry API (the SERVER and
//! query spans, which a `tracing` span tree would not show).
//!
//! A span that ends after its local root (work left running) waits for the next one or
//! [`LINGER`], then prints as a tree of its own; at most [`MAX_TRACES`] traces wait, so
//! memory stays bounded whatever runs.

use std::{
    collections::{HashMap, VecDeque},
    io::Write,
    sync::Mutex,
    time::{Duration, Instant},
};

use opentelemetry::{
    InstrumentationScope, Key, Value,
    trace::{SpanId, SpanKind, Status, TraceId},
};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{SpanData, SpanProcessor},
};

use crate::{
    otlp::{SpanParts, SpanSink, encode::nanos},
    trace_tree::{self, TreeSpan},
};

/// How long a trace whose local root has ended may wait for late spans.
pub const LINGER: Duration = Duration::from_secs(5);
/// Traces waiting for their local root to end; beyond it, the oldest is printed as is.
pub const MAX_TRACES: usize = 1_000;

/// Where the trees go: stdout, or a test's buffer.
pub type Out = Box<dyn Write + Send>;

/// See the module's documentation.
pub struct ConsoleSpans {
    state: Mutex<State>,
}

struct State {
    out: Out,
    /// The resource's `service.name`, once the provider has set it.
    service: String,
    /// Each waiting trace's spans so far.
    traces: HashMap<TraceId, Vec<TreeSpan>>,
    /// Waiting traces by when their first span ended, oldest first. An entry whose trace
    /// was printed since (a later trace with the same id) is skipped when reached.
    order: VecDeque<(TraceId, Instant)>,
}

impl std::fmt::Debug for ConsoleSpans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleSpans").finish_non_exhaustive()
    }
}

impl ConsoleSpans {
    pub fn new(out: Out) -> Self {
        Self {
            state: Mutex::new(State {
                out,
                service: String::new(),
                traces: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    pub fn stdout() -> Self {
        Self::new(Box::new(std::io::stdout()))
    }

    fn end_at(&self, span: &SpanParts<'_>, now: Instant) {
        let local_root = span.parent_span_id == SpanId::INVALID || span.parent_span_is_remote;
        let trace_id = span.span_context.trace_id();
        // A panic elsewhere while printing leaves the maps whole: go on with them.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *state;
        let line = tree_span(span, &state.service);
        let waiting = state.traces.entry(trace_id).or_insert_with(|| {
            state.order.push_back((trace_id, now));
            Vec::new()
        });
        waiting.push(line);
        if local_root && let Some(spans) = state.traces.remove(&trace_id) {
            print(&mut state.out, trace_id, &spans);
        }
        // Those that waited too long, or too many.
        while let Some(&(id, since)) = state.order.front() {
            let waiting = state.traces.len();
            if state.traces.contains_key(&id)
                && waiting <= MAX_TRACES
                && now.duration_since(since) < LINGER
            {
                break;
            }
            state.order.pop_front();
            if let Some(spans) = state.traces.remove(&id) {
                print(&mut state.out, id, &spans);
            }
        }
    }

    /// Prints every waiting trace.
    fn print_all(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *state;
        for (id, _) in std::mem::take(&mut state.order) {
            if let Some(spans) = state.traces.remove(&id) {
                print(&mut state.out, id, &spans);
            }
        }
        let _ = state.out.flush();
    }
}

fn tree_span(span: &SpanParts<'_>, service: &str) -> TreeSpan {
    let attribute = |key: &'static str| {
        span.all_attributes()
            .find(|kv| kv.key == Key::from_static_str(key))
            .map(|kv| &kv.value)
    };
    let query = match attribute("db.query.text") {
        Some(Value::String(text)) => Some(text.as_str()),
        _ => None,
    };
    let status_code = match attribute("http.response.status_code") {
        Some(Value::I64(code)) => Some(*code),
        _ => None,
    };
    TreeSpan {
        service: service.to_owned(),
        name: span.name.to_owned(),
        kind: match span.span_kind {
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
            SpanKind::Internal => "internal",
        },
        span_id: span.span_context.span_id().to_string(),
        parent_span_id: if span.parent_span_id == SpanId::INVALID {
            String::new()
        } else {
            span.parent_span_id.to_string()
        },
        start_unix_nanos: nanos(span.start_time),
        end_unix_nanos: nanos(span.end_time),
        error: matches!(span.status, Status::Error { .. }),
        detail: TreeSpan::detail(query, status_code),
    }
}

/// One tree, in one write (so that log lines from other threads do not cut it).
fn print(out: &mut Out, trace_id: TraceId, spans: &[TreeSpan]) {
    let tree = trace_tree::render(&trace_id.to_string(), spans);
    let _ = out.write_all(tree.as_bytes());
}

impl SpanSink for ConsoleSpans {
    fn end(&self, _scope: &InstrumentationScope, span: &SpanParts<'_>) {
        self.end_at(span, Instant::now());
    }

    fn set_resource(&self, resource: &Resource) {
        if let Some(service) = resource.get(&Key::from_static_str("service.name")) {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.service = service.to_string();
        }
    }
}

impl SpanProcessor for ConsoleSpans {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        SpanSink::end(self, &span.instrumentation_scope, &SpanParts::from(&span));
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.print_all();
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.print_all();
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        SpanSink::set_resource(self, resource);
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{Arc, Mutex},
        time::SystemTime,
    };

    use opentelemetry::{
        Context, KeyValue,
        trace::{
            Span as _, SpanContext, TraceContextExt as _, TraceFlags, TraceState, Tracer as _,
            TracerProvider as _,
        },
    };
    use opentelemetry_sdk::trace::SdkTracerProvider;

    use super::*;

    /// A buffer the test reads while the processor writes into it.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn provider(out: &Shared) -> SdkTracerProvider {
        SdkTracerProvider::builder()
            .with_resource(Resource::builder().with_service_name("todo-web").build())
            .with_span_processor(ConsoleSpans::new(Box::new(out.clone())))
            .build()
    }

    #[test]
    fn a_trace_prints_as_one_tree_when_its_local_root_ends() {
        let out = Shared::default();
        let provider = provider(&out);
        let tracer = provider.tracer("test");
        // The caller's trace: the SERVER span's parent is remote, so it is the local root.
        let remote = SpanContext::new(
            TraceId::from(7),
            SpanId::from(9),
            TraceFlags::SAMPLED,
            true,
            TraceState::NONE,
        );
        let parent = Context::new().with_remote_span_context(remote);
        let server = tracer
            .span_builder("GET /")
            .with_kind(SpanKind::Server)
            .start_with_context(&tracer, &parent);
        let cx = parent.with_span(server);
        let mut query = tracer
            .span_builder("SELECT todos")
            .with_kind(SpanKind::Client)
            .with_attributes([KeyValue::new("db.query.text", "SELECT id FROM todos")])
            .start_with_context(&tracer, &cx);
        query.set_status(Status::error("boom"));
        query.end();
        assert_eq!(out.text(), "", "nothing before the local root ends");
        cx.span()
            .set_attribute(KeyValue::new("http.response.status_code", 200_i64));
        cx.span().end();
        let text = out.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!("trace {}: 2 spans, todo-web", TraceId::from(7))
        );
        assert!(
            lines[1].starts_with("  todo-web     GET / [server] "),
            "{text}"
        );
        assert!(lines[1].ends_with(" ms  → 200"), "{text}");
        assert!(
            lines[2].starts_with("    todo-web     SELECT todos [client] "),
            "{text}"
        );
        assert!(
            lines[2].ends_with("  SELECT id FROM todos  ✗ ERROR"),
            "{text}"
        );
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn spans_without_an_ended_root_wait_at_most_linger_or_max_traces() {
        let out = Shared::default();
        let console = ConsoleSpans::new(Box::new(out.clone()));
        let t0 = Instant::now();
        // A span whose parent (a local span, not ended yet) is in the same process.
        let child = |trace: u128| SpanData {
            span_context: SpanContext::new(
                TraceId::from(trace),
                SpanId::from(2),
                TraceFlags::SAMPLED,
                false,
                TraceState::NONE,
            ),
            parent_span_id: SpanId::from(1),
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: "late".into(),
            start_time: SystemTime::now(),
            end_time: SystemTime::now(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::Unset,
            instrumentation_scope: Default::default(),
        };
        let printed = || out.text().matches("trace ").count();
        for trace in 1..=MAX_TRACES as u128 {
            console.end_at(&SpanParts::from(&child(trace)), t0);
        }
        assert_eq!(printed(), 0);
        console.end_at(&SpanParts::from(&child(MAX_TRACES as u128 + 1)), t0);
        assert_eq!(printed(), 1, "the oldest, pushed out by one too many");
        // Trace 1 again: it waits; the others waited LINGER and print.
        console.end_at(&SpanParts::from(&child(1)), t0 + LINGER);
        assert_eq!(printed(), 1 + MAX_TRACES);
        console.print_all();
        assert_eq!(printed(), 2 + MAX_TRACES, "flush prints what waits");
    }
}
