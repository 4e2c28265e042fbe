//! Traces, metrics and log lines for every binary, set up the standard OpenTelemetry
//! way. This folder depends on nothing else of the project: copy it into your service.
//!
//! * Spans: one [`SdkTracerProvider`] whose `BatchSpanProcessor` hands them to
//!   opentelemetry-otlp's exporter (OTLP/HTTP, protobuf; `https://` endpoints work).
//!   A request's SERVER span and each query's CLIENT span are made with the
//!   OpenTelemetry API from [`Telemetry::tracer`]; the `tracing` spans (PRODUCER,
//!   CONSUMER, lambda_runtime's invocation span) reach the same provider through
//!   tracing-opentelemetry. So samplers, limits and any processor added in
//!   [`tracer_provider`] apply to every span.
//! * Metrics: an `SdkMeterProvider` exporting over OTLP/HTTP every
//!   `OTEL_METRIC_EXPORT_INTERVAL`.
//! * Context: W3C trace context and baggage, the global propagator; [`propagation`]
//!   carries them in SQS message attributes.
//! * Log lines: one per event with `trace_id` and `span_id` ([`logs`]), text or JSON.
//!
//! Every `OTEL_*` variable means what the specification says and is read by the SDK
//! and the exporter themselves; [`env::check`] refuses at start-up a value they would
//! ignore without a word. `RUST_LOG` filters what is printed, never what is exported.

pub mod env;
pub mod logs;
pub mod propagation;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use opentelemetry::{global, trace::TracerProvider as _};
use opentelemetry_otlp::{MetricExporter, SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    metrics::SdkMeterProvider,
    propagation::{BaggagePropagator, TraceContextPropagator},
    trace::{
        BatchSpanProcessor, SdkTracer, SdkTracerProvider, SpanData, SpanProcessor,
        TracerProviderBuilder,
    },
};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use logs::{ContextEvents, JsonWithIds, LogFormat, TextWithIds};

/// What is exported (and printed unless `RUST_LOG` says otherwise): INFO, but WARN for
/// libraries whose INFO output is noise in a trace (sqlx logs every statement at INFO).
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,aws_smithy_runtime=warn,aws_config=warn,\
hyper=warn,h2=warn,reqwest=warn,tower=warn,opentelemetry=warn,opentelemetry_sdk=warn";

/// The process's providers. [`Telemetry::flusher`] exports what is buffered (the Lambda
/// function's layer calls it after every invocation); dropping it flushes and shuts down.
pub struct Telemetry {
    tracer_provider: SdkTracerProvider,
    meter_provider: Option<SdkMeterProvider>,
    /// `None` with `OTEL_SDK_DISABLED=true`: no spans are made at all.
    tracer: Option<SdkTracer>,
    gate: SpanGate,
}

impl Telemetry {
    /// Sets up the providers, the global propagator and the `tracing` subscriber.
    /// `service` is `service.name` unless `OTEL_SERVICE_NAME` (or `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`) says otherwise. `export_timeout` bounds each export
    /// unless `OTEL_EXPORTER_OTLP_TIMEOUT` (or the signal's own variable) is set: the
    /// Lambda function flushes inside every invocation, so a stalled collector must cost
    /// it far less than the SDK's 10 s.
    pub fn init(service: &'static str, export_timeout: Option<Duration>) -> anyhow::Result<Self> {
        let settings = env::check().map_err(anyhow::Error::msg)?;
        let log_format = LogFormat::from_env().map_err(anyhow::Error::msg)?;
        install_propagator();
        let gate = SpanGate::default();
        let exporter = if settings.disabled || !settings.export_traces {
            None
        } else {
            Some(span_exporter(export_timeout)?)
        };
        let tracer_provider = tracer_provider(service, exporter, &gate).build();
        let meter_provider = if settings.disabled || !settings.export_metrics {
            None
        } else {
            Some(meter_provider(service, export_timeout)?)
        };
        let tracer = (!settings.disabled).then(|| tracer_provider.tracer(service));
        global::set_tracer_provider(tracer_provider.clone());
        if let Some(meters) = &meter_provider {
            global::set_meter_provider(meters.clone());
        }
        subscriber(tracer.clone(), log_format)?
            .try_init()
            .context("installing the tracing subscriber")?;
        Ok(Self {
            tracer_provider,
            meter_provider,
            tracer,
            gate,
        })
    }

    /// What makes the SERVER and query spans; `None` when the SDK is disabled.
    pub fn tracer(&self) -> Option<SdkTracer> {
        self.tracer.clone()
    }

    /// The meter provider, when metrics are exported.
    pub fn meter_provider(&self) -> Option<&SdkMeterProvider> {
        self.meter_provider.as_ref()
    }

    /// The `lost_spans` fault's switch.
    pub fn span_gate(&self) -> SpanGate {
        self.gate.clone()
    }

