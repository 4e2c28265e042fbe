//! traced-todo worker: an AWS Lambda function fed by SQS.
//!
//! [`Worker::handle_batch`] processes each record in its own CONSUMER span, whose
//! parent is the trace context carried in the message attributes (so one click is one
//! trace) and which also links to it (as the FaaS conventions prescribe). Failed
//! records are returned in `batchItemFailures`; the rest of the batch succeeds.

pub mod config;
pub mod error;
pub mod esm;
pub mod jobs;

use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use common::{db::record_error, job::JobMessage, messaging, propagation};
use lambda_runtime::LambdaEvent;
use opentelemetry::trace::TraceContextExt;
use sqlx::{PgPool, postgres::PgPoolOptions};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{config::Config, error::RecordError, jobs::Outcome};

/// The function binary's whole life: check the Lambda environment, set up telemetry,
/// serve invocations, flushing spans after every one (Lambda freezes the process).
pub async fn run_function() -> anyhow::Result<()> {
    use lambda_runtime::{
        Runtime,
        layers::{OpenTelemetryFaasTrigger, OpenTelemetryLayer},
        service_fn,
    };
    // lambda_runtime panics on a missing runtime variable; say what to do instead.
    config::check_lambda_environment()?;
    let telemetry = common::telemetry::Telemetry::init("todo-worker")?;
    let worker = Worker::from_env()?;
    let provider = telemetry.provider();
    let handler = service_fn(|event| worker.handle_batch(event));
    Runtime::new(handler)
        .layer(
            OpenTelemetryLayer::new(move || common::telemetry::flush(&provider))
                .with_trigger(OpenTelemetryFaasTrigger::PubSub),
        )
        .run()
        .await
        .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))?;
    drop(telemetry);
    Ok(())
}

#[derive(Clone)]
pub struct Worker {
    db: PgPool,
}

impl Worker {
    /// Connects lazily: a cold start costs no round trip, and a database outage fails
    /// records (which SQS retries) instead of the whole function's init.
    pub fn from_env() -> anyhow::Result<Self> {
        let config = Config::from_env()?;
        let db = PgPoolOptions::new()
            .max_connections(config.database_pool_size)
            .acquire_timeout(Duration::from_secs(3))
            .connect_lazy(&config.database_url)
            .map_err(|e| anyhow::anyhow!("DATABASE_URL is not a valid connection string: {e}"))?;
        Ok(Self::new(db))
    }

    pub fn new(db: PgPool) -> Self {
        Self { db }
    }

    /// One invocation: every record is processed; the failed ones are reported.
    pub async fn handle_batch(
        &self,
        event: LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        let records = event.payload.records;
        let batch_size = records.len();
        let mut response = SqsBatchResponse::default();
        for record in &records {
            let Some(message_id) = record.message_id.as_deref().filter(|id| !id.is_empty()) else {
                // Without an id a failure cannot be reported per item; failing the whole
                // invocation makes Lambda retry the batch, which loses nothing.
                return Err("SQS record without messageId".into());
            };
            if let Err(e) = self.handle_record(record, message_id, batch_size).await {
                tracing::warn!(message.id = message_id, error = %e, "record failed");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message_id.to_owned();
                response.batch_item_failures.push(failure);
            }
        }
        Ok(response)
    }

    async fn handle_record(
        &self,
        record: &SqsMessage,
        message_id: &str,
        batch_size: usize,
    ) -> Result<Outcome, RecordError> {
        let attempt = receive_count(record);
        let queue = record
            .event_source_arn
            .as_deref()
            .and_then(|arn| arn.rsplit(':').next())
            .unwrap_or("unknown");
        let span = messaging::process_span(queue, message_id, batch_size, attempt as u64);
        let parent = propagation::extract_sqs_record(&record.message_attributes);
        let producer = parent.span().span_context().clone();
        if producer.is_valid() {
            // Parent: one click is one trace in Jaeger. Link: what the FaaS conventions ask.
            let _ = span.set_parent(parent);
            span.add_link(producer);
        }
        let result = self
            .process(record, attempt, &span)
            .instrument(span.clone())
            .await;
        match &result {
            Ok(outcome) => {
                tracing::info!(parent: &span, outcome = outcome.as_str(), "record processed");
            }
            Err(e) => record_error(&span, e.error_type(), e),
        }
        result
    }

    async fn process(
        &self,
        record: &SqsMessage,
        attempt: i32,
        span: &tracing::Span,
    ) -> Result<Outcome, RecordError> {
        let message = JobMessage::decode(record.body.as_deref().unwrap_or_default())?;
        span.record("job.id", message.job_id.to_string());
        span.record("job.kind", message.job.kind());
        let result = jobs::run(&self.db, &message, attempt).await;
        if let Err(e) = &result
            && let Err(db) =
                jobs::store::mark_failed(&self.db, message.job_id, attempt, &e.to_string()).await
        {
            tracing::warn!(error = %db, "could not record the failure");
        }
        result
    }
}

/// `ApproximateReceiveCount` (1 on the first delivery).
fn receive_count(record: &SqsMessage) -> i32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}
