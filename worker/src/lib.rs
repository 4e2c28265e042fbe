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
use common::{
    db::record_error,
    faults::{self, Fault},
    job::JobMessage,
    messaging, propagation, telemetry,
};
use lambda_runtime::LambdaEvent;
use opentelemetry::trace::TraceContextExt;
use sqlx::{PgPool, postgres::PgPoolOptions};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

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
    let telemetry = telemetry::Telemetry::init_with("todo-worker", Some(config::EXPORT_TIMEOUT))?;
    let worker = Worker::from_env()?;
    let provider = telemetry.provider();
    let meters = telemetry.meter_provider();
    let handler = service_fn(|event| worker.handle_batch(event));
    Runtime::new(handler)
        .layer(
            OpenTelemetryLayer::new(move || {
                // The `lost_spans` fault: the classic bug of not flushing here.
                if !telemetry::discarding_spans() {
                    telemetry::flush(&provider);
                }
                if let Some(meters) = &meters {
                    let _ = meters.force_flush();
                }
            })
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
    max_receive_count: i32,
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
        faults::install(
            faults::store::loader(db.clone()),
            config.faults_ttl,
            config.faults_seed,
        );
        Ok(Self {
            db,
            max_receive_count: config.max_receive_count,
        })
    }

    pub fn new(db: PgPool) -> Self {
        Self {
            db,
            max_receive_count: 3,
        }
    }

    /// One invocation: every record is processed; the failed ones are reported.
    pub async fn handle_batch(
        &self,
        event: LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        faults::refresh_if_stale().await;
        // Decided per invocation: a frozen Lambda loses all of an invocation's spans.
        match faults::active(Fault::LostSpans) {
            Some(fault) => {
                fault.mark(&tracing::Span::current());
                tracing::warn!("lost_spans: this invocation's spans will not be exported");
                telemetry::discard_spans(true);
            }
            None => telemetry::discard_spans(false),
        }
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
        let ctx = common::context::from_baggage(&parent);
        if let Some(user) = &ctx.user {
            span.record("enduser.id", user.as_str());
        }
        let producer = parent.span().span_context().clone();
        if producer.is_valid() {
            // Parent: one click is one trace in Jaeger. Link: what the FaaS conventions ask.
            let _ = span.set_parent(parent);
            span.add_link(producer);
        }
        let result = common::context::scope(ctx, self.process(record, attempt, &span))
            .instrument(span.clone())
            .await;
        match &result {
            Ok(outcome) => {
                common::metrics::job(span_kind(record), outcome.as_str());
                span.set_attribute("job.outcome", outcome.as_str());
                tracing::info!(parent: &span, outcome = outcome.as_str(), "record processed");
            }
            Err(e) => {
                let last = attempt >= self.max_receive_count;
                common::metrics::job(span_kind(record), if last { "dead" } else { "failed" });
                record_error(&span, e.error_type(), e);
                self.record_failure(record, attempt, e).await;
            }
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
        jobs::run(&self.db, &message, attempt, async || {
            if let Some(fault) = faults::active(Fault::WorkerError) {
                let fail_first = fault.param("fail_first_attempts");
                if fail_first == 0 || i64::from(attempt) <= fail_first as i64 {
                    fault.mark(span);
                    return Err(RecordError::Injected("worker_error"));
                }
            }
            if let Some(fault) = faults::active(Fault::WorkerTimeout)
                && i64::from(attempt) <= fault.param("attempts") as i64
            {
                fault.mark(span);
                // Outlive the visibility timeout: SQS hands the message to another poller.
                tokio::time::sleep(Duration::from_millis(fault.param("sleep_ms"))).await;
            }
            Ok(())
        })
        .await
    }

    /// Best effort: the job row shows the failure (`failed`, or `dead` on the attempt
    /// after which the queue moves the message to the DLQ).
    async fn record_failure(&self, record: &SqsMessage, attempt: i32, e: &RecordError) {
        let job_id = record
            .body
            .as_deref()
            .and_then(|b| JobMessage::decode(b).ok())
            .map(|m| m.job_id)
            .or_else(|| {
                record
                    .message_attributes
                    .get(messaging::JOB_ID_ATTRIBUTE)
                    .and_then(|a| a.string_value.as_deref())
                    .and_then(|v| Uuid::parse_str(v).ok())
            });
        let Some(job_id) = job_id else { return };
        let last = attempt >= self.max_receive_count;
        if let Err(db) =
            jobs::store::mark_failed(&self.db, job_id, attempt, &e.to_string(), last).await
        {
            tracing::warn!(error = %db, "could not record the failure");
        }
    }
}

/// The job kind a record claims, for metrics (`unreadable` when the body is not a job).
fn span_kind(record: &SqsMessage) -> &'static str {
    record
        .body
        .as_deref()
        .and_then(|b| JobMessage::decode(b).ok())
        .map(|m| m.job.kind())
        .unwrap_or("unreadable")
}

/// `ApproximateReceiveCount` (1 on the first delivery).
fn receive_count(record: &SqsMessage) -> i32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}
