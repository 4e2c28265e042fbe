//! An OTLP/HTTP receiver (protobuf on `/v1/traces`), standing in for Jaeger's collector:
//! the tests assert the shape of the traces the services really export, and the
//! `trace-console` binary prints them.

use std::{
    collections::{HashMap, VecDeque},
    io::Read as _,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header::CONTENT_ENCODING},
    routing::{get, post},
};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::{AnyValue, KeyValue, any_value},
    trace::v1::span::SpanKind,
};
use prost::Message;
use serde_json::Value;

/// One received span, flattened for assertions.
#[derive(Debug, Clone)]
pub struct Span {
    pub service: String,
    pub name: String,
    pub kind: SpanKind,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub attributes: HashMap<String, Value>,
    /// 0 unset, 1 ok, 2 error
    pub status_code: i32,
    pub events: Vec<String>,
    /// (trace id, span id) of each link.
    pub links: Vec<(String, String)>,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    /// When this receiver got the span (for "last span exported" measurements).
    pub received_unix_ms: u64,
}

impl Span {
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attributes.get(key)
    }

    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attr(key).and_then(Value::as_str)
    }

    pub fn is_error(&self) -> bool {
        self.status_code == 2
    }

    pub fn duration_ms(&self) -> f64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos) as f64 / 1e6
    }
}

/// One received metric data point: which metric, from which service, with what
/// attributes (values are not kept: tests ask whether a series exists).
#[derive(Debug, Clone)]
pub struct MetricPoint {
    pub service: String,
    pub name: String,
    pub attributes: HashMap<String, Value>,
    /// A sum's or gauge's value; a histogram's sum.
    pub value: f64,
    /// A histogram's count (1 for a sum or gauge point).
    pub count: u64,
}

/// The OTLP/HTTP paths a receiver serves: an OpenTelemetry collector's (`/v1/traces`,
/// `/v1/metrics`), or another server's, e.g. Jaeger's (traces only) or Prometheus's
/// (metrics only, on `/api/v1/otlp/v1/metrics`). `None`: that signal gets a 404.
#[derive(Debug, Clone, Copy)]
pub struct Paths {
    pub traces: Option<&'static str>,
    pub metrics: Option<&'static str>,
}

impl Paths {
    pub const COLLECTOR: Paths = Paths {
        traces: Some("/v1/traces"),
        metrics: Some("/v1/metrics"),
    };
}

/// What arrived, in order: the last `capacity` items kept, all of them counted.
#[derive(Debug)]
struct Store<T> {
    items: VecDeque<T>,
    /// How many ever arrived: the sequence number of the next one.
    total: u64,
    capacity: usize,
}

impl<T: Clone> Store<T> {
    fn new(capacity: usize) -> Self {
        Self {
            items: VecDeque::new(),
            total: 0,
            capacity,
        }
    }

    fn extend(&mut self, new: Vec<T>) {
        for item in new {
            self.total += 1;
            if self.capacity == 0 {
                continue;
            }
            if self.items.len() == self.capacity {
                self.items.pop_front();
            }
            self.items.push_back(item);
        }
    }

    /// Items from sequence number `seq` on that are still kept.
    fn since(&self, seq: u64) -> Since<T> {
        let first = self.total - self.items.len() as u64;
        let start = seq.clamp(first, self.total);
        Since {
            items: self
                .items
                .range((start - first) as usize..)
                .cloned()
                .collect(),
            next: self.total,
            missed: first.saturating_sub(seq),
        }
    }
}

/// What [`Receiver::spans_since`] returns.
#[derive(Debug)]
pub struct Since<T> {
    pub items: Vec<T>,
    /// The sequence number to ask for next time.
    pub next: u64,
    /// Arrived since, but no longer kept (the receiver's capacity was reached first).
    pub missed: u64,
}

type Shared<T> = Arc<Mutex<Store<T>>>;

/// Spans are kept behind an `Arc`: the console holds the same spans while it assembles
/// and prints their traces, so each is in memory once, and handing the new ones over
/// every 250 ms copies pointers, not each span's attributes (the soak, README).
type SharedSpans = Shared<Arc<Span>>;

#[derive(Clone)]
pub struct Receiver {
    spans: SharedSpans,
    metrics: Shared<MetricPoint>,
    pub addr: Option<SocketAddr>,
}

