//! The jobs queue: SendMessage in a PRODUCER span with the trace context (and the
//! work's user and fault scope, as baggage) injected into message attributes; the
//! dead-letter queue's depth and messages. Applies the queue faults (`queue_unavailable`,
//! `broken_propagation`, `poison_message`) through the [`Faults`] handle it holds.

use std::{collections::HashMap, sync::Arc};

use aws_sdk_sqs::{
    Client,
    types::{ChangeMessageVisibilityBatchRequestEntry, MessageAttributeValue, QueueAttributeName},
};
use common::{
    cost::{Billed, UsageObserver},
    faults::{Fault, Faults},
    job::JobMessage,
    messaging,
    session::Session,
    spans::record_error,
    telemetry::propagation,
};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A pass through the DLQ reads at most this many receives of ten messages.
pub const DLQ_MAX_PAGES: usize = 10;
/// How long a pass hides what it has read: until the pass ends, which shows them again,
/// or this long if the process stops in between.
const DLQ_PASS_HIDE_SECS: i32 = 30;

#[derive(Debug, thiserror::Error)]
#[error("SQS {operation} failed: {message}")]
pub struct QueueError {
    operation: &'static str,
    message: String,
}

impl QueueError {
    fn new(operation: &'static str, e: impl std::error::Error) -> Self {
        // The SDK's Display is terse ("service error"); the source chain says why.
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Self { operation, message }
    }
}

#[derive(Clone)]
pub struct JobQueue {
    client: Client,
    url: String,
    name: String,
    dlq_url: String,
    faults: Faults,
    /// Told of every SendMessage (what a user costs).
    observer: Option<Arc<dyn UsageObserver>>,
}

impl JobQueue {
    /// `client` from `common::sqs::client(Calls::Quick)`: a request waits on its sends.
    pub fn new(client: Client, url: String, dlq_url: String, faults: Faults) -> Self {
        let name = messaging::queue_name(&url).to_owned();
        Self {
            client,
            url,
            name,
            dlq_url,
            faults,
            observer: None,
        }
    }

