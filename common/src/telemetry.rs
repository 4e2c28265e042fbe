//! Tracing and OpenTelemetry set-up shared by every binary.
//!
//! * Always: an OpenTelemetry tracer provider behind `tracing` (so every span has a
//!   trace id that propagates to SQS, even when nothing is exported) and the global
//!   W3C propagator (trace context + baggage). The provider is the one process-wide
//!   global; everything else is a value the binary passes on ([`Telemetry::metrics`],
//!   [`Telemetry::span_gate`]).
//! * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) set: spans go out over
//!   OTLP/HTTP (protobuf) through our batch processor and exporter ([`crate::otlp`]),
//!   metrics through opentelemetry-otlp's; logs go to stdout one per line.
//! * No endpoint: each trace printed on stdout as a tree when its local root ends
//!   ([`crate::console_spans`]: the same lines as trace-console's), logs one per line
//!   between them; for local debugging.
//!
//! The standard variables mean what the specification says: the SDK reads
//! `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`; [`sampler`] reads
//! `OTEL_TRACES_SAMPLER(_ARG)` (for the provider and the hot spans alike);
//! [`crate::otlp`] reads `OTEL_EXPORTER_OTLP_*` and `OTEL_BSP_*` as the SDK would.
//! `RUST_LOG` filters what is printed.
//!
//! A binary may bound the export timeout below the SDK's 10 s: the Lambda function
//! flushes inside every invocation, so a stalled collector must cost it far less than
//! the function's timeout.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use opentelemetry::{
    InstrumentationScope, global,
    propagation::TextMapCompositePropagator,
    trace::{SpanContext, TracerProvider as _},
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    metrics::SdkMeterProvider,
    propagation::{BaggagePropagator, TraceContextPropagator},
    trace::{Sampler, SdkTracer, SdkTracerProvider, SpanData, SpanProcessor},
};
use tracing_subscriber::{
    EnvFilter, Layer,
    filter::{LevelFilter, Targets},
    layer::SubscriberExt,
    util::SubscriberInitExt,
};

use crate::{
    config,
    console_spans::ConsoleSpans,
    logs::{ContextEvents, JsonWithIds, LogFormat, TextWithIds},
    metrics::Metrics,
    otlp::{
        SpanCounts, SpanParts, SpanSink,
        direct::{DirectTracer, EndedSpan},
    },
    spans::Tracer,
};

/// What is exported (and printed unless RUST_LOG says otherwise): INFO, but WARN for
/// libraries whose INFO output is noise in a trace (sqlx logs every statement at INFO).
const DEFAULT_FILTER: &str = "info,sqlx=warn,aws_smithy_runtime=warn,aws_config=warn,\
hyper=warn,h2=warn,reqwest=warn,tower=warn,opentelemetry=warn,opentelemetry_sdk=warn";

/// [`DEFAULT_FILTER`] as target directives only: cheaper than an EnvFilter, which also
/// looks at every span's enter and exit for span directives.
fn default_filter() -> Targets {
    Targets::new()
        .with_default(LevelFilter::INFO)
        .with_targets([
            ("sqlx", LevelFilter::WARN),
            ("aws_smithy_runtime", LevelFilter::WARN),
            ("aws_config", LevelFilter::WARN),
            ("hyper", LevelFilter::WARN),
            ("h2", LevelFilter::WARN),
            ("reqwest", LevelFilter::WARN),
            ("tower", LevelFilter::WARN),
            ("opentelemetry", LevelFilter::WARN),
            ("opentelemetry_sdk", LevelFilter::WARN),
        ])
}

/// Owns the providers: [`Telemetry::flush`] exports what is buffered (call it at the end
/// of every Lambda invocation); dropping it flushes and shuts down.
pub struct Telemetry {
    provider: SdkTracerProvider,
    meters: Option<SdkMeterProvider>,
    metrics: Metrics,
    tracer: Tracer,
    gate: SpanGate,
    counts: Arc<SpanCounts>,
    exporting: bool,
}

