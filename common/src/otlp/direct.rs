//! The hot spans (a request's SERVER span, each query's CLIENT span) as spans of our own
//! that end straight into the batch ([`SpanSink`]).
//!
//! The SDK's span costs, per span, a trip through its provider (shut-down checks, the
//! span limits, its processors' `on_start` and `on_end` through two `dyn` calls each), a
//! `SpanData` built at the end (the instrumentation scope cloned into it, then compared
//! and dropped) and two reference counts on the provider. callgrind counts that at about
//! a fifth of what tracing costs web per request, most of it as instruction-cache misses
//! (README, "Spans of our own"). A [`DirectSpan`] keeps only what is exported, and is
//! encoded from its own fields.
//!
//! What stays the SDK's: the sampler (the same [`Sampler`] value the provider has, so
//! `OTEL_TRACES_SAMPLER` means the same for every span; the default one's decision is
//! made in place, as the SDK makes it), the id generator, the span
//! limits' defaults, the `Span` trait's semantics (status order, ended spans ignore
//! changes). Spans made through `tracing` (PRODUCER, CONSUMER) stay the SDK's.

use std::{borrow::Cow, sync::Arc, time::SystemTime};

use opentelemetry::{
    Context, InstrumentationScope, KeyValue,
    trace::{
        Event, Link, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags,
        TraceId,
    },
};
use opentelemetry_sdk::trace::{
    IdGenerator as _, RandomIdGenerator, Sampler, SamplingDecision, SamplingResult,
    ShouldSample as _, SpanLimits,
};

use super::{
    SpanParts, SpanSink,
    fixed::{self, FixedAttributes},
};

/// Starts [`DirectSpan`]s. One per process, for the life of the process (`&'static`:
/// a span refers to it without a reference count to keep in step between threads).
#[derive(Debug)]
pub struct DirectTracer {
    /// `None`: nowhere to send spans (no endpoint, nothing printed): spans get ids, so
    /// that traces propagate, and record nothing.
    sink: Option<Arc<dyn SpanSink>>,
    scope: InstrumentationScope,
    sampler: Sampler,
    /// `sampler` is the default, `parentbased_always_on`: decided in place
    /// ([`DirectTracer::sample`]).
    parent_based_always_on: bool,
    ids: RandomIdGenerator,
    limits: SpanLimits,
}

impl DirectTracer {
    pub fn new(
        sink: Option<Arc<dyn SpanSink>>,
        scope: InstrumentationScope,
        sampler: Sampler,
    ) -> Self {
        // The SDK's root sampler is a trait object: its `Debug` form is what tells it
        // (checked by a test; were it ever to read otherwise, the SDK's sampler decides).
        let parent_based_always_on = matches!(&sampler,
            Sampler::ParentBased(root) if format!("{root:?}") == "AlwaysOn");
        Self {
            sink,
            scope,
            sampler,
            parent_based_always_on,
            ids: RandomIdGenerator::default(),
            limits: SpanLimits::default(),
        }
    }

    /// A span named `name`, child of the span in `parent` (or the root of a new trace),
    /// as the SDK's tracer would start it: sampled as the sampler decides, its attributes
    /// beyond the limit dropped and counted.
    pub fn start(
        &'static self,
        name: Cow<'static, str>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
        parent: &Context,
    ) -> DirectSpan {
        self.start_fixed(name, kind, &fixed::NONE, attributes, parent)
    }

