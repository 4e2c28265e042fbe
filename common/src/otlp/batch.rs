//! The batch span processor, encoding spans as they end.
//!
//! The SDK's `BatchSpanProcessor` moves every ended `SpanData` (~300 bytes, plus its
//! attributes on the heap) through a channel to its thread, which collects a `Vec` of
//! them and hands it to the exporter, which encodes it and frees it there. This one
//! writes the spans' protobuf ([`super::encode`]) on the request threads as they end
//! (the hot spans a few dozen at a time, below; what a batch leaves of those, its own
//! thread) and frees them there; its thread frames what is buffered into one
//! `ExportTraceServiceRequest` and sends it. For web's
//! `GET /`: 1.4 % less CPU per request side by side with the SDK's processor
//! (bench/together.sh), and 21.9 instead of 24.4 MiB peak RSS (README).
//!
//! Each span's bytes are written once: straight into its scope's buffer (under the lock,
//! no scratch copy), after room left for the request's head, so that a batch of one
//! scope (web's are) is framed where it lies and lent to the HTTP client as the body,
//! coming back for a later batch when the client drops it. callgrind: ~1,300
//! instructions (copies) a request fewer than encoding aside and copying twice (README).
//!
//! Same knobs and behaviour as the SDK's: `OTEL_BSP_SCHEDULE_DELAY` (here 1 s by
//! default, so that a trace is in Jaeger while the user still looks),
//! `OTEL_BSP_MAX_QUEUE_SIZE` (here 8,192 spans buffered at most; beyond that, spans are
//! dropped and counted lost) and `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (here 2,048: a full
//! batch is sent at once, whatever the delay; [`BatchLimits::default`] says why). A
//! request carries what was buffered when the thread woke: a batch, or more while an
//! earlier export was slow, never more than the queue.
//!
//! It is also a [`SpanSink`]: the hot spans (`super::direct`) end into it without a
//! `SpanData`, and wait as they are, a few dozen at most, to be encoded together
//! ([`ENCODED_TOGETHER`]): one span encoded after the rest of a request has run finds
//! the encoder's code gone from the instruction cache, a group fetches it once.

use std::{
    sync::{Arc, Condvar, Mutex, MutexGuard, mpsc},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::{SpanData, SpanProcessor},
};

use super::{
    HttpSpanExporter, SpanSink,
    direct::EndedSpan,
    encode::{self, SpanParts},
};
use crate::config;

/// The sizes and delay of the batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Spans buffered at most; more are dropped.
    pub max_queue: usize,
    /// Spans that make a batch worth sending before the delay is up.
    pub max_batch: usize,
    /// The longest a span waits before it is sent.
    pub delay: Duration,
}

/// Four times the SDK's (2,048 and 512): an export costs web ~155 µs of CPU whatever
/// its size (a request, its answer, two sleeps and wake-ups of the export thread), so
/// under load a quarter as many exports cut what exporting costs a request from ~1.15
/// to ~0.47 µs, for ~1.5 MiB more at peak (README, "The export taken apart"). Below
/// ~2,000 spans a second nothing changes: the delay sends the batch first.
impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            max_queue: 8_192,
            max_batch: 2_048,
            delay: Duration::from_millis(1_000),
        }
    }
}

impl BatchLimits {
    /// The `OTEL_BSP_*` variables, each defaulting as [`BatchLimits::default`]. As in the
    /// SDK, a batch larger than the queue is the queue.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(config::var)
    }

    /// [`BatchLimits::from_env`] with the variables from `var`.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let default = Self::default();
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match var(name) {
                None => Ok(default),
                Some(value) => match value.trim().parse::<u64>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(format!(
                        "{name}={value:?} is invalid: a positive number expected"
                    )),
                },
            }
        };
        let max_queue = number("OTEL_BSP_MAX_QUEUE_SIZE", default.max_queue as u64)? as usize;
        let max_batch =
            number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", default.max_batch as u64)? as usize;
        let delay = number("OTEL_BSP_SCHEDULE_DELAY", default.delay.as_millis() as u64)?;
        Ok(Self {
            max_queue,
            max_batch: max_batch.min(max_queue),
            delay: Duration::from_millis(delay),
        })
    }
}