impl Telemetry {
    /// Installs the global subscriber. `default_service` is used unless
    /// `OTEL_SERVICE_NAME` (or `service.name` in `OTEL_RESOURCE_ATTRIBUTES`) says
    /// otherwise; `export_timeout` is each OTLP export's timeout (traces and metrics)
    /// unless `OTEL_EXPORTER_OTLP_TIMEOUT` or the signal's own variable is set.
    pub fn init(
        default_service: &'static str,
        export_timeout: Option<Duration>,
    ) -> anyhow::Result<Self> {
        install_propagator();

        let export = crate::otlp::ExportConfig::from_env(export_timeout)
            .map_err(|e| anyhow::anyhow!("OTLP exporter: {e}"))?;
        let exporting = export.is_some();
        let log_format = LogFormat::from_env().map_err(|e| anyhow::anyhow!(e))?;
        // OTEL_SDK_DISABLED=true: no OpenTelemetry at all (the benchmarks' "tracing off").
        let disabled =
            config::var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        // RUST_LOG=off: nothing printed, span trees included.
        let quiet = config::var("RUST_LOG").is_some_and(|v| v == "off");
        let metrics_wanted = metrics_exporter(config::var("OTEL_METRICS_EXPORTER").as_deref())
            .map_err(|e| anyhow::anyhow!(e))?;
        let gate = SpanGate::default();
        let counts = Arc::new(SpanCounts::default());
        // One client for both exporters; its own timeout is the metrics export's (span
        // exports set theirs per request).
        let metrics_timeout = crate::otlp::timeout_from_env("METRICS", export_timeout)
            .map_err(|e| anyhow::anyhow!("OTLP metric exporter: {e}"))?;
        let client = export
            .as_ref()
            .map(|_| crate::otlp::blocking_client(metrics_timeout))
            .transpose()
            .map_err(|e| anyhow::anyhow!("OTLP exporter: {e}"))?;
        let sampler = sampler(
            config::var("OTEL_TRACES_SAMPLER").as_deref(),
            config::var("OTEL_TRACES_SAMPLER_ARG").as_deref(),
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        let mut provider = SdkTracerProvider::builder()
            .with_resource(resource(default_service))
            .with_sampler(sampler.clone());
        // Where ended spans go, for the provider's (`tracing`) spans and the hot ones.
        let mut sink: Option<Arc<dyn SpanSink>> = None;
        if let (Some(export), Some(client)) = (&export, &client) {
            let exporter =
                crate::otlp::HttpSpanExporter::new(client.clone(), export.clone(), counts.clone());
            let limits = crate::otlp::BatchLimits::from_env()
                .map_err(|e| anyhow::anyhow!("span batches: {e}"))?;
            let batch = crate::otlp::EncodingBatchProcessor::new(exporter, limits)
                .map_err(|e| anyhow::anyhow!("span export thread: {e}"))?;
            let batch = Gate::new(batch, &gate, &counts);
            sink = Some(Arc::new(batch.clone()));
            provider = provider.with_span_processor(batch);
        } else if !disabled && log_format == LogFormat::Text && !quiet {
            // No endpoint: each trace printed as one tree when its local root ends.
            let console = Gate::new(ConsoleSpans::stdout(), &gate, &counts);
            sink = Some(Arc::new(console.clone()));
            provider = provider.with_span_processor(console);
        }
        let provider = provider.build();
        global::set_tracer_provider(provider.clone());
        // Metrics go to the same OTLP endpoint; without one there is nowhere to send them.
        let meters = if let Some(client) = client.filter(|_| metrics_wanted) {
            use opentelemetry_otlp::WithHttpConfig as _;
            let exporter = opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_http_client(client)
                .with_timeout(metrics_timeout)
                .build()
                .map_err(|e| anyhow::anyhow!("OTLP metric exporter: {e}"))?;
            Some(
                SdkMeterProvider::builder()
                    .with_resource(resource(default_service))
                    .with_periodic_exporter(exporter)
                    .build(),
            )
        } else {
            None
        };
        let metrics = meters
            .as_ref()
            .map_or_else(Metrics::disabled, |m| Metrics::new(m));

        let tracer = if disabled {
            Tracer::disabled()
        } else {
            // Leaked: one per process, which lives as long as the process (a span refers
            // to it with no reference count; see `otlp::direct`).
            let scope = InstrumentationScope::builder(default_service).build();
            Tracer::new(Box::leak(Box::new(DirectTracer::new(sink, scope, sampler))))
        };
        let sdk_tracer = (!disabled).then(|| provider.tracer(default_service));
        // What is exported never depends on RUST_LOG (a quiet console must not silence
        // the traces); RUST_LOG decides what is printed. When both want the same (RUST_LOG
        // unset) or only the exporter is left (RUST_LOG=off), one global filter does:
        // per-layer filters cost a check on every enter and exit of every span.
        let registry = tracing_subscriber::registry();
        let installed = match config::var("RUST_LOG") {
            None => registry
                .with(default_filter())
                .with(sdk_tracer.map(otel_layer))
                .with(console_layer(log_format))
                .try_init(),
            // Nothing to print, nor to export: no span is made at all.
            Some(off) if off == "off" && sdk_tracer.is_none() => {
                registry.with(LevelFilter::OFF).try_init()
            }
            Some(off) if off == "off" => registry
                .with(default_filter())
                .with(sdk_tracer.map(otel_layer))
                .try_init(),
            Some(_) => {
                let printed = EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
                registry
                    .with(sdk_tracer.map(|t| otel_layer(t).with_filter(default_filter())))
                    .with(console_layer(log_format).with_filter(printed))
                    .try_init()
            }
        };
        installed.map_err(|e| anyhow::anyhow!("tracing subscriber: {e}"))?;

        if let Some(export) = &export {
            tracing::info!(endpoint = %export.endpoint, "exporting traces over OTLP/HTTP");
        } else {
            tracing::info!("OTEL_EXPORTER_OTLP_ENDPOINT is not set: printing spans to the console");
        }
        Ok(Self {
            provider,
            meters,
            metrics,
            tracer,
            gate,
            counts,
            exporting,
        })
    }

    /// The instruments on this process's meter provider (disabled when not exporting).
    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    /// What makes the hot spans, a request's SERVER span and query spans (disabled with
    /// the SDK).
    pub fn tracer(&self) -> Tracer {
        self.tracer
    }

    /// The switch that makes ended spans vanish (the `lost_spans` fault).
    pub fn span_gate(&self) -> SpanGate {
        self.gate.clone()
    }

    /// What flushes this process's spans and metrics, for lambda_runtime's
    /// per-invocation layer.
    pub fn flusher(&self) -> Flusher {
        Flusher {
            provider: self.provider.clone(),
            meters: self.meters.clone(),
            gate: self.gate.clone(),
        }
    }

    /// Exports everything buffered so far; errors are logged, never fatal.
    pub fn flush(&self) {
        self.flusher().flush();
    }
}

/// Flushes spans (unless the gate discards them: the `lost_spans` fault's classic bug of
/// not flushing) and metrics.
#[derive(Clone)]
pub struct Flusher {
    provider: SdkTracerProvider,
    meters: Option<SdkMeterProvider>,
    gate: SpanGate,
}

impl Flusher {
    pub fn flush(&self) {
        if !self.gate.discarding()
            && let Err(e) = self.provider.force_flush()
        {
            tracing::warn!(error = %e, "span flush failed");
        }
        if let Some(meters) = &self.meters
            && let Err(e) = meters.force_flush()
        {
            tracing::warn!(error = %e, "metric flush failed");
        }
    }
}

/// The `tracing` → OpenTelemetry bridge, without busy/idle timings (two clock reads per
/// enter and exit, on every poll of an instrumented future), with OpenTelemetry context
/// activation on enter: inside a `tracing` span (the worker's CONSUMER span, a PRODUCER
/// span) `Context::current()` is that span, as it is a request's SERVER span inside a
/// request, so what looks for the span code runs in (`spans::current`, each query span's
/// parent) asks only the context, never `tracing`'s dispatcher (three dynamic calls a
/// query span on web's requests, ~0.27 µs a request in a cpu-clock profile). The few
/// `tracing` spans pay an attach on enter instead. And [`ContextEvents`] for log events
/// inside such a span.
fn otel_layer<S>(tracer: SdkTracer) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_level(false)
        .with_tracked_inactivity(false)
        .with_context_activation(true)
        .and_then(ContextEvents)
}

