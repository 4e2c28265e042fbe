//! [`Worker::handle_batch`]: one Lambda invocation. Each record is processed in its own
//! CONSUMER span, whose parent is the trace context carried in the message attributes
//! (so one click is one trace) and which also links to it (as the FaaS conventions
//! prescribe). Failed records are returned in `batchItemFailures`; the rest of the
//! batch succeeds.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use common::{
    cost::Prices,
    db::{Database, Db},
    faults::{Fault, Faults},
    files::Bucket,
    job::JobMessage,
    messaging,
    metrics::Metrics,
    session::Session,
    spans::record_error,
    telemetry::{SpanGate, propagation},
};
use lambda_runtime::LambdaEvent;
use opentelemetry::trace::TraceContextExt;
use sqlx::PgPool;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

use crate::{
    config::DEFAULT_MAX_RECEIVE_COUNT, error::RecordError, jobs, jobs::Outcome, usage::UsageMeter,
};

/// Everything an invocation uses, made once per Lambda instance (at its cold start).
#[derive(Clone)]
pub struct Worker {
    pub db: Database,
    pub faults: Faults,
    pub metrics: Metrics,
    /// The `lost_spans` fault closes it for an invocation.
    pub spans: SpanGate,
    /// The queue's redrive `maxReceiveCount`.
    pub max_receive_count: i32,
    /// Attachments' objects (`ATTACHMENTS_BUCKET`); `None` in tests of other jobs.
    pub files: Option<Bucket>,
    /// What each user's records use (observes the database and the bucket too).
    pub usage: UsageMeter,
    /// The function's memory (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`), MB: what Lambda bills.
    pub memory_mb: i64,
    /// `PRICES`, for the cost metric.
    pub prices: Prices,
}

impl Worker {
    /// A worker on `pool` with no faults, no metrics and the default redrive: the
    /// batch handling alone (tests).
    pub fn on_pool(pool: PgPool) -> Self {
        let faults = Faults::off();
        let metrics = Metrics::disabled();
        let usage = UsageMeter::default();
        Self {
            db: Database::new(pool, faults.clone(), metrics.clone())
                .observed_by(Arc::new(usage.clone())),
            faults,
            metrics,
            spans: SpanGate::default(),
            max_receive_count: DEFAULT_MAX_RECEIVE_COUNT,
            files: None,
            usage,
            memory_mb: 128,
            prices: Prices::default(),
        }
    }

    /// One invocation: every record is processed; the failed ones are reported.
    pub async fn handle_batch(
        &self,
        event: LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        self.faults.refresh_if_stale().await;
        // Decided per invocation: a frozen Lambda loses all of an invocation's spans.
        match self.faults.active(Fault::LostSpans, &Session::default()) {
            Some(fault) => {
                fault.mark(&mut opentelemetry::Context::current());
                tracing::warn!("lost_spans: this invocation's spans will not be exported");
                self.spans.discard(true);
            }
            None => self.spans.discard(false),
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
            if self
                .handle_record(record, message_id, batch_size)
                .await
                .is_err()
            {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message_id.to_owned();
                response.batch_item_failures.push(failure);
            }
        }
        self.usage
            .write(&self.db, &self.prices, &self.metrics)
            .await;
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
        // Whose job it is and its fault scope came along as W3C baggage.
        let db = self.db.for_work(Session::from_baggage(&parent));
        if let Some(user) = &db.session().user {
            span.record("enduser.id", user.as_str());
        }
        let producer = parent.span().span_context().clone();
        if producer.is_valid() {
            // Parent: one click is one trace in Jaeger. Link: what the FaaS conventions ask.
            let _ = span.set_parent(parent);
            span.add_link(producer);
        }
        let started = Instant::now();
        let result = self
            .process(&db, record, attempt, &span)
            .instrument(span.clone())
            .await;
        match &result {
            Ok(outcome) => {
                self.metrics.job(job_kind(record), outcome.as_str());
                span.set_attribute("job.outcome", outcome.as_str());
                // Inside the CONSUMER span: the line carries the click's trace id.
                span.in_scope(|| tracing::info!(outcome = outcome.as_str(), "record processed"));
            }
            Err(e) => {
                let last = attempt >= self.max_receive_count;
                self.metrics
                    .job(job_kind(record), if last { "dead" } else { "failed" });
                record_error(&mut span.clone(), e.error_type(), e);
                span.in_scope(
                    || tracing::warn!(message.id = message_id, error = %e, "record failed"),
                );
                self.record_failure(&db, record, attempt, e).await;
            }
        }
        self.usage.record(
            db.session().user.as_deref(),
            started.elapsed(),
            self.memory_mb,
            result.is_ok(),
        );
        result
    }

    async fn process(
        &self,
        db: &Db,
        record: &SqsMessage,
        attempt: i32,
        span: &tracing::Span,
    ) -> Result<Outcome, RecordError> {
        let message = JobMessage::decode(record.body.as_deref().unwrap_or_default())?;
        span.record("job.id", message.job_id.to_string());
        span.record("job.kind", message.job.kind());
        jobs::run(db, self.files.as_ref(), &message, attempt, async || {
            if let Some(fault) = db.fault(Fault::WorkerError) {
                let fail_first = fault.param("fail_first_attempts");
                if fail_first == 0 || i64::from(attempt) <= fail_first as i64 {
                    fault.mark(&mut span.clone());
                    return Err(RecordError::Injected("worker_error"));
                }
            }
            if let Some(fault) = db.fault(Fault::WorkerTimeout)
                && i64::from(attempt) <= fault.param("attempts") as i64
            {
                fault.mark(&mut span.clone());
                // Outlive the visibility timeout: SQS hands the message to another poller.
                tokio::time::sleep(Duration::from_millis(fault.param("sleep_ms"))).await;
            }
            Ok(())
        })
        .await
    }

    /// Best effort: the job row shows the failure (`failed`, or `dead` on the attempt
    /// after which the queue moves the message to the DLQ).
    async fn record_failure(&self, db: &Db, record: &SqsMessage, attempt: i32, e: &RecordError) {
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
        if let Err(err) = jobs::store::mark_failed(db, job_id, attempt, &e.to_string(), last).await
        {
            tracing::warn!(error = %err, "could not record the failure");
        }
    }
}

/// The job kind a record claims, for metrics (`unreadable` when the body is not a job).
fn job_kind(record: &SqsMessage) -> &'static str {
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
