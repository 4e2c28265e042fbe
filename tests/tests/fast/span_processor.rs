//! Every span goes through the SDK's tracer provider, so a processor added to it (a
//! filtering or baggage processor, as the OpenTelemetry examples add one; here one that
//! keeps what it sees) sees them all: the SERVER span of a click, its queries' CLIENT
//! spans and the PRODUCER span in web, and the CONSUMER span and its queries in the
//! worker, all in one trace.

use std::sync::{Arc, Mutex};

use common::{
    db::Database,
    faults::Faults,
    metrics::Metrics,
    telemetry::{self, SpanGate, logs::LogFormat},
};
use esm::event::EventSource;
use lambda_runtime::{Context, LambdaEvent};
use opentelemetry::trace::{SpanKind, TracerProvider as _};
use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{SpanData, SpanProcessor},
};
use sqlx::PgPool;
use tests::fast::FastApp;
use worker::Worker;

/// A processor of the user's own: keeps every span that ends.
#[derive(Debug, Clone, Default)]
struct Kept(Arc<Mutex<Vec<SpanData>>>);

impl SpanProcessor for Kept {
    fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        self.0.lock().unwrap().push(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _: std::time::Duration) -> OTelSdkResult {
        Ok(())
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_processor_added_to_the_provider_sees_every_kind_of_span(pool: PgPool) {
    let kept = Kept::default();
    // The binaries' provider (no exporter here), with the processor added.
    let provider = telemetry::tracer_provider("todo-web", None, &SpanGate::default())
        .with_span_processor(kept.clone())
        .build();
    let tracer = provider.tracer("traced-todo");
    // `tracing` spans reach the same provider through the binaries' subscriber.
    let subscriber = telemetry::subscriber(Some(tracer.clone()), LogFormat::Text).unwrap();
    let _subscriber = tracing::subscriber::set_default(subscriber);

    let app = FastApp::traced(pool.clone(), &[], Some(tracer.clone())).await;
    let added = app.post_form("/todos", "title=buy+milk", &[]).await;
    assert_eq!(added.status, 303);
    // The message web sent, delivered to the function as Lambda's SQS trigger would.
    let received = app
        .sqs
        .receive_message()
        .queue_url(&app.queue_url)
        .message_attribute_names("All")
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap();
    let messages = received.messages.unwrap_or_default();
    assert_eq!(messages.len(), 1, "the job in SQS");
    let event = EventSource::from_queue_url(&app.queue_url, "us-east-1").event(&messages);
    let worker = Worker {
        db: Database::new(pool.clone(), Faults::off(), Metrics::disabled())
            .traced_by(Some(tracer.clone())),
        ..Worker::on_pool(pool.clone())
    };
    let response = worker
        .handle_batch(LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    drop(worker);
    drop(app);

    let spans = kept.0.lock().unwrap();
    let named = |kind: SpanKind| -> Vec<String> {
        spans
            .iter()
            .filter(|s| s.span_kind == kind)
            .map(|s| s.name.to_string())
            .collect()
    };
    assert_eq!(named(SpanKind::Server), vec!["POST /todos"]);
    // Each test has a queue of its own, `jobs-…`.
    let one = |kind: SpanKind, prefix: &str| {
        let names = named(kind.clone());
        assert!(
            names.len() == 1 && names[0].starts_with(prefix),
            "{kind:?}: {names:?}"
        );
    };
    one(SpanKind::Producer, "send jobs-");
    one(SpanKind::Consumer, "process jobs-");
    let queries = named(SpanKind::Client);
    for query in [
        "INSERT todos",
        "INSERT jobs",
        "SELECT todos",
        "UPDATE todos",
    ] {
        assert!(queries.iter().any(|q| q == query), "{query} in {queries:?}");
    }
    let trace = spans[0].span_context.trace_id();
    assert!(
        spans.iter().all(|s| s.span_context.trace_id() == trace),
        "one click, one trace"
    );
}