    /// [`DirectTracer::start`] with the call site's `fixed` attributes before its own.
    /// The sampler is shown only the span's own (the samplers `OTEL_TRACES_SAMPLER`
    /// names never look at attributes). One copy of this code for every caller (not
    /// generic, not inlined): it runs a few times a request, so the lines it takes in the
    /// instruction cache matter more than a call.
    #[inline(never)]
    pub fn start_fixed(
        &'static self,
        name: Cow<'static, str>,
        kind: SpanKind,
        fixed: &'static FixedAttributes,
        mut attributes: Vec<KeyValue>,
        parent: &Context,
    ) -> DirectSpan {
        if parent.is_telemetry_suppressed() {
            return DirectSpan::not_recording(SpanContext::empty_context());
        }
        let parent_span = parent.span();
        let psc = parent_span.span_context();
        let (trace_id, parent_span_id, parent_flags, parent_is_remote) = if psc.is_valid() {
            (
                psc.trace_id(),
                psc.span_id(),
                psc.trace_flags(),
                psc.is_remote(),
            )
        } else {
            (
                self.ids.new_trace_id(),
                SpanId::INVALID,
                TraceFlags::default(),
                false,
            )
        };
        let span_id = self.ids.new_span_id();
        let sampling = self.sample(parent, trace_id, &name, &kind, &attributes);
        let sampled = match sampling.decision {
            SamplingDecision::Drop => {
                let sc = SpanContext::new(
                    trace_id,
                    span_id,
                    TraceFlags::default(),
                    false,
                    sampling.trace_state,
                );
                return DirectSpan::not_recording(sc);
            }
            SamplingDecision::RecordOnly => false,
            SamplingDecision::RecordAndSample => true,
        };
        let sc = SpanContext::new(
            trace_id,
            span_id,
            parent_flags.with_sampled(sampled),
            false,
            sampling.trace_state,
        );
        if self.sink.is_none() {
            return DirectSpan::not_recording(sc);
        }
        attributes.extend(sampling.attributes);
        let dropped_attributes_count =
            truncate(&mut attributes, own_attributes_room(&self.limits, fixed));
        DirectSpan {
            span_context: sc,
            recording: Some(Recording {
                tracer: self,
                parent_span_id,
                parent_span_is_remote: parent_is_remote,
                kind,
                name,
                start_time: opentelemetry::time::now(),
                fixed,
                attributes,
                dropped_attributes_count,
                events: Vec::new(),
                dropped_events_count: 0,
                links: Vec::new(),
                dropped_links_count: 0,
                status: Status::Unset,
            }),
        }
    }
}

impl DirectTracer {
    /// The sampler's decision for a span. The default sampler's is made here, as the
    /// SDK's `Sampler::ParentBased(AlwaysOn)` makes it (opentelemetry_sdk 0.33,
    /// `<Sampler as ShouldSample>::should_sample`; a test compares the two): the parent
    /// span's flag when the context has a span, else sampled; the parent's trace state;
    /// no attributes. The SDK's takes two dynamic calls to say it (~600 estimated cycles
    /// a request, callgrind: README, "Three look-ups a span made, gone").
    fn sample(
        &self,
        parent: &Context,
        trace_id: TraceId,
        name: &str,
        kind: &SpanKind,
        attributes: &[KeyValue],
    ) -> SamplingResult {
        if !self.parent_based_always_on {
            return self
                .sampler
                .should_sample(Some(parent), trace_id, name, kind, attributes, &[]);
        }
        let parent_span = parent.span();
        let psc = parent_span.span_context();
        let decision = if !parent.has_active_span() || psc.is_sampled() {
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        };
        SamplingResult {
            decision,
            attributes: Vec::new(),
            trace_state: psc.trace_state().clone(),
        }
    }
}

/// See the module's documentation. Ended by [`Span::end`](opentelemetry::trace::Span::end)
/// or when dropped, once.
#[derive(Debug)]
pub struct DirectSpan {
    span_context: SpanContext,
    /// `None` once ended, or when not recording.
    recording: Option<Recording>,
}

#[derive(Debug)]
struct Recording {
    tracer: &'static DirectTracer,
    parent_span_id: SpanId,
    parent_span_is_remote: bool,
    kind: SpanKind,
    name: Cow<'static, str>,
    start_time: SystemTime,
    fixed: &'static FixedAttributes,
    attributes: Vec<KeyValue>,
    dropped_attributes_count: u32,
    events: Vec<Event>,
    dropped_events_count: u32,
    links: Vec<Link>,
    dropped_links_count: u32,
    status: Status,
}

