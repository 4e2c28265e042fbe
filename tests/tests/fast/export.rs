//! The span exporter and batch processor (`common::otlp`) against collectors that
//! misbehave. The collector is a stand-in HTTP server written here (the edge under test):
//! it answers with the status a test gives it for its first requests, then takes the
//! spans as a collector would; a test may hold its answers back.

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
use common::otlp::{
    BatchLimits, EncodingBatchProcessor, ExportConfig, HttpSpanExporter, SpanCounts, SpanSink,
    blocking_client, direct::DirectTracer,
};
use opentelemetry::{
    Context, InstrumentationScope,
    trace::{SpanKind, Tracer as _, TracerProvider as _},
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_sdk::{
    Resource,
    trace::{Sampler, SdkTracerProvider, SpanProcessor as _},
};
use prost::Message as _;
use std::io::Read as _;

#[derive(Clone)]
struct Collector {
    /// The first `failures` requests get `status` (with `Retry-After: 0`).
    failures: usize,
    status: StatusCode,
    requests: Arc<AtomicUsize>,
    accepted: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    /// Each request takes a permit before it is answered: none left holds it.
    answers: Arc<tokio::sync::Semaphore>,
    /// Requests received, answered or not.
    arrived: Arc<AtomicUsize>,
}

impl Collector {
    async fn start(failures: usize, status: StatusCode) -> (Self, reqwest::Url) {
        let collector = Collector {
            failures,
            status,
            requests: Arc::default(),
            accepted: Arc::default(),
            answers: Arc::new(tokio::sync::Semaphore::new(1_000)),
            arrived: Arc::default(),
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
    collector.arrived.fetch_add(1, Ordering::SeqCst);
    collector.answers.acquire().await.unwrap().forget();
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

/// Ends one span named `name` and shuts the provider down (which sends it), through the
/// processor and exporter every binary uses, configured with `config`.
async fn export_one(config: ExportConfig, name: &'static str) -> Arc<SpanCounts> {
    tokio::task::spawn_blocking(move || {
        let (provider, counts) = batching_provider(config, BatchLimits::default());
        provider.tracer("test").in_span(name, |_| {});
        let _ = provider.shutdown();
        counts
    })
    .await
    .unwrap()
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

impl Collector {
    /// The names of the spans accepted so far, request by request (uncompressed bodies).
    fn batches(&self) -> Vec<Vec<String>> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .map(|(_, body)| {
                let request = ExportTraceServiceRequest::decode(&body[..]).unwrap();
                request
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .flat_map(|s| &s.spans)
                    .map(|s| s.name.clone())
                    .collect()
            })
            .collect()
    }
}

/// An [`EncodingBatchProcessor`] with `limits` and an exporter configured with
/// `config`, and the counts of its exporter.
fn batch_processor(
    config: ExportConfig,
    limits: BatchLimits,
) -> (EncodingBatchProcessor, Arc<SpanCounts>) {
    let counts = Arc::new(SpanCounts::default());
    let exporter = HttpSpanExporter::new(
        blocking_client(Duration::from_secs(10)).unwrap(),
        config,
        counts.clone(),
    );
    (
        EncodingBatchProcessor::new(exporter, limits).unwrap(),
        counts,
    )
}

/// A provider whose spans go through [`batch_processor`], and the counts of its exporter.
fn batching_provider(
    config: ExportConfig,
    limits: BatchLimits,
) -> (SdkTracerProvider, Arc<SpanCounts>) {
    let (processor, counts) = batch_processor(config, limits);
    let provider = SdkTracerProvider::builder()
        .with_resource(
            Resource::builder_empty()
                .with_service_name("exporter-test")
                .build(),
        )
        .with_span_processor(processor)
        .build();
    (provider, counts)
}

/// [`batching_provider`] sending uncompressed to `url`.
fn plain_provider(url: reqwest::Url, limits: BatchLimits) -> (SdkTracerProvider, Arc<SpanCounts>) {
    batching_provider(config(url, Duration::from_secs(10), false), limits)
}

/// [`batch_processor`] sending uncompressed to `url`, shared (by the SDK's provider and
/// the direct tracers), and the counts of its exporter.
fn plain_batch(
    url: reqwest::Url,
    limits: BatchLimits,
) -> (Arc<EncodingBatchProcessor>, Arc<SpanCounts>) {
    let (batch, counts) = batch_processor(config(url, Duration::from_secs(10), false), limits);
    (Arc::new(batch), counts)
}

fn end_spans(provider: &SdkTracerProvider, scope: &'static str, names: &[&'static str]) {
    let tracer = provider.tracer(scope);
    for name in names {
        tracer.in_span(*name, |_| {});
    }
}

/// Polls `what` until it holds, for at most 10 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_batch_goes_out_at_once_and_a_flush_sends_the_rest() {
    let (collector, url) = Collector::start(0, StatusCode::OK).await;
    // A delay no test waits for: only a full batch or a flush sends anything.
    let limits = BatchLimits {
        max_queue: 100,
        max_batch: 3,
        delay: Duration::from_secs(3_600),
    };
    let (provider, counts) = plain_provider(url, limits);

    end_spans(&provider, "web", &["a", "b"]);
    end_spans(&provider, "worker", &["c"]);
    eventually("the full batch", || collector.batches().len() == 1).await;
    // One request, its spans grouped by scope as opentelemetry-proto's would be.
    let accepted = collector.accepted.lock().unwrap()[0].1.clone();
    assert_eq!(
        scopes_of(&accepted),
        [
            ("web".to_owned(), vec!["a".to_owned(), "b".to_owned()]),
            ("worker".to_owned(), vec!["c".to_owned()])
        ]
    );

    end_spans(&provider, "web", &["d"]);
    let flushing = provider.clone();
    tokio::task::spawn_blocking(move || flushing.force_flush())
        .await
        .unwrap()
        .expect("the flush exports");
    assert_eq!(collector.batches(), [vec!["a", "b", "c"], vec!["d"]]);
    assert_eq!(counts.exported.load(Ordering::SeqCst), 4);

    // Shut down: nothing buffered is left behind, and spans ended later go nowhere.
    end_spans(&provider, "web", &["e"]);
    let stopping = provider.clone();
    tokio::task::spawn_blocking(move || stopping.shutdown())
        .await
        .unwrap()
        .expect("shut down");
    end_spans(&provider, "web", &["after"]);
    assert_eq!(collector.batches().concat(), ["a", "b", "c", "d", "e"]);
}

/// The scopes of one request's spans, each with its spans' names, in order.
fn scopes_of(body: &[u8]) -> Vec<(String, Vec<String>)> {
    let request = ExportTraceServiceRequest::decode(body).unwrap();
    request.resource_spans[0]
        .scope_spans
        .iter()
        .map(|s| {
            let names = s.spans.iter().map(|s| s.name.clone()).collect();
            (s.scope.as_ref().unwrap().name.clone(), names)
        })
        .collect()
}

/// A direct tracer (`common::otlp::direct`) of `scope` whose spans end into `batch`.
fn direct_tracer(
    batch: &Arc<EncodingBatchProcessor>,
    scope: &'static str,
) -> &'static DirectTracer {
    Box::leak(Box::new(DirectTracer::new(
        Some(batch.clone() as Arc<dyn SpanSink>),
        InstrumentationScope::builder(scope).build(),
        Sampler::AlwaysOn,
    )))
}

/// The hot spans' tracers (`common::otlp::direct`) end into the batch with their own
/// scopes; scopes equal by value share one `ScopeSpans`, before and after a batch has
/// gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_spans_are_grouped_by_scope_in_every_batch() {
    let (collector, url) = Collector::start(0, StatusCode::OK).await;
    let limits = BatchLimits {
        max_queue: 100,
        max_batch: 4,
        delay: Duration::from_secs(3_600),
    };
    let (batch, _counts) = plain_batch(url, limits);
    let tracer = |scope| direct_tracer(&batch, scope);
    let (web, worker, web_again) = (tracer("web"), tracer("worker"), tracer("web"));
    let end = |tracer: &'static DirectTracer, name: &'static str| {
        let span = tracer.start(name.into(), SpanKind::Internal, vec![], &Context::new());
        drop(span);
    };
    let names = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();

    end(web, "a");
    end(worker, "b");
    end(web_again, "c");
    end(web, "d");
    eventually("the full batch", || collector.batches().len() == 1).await;
    let first = collector.accepted.lock().unwrap()[0].1.clone();
    assert_eq!(
        scopes_of(&first),
        [
            ("web".to_owned(), names(&["a", "c", "d"])),
            ("worker".to_owned(), names(&["b"]))
        ]
    );

    end(worker, "e");
    end(web_again, "f");
    end(web, "g");
    let flushing = batch.clone();
    tokio::task::spawn_blocking(move || flushing.force_flush())
        .await
        .unwrap()
        .expect("the flush exports");
    let second = collector.accepted.lock().unwrap()[1].1.clone();
    assert_eq!(
        scopes_of(&second),
        [
            ("web".to_owned(), names(&["f", "g"])),
            ("worker".to_owned(), names(&["e"]))
        ]
    );
}

