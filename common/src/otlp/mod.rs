//! Spans out over OTLP/HTTP without the copy. opentelemetry-otlp converts every span
//! into owned proto structs (each name, key and value copied into a new `String`) and
//! then encodes them: ~10,000 instructions per span, a sixth of web's whole cost per
//! request at three spans a request (bench/cost.sh, the README's benchmark section).
//! [`encode`] writes the same protobuf straight from the SDK's `SpanData` (~1,000); its
//! test decodes both and compares them. [`batch`] encodes each span as it ends and
//! batches the bytes; [`http`] sends them as opentelemetry-otlp would (same variables,
//! same retries). Metrics stay with opentelemetry-otlp: they go out
//! once a minute, not once a request.

pub mod batch;
pub mod encode;
pub mod http;

pub use batch::{BatchLimits, EncodingBatchProcessor};
pub use http::{ExportConfig, HttpSpanExporter, blocking_client, timeout_from_env};

use std::sync::atomic::{AtomicU64, Ordering};

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