/// Logs one per line, joined to their traces (`crate::logs`): text, or JSON with
/// `LOG_FORMAT=json`.
fn console_layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .event_format(JsonWithIds)
            .with_ansi(false)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .event_format(TextWithIds::default())
            .with_ansi(false)
            .boxed(),
    }
}

/// The `service.name` this process's spans carry: `OTEL_SERVICE_NAME` (or
/// `OTEL_RESOURCE_ATTRIBUTES`'s), else `default_service`.
pub fn service_name(default_service: &'static str) -> String {
    resource(default_service)
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .map_or_else(|| default_service.to_owned(), |v| v.to_string())
}

fn resource(default_service: &'static str) -> Resource {
    let mut resource = Resource::builder();
    if !service_name_configured() {
        resource = resource.with_service_name(default_service);
    }
    resource.build()
}

/// The sampler `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` name, as the
/// specification defines them (default `parentbased_always_on`; a ratio's default 1.0).
/// Built here, not left to the SDK, because the hot spans ([`DirectTracer`]) sample
/// with the same value as the provider; and the SDK would quietly fall back to the
/// default on a value it does not know, where this refuses it at start-up.
fn sampler(name: Option<&str>, arg: Option<&str>) -> Result<Sampler, String> {
    let ratio = || match arg.map(str::trim) {
        None | Some("") => Ok(1.0),
        Some(arg) => match arg.parse::<f64>() {
            Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
            _ => Err(format!(
                "OTEL_TRACES_SAMPLER_ARG={arg:?} is invalid: a ratio from 0 to 1 expected"
            )),
        },
    };
    let parent_based = |root: Sampler| Sampler::ParentBased(Box::new(root));
    Ok(match name.map(str::trim) {
        None | Some("") | Some("parentbased_always_on") => parent_based(Sampler::AlwaysOn),
        Some("always_on") => Sampler::AlwaysOn,
        Some("always_off") => Sampler::AlwaysOff,
        Some("traceidratio") => Sampler::TraceIdRatioBased(ratio()?),
        Some("parentbased_always_off") => parent_based(Sampler::AlwaysOff),
        Some("parentbased_traceidratio") => parent_based(Sampler::TraceIdRatioBased(ratio()?)),
        Some(other) => {
            return Err(format!(
                "OTEL_TRACES_SAMPLER={other:?} is not supported: always_on, always_off, \
                 traceidratio, parentbased_always_on (the default), parentbased_always_off \
                 or parentbased_traceidratio"
            ));
        }
    })
}