/// What the request threads hand the export thread, under one lock.
#[derive(Debug, Default)]
struct Pending {
    /// Each instrumentation scope's spans, encoded.
    scopes: Vec<ScopeBuffer>,
    /// Direct spans ended and not yet encoded (fewer than [`ENCODED_TOGETHER`]);
    /// counted in `spans`.
    deferred: Vec<EndedSpan>,
    spans: usize,
    /// The resource's `Resource` message, encoded when the provider sets it.
    resource: Arc<[u8]>,
    /// Callers of `force_flush` and `shutdown`, answered once what was buffered when
    /// they asked has been sent.
    waiting: Vec<mpsc::SyncSender<Result<(), String>>>,
    shutting_down: bool,
}

impl Pending {
    /// The buffer of `scope`'s spans, made on its first span. A scope that lives as long
    /// as the process (`lasting`: a direct tracer's) is then known by its address: no
    /// comparison of names, versions and attributes on every span.
    fn buffer(&mut self, scope: &InstrumentationScope, lasting: bool) -> &mut ScopeBuffer {
        let address = std::ptr::from_ref(scope) as usize;
        let known = self.scopes.iter().position(|b| b.lasting == address);
        let at = match known.or_else(|| self.scopes.iter().position(|b| b.scope == *scope)) {
            Some(at) => at,
            None => {
                let room = encode::head_room(&self.resource, scope);
                self.scopes
                    .push(ScopeBuffer::new(scope.clone(), room, Vec::new()));
                self.scopes.len() - 1
            }
        };
        let buffer = &mut self.scopes[at];
        if lasting && buffer.lasting == 0 {
            buffer.lasting = address;
        }
        buffer
    }

    /// Encodes the deferred spans into their scopes' buffers, in one go: the encoder's
    /// code is fetched once for them all, not once a span.
    fn encode_deferred(&mut self) {
        let mut deferred = std::mem::take(&mut self.deferred);
        // Read where they lie (not moved out one by one: a copy of each), then dropped.
        for span in &deferred {
            encode::scope_span(&mut self.buffer(span.scope(), true).bytes, &span.parts());
        }
        deferred.clear();
        self.deferred = deferred;
    }
}

/// How many direct spans are encoded together. A span encoded as it ends runs the
/// encoder's code (~3 KB) after the rest of a request has pushed it out of the
/// instruction cache: each span paid ~35 cache misses for it (callgrind). Kept until
/// this many have ended, the code stays in the cache from the second span on; they wait
/// as they are (256 bytes each, their attributes on the heap), so the number is small:
/// ~8 KB, encoded in a few microseconds under the lock.
const ENCODED_TOGETHER: usize = 32;

/// One scope's spans, encoded (`ScopeSpans.spans` fields), after `room` bytes left free
/// for the request's head: at export the buffer becomes the request's body where it is
/// ([`encode::frame_in_place`]), without a copy of the batch.
#[derive(Debug)]
struct ScopeBuffer {
    scope: InstrumentationScope,
    /// The address of an equal scope that is never freed (so no other scope can ever
    /// have it), 0 until one is seen.
    lasting: usize,
    room: usize,
    bytes: Vec<u8>,
}

impl ScopeBuffer {
    /// Made from `bytes` (a buffer back from an export, whatever it held).
    fn new(scope: InstrumentationScope, room: usize, mut bytes: Vec<u8>) -> Self {
        bytes.clear();
        bytes.resize(room, 0);
        Self {
            scope,
            lasting: 0,
            room,
            bytes,
        }
    }

    fn has_spans(&self) -> bool {
        self.bytes.len() > self.room
    }
}

#[derive(Debug)]
struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the export thread: a full batch, a flush, or shut-down.
    wake: Condvar,
    limits: BatchLimits,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|poisoned| {
            // A panic while the lock was held (none is expected: encoding only writes
            // to a `Vec`) may have left a span half-written: what was buffered is
            // dropped, counted lost, rather than sent corrupt.
            let mut pending = poisoned.into_inner();
            for buffer in &mut pending.scopes {
                buffer.bytes.truncate(buffer.room);
            }
            pending.deferred.clear();
            pending.spans = 0;
            self.pending.clear_poison();
            pending
        })
    }
}

/// See the module's documentation.
#[derive(Debug)]
pub struct EncodingBatchProcessor {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// How long `force_flush` waits for its export: the exporter's timeout and a margin.
    flush_timeout: Duration,
}