impl Receiver {
    /// Starts listening on a random loopback port.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().expect("address"))
            .await
            .expect("bind OTLP receiver")
    }

    /// Starts listening on `addr`.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        Self::start_with(addr, Paths::COLLECTOR).await
    }

    /// Starts listening on `addr`, taking each signal on its path in `paths`, keeping
    /// everything it receives (tests ask about any span of their run).
    pub async fn start_with(addr: SocketAddr, paths: Paths) -> std::io::Result<Self> {
        Self::start_bounded(addr, paths, usize::MAX).await
    }

    /// As [`Self::start_with`], keeping only the last `capacity` spans and metric points
    /// (and counting all): a long-running console's memory stays flat.
    pub async fn start_bounded(
        addr: SocketAddr,
        paths: Paths,
        capacity: usize,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let (mut receiver, app) = Self::new(paths, capacity);
        receiver.addr = Some(listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(receiver)
    }

    /// A receiver keeping the last `capacity` spans and metric points, and the router
    /// that feeds it, to serve as the caller likes (the tests serve one over TLS).
    pub fn new(paths: Paths, capacity: usize) -> (Self, Router) {
        let receiver = Receiver {
            spans: Arc::new(Mutex::new(Store::new(capacity))),
            metrics: Arc::new(Mutex::new(Store::new(capacity))),
            addr: None,
        };
        let mut spans = Router::new()
            .route("/api/stats", get(stats))
            .route("/api/traces/{trace_id}", get(trace_summary));
        if let Some(path) = paths.traces {
            spans = spans.route(path, post(export));
        }
        let mut metrics = Router::new().route("/api/stats/metrics", get(metric_stats));
        if let Some(path) = paths.metrics {
            metrics = metrics.route(path, post(export_metrics));
        }
        let app = spans
            .with_state(receiver.spans.clone())
            .merge(metrics.with_state(receiver.metrics.clone()));
        (receiver, app)
    }

    /// Base URL for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr.expect("receiver started"))
    }

    /// Every span kept, in arrival order.
    pub fn spans(&self) -> Vec<Span> {
        self.spans_since(0).items
    }

    /// The spans that arrived from sequence number `seq` on (0: the first ever).
    pub fn spans_since(&self, seq: u64) -> Since<Span> {
        let shared = self.shared_spans_since(seq);
        Since {
            items: shared.items.iter().map(|s| Span::clone(s)).collect(),
            next: shared.next,
            missed: shared.missed,
        }
    }

    /// [`Self::spans_since`], the spans shared with the receiver rather than copied.
    pub fn shared_spans_since(&self, seq: u64) -> Since<Arc<Span>> {
        self.spans.lock().expect("spans lock").since(seq)
    }

    pub fn metrics(&self) -> Vec<MetricPoint> {
        self.metrics.lock().expect("metrics lock").since(0).items
    }

    pub fn trace(&self, trace_id: &str) -> Vec<Span> {
        let spans = self.spans.lock().expect("spans lock");
        spans
            .items
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .map(|s| Span::clone(s))
            .collect()
    }
}

async fn export_metrics(
    State(metrics): State<Shared<MetricPoint>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Vec<u8>) {
    let _one = DECODING.acquire().await;
    let Some(body) = decompressed(&headers, body) else {
        return (StatusCode::BAD_REQUEST, Vec::new());
    };
    use opentelemetry_proto::tonic::{
        collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse},
        metrics::v1::metric::Data,
    };
    let Ok(request) = ExportMetricsServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, Vec::new());
    };
    let mut points = Vec::new();
    for rm in request.resource_metrics {
        let service = service_name(rm.resource.as_ref());
        for sm in rm.scope_metrics {
            for m in sm.metrics {
                use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
                let number = |v: Option<Number>| match v {
                    Some(Number::AsDouble(d)) => d,
                    Some(Number::AsInt(i)) => i as f64,
                    None => 0.0,
                };
                let values: Vec<(Vec<KeyValue>, f64, u64)> = match m.data {
                    Some(Data::Histogram(h)) => h
                        .data_points
                        .into_iter()
                        .map(|p| (p.attributes, p.sum.unwrap_or(0.0), p.count))
                        .collect(),
                    Some(Data::Sum(s)) => s
                        .data_points
                        .into_iter()
                        .map(|p| (p.attributes, number(p.value), 1))
                        .collect(),
                    Some(Data::Gauge(g)) => g
                        .data_points
                        .into_iter()
                        .map(|p| (p.attributes, number(p.value), 1))
                        .collect(),
                    _ => Vec::new(),
                };
                for (attrs, value, count) in values {
                    points.push(MetricPoint {
                        service: service.clone(),
                        name: m.name.clone(),
                        attributes: attributes(&attrs),
                        value,
                        count,
                    });
                }
            }
        }
    }
    metrics.lock().expect("metrics lock").extend(points);
    (
        StatusCode::OK,
        ExportMetricsServiceResponse::default().encode_to_vec(),
    )
}

/// `{"spans": n}`: how many spans arrived (benchmarks count dropped spans with it).
async fn stats(State(spans): State<SharedSpans>) -> axum::Json<Value> {
    let n = spans.lock().expect("spans lock").total;
    axum::Json(serde_json::json!({ "spans": n }))
}

/// How many metric points ever arrived (benchmarks: points per export).
async fn metric_stats(State(metrics): State<Shared<MetricPoint>>) -> axum::Json<Value> {
    let n = metrics.lock().expect("metrics lock").total;
    axum::Json(serde_json::json!({ "metric_points": n }))
}