/// Whether metrics are wanted, by `OTEL_METRICS_EXPORTER`: `otlp` (the default) or
/// `none`, the values of the specification's that this project can honour.
fn metrics_exporter(value: Option<&str>) -> Result<bool, String> {
    match value.map(str::trim) {
        None | Some("otlp") => Ok(true),
        Some("none") => Ok(false),
        Some(other) => Err(format!(
            "OTEL_METRICS_EXPORTER={other:?} is not supported: otlp (the default) or none"
        )),
    }
}

/// While closed, ended spans are dropped instead of exported: how the `lost_spans` fault
/// makes a locally running function lose its spans the way a frozen Lambda does.
#[derive(Clone, Debug, Default)]
pub struct SpanGate(Arc<AtomicBool>);

impl SpanGate {
    pub fn discard(&self, on: bool) {
        self.0.store(on, Ordering::SeqCst);
    }

    pub fn discarding(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The batch processor (or the console) behind a [`SpanGate`], counting the spans it
/// lets through: the provider's span processor, and the hot spans' sink (one clone each).
#[derive(Debug)]
struct Gate<P> {
    inner: Arc<P>,
    gate: SpanGate,
    counts: Arc<SpanCounts>,
}

impl<P> Gate<P> {
    fn new(inner: P, gate: &SpanGate, counts: &Arc<SpanCounts>) -> Self {
        Self {
            inner: Arc::new(inner),
            gate: gate.clone(),
            counts: counts.clone(),
        }
    }
}

impl<P> Clone for Gate<P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            gate: self.gate.clone(),
            counts: self.counts.clone(),
        }
    }
}