impl DirectSpan {
    fn not_recording(span_context: SpanContext) -> Self {
        Self {
            span_context,
            recording: None,
        }
    }

    fn end_at(&mut self, end_time: SystemTime) {
        let tracer = match &self.recording {
            Some(span) => span.tracer,
            None => return,
        };
        // Taken straight into the sink's argument (~250 bytes: each move is a copy).
        if let (Some(sink), Some(recording)) = (&tracer.sink, self.recording.take()) {
            sink.end_direct(EndedSpan {
                span_context: self.span_context.clone(),
                end_time,
                recording,
            });
        }
    }
}

/// A [`DirectSpan`] once ended, owned: what a sink exports of it, now or later (the
/// batch encodes them a few dozen at a time: [`SpanSink::end_direct`]).
#[derive(Debug)]
pub struct EndedSpan {
    span_context: SpanContext,
    end_time: SystemTime,
    recording: Recording,
}

impl EndedSpan {
    pub fn span_context(&self) -> &SpanContext {
        &self.span_context
    }

    /// Its tracer's scope, which lives as long as the process.
    pub fn scope(&self) -> &'static InstrumentationScope {
        &self.recording.tracer.scope
    }

    /// What is encoded of it.
    pub fn parts(&self) -> SpanParts<'_> {
        let span = &self.recording;
        SpanParts {
            span_context: &self.span_context,
            parent_span_id: span.parent_span_id,
            parent_span_is_remote: span.parent_span_is_remote,
            span_kind: &span.kind,
            name: &span.name,
            start_time: span.start_time,
            end_time: self.end_time,
            fixed: span.fixed,
            attributes: &span.attributes,
            dropped_attributes_count: span.dropped_attributes_count,
            events: &span.events,
            dropped_events_count: span.dropped_events_count,
            links: &span.links,
            dropped_links_count: span.dropped_links_count,
            status: &span.status,
        }
    }
}

impl opentelemetry::trace::Span for DirectSpan {
    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        mut attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        let Some(span) = &mut self.recording else {
            return;
        };
        let limits = &span.tracer.limits;
        push_limited(
            &mut span.events,
            &mut span.dropped_events_count,
            limits.max_events_per_span,
            || {
                let dropped = truncate(&mut attributes, limits.max_attributes_per_event);
                Event::new(name, timestamp, attributes, dropped)
            },
        );
    }

    fn span_context(&self) -> &SpanContext {
        &self.span_context
    }

    fn is_recording(&self) -> bool {
        self.recording.is_some()
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        let Some(span) = &mut self.recording else {
            return;
        };
        push_limited(
            &mut span.attributes,
            &mut span.dropped_attributes_count,
            own_attributes_room(&span.tracer.limits, span.fixed),
            || attribute,
        );
    }

    fn set_status(&mut self, status: Status) {
        if let Some(span) = &mut self.recording
            && status > span.status
        {
            // Ok > Error > Unset, as the SDK orders them.
            span.status = status;
        }
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        if let Some(span) = &mut self.recording {
            span.name = new_name.into();
        }
    }

    fn add_link(&mut self, span_context: SpanContext, mut attributes: Vec<KeyValue>) {
        let Some(span) = &mut self.recording else {
            return;
        };
        let limits = &span.tracer.limits;
        push_limited(
            &mut span.links,
            &mut span.dropped_links_count,
            limits.max_links_per_span,
            || {
                let dropped = truncate(&mut attributes, limits.max_attributes_per_link);
                Link::new(span_context, attributes, dropped)
            },
        );
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        self.end_at(timestamp);
    }
}