/// Direct spans wait, a few dozen at most, to be encoded together: however many ended
/// (more than a group, a group and a part), each arrives once, in the order they ended,
/// beside spans of the SDK's that are encoded as they end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_spans_kept_to_be_encoded_together_all_arrive_once_in_order() {
    let (collector, url) = Collector::start(0, StatusCode::OK).await;
    let limits = BatchLimits {
        max_queue: 1_000,
        max_batch: 1_000,
        delay: Duration::from_secs(3_600),
    };
    let (batch, counts) = plain_batch(url, limits);
    let provider = SdkTracerProvider::builder()
        .with_span_processor(SdkSide(batch.clone()))
        .build();
    let direct = direct_tracer(&batch, "web");
    let names: Vec<String> = (0..75).map(|i| format!("d{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let span = direct.start(
            name.clone().into(),
            SpanKind::Client,
            vec![],
            &Context::new(),
        );
        drop(span);
        if i % 10 == 0 {
            end_spans(&provider, "sdk", &["s"]);
        }
    }
    let flushing = batch.clone();
    tokio::task::spawn_blocking(move || flushing.force_flush())
        .await
        .unwrap()
        .expect("the flush exports");
    let body = collector.accepted.lock().unwrap()[0].1.clone();
    let scopes = scopes_of(&body);
    let web = scopes
        .iter()
        .find(|(scope, _)| scope == "web")
        .expect("web's spans");
    assert_eq!(web.1, names);
    let sdk = scopes
        .iter()
        .find(|(scope, _)| scope == "sdk")
        .expect("the SDK's spans");
    assert_eq!(sdk.1.len(), 8);
    assert_eq!(collector.batches().len(), 1);
    assert_eq!(counts.exported.load(Ordering::SeqCst), 83);
}