impl<P: SpanSink> Gate<P> {
    /// Not sampled but recorded (a sampler's RecordOnly) is not exported, as in the
    /// SDK's batch processor.
    fn passes(&self, span_context: &SpanContext) -> bool {
        let pass = !self.gate.discarding() && span_context.is_sampled();
        if pass {
            self.counts.ended.fetch_add(1, Ordering::Relaxed);
        }
        pass
    }
}

impl<P: SpanSink> SpanSink for Gate<P> {
    fn end(&self, scope: &InstrumentationScope, span: &SpanParts<'_>) {
        if self.passes(span.span_context) {
            self.inner.end(scope, span);
        }
    }

    fn end_direct(&self, span: EndedSpan) {
        if self.passes(span.span_context()) {
            self.inner.end_direct(span);
        }
    }

    fn set_resource(&self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<P: SpanSink + SpanProcessor> SpanProcessor for Gate<P> {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        SpanSink::end(self, &span.instrumentation_scope, &SpanParts::from(&span));
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        SpanSink::set_resource(self, resource);
    }
}

/// The propagators every hop uses: W3C trace context and baggage.
fn propagators() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
}

/// Installs [`propagators`] as the global propagator.
pub fn install_propagator() {
    global::set_text_map_propagator(propagators());
}

/// The context `extractor` carries, read by the same [`propagators`] as the global one
/// but without its lock: every request extracts, and the global propagator's `RwLock`
/// is one more cache line the request threads would pass between them.
pub fn extract(extractor: &dyn opentelemetry::propagation::Extractor) -> opentelemetry::Context {
    use opentelemetry::propagation::TextMapPropagator as _;
    // Most requests carry neither header (a browser's do not): two look-ups say so,
    // where the propagators would make and drop a context each to say the same.
    if extractor.get("traceparent").is_none() && extractor.get("baggage").is_none() {
        return opentelemetry::Context::new();
    }
    static PROPAGATORS: std::sync::LazyLock<TextMapCompositePropagator> =
        std::sync::LazyLock::new(propagators);
    PROPAGATORS.extract_with_context(&opentelemetry::Context::new(), extractor)
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(meters) = &self.meters
            && let Err(e) = meters.shutdown()
        {
            eprintln!("metrics shutdown: {e}");
        }
        if let Err(e) = self.provider.shutdown() {
            eprintln!("telemetry shutdown: {e}");
        }
        if self.exporting {
            // What bench/ reads to count spans lost under load: ended vs exported.
            tracing::info!(
                ended = self.counts.ended.load(Ordering::Relaxed),
                exported = self.counts.exported.load(Ordering::Relaxed),
                lost = self.counts.lost(),
                "spans at shutdown"
            );
        }
    }
}