/// Adds what `item` makes while `list` holds fewer than `max` (a span limit), else
/// counts one more dropped, as the SDK does; `item` runs only when kept.
fn push_limited<T>(list: &mut Vec<T>, dropped: &mut u32, max: u32, item: impl FnOnce() -> T) {
    if list.len() < max as usize {
        list.push(item());
    } else {
        *dropped += 1;
    }
}

/// How many attributes of its own a span may hold: the fixed ones count against the
/// limit (a handful: never beyond it alone).
fn own_attributes_room(limits: &SpanLimits, fixed: &FixedAttributes) -> u32 {
    (limits.max_attributes_per_span as usize).saturating_sub(fixed.len()) as u32
}

/// Keeps the first `max` attributes, as the SDK does; how many were dropped.
fn truncate(attributes: &mut Vec<KeyValue>, max: u32) -> u32 {
    let dropped = attributes.len().saturating_sub(max as usize);
    attributes.truncate(max as usize);
    dropped as u32
}

impl Drop for DirectSpan {
    fn drop(&mut self) {
        if self.recording.is_some() {
            self.end_at(opentelemetry::time::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use opentelemetry::trace::{Span as _, TraceId, TraceState};
    use opentelemetry_sdk::trace::SpanData;

    use super::*;

    /// Keeps what reaches it, as the SDK's `SpanData` (owned).
    #[derive(Debug, Default)]
    struct Kept(Mutex<Vec<SpanData>>);

    impl SpanSink for Kept {
        fn end(&self, scope: &InstrumentationScope, span: &SpanParts<'_>) {
            self.0.lock().unwrap().push(SpanData {
                span_context: span.span_context.clone(),
                parent_span_id: span.parent_span_id,
                parent_span_is_remote: span.parent_span_is_remote,
                span_kind: span.span_kind.clone(),
                name: span.name.to_owned().into(),
                start_time: span.start_time,
                end_time: span.end_time,
                attributes: span.all_attributes().cloned().collect(),
                dropped_attributes_count: span.dropped_attributes_count,
                events: {
                    let mut events = opentelemetry_sdk::trace::SpanEvents::default();
                    events.events = span.events.to_vec();
                    events.dropped_count = span.dropped_events_count;
                    events
                },
                links: {
                    let mut links = opentelemetry_sdk::trace::SpanLinks::default();
                    links.links = span.links.to_vec();
                    links.dropped_count = span.dropped_links_count;
                    links
                },
                status: span.status.clone(),
                instrumentation_scope: scope.clone(),
            });
        }
    }

    fn tracer(sampler: Sampler) -> (&'static DirectTracer, Arc<Kept>) {
        let kept = Arc::new(Kept::default());
        let scope = InstrumentationScope::builder("test").build();
        let tracer = DirectTracer::new(Some(kept.clone()), scope, sampler);
        (Box::leak(Box::new(tracer)), kept)
    }

    fn remote(sampled: bool) -> Context {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(7_u128),
            SpanId::from(9_u64),
            flags,
            true,
            TraceState::NONE,
        ))
    }

    fn parent_based() -> Sampler {
        Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
    }

    #[test]
    fn a_span_ends_into_the_sink_once_with_what_it_was_told() {
        let (tracer, kept) = tracer(parent_based());
        let mut span = tracer.start(
            "GET /".into(),
            SpanKind::Server,
            vec![KeyValue::new("http.route", "/")],
            &remote(true),
        );
        assert!(span.is_recording());
        span.set_attribute(KeyValue::new("http.response.status_code", 500_i64));
        span.add_event("exception", vec![KeyValue::new("exception.type", "boom")]);
        span.set_status(Status::error("HTTP 500"));
        span.set_status(Status::Unset); // lower in the order: ignored, as in the SDK
        span.update_name("GET /todos");
        span.end();
        span.set_attribute(KeyValue::new("after", true)); // ended: ignored
        drop(span);

        let kept = kept.0.lock().unwrap();
        assert_eq!(kept.len(), 1, "ended once, not again when dropped");
        let span = &kept[0];
        assert_eq!(span.span_context.trace_id(), TraceId::from(7_u128));
        assert!(span.span_context.is_sampled());
        assert_eq!(span.parent_span_id, SpanId::from(9_u64));
        assert!(span.parent_span_is_remote);
        assert_eq!(span.span_kind, SpanKind::Server);
        assert_eq!(span.name, "GET /todos");
        assert_eq!(
            span.attributes,
            vec![
                KeyValue::new("http.route", "/"),
                KeyValue::new("http.response.status_code", 500_i64)
            ]
        );
        assert_eq!(span.events.events.len(), 1);
        assert_eq!(span.events.events[0].name, "exception");
        assert_eq!(span.status, Status::error("HTTP 500"));
        assert!(span.start_time <= span.end_time);
        assert_eq!(span.instrumentation_scope.name(), "test");
    }

    #[test]
    fn a_child_continues_its_parents_trace() {
        let (tracer, kept) = tracer(parent_based());
        let root = tracer.start("root".into(), SpanKind::Server, vec![], &Context::new());
        let root_sc = opentelemetry::trace::Span::span_context(&root).clone();
        assert!(root_sc.is_valid() && root_sc.is_sampled());
        let cx = Context::new().with_span(root);
        let child = tracer.start("SELECT todos".into(), SpanKind::Client, vec![], &cx);
        drop(child);
        cx.span().end();
        let kept = kept.0.lock().unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].span_context.trace_id(), root_sc.trace_id());
        assert_eq!(kept[0].parent_span_id, root_sc.span_id());
        assert!(!kept[0].parent_span_is_remote);
        assert_eq!(kept[1].parent_span_id, SpanId::INVALID);
    }

    #[test]
    fn the_sampler_decides_as_for_the_sdks_spans() {
        let (based, kept) = tracer(parent_based());
        let span = based.start(
            "unsampled parent".into(),
            SpanKind::Server,
            vec![],
            &remote(false),
        );
        assert!(!span.is_recording());
        assert!(!span.span_context().is_sampled());
        assert_eq!(span.span_context().trace_id(), TraceId::from(7_u128));
        drop(span);

        let (off, _) = tracer(Sampler::AlwaysOff);
        let span = off.start("root".into(), SpanKind::Server, vec![], &Context::new());
        assert!(!span.is_recording() && !span.span_context().is_sampled());
        assert!(
            span.span_context().is_valid(),
            "ids all the same: the trace still propagates"
        );

        let (none, _) = tracer(Sampler::TraceIdRatioBased(0.0));
        let span = none.start("root".into(), SpanKind::Server, vec![], &Context::new());
        assert!(!span.is_recording());
        assert!(kept.0.lock().unwrap().is_empty());
    }

    #[test]
    fn the_default_sampler_decides_in_place_as_the_sdks() {
        let (tracer, _) = tracer(parent_based());
        assert!(
            tracer.parent_based_always_on,
            "recognised by its Debug form"
        );
        for other in [
            Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            Sampler::AlwaysOn,
        ] {
            assert!(!self::tracer(other).0.parent_based_always_on);
        }
        let state = TraceState::from_key_value([("vendor", "x")]).unwrap();
        let parent = |remote, flags| {
            let sc = SpanContext::new(
                TraceId::from(7_u128),
                SpanId::from(9_u64),
                flags,
                remote,
                state.clone(),
            );
            Context::new().with_remote_span_context(sc)
        };
        let invalid = Context::new().with_remote_span_context(SpanContext::empty_context());
        let cases = [
            Context::new(),
            invalid,
            parent(true, TraceFlags::SAMPLED),
            parent(true, TraceFlags::default()),
            parent(false, TraceFlags::SAMPLED),
            parent(false, TraceFlags::default()),
        ];
        let sdk = parent_based();
        for (i, cx) in cases.iter().enumerate() {
            let trace_id = TraceId::from(11_u128);
            let here = tracer.sample(cx, trace_id, "n", &SpanKind::Server, &[]);
            let theirs = sdk.should_sample(Some(cx), trace_id, "n", &SpanKind::Server, &[], &[]);
            assert_eq!(here.decision, theirs.decision, "case {i}");
            assert_eq!(here.trace_state, theirs.trace_state, "case {i}");
            assert_eq!(here.attributes, theirs.attributes, "case {i}");
        }
    }

    #[test]
    fn limits_are_the_sdks_defaults() {
        let (tracer, kept) = tracer(parent_based());
        let limits = SpanLimits::default();
        let many = (0..limits.max_attributes_per_span + 2)
            .map(|i| KeyValue::new(format!("k{i}"), i64::from(i)))
            .collect();
        let mut span = tracer.start("many".into(), SpanKind::Internal, many, &Context::new());
        span.set_attribute(KeyValue::new("one more", true));
        for _ in 0..limits.max_events_per_span + 3 {
            span.add_event("event", vec![]);
        }
        let link_attributes: Vec<KeyValue> = (0..limits.max_attributes_per_link + 1)
            .map(|i| KeyValue::new(format!("l{i}"), true))
            .collect();
        for _ in 0..limits.max_links_per_span + 1 {
            span.add_link(SpanContext::empty_context(), link_attributes.clone());
        }
        drop(span);
        let kept = kept.0.lock().unwrap();
        assert_eq!(
            kept[0].attributes.len(),
            limits.max_attributes_per_span as usize
        );
        assert_eq!(kept[0].dropped_attributes_count, 3);
        assert_eq!(
            kept[0].events.events.len(),
            limits.max_events_per_span as usize
        );
        assert_eq!(kept[0].events.dropped_count, 3);
        assert_eq!(
            kept[0].links.links.len(),
            limits.max_links_per_span as usize
        );
        assert_eq!(kept[0].links.dropped_count, 1);
        let link = &kept[0].links.links[0];
        assert_eq!(
            link.attributes.len(),
            limits.max_attributes_per_link as usize
        );
        assert_eq!(link.dropped_attributes_count, 1);
    }

    #[test]
    fn fixed_attributes_come_first_and_count_against_the_limit() {
        let (tracer, kept) = tracer(parent_based());
        let fixed = FixedAttributes::interned([7, 7, 7, 7], || {
            vec![
                KeyValue::new("db.system.name", "postgresql"),
                KeyValue::new("db.query.text", "SELECT 1"),
            ]
        });
        let max = SpanLimits::default().max_attributes_per_span;
        let own: Vec<KeyValue> = (0..max - 3)
            .map(|i| KeyValue::new(format!("k{i}"), i64::from(i)))
            .collect();
        let mut span = tracer.start_fixed(
            "SELECT".into(),
            SpanKind::Client,
            fixed,
            own,
            &Context::new(),
        );
        span.set_attribute(KeyValue::new("last that fits", true));
        span.set_attribute(KeyValue::new("one too many", true));
        drop(span);
        let kept = kept.0.lock().unwrap();
        let attributes = &kept[0].attributes;
        assert_eq!(attributes.len(), max as usize);
        assert_eq!(attributes[..2], *fixed.attributes());
        assert_eq!(attributes[2], KeyValue::new("k0", 0_i64));
        assert_eq!(attributes[max as usize - 1].key.as_str(), "last that fits");
        assert_eq!(kept[0].dropped_attributes_count, 1);
    }

    #[test]
    fn without_a_sink_spans_propagate_and_record_nothing() {
        let scope = InstrumentationScope::builder("test").build();
        let tracer: &'static DirectTracer =
            Box::leak(Box::new(DirectTracer::new(None, scope, parent_based())));
        let span = tracer.start("GET /".into(), SpanKind::Server, vec![], &Context::new());
        assert!(!span.is_recording());
        assert!(span.span_context().is_valid() && span.span_context().is_sampled());
    }
}
