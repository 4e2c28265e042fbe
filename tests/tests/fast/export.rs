//! The span exporter (`common::otlp`) against collectors that misbehave. The collector is
//! a stand-in HTTP server written here (the edge under test): it answers with the status
//! a test gives it for its first requests, then takes the spans as a collector would.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    routing::post,
};
use common::otlp::{ExportConfig, HttpSpanExporter, SpanCounts, blocking_client};
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use prost::Message as _;
use std::io::Read as _;

#[derive(Clone)]
struct Collector {
    /// The first `failures` requests get `status` (with `Retry-After: 0`).
    failures: usize,
    status: StatusCode,
    requests: Arc<AtomicUsize>,
    accepted: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

impl Collector {
    async fn start(failures: usize, status: StatusCode) -> (Self, reqwest::Url) {
        let collector = Collector {
            failures,
            status,
            requests: Arc::default(),
            accepted: Arc::default(),
        };
        let app = Router::new()
            .route("/v1/traces", post(take))
            .with_state(collector.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (collector, url.parse().unwrap())
    }
}

async fn take(
    State(collector): State<Collector>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(&'static str, &'static str); 1]) {
    if collector.requests.fetch_add(1, Ordering::SeqCst) < collector.failures {
        return (collector.status, [("retry-after", "0")]);
    }
    collector.accepted.lock().unwrap().push((headers, body));
    (StatusCode::OK, [("content-type", "application/x-protobuf")])
}

fn config(endpoint: reqwest::Url, timeout: Duration, gzip: bool) -> ExportConfig {
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", HeaderValue::from_static("secret"));
    ExportConfig {
        endpoint,
        headers,
        timeout,
        gzip,
    }
}

/// Ends one span named `name` through an SDK provider exporting with `config`, on a
/// thread of its own (the exporter blocks, as on the batch processor's thread).
async fn export_one(config: ExportConfig, name: &'static str) -> Arc<SpanCounts> {
    let counts = Arc::new(SpanCounts::default());
    let for_thread = counts.clone();
    tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || {
            let exporter = HttpSpanExporter::new(
                blocking_client(Duration::from_secs(10)).unwrap(),
                config,
                for_thread,
            );
            let provider = SdkTracerProvider::builder()
                .with_resource(
                    Resource::builder_empty()
                        .with_service_name("exporter-test")
                        .build(),
                )
                .with_simple_exporter(exporter)
                .build();
            provider.tracer("test").in_span(name, |_| {});
            let _ = provider.shutdown();
        })
        .join()
        .unwrap()
    })
    .await
    .unwrap();
    counts
}

#[tokio::test]
async fn a_busy_collector_is_retried_until_it_takes_the_spans() {
    let (collector, url) = Collector::start(2, StatusCode::SERVICE_UNAVAILABLE).await;
    let counts = export_one(config(url, Duration::from_secs(10), true), "checkout").await;

    assert_eq!(
        collector.requests.load(Ordering::SeqCst),
        3,
        "two 503s, then accepted"
    );
    assert_eq!(counts.exported.load(Ordering::SeqCst), 1);
    assert_eq!(counts.failed.load(Ordering::SeqCst), 0);
    let accepted = collector.accepted.lock().unwrap();
    let (headers, body) = &accepted[0];
    assert_eq!(
        headers["x-api-key"], "secret",
        "OTEL_EXPORTER_OTLP_HEADERS are sent"
    );
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["content-type"], "application/x-protobuf");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut raw)
        .unwrap();
    let request = ExportTraceServiceRequest::decode(&raw[..]).unwrap();
    let resource = &request.resource_spans[0];
    let service = resource.resource.as_ref().unwrap().attributes.iter();
    assert!(
        service
            .filter(|kv| kv.key == "service.name")
            .any(|kv| format!("{:?}", kv.value).contains("exporter-test")),
        "the resource is sent with the spans"
    );
    let span = &resource.scope_spans[0].spans[0];
    assert_eq!(span.name, "checkout");
}

#[tokio::test]
async fn a_rejected_batch_is_not_retried_and_is_counted_as_failed() {
    let (collector, url) = Collector::start(usize::MAX, StatusCode::BAD_REQUEST).await;
    let counts = export_one(config(url, Duration::from_secs(10), false), "checkout").await;

    assert_eq!(
        collector.requests.load(Ordering::SeqCst),
        1,
        "a 400 will not change"
    );
    assert_eq!(counts.exported.load(Ordering::SeqCst), 0);
    assert_eq!(counts.failed.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_stalled_collector_costs_at_most_the_export_timeout() {
    let stalled = tests::stalled::Stalled::start().await;
    let url = format!("{}/v1/traces", stalled.endpoint()).parse().unwrap();
    // The test finishing at all is the assertion on the timeout: the collector never
    // answers, so only the exporter's own deadline ends the export.
    let counts = export_one(config(url, Duration::from_millis(300), false), "checkout").await;

    assert!(
        stalled.connections() >= 1,
        "the exporter reached the collector"
    );
    assert_eq!(counts.failed.load(Ordering::SeqCst), 1);
    assert_eq!(counts.exported.load(Ordering::SeqCst), 0);
}