impl EncodingBatchProcessor {
    pub fn new(exporter: HttpSpanExporter, limits: BatchLimits) -> std::io::Result<Self> {
        let flush_timeout = exporter.timeout() + Duration::from_secs(1);
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            limits,
        });
        let for_thread = shared.clone();
        let thread = std::thread::Builder::new()
            .name("otlp-spans".into())
            .spawn(move || export_loop(&for_thread, &exporter))?;
        Ok(Self {
            shared,
            thread: Mutex::new(Some(thread)),
            flush_timeout,
        })
    }

    /// Adds one span to the batch, `put` placing it under the lock. After shut-down, and
    /// on a full queue, the span is dropped instead (with `put`, after the lock): it
    /// counts as ended and never exported (`SpanCounts::lost`).
    fn add(&self, put: impl FnOnce(&mut Pending)) {
        let limits = &self.shared.limits;
        let full = {
            let mut pending = self.shared.lock();
            if pending.shutting_down || pending.spans >= limits.max_queue {
                return;
            }
            put(&mut pending);
            pending.spans += 1;
            pending.spans == limits.max_batch
        };
        // Once per batch, not per span: a wake-up is a system call.
        if full {
            self.shared.wake.notify_one();
        }
    }

    /// Asks the thread to send what is buffered and waits for the answer.
    fn ask(&self, shut_down: bool, timeout: Duration) -> OTelSdkResult {
        let (answer, answered) = mpsc::sync_channel(1);
        {
            let mut pending = self.shared.lock();
            if pending.shutting_down {
                return Err(OTelSdkError::AlreadyShutdown);
            }
            pending.waiting.push(answer);
            pending.shutting_down = shut_down;
        }
        self.shared.wake.notify_one();
        match answered.recv_timeout(timeout) {
            Ok(result) => result.map_err(OTelSdkError::InternalFailure),
            Err(_) => Err(OTelSdkError::Timeout(timeout)),
        }
    }
}

impl SpanSink for EncodingBatchProcessor {
    /// Encoded at the end of its scope's buffer. Under the lock, straight into the
    /// batch: a few hundred bytes written once, where encoding them aside and copying
    /// them in under the lock wrote them twice (and the two request threads seldom meet
    /// here: a span takes well under a microsecond).
    fn end(&self, scope: &InstrumentationScope, span: &SpanParts<'_>) {
        self.add(|pending| encode::scope_span(&mut pending.buffer(scope, false).bytes, span));
    }

    /// Kept as it is, and encoded with others ([`ENCODED_TOGETHER`]), at the latest
    /// when its batch is sent.
    fn end_direct(&self, span: EndedSpan) {
        self.add(|pending| {
            pending.deferred.push(span);
            if pending.deferred.len() >= ENCODED_TOGETHER {
                pending.encode_deferred();
            }
        });
    }

    fn set_resource(&self, resource: &Resource) {
        let mut encoded = Vec::new();
        encode::resource(&mut encoded, resource);
        // Buffers made before keep the room they have: a head that no longer fits is
        // framed by a copy (`body`).
        self.shared.lock().resource = encoded.into();
    }
}

impl SpanProcessor for EncodingBatchProcessor {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        SpanSink::end(self, &span.instrumentation_scope, &SpanParts::from(&span));
        // `span` is freed here, on the thread that allocated it.
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.ask(false, self.flush_timeout)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.ask(true, timeout)?;
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            thread.join().map_err(|_| {
                OTelSdkError::InternalFailure("the span export thread panicked".into())
            })?;
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        SpanSink::set_resource(self, resource);
    }
}

