//! The jobs queue: SendMessage in a PRODUCER span with the trace context (and the
//! work's user and fault scope, as baggage) injected into message attributes; the
//! dead-letter queue's depth and messages. Applies the queue faults (`queue_unavailable`,
//! `broken_propagation`, `poison_message`) through the [`Faults`] handle it holds.

use std::collections::HashMap;

use aws_sdk_sqs::{
    Client,
    types::{MessageAttributeValue, QueueAttributeName},
};
use common::{
    context::RequestContext,
    faults::{Fault, Faults},
    job::JobMessage,
    messaging, propagation,
    spans::record_error,
};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

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
        }
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

    /// Job ids of up to 10 DLQ messages, then hidden for `hide_secs`.
    pub async fn scan_dlq(&self, hide_secs: i32) -> Result<Vec<uuid::Uuid>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(hide_secs)
            .message_attribute_names(messaging::JOB_ID_ATTRIBUTE)
            .send()
            .await
            .map_err(|e| QueueError::new("ReceiveMessage", e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .iter()
            .filter_map(|m| {
                m.message_attributes()?
                    .get(messaging::JOB_ID_ATTRIBUTE)?
                    .string_value()
            })
            .filter_map(|id| uuid::Uuid::parse_str(id).ok())
            .collect())
    }

    /// Deletes the DLQ message(s) of `job_id` (best effort: looks at up to 100
    /// messages; the others become visible again at once).
    pub async fn remove_from_dlq(&self, job_id: uuid::Uuid) {
        let wanted = job_id.to_string();
        for _ in 0..10 {
            let Ok(out) = self
                .client
                .receive_message()
                .queue_url(&self.dlq_url)
                .max_number_of_messages(10)
                .visibility_timeout(0)
                .message_attribute_names(messaging::JOB_ID_ATTRIBUTE)
                .send()
                .await
            else {
                return;
            };
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return;
            }
            for m in &messages {
                let id = m
                    .message_attributes()
                    .and_then(|a| a.get(messaging::JOB_ID_ATTRIBUTE))
                    .and_then(|v| v.string_value());
                if id == Some(wanted.as_str())
                    && let Some(handle) = m.receipt_handle()
                {
                    let _ = self
                        .client
                        .delete_message()
                        .queue_url(&self.dlq_url)
                        .receipt_handle(handle)
                        .send()
                        .await;
                    return;
                }
            }
        }
    }

    /// Sends one job for the work of `ctx` in a PRODUCER span under the current span;
    /// returns the SQS message id.
    pub async fn send(
        &self,
        ctx: &RequestContext,
        message: &JobMessage,
    ) -> Result<String, QueueError> {
        let mut span = messaging::send_span(&self.name);
        span.record("job.id", message.job_id.to_string());
        span.record("job.kind", message.job.kind());
        if let Some(fault) = self.faults.active(Fault::QueueUnavailable, ctx) {
            fault.mark(&mut span);
            let e = QueueError {
                operation: "SendMessage",
                message: "connection refused: queue unavailable (fault injected)".into(),
            };
            record_error(&mut span, "queue_unavailable", &e);
            return Err(e);
        }
        let mut attributes = match self.faults.active(Fault::BrokenPropagation, ctx) {
            Some(fault) => {
                fault.mark(&mut span);
                HashMap::new()
            }
            None => propagation::inject_sqs_attributes(&ctx.into_baggage(span.context()), 1),
        };
        if let Ok(id) = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(message.job_id.to_string())
            .build()
        {
            attributes.insert(messaging::JOB_ID_ATTRIBUTE.to_owned(), id);
        }
        let body = match self.faults.active(Fault::PoisonMessage, ctx) {
            Some(fault) => {
                fault.mark(&mut span);
                poison(message)
            }
            None => message.encode(),
        };
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
    pub async fn ping(&self, ctx: &RequestContext) -> Result<(), QueueError> {
        if self.faults.active(Fault::QueueUnavailable, ctx).is_some() {
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