/// The batch as the SDK's span processor (it is one), shared with the direct spans.
#[derive(Debug)]
struct SdkSide(Arc<EncodingBatchProcessor>);

impl opentelemetry_sdk::trace::SpanProcessor for SdkSide {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &Context) {}

    fn on_end(&self, span: opentelemetry_sdk::trace::SpanData) {
        self.0.on_end(span);
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delay_sends_a_part_batch() {
    let (collector, url) = Collector::start(0, StatusCode::OK).await;
    let limits = BatchLimits {
        max_queue: 100,
        max_batch: 100,
        delay: Duration::from_millis(50),
    };
    let (provider, _counts) = plain_provider(url, limits);
    end_spans(&provider, "web", &["lonely"]);
    eventually("the span, after the delay", || {
        !collector.batches().is_empty()
    })
    .await;
    assert_eq!(collector.batches(), [vec!["lonely"]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_new_spans_and_keeps_the_buffered_ones() {
    let (collector, url) = Collector::start(0, StatusCode::OK).await;
    // The collector takes the first batch and holds its answer: the export thread waits.
    collector.answers.forget_permits(1_000);
    let limits = BatchLimits {
        max_queue: 2,
        max_batch: 1,
        delay: Duration::from_secs(3_600),
    };
    let (provider, counts) = plain_provider(url, limits);
    end_spans(&provider, "web", &["first"]);
    eventually("the first export to be under way", || {
        collector.arrived.load(Ordering::SeqCst) == 1
    })
    .await;
    // Two spans fill the queue; the third finds it full.
    end_spans(&provider, "web", &["second", "third", "dropped"]);
    collector.answers.add_permits(1_000);
    let flushing = provider.clone();
    tokio::task::spawn_blocking(move || flushing.force_flush())
        .await
        .unwrap()
        .expect("the flush exports");
    assert_eq!(
        collector.batches().concat(),
        ["first", "second", "third"],
        "the span that found the queue full is the one lost"
    );
    assert_eq!(counts.exported.load(Ordering::SeqCst), 3);
}

#[test]
fn batch_limits_come_from_the_standard_variables() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    assert_eq!(
        BatchLimits::from_lookup(env(&[])),
        Ok(BatchLimits::default())
    );
    assert_eq!(
        BatchLimits::from_lookup(env(&[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512"),
            ("OTEL_BSP_SCHEDULE_DELAY", "250"),
        ])),
        Ok(BatchLimits {
            max_queue: 100,
            max_batch: 100,
            delay: Duration::from_millis(250),
        }),
        "a batch is never larger than the queue"
    );
    let error = BatchLimits::from_lookup(env(&[("OTEL_BSP_SCHEDULE_DELAY", "soon")]))
        .expect_err("not a number");
    assert!(
        error.contains("OTEL_BSP_SCHEDULE_DELAY") && error.contains("soon"),
        "{error}"
    );
    assert!(BatchLimits::from_lookup(env(&[("OTEL_BSP_MAX_QUEUE_SIZE", "0")])).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_span_larger_than_the_scratch_buffer_arrives_whole() {
    let (collector, url) = Collector::start(0, StatusCode::OK).await;
    let limits = BatchLimits {
        max_queue: 100,
        max_batch: 100,
        delay: Duration::from_secs(3_600),
    };
    let (provider, _counts) = plain_provider(url, limits);
    let message = "x".repeat(100_000);
    provider.tracer("web").in_span("huge", |cx| {
        use opentelemetry::trace::TraceContextExt as _;
        cx.span().set_attribute(opentelemetry::KeyValue::new(
            "exception.message",
            message.clone(),
        ));
    });
    end_spans(&provider, "web", &["after"]);
    let flushing = provider.clone();
    tokio::task::spawn_blocking(move || flushing.force_flush())
        .await
        .unwrap()
        .expect("the flush exports");
    let accepted = collector.accepted.lock().unwrap()[0].1.clone();
    let request = ExportTraceServiceRequest::decode(&accepted[..]).unwrap();
    let spans = &request.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans.len(), 2);
    let attribute = &spans[0].attributes[0];
    assert_eq!(attribute.key, "exception.message");
    assert!(
        format!("{:?}", attribute.value).contains(&message),
        "the 100 KB value arrives whole"
    );
    assert_eq!(spans[1].name, "after");
}