/// The export thread: waits for a full batch, a flush or the delay, takes the buffers
/// that hold spans (leaving buffers back from earlier exports in their place), frames
/// and sends them.
fn export_loop(shared: &Shared, exporter: &HttpSpanExporter) {
    let delay = shared.limits.delay;
    let returned = Returned::default();
    let mut deadline = Instant::now() + delay;
    let mut failing = false;
    loop {
        let (taken, resource, spans, waiting, last) = {
            let mut pending = shared.lock();
            while pending.spans < shared.limits.max_batch
                && pending.waiting.is_empty()
                && !pending.shutting_down
            {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                pending = shared
                    .wake
                    .wait_timeout(pending, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            pending.encode_deferred();
            let mut taken = Vec::new();
            let resource = pending.resource.clone();
            for buffer in pending.scopes.iter_mut().filter(|b| b.has_spans()) {
                // So that a steady load allocates nothing: a buffer an earlier export
                // has done with, else one as large as this one.
                let spare = returned
                    .take()
                    .unwrap_or_else(|| Vec::with_capacity(buffer.bytes.len()));
                let room = encode::head_room(&resource, &buffer.scope);
                let fresh = ScopeBuffer {
                    lasting: buffer.lasting,
                    ..ScopeBuffer::new(buffer.scope.clone(), room, spare)
                };
                taken.push(std::mem::replace(buffer, fresh));
            }
            (
                taken,
                resource,
                std::mem::take(&mut pending.spans),
                std::mem::take(&mut pending.waiting),
                pending.shutting_down,
            )
        };
        deadline = Instant::now() + delay;
        let result = if spans == 0 {
            Ok(())
        } else {
            exporter.export_encoded(body(&resource, taken, &returned), spans as u64)
        };
        // Once when exports start failing and once when they work again, not once a
        // second while the collector is down (`SpanCounts` counts every span lost).
        match &result {
            Err(e) if !failing => {
                tracing::warn!(error = %e, spans, "span export failing; spans are lost until it works again");
            }
            Ok(()) if failing && spans > 0 => tracing::info!("span export works again"),
            _ => {}
        }
        if spans > 0 {
            failing = result.is_err();
        }
        for answer in waiting {
            let _ = answer.try_send(result.clone());
        }
        if last {
            return;
        }
    }
}

/// One `ExportTraceServiceRequest` of the buffers `taken`. One scope (web's requests
/// make spans of one): framed where its spans lie, and the buffer comes back to
/// `returned` once the HTTP client is done with it. Several: copied into one body.
fn body(resource: &[u8], mut taken: Vec<ScopeBuffer>, returned: &Returned) -> bytes::Bytes {
    if let [one] = taken.as_mut_slice()
        && let Some(start) = encode::frame_in_place(resource, &one.scope, &mut one.bytes, one.room)
    {
        let bytes = std::mem::take(&mut one.bytes);
        return bytes::Bytes::from_owner(Lent {
            bytes,
            start,
            back: returned.clone(),
        });
    }
    let scopes: Vec<_> = taken
        .iter()
        .map(|b| (&b.scope, &b.bytes[b.room..]))
        .collect();
    let mut body = Vec::new();
    encode::export_request_encoded(resource, &scopes, &mut body);
    for buffer in taken {
        returned.put(buffer.bytes);
    }
    bytes::Bytes::from(body)
}

/// Span buffers the HTTP client is done with, for the next batches. A few at most: one
/// is lent while an export runs (and retries), the rest wait.
#[derive(Debug, Clone, Default)]
struct Returned(Arc<Mutex<Vec<Vec<u8>>>>);

impl Returned {
    const KEPT: usize = 4;

    fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    fn put(&self, buffer: Vec<u8>) {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < Self::KEPT {
            kept.push(buffer);
        }
    }
}

/// A span buffer lent to the HTTP client as a request's body (`bytes[start..]`), and
/// given back when the last clone of the body is dropped.
struct Lent {
    bytes: Vec<u8>,
    start: usize,
    back: Returned,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        self.back.put(std::mem::take(&mut self.bytes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lent_buffer_comes_back_with_its_capacity_once_every_clone_is_gone() {
        let returned = Returned::default();
        let mut bytes = Vec::with_capacity(4096);
        bytes.extend_from_slice(b"headspans");
        let body = bytes::Bytes::from_owner(Lent {
            bytes,
            start: 4,
            back: returned.clone(),
        });
        assert_eq!(&body[..], b"spans");
        let retry = body.clone();
        drop(body);
        assert!(returned.take().is_none(), "a clone still holds it");
        drop(retry);
        let back = returned.take().expect("given back");
        assert!(back.capacity() >= 4096);
        // Made ready for the next batch: cleared, then the room left.
        let scope = InstrumentationScope::builder("web").build();
        let buffer = ScopeBuffer::new(scope, 3, back);
        assert_eq!(buffer.bytes, [0, 0, 0]);
        assert!(!buffer.has_spans());
    }

    #[test]
    fn only_a_few_buffers_are_kept() {
        let returned = Returned::default();
        for _ in 0..10 {
            returned.put(Vec::with_capacity(16));
        }
        let mut kept = 0;
        while returned.take().is_some() {
            kept += 1;
        }
        assert_eq!(kept, Returned::KEPT);
    }
}
