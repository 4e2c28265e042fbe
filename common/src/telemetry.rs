//! Tracing and OpenTelemetry set-up shared by every binary.
//!
//! * Always: an OpenTelemetry tracer provider behind `tracing` (so every span has a
//!   trace id that propagates to SQS, even when nothing is exported) and the global
//!   W3C propagator (trace context + baggage). The provider is the one process-wide
//!   global; everything else is a value the binary passes on ([`Telemetry::metrics`],
//!   [`Telemetry::span_gate`]).
//! * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) set: spans go out over
//!   OTLP/HTTP (protobuf) through the batch processor, metrics too; logs go to stdout
//!   one per line.
//! * No endpoint: a readable span tree on stdout, for local debugging.
//!
//! The standard variables are read by the SDK itself: `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_BSP_*`,
//! `OTEL_EXPORTER_OTLP_HEADERS`/`_TIMEOUT`. `RUST_LOG` filters what is printed.
//!
//! A binary may bound the export timeout below the SDK's 10 s: the Lambda function
//! flushes inside every invocation, so a stalled collector must cost it far less than
//! the function's timeout.

use std::{
    io::IsTerminal,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use opentelemetry::{global, propagation::TextMapCompositePropagator, trace::TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    metrics::SdkMeterProvider,
    propagation::{BaggagePropagator, TraceContextPropagator},
    trace::{SdkTracerProvider, SpanData, SpanProcessor},
};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use crate::{config, metrics::Metrics};

/// Libraries whose INFO output is noise in a trace (sqlx logs every statement at INFO).
const DEFAULT_FILTER: &str = "info,sqlx=warn,aws_smithy_runtime=warn,aws_config=warn,\
hyper=warn,h2=warn,reqwest=warn,tower=warn,opentelemetry=warn,opentelemetry_sdk=warn";

/// Owns the providers: [`Telemetry::flush`] exports what is buffered (call it at the end
/// of every Lambda invocation); dropping it flushes and shuts down.
pub struct Telemetry {
    provider: SdkTracerProvider,
    meters: Option<SdkMeterProvider>,
    metrics: Metrics,
    gate: SpanGate,
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

        let exporting = otlp_endpoint().is_some();
        // OTEL_SDK_DISABLED=true: no OpenTelemetry at all (the benchmarks' "tracing off").
        let disabled =
            config::var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let gate = SpanGate::default();
        let mut provider = SdkTracerProvider::builder().with_resource(resource(default_service));
        if exporting {
            let mut exporter = opentelemetry_otlp::SpanExporter::builder().with_http();
            if let Some(timeout) = timeout_default(export_timeout, "TRACES") {
                exporter = exporter.with_timeout(timeout);
            }
            let exporter = exporter
                .build()
                .map_err(|e| anyhow::anyhow!("OTLP exporter: {e}"))?;
            let batch = opentelemetry_sdk::trace::BatchSpanProcessor::builder(exporter)
                .with_batch_config(batch_config())
                .build();
            provider = provider.with_span_processor(Gate {
                inner: batch,
                gate: gate.clone(),
            });
        }
        let provider = provider.build();
        global::set_tracer_provider(provider.clone());
        // Metrics go to the same OTLP endpoint; without one there is nowhere to send them.
        let meters = if exporting {
            let mut exporter = opentelemetry_otlp::MetricExporter::builder().with_http();
            if let Some(timeout) = timeout_default(export_timeout, "METRICS") {
                exporter = exporter.with_timeout(timeout);
            }
            let exporter = exporter
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

        let otel = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(default_service))
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_level(false);
        let console = if exporting {
            tracing_subscriber::fmt::layer()
                .compact()
                .with_target(false)
                .with_ansi(std::io::stdout().is_terminal())
                .boxed()
        } else {
            tracing_tree::HierarchicalLayer::new(2)
                .with_ansi(std::io::stdout().is_terminal())
                .with_targets(false)
                .with_bracketed_fields(true)
                .with_deferred_spans(true)
                .with_span_retrace(true)
                .boxed()
        };
        // RUST_LOG decides what is printed; what is exported does not depend on it (a
        // quiet console must not silence the traces).
        let printed =
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
        let otel = (!disabled).then(|| otel.with_filter(EnvFilter::new(DEFAULT_FILTER)));
        tracing_subscriber::registry()
            .with(otel)
            .with(console.with_filter(printed))
            .try_init()
            .map_err(|e| anyhow::anyhow!("tracing subscriber: {e}"))?;

        if let Some(endpoint) = otlp_endpoint() {
            tracing::info!(%endpoint, "exporting traces over OTLP/HTTP");
        } else {
            tracing::info!("OTEL_EXPORTER_OTLP_ENDPOINT is not set: printing spans to the console");
        }
        Ok(Self {
            provider,
            meters,
            metrics,
            gate,
        })
    }

    /// The instruments on this process's meter provider (disabled when not exporting).
    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
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

fn resource(default_service: &'static str) -> Resource {
    let mut resource = Resource::builder();
    if !service_name_configured() {
        resource = resource.with_service_name(default_service);
    }
    resource.build()
}

/// The batch processor's sizes: the `OTEL_BSP_*` variables when set, else a queue
/// and delay sized so that ~1,000 requests/s drop no spans (the SDK defaults, 2,048
/// spans and 5 s, drop at a few hundred spans per second).
fn batch_config() -> opentelemetry_sdk::trace::BatchConfig {
    use opentelemetry_sdk::trace::BatchConfigBuilder;
    let mut builder = BatchConfigBuilder::default();
    if config::var("OTEL_BSP_MAX_QUEUE_SIZE").is_none() {
        builder = builder.with_max_queue_size(8_192);
    }
    if config::var("OTEL_BSP_MAX_EXPORT_BATCH_SIZE").is_none() {
        builder = builder.with_max_export_batch_size(2_048);
    }
    if config::var("OTEL_BSP_SCHEDULE_DELAY").is_none() {
        builder = builder.with_scheduled_delay(Duration::from_millis(1_000));
    }
    builder.build()
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

/// The batch processor behind a [`SpanGate`].
#[derive(Debug)]
struct Gate<P> {
    inner: P,
    gate: SpanGate,
}

impl<P: SpanProcessor> SpanProcessor for Gate<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if !self.gate.discarding() {
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

/// The global W3C propagator: trace context and baggage.
pub fn install_propagator() {
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
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
    }
}

/// `default`, unless `OTEL_EXPORTER_OTLP_TIMEOUT` or `OTEL_EXPORTER_OTLP_{signal}_TIMEOUT`
/// is set (the exporter reads those itself; a timeout set in code would override them).
fn timeout_default(default: Option<Duration>, signal: &str) -> Option<Duration> {
    let configured = config::var("OTEL_EXPORTER_OTLP_TIMEOUT").is_some()
        || config::var(&format!("OTEL_EXPORTER_OTLP_{signal}_TIMEOUT")).is_some();
    default.filter(|_| !configured)
}

fn otlp_endpoint() -> Option<String> {
    config::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| config::var("OTEL_EXPORTER_OTLP_ENDPOINT"))
}

fn service_name_configured() -> bool {
    config::var("OTEL_SERVICE_NAME").is_some()
        || config::var("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|a| a.contains("service.name="))
}