fn service_name_configured() -> bool {
    config::var("OTEL_SERVICE_NAME").is_some()
        || config::var("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|a| a.contains("service.name="))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_filter_says_what_its_text_says() {
        let parsed: tracing_subscriber::filter::Targets = super::DEFAULT_FILTER
            .parse()
            .expect("the default filter parses");
        assert_eq!(format!("{parsed}"), format!("{}", super::default_filter()));
    }

    #[test]
    fn extraction_reads_either_header_alone() {
        use opentelemetry::{baggage::BaggageExt as _, trace::TraceContextExt as _};
        use std::collections::HashMap;
        let headers = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let none = super::extract(&headers(&[("user-agent", "x")]));
        assert!(!none.span().span_context().is_valid());
        assert_eq!(none.baggage().len(), 0);

        let parent = super::extract(&headers(&[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )]));
        let sc = parent.span().span_context().clone();
        assert!(sc.is_valid() && sc.is_remote());
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );

        let scoped = super::extract(&headers(&[("baggage", "fault.scope=me")]));
        assert!(!scoped.span().span_context().is_valid());
        assert_eq!(
            scoped.baggage().get("fault.scope").map(|v| v.to_string()),
            Some("me".to_owned())
        );
    }

    #[test]
    fn samplers_are_the_specifications() {
        use opentelemetry_sdk::trace::Sampler;
        let parent_based = |root| Sampler::ParentBased(Box::new(root));
        let cases = [
            (None, None, parent_based(Sampler::AlwaysOn)),
            (Some("always_off"), None, Sampler::AlwaysOff),
            (Some(" always_on "), None, Sampler::AlwaysOn),
            (
                Some("traceidratio"),
                Some("0.25"),
                Sampler::TraceIdRatioBased(0.25),
            ),
            (Some("traceidratio"), None, Sampler::TraceIdRatioBased(1.0)),
            (
                Some("parentbased_traceidratio"),
                Some("0"),
                parent_based(Sampler::TraceIdRatioBased(0.0)),
            ),
            (
                Some("parentbased_always_off"),
                None,
                parent_based(Sampler::AlwaysOff),
            ),
        ];
        for (name, arg, expected) in cases {
            let made = super::sampler(name, arg).expect("accepted");
            assert_eq!(
                format!("{made:?}"),
                format!("{expected:?}"),
                "{name:?} {arg:?}"
            );
        }
        let refused = super::sampler(Some("xray"), None).expect_err("refused");
        assert!(
            refused.contains("xray") && refused.contains("always_on"),
            "{refused}"
        );
        let refused = super::sampler(Some("traceidratio"), Some("2")).expect_err("refused");
        assert!(refused.contains("OTEL_TRACES_SAMPLER_ARG"), "{refused}");
    }

    #[test]
    fn an_entered_tracing_span_is_the_current_context() {
        use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        use tracing_subscriber::layer::SubscriberExt as _;
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber =
            tracing_subscriber::registry().with(super::otel_layer(provider.tracer("test")));
        let _default = tracing::subscriber::set_default(subscriber);
        assert!(
            !crate::spans::current().has_active_span(),
            "no span entered"
        );

        let span = tracing::info_span!("send jobs");
        let entered = span.enter();
        let inside = crate::spans::current();
        assert!(inside.has_active_span());
        assert_eq!(
            inside.span().span_context(),
            span.context().span().span_context(),
            "the context is the entered span's"
        );
        let child = tracing::info_span!("child");
        assert_eq!(
            child.context().span().span_context().trace_id(),
            span.context().span().span_context().trace_id(),
            "a span made inside is in its trace"
        );
        drop(entered);
        assert!(!crate::spans::current().has_active_span(), "exited: none");
    }

    #[test]
    fn metrics_are_otlp_or_none() {
        assert_eq!(super::metrics_exporter(None), Ok(true));
        assert_eq!(super::metrics_exporter(Some("otlp")), Ok(true));
        assert_eq!(super::metrics_exporter(Some(" none ")), Ok(false));
        let refused = super::metrics_exporter(Some("prometheus")).expect_err("refused");
        assert!(
            refused.contains("prometheus") && refused.contains("none"),
            "{refused}"
        );
    }
}