/// One trace: span count, services, and when its last span arrived.
async fn trace_summary(
    State(spans): State<SharedSpans>,
    axum::extract::Path(trace_id): axum::extract::Path<String>,
) -> axum::Json<Value> {
    let spans = spans.lock().expect("spans lock");
    let trace: Vec<&Span> = spans
        .items
        .iter()
        .map(|s| &**s)
        .filter(|s| s.trace_id == trace_id)
        .collect();
    let mut services: Vec<&str> = trace.iter().map(|s| s.service.as_str()).collect();
    services.sort_unstable();
    services.dedup();
    axum::Json(serde_json::json!({
        "spans": trace.len(),
        "services": services,
        "names": trace.iter().map(|s| format!("{}:{}", s.service, s.name)).collect::<Vec<_>>(),
        "last_received_unix_ms": trace.iter().map(|s| s.received_unix_ms).max(),
    }))
}

/// One export request decoded at a time. Decoding makes a request's spans twice over
/// (prost's messages, then ours) before the first are freed: a few MiB for a full batch.
/// Web, the esm and the worker export on the same 1 s schedule, so without this their
/// requests often arrive together and that peak is paid three times over (the soak saw
/// trace-console's RSS spike +2.3 MiB above its level). Exporters wait microseconds.
static DECODING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

async fn export(
    State(spans): State<SharedSpans>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Vec<u8>) {
    // Never closed, so never an error; were it one, decoding anyway is harmless.
    let _one = DECODING.acquire().await;
    let Some(body) = decompressed(&headers, body) else {
        return (StatusCode::BAD_REQUEST, Vec::new());
    };
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, Vec::new());
    };
    let mut received = Vec::new();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    for resource_spans in request.resource_spans {
        let service = service_name(resource_spans.resource.as_ref());
        for scope in resource_spans.scope_spans {
            for s in scope.spans {
                received.push(Arc::new(Span {
                    service: service.clone(),
                    kind: SpanKind::try_from(s.kind).unwrap_or(SpanKind::Unspecified),
                    name: s.name,
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent_span_id: hex(&s.parent_span_id),
                    attributes: attributes(&s.attributes),
                    status_code: s.status.map(|st| st.code).unwrap_or(0),
                    events: s.events.into_iter().map(|e| e.name).collect(),
                    links: s
                        .links
                        .into_iter()
                        .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
                        .collect(),
                    start_unix_nanos: s.start_time_unix_nano,
                    end_unix_nanos: s.end_time_unix_nano,
                    received_unix_ms: now_ms,
                }));
            }
        }
    }
    spans.lock().expect("spans lock").extend(received);
    (
        StatusCode::OK,
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

/// The body as sent, or gunzipped (`OTEL_EXPORTER_OTLP_COMPRESSION=gzip`, which Jaeger's
/// collector takes too); `None` for an encoding we do not know or a corrupt body.
fn decompressed(headers: &HeaderMap, body: Bytes) -> Option<Bytes> {
    match headers.get(CONTENT_ENCODING).map(|v| v.as_bytes()) {
        None | Some(b"identity") => Some(body),
        Some(b"gzip") => {
            let mut out = Vec::with_capacity(body.len() * 4);
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut out)
                .ok()?;
            Some(out.into())
        }
        Some(_) => None,
    }
}

/// The `service.name` resource attribute ("" when absent).
fn service_name(resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>) -> String {
    resource
        .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
        .and_then(|kv| kv.value.as_ref())
        .map(|v| to_json(v).as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

fn attributes(kvs: &[KeyValue]) -> HashMap<String, Value> {
    kvs.iter()
        .filter_map(|kv| kv.value.as_ref().map(|v| (kv.key.clone(), to_json(v))))
        .collect()
}

fn to_json(v: &AnyValue) -> Value {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => Value::from(s.as_str()),
        Some(any_value::Value::BoolValue(b)) => Value::from(*b),
        Some(any_value::Value::IntValue(i)) => Value::from(*i),
        Some(any_value::Value::DoubleValue(d)) => Value::from(*d),
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(to_json).collect())
        }
        _ => Value::Null,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_store_keeps_the_newest_and_counts_all() {
        let mut store = Store::new(3);
        store.extend((0..5).collect());
        assert_eq!(store.total, 5);
        let all = store.since(0);
        assert_eq!((all.items, all.next, all.missed), (vec![2, 3, 4], 5, 2));
        let tail = store.since(4);
        assert_eq!((tail.items, tail.missed), (vec![4], 0));
        assert!(store.since(5).items.is_empty());

        let mut counting = Store::new(0);
        counting.extend(vec![1, 2]);
        assert_eq!((counting.total, counting.items.len()), (2, 0));
    }

    #[test]
    fn gzip_bodies_are_decompressed() {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"spans").unwrap_or_default();
        let body = Bytes::from(gz.finish().unwrap_or_default());
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_ENCODING, "gzip".parse().expect("header"));
        assert_eq!(decompressed(&headers, body).as_deref(), Some(&b"spans"[..]));
        headers.insert(CONTENT_ENCODING, "br".parse().expect("header"));
        assert_eq!(decompressed(&headers, Bytes::from_static(b"x")), None);
    }
}
