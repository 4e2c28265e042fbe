//! Spans out over OTLP/HTTP without the copy. opentelemetry-otlp converts every span
//! into owned proto structs (each name, key and value copied into a new `String`) and
//! then encodes them: ~10,000 instructions per span, a sixth of web's whole cost per
//! request at three spans a request (bench/cost.sh, the README's benchmark section).
//! [`encode`] writes the same protobuf straight from a borrowed view of the span
//! ([`SpanParts`]: of the SDK's `SpanData`, or of a [`direct`] span) in ~1,000; its
//! test decodes both and compares them. [`batch`] encodes each span as it ends and
//! batches the bytes; [`http`] sends them as opentelemetry-otlp would (same variables,
//! same retries). [`direct`]: the hot spans' own type, which ends into the batch
//! without the SDK's per-span machinery; [`fixed`]: the attributes a call site always
//! sets the same, encoded once. Metrics stay with opentelemetry-otlp: they go out once a
//! minute, not once a request.

pub mod batch;
pub mod direct;
pub mod encode;
pub mod fixed;
pub mod http;

pub use batch::{BatchLimits, EncodingBatchProcessor};
pub use http::{ExportConfig, HttpSpanExporter, blocking_client, timeout_from_env};

use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::Resource;

pub use encode::SpanParts;

/// Where an ended span goes: the batch ([`EncodingBatchProcessor`]) or the console
/// (`crate::console_spans`). The `tracing` spans reach it as the SDK's span processor;
/// the hot spans ([`direct`]) straight, without the SDK's `SpanData`.
pub trait SpanSink: Send + Sync + std::fmt::Debug {
    fn end(&self, scope: &InstrumentationScope, span: &SpanParts<'_>);

    /// A [`direct`] span, ended: by default ended at once as [`SpanSink::end`] (a sink
    /// may keep it to encode later, with others).
    fn end_direct(&self, span: direct::EndedSpan) {
        self.end(span.scope(), &span.parts());
    }

    /// The resource every span here comes from (the provider's, set once at start-up).
    fn set_resource(&self, _resource: &Resource) {}
}

/// Spans ended (and not discarded by the `lost_spans` fault), and what became of them.
#[derive(Debug, Default)]
pub struct SpanCounts {
    pub ended: AtomicU64,
    pub exported: AtomicU64,
    pub failed: AtomicU64,
}

impl SpanCounts {
    /// Ended but not exported: dropped on a full queue, failed, or never flushed.
    pub fn lost(&self) -> u64 {
        self.ended
            .load(Ordering::Relaxed)
            .saturating_sub(self.exported.load(Ordering::Relaxed))
    }
}