    /// The same queue, with `observer` told of every job sent.
    pub fn observed_by(mut self, observer: Arc<dyn UsageObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Messages waiting in the dead-letter queue.
    pub async fn dlq_depth(&self) -> Result<u64, QueueError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.dlq_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| QueueError::new("GetQueueAttributes", e))?;
        Ok(out
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Job ids of the messages in the dead-letter queue (up to [`DLQ_MAX_PAGES`] × 10),
    /// left there as they were.
    pub async fn scan_dlq(&self) -> Result<Vec<uuid::Uuid>, QueueError> {
        self.page_dlq(|_| false).await
    }

    /// Deletes the DLQ message(s) of `job_id` (best effort: a DLQ larger than a pass
    /// reads keeps what lies beyond).
    pub async fn remove_from_dlq(&self, job_id: uuid::Uuid) {
        if let Err(e) = self.page_dlq(|id| id == job_id).await {
            tracing::warn!(error = %e, %job_id, "could not remove the job's message from the DLQ");
        }
    }

    /// One pass through the DLQ: each receive hides what it returned, so that the next
    /// returns other messages (a receive that hides nothing may return the same first ten
    /// every time: ElasticMQ and moto do), the messages of the jobs `remove` names are
    /// deleted, and every other one is made visible again before the pass ends. The job
    /// ids of the messages seen.
    async fn page_dlq(
        &self,
        remove: impl Fn(uuid::Uuid) -> bool,
    ) -> Result<Vec<uuid::Uuid>, QueueError> {
        let mut ids = Vec::new();
        let mut kept = Vec::new();
        let mut failed = None;
        for _ in 0..DLQ_MAX_PAGES {
            let out = match self
                .client
                .receive_message()
                .queue_url(&self.dlq_url)
                .max_number_of_messages(10)
                .visibility_timeout(DLQ_PASS_HIDE_SECS)
                .message_attribute_names(messaging::JOB_ID_ATTRIBUTE)
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) => {
                    failed = Some(QueueError::new("ReceiveMessage", e));
                    break;
                }
            };
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                let Some(handle) = m.receipt_handle else {
                    continue;
                };
                let id = m
                    .message_attributes
                    .as_ref()
                    .and_then(|a| a.get(messaging::JOB_ID_ATTRIBUTE))
                    .and_then(|v| v.string_value())
                    .and_then(|id| uuid::Uuid::parse_str(id).ok());
                match id {
                    Some(id) if remove(id) => self.delete_from_dlq(&handle).await,
                    _ => kept.push(handle),
                }
                ids.extend(id);
            }
        }
        self.show_again(&kept).await;
        match failed {
            Some(e) if ids.is_empty() => Err(e),
            Some(e) => {
                // What was read still counts; what lay beyond waits for the next pass.
                tracing::warn!(error = %e, read = ids.len(), "a pass through the DLQ was cut short");
                Ok(ids)
            }
            None => Ok(ids),
        }
    }

    async fn delete_from_dlq(&self, handle: &str) {
        if let Err(e) = self
            .client
            .delete_message()
            .queue_url(&self.dlq_url)
            .receipt_handle(handle)
            .send()
            .await
        {
            tracing::warn!(error = %QueueError::new("DeleteMessage", e), "a DLQ message stays");
        }
    }

    /// Makes the DLQ messages a pass hid visible again (if this fails, they come back
    /// when their hiding runs out).
    async fn show_again(&self, handles: &[String]) {
        for chunk in handles.chunks(10) {
            let entries = chunk.iter().enumerate().filter_map(|(i, handle)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .build()
                    .ok()
            });
            match self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.dlq_url)
                .set_entries(Some(entries.collect()))
                .send()
                .await
            {
                // A batch call succeeds even when some of its entries fail.
                Ok(out) if !out.failed().is_empty() => tracing::warn!(
                    failed = out.failed().len(),
                    "DLQ messages stay hidden until their visibility timeout"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    error = %QueueError::new("ChangeMessageVisibilityBatch", e),
                    "DLQ messages stay hidden until their visibility timeout"
                ),
            }
        }
    }

    /// Sends one job for the work of `session` in a PRODUCER span under the current span;
    /// returns the SQS message id.
    pub async fn send(
        &self,
        session: &Session,
        message: &JobMessage,
    ) -> Result<String, QueueError> {
        let mut span = messaging::send_span(&self.name);
        span.record("job.id", message.job_id.to_string());
        span.record("job.kind", message.job.kind());
        if let Some(fault) = self.faults.active(Fault::QueueUnavailable, session) {
            fault.mark(&mut span);
            let e = QueueError {
                operation: "SendMessage",
                message: "connection refused: queue unavailable (fault injected)".into(),
            };
            record_error(&mut span, "queue_unavailable", &e);
            return Err(e);
        }
        let mut attributes = match self.faults.active(Fault::BrokenPropagation, session) {
            Some(fault) => {
                fault.mark(&mut span);
                HashMap::new()
            }
            None => propagation::inject_sqs_attributes(&session.into_baggage(span.context()), 1),
        };
        if let Ok(id) = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(message.job_id.to_string())
            .build()
        {
            attributes.insert(messaging::JOB_ID_ATTRIBUTE.to_owned(), id);
        }
        let body = match self.faults.active(Fault::PoisonMessage, session) {
            Some(fault) => {
                fault.mark(&mut span);
                poison(message)
            }
            None => message.encode(),
        };
        if let Some(observer) = &self.observer {
            observer.billed(session.owner(), Billed::SqsRequest);
        }
        let result = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .set_message_attributes(Some(attributes))
            .send()
            .instrument(span.clone())
            .await;
        match result {
            Ok(out) => {
                let id = out.message_id().unwrap_or_default().to_owned();
                span.record("messaging.message.id", id.as_str());
                Ok(id)
            }
            Err(e) => {
                let e = QueueError::new("SendMessage", e);
                record_error(&mut span, "sqs_send_failed", &e);
                Err(e)
            }
        }
    }

    /// Readiness: can we reach the queue?
    pub async fn ping(&self, session: &Session) -> Result<(), QueueError> {
        if self
            .faults
            .active(Fault::QueueUnavailable, session)
            .is_some()
        {
            return Err(QueueError {
                operation: "GetQueueAttributes",
                message: "queue unavailable (fault injected)".into(),
            });
        }
        self.client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError::new("GetQueueAttributes", e))
    }
}

/// What a producer bug might send: the right envelope with a field the worker can
/// never read (`todo_id` is not a UUID), so every attempt fails and redrive takes it
/// to the DLQ.
fn poison(message: &JobMessage) -> String {
    let mut value = serde_json::to_value(message).unwrap_or_default();
    value["todo_id"] = serde_json::Value::from("\u{1F480} not-a-uuid");
    value.to_string()
}