    /// What flushes spans and metrics, for lambda_runtime's per-invocation layer.
    pub fn flusher(&self) -> Flusher {
        Flusher {
            tracer_provider: self.tracer_provider.clone(),
            meter_provider: self.meter_provider.clone(),
            gate: self.gate.clone(),
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(meters) = &self.meter_provider
            && let Err(e) = meters.shutdown()
        {
            eprintln!("metrics shutdown: {e}");
        }
        if let Err(e) = self.tracer_provider.shutdown() {
            eprintln!("tracing shutdown: {e}");
        }
        // What bench/ compares with what the collector received (the SDK warns of any
        // span its queue had to drop).
        tracing::info!(
            ended = self.gate.0.ended.load(Ordering::Relaxed),
            "spans at shutdown"
        );
    }
}

/// The tracer provider every binary uses: the resource, the sampler and span limits
/// from `OTEL_*` (the SDK reads them), and the spans batched to `exporter` behind the
/// `lost_spans` gate. Add your own processor to what this returns.
pub fn tracer_provider(
    service: &'static str,
    exporter: Option<SpanExporter>,
    gate: &SpanGate,
) -> TracerProviderBuilder {
    let builder = SdkTracerProvider::builder().with_resource(resource(service));
    match exporter {
        Some(exporter) => builder.with_span_processor(Gated {
            inner: BatchSpanProcessor::builder(exporter).build(),
            gate: gate.clone(),
        }),
        None => builder,
    }
}

/// OTLP/HTTP, configured by the `OTEL_EXPORTER_OTLP_*` variables.
fn span_exporter(timeout: Option<Duration>) -> anyhow::Result<SpanExporter> {
    let mut builder = SpanExporter::builder().with_http();
    if let Some(timeout) = timeout.filter(|_| !env::timeout_set("TRACES")) {
        builder = builder.with_timeout(timeout);
    }
    builder.build().context("OTLP span exporter")
}

fn meter_provider(
    service: &'static str,
    timeout: Option<Duration>,
) -> anyhow::Result<SdkMeterProvider> {
    let mut builder = MetricExporter::builder().with_http();
    if let Some(timeout) = timeout.filter(|_| !env::timeout_set("METRICS")) {
        builder = builder.with_timeout(timeout);
    }
    let exporter = builder.build().context("OTLP metric exporter")?;
    Ok(SdkMeterProvider::builder()
        .with_resource(resource(service))
        .with_periodic_exporter(exporter)
        .build())
}

/// The SDK's resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`), named
/// `service` when those do not name it.
fn resource(service: &'static str) -> Resource {
    let builder = Resource::builder();
    let named = env::var("OTEL_SERVICE_NAME").is_some()
        || env::var("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|a| a.contains("service.name="));
    if named {
        builder.build()
    } else {
        builder.with_service_name(service).build()
    }
}

/// The `service.name` this process's spans carry.
pub fn service_name(service: &'static str) -> String {
    resource(service)
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .map_or_else(|| service.to_owned(), |v| v.to_string())
}

/// `tracing`'s subscriber: the bridge to OpenTelemetry for `tracing` spans (when
/// `tracer` is given) and log lines, each filtered on its own: `RUST_LOG` decides what
/// is printed, never what is exported.
pub fn subscriber(
    tracer: Option<SdkTracer>,
    format: LogFormat,
) -> anyhow::Result<impl tracing::Subscriber + Send + Sync + 'static> {
    let printed = match env::var("RUST_LOG") {
        Some(directives) => EnvFilter::try_new(&directives)
            .with_context(|| format!("RUST_LOG={directives:?} is invalid"))?,
        None => EnvFilter::new(DEFAULT_FILTER),
    };
    let bridge = tracer.map(|tracer| {
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            // An entered `tracing` span is the current OpenTelemetry context, so spans
            // made with the OpenTelemetry API inside it (queries) are its children.
            .with_context_activation(true)
            .with_filter(EnvFilter::new(DEFAULT_FILTER))
    });
    let lines = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .event_format(JsonWithIds)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .event_format(TextWithIds::default())
            .boxed(),
    };
    Ok(tracing_subscriber::registry()
        .with(bridge)
        .with(ContextEvents.with_filter(EnvFilter::new(DEFAULT_FILTER)))
        .with(lines.with_filter(printed)))
}

/// W3C trace context and baggage, the propagator every hop uses.
pub fn install_propagator() {
    global::set_text_map_propagator(opentelemetry::propagation::TextMapCompositePropagator::new(
        vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator::new()),
        ],
    ));
}

/// Flushes spans (unless the gate discards them: the `lost_spans` fault's classic bug
/// of not flushing) and metrics; errors are logged, never fatal.
#[derive(Clone)]
pub struct Flusher {
    tracer_provider: SdkTracerProvider,
    meter_provider: Option<SdkMeterProvider>,
    gate: SpanGate,
}

impl Flusher {
    pub fn flush(&self) {
        if !self.gate.discarding()
            && let Err(e) = self.tracer_provider.force_flush()
        {
            tracing::warn!(error = %e, "span flush failed");
        }
        if let Some(meters) = &self.meter_provider
            && let Err(e) = meters.force_flush()
        {
            tracing::warn!(error = %e, "metric flush failed");
        }
    }
}

/// While closed, ended spans are dropped, not exported: the `lost_spans` fault loses a
/// local function's spans as a frozen Lambda does. It counts the spans it lets through.
#[derive(Clone, Debug, Default)]
pub struct SpanGate(Arc<GateState>);

#[derive(Debug, Default)]
struct GateState {
    discarding: AtomicBool,
    ended: AtomicU64,
}

impl SpanGate {
    pub fn discard(&self, on: bool) {
        self.0.discarding.store(on, Ordering::SeqCst);
    }

    pub fn discarding(&self) -> bool {
        self.0.discarding.load(Ordering::SeqCst)
    }
}

/// A span processor behind a [`SpanGate`].
#[derive(Debug)]
struct Gated<P> {
    inner: P,
    gate: SpanGate,
}

impl<P: SpanProcessor> SpanProcessor for Gated<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if !self.gate.discarding() {
            self.gate.0.ended.fetch_add(1, Ordering::Relaxed);
            self.inner.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_filter_parses() {
        assert!(tracing_subscriber::EnvFilter::try_new(super::DEFAULT_FILTER).is_ok());
    }
}
