//! The jobs queue: SendMessage with a PRODUCER span and the trace context injected.

use std::time::Duration;

use aws_config::{BehaviorVersion, meta::region::RegionProviderChain, timeout::TimeoutConfig};
use aws_sdk_sqs::{Client, types::QueueAttributeName};
use common::{db::record_error, job::JobMessage, messaging, propagation};
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
}

/// The AWS SDK client from its own environment variables (`AWS_REGION`,
/// `AWS_ENDPOINT_URL_SQS`, credentials…), with short timeouts so that an SQS outage
/// costs a request a few seconds, not the SDK's defaults.
pub async fn sqs_client() -> Client {
    let region = RegionProviderChain::default_provider().or_else("us-east-1");
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(8))
        .build();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .timeout_config(timeouts)
        .load()
        .await;
    Client::new(&config)
}

impl JobQueue {
    pub fn new(client: Client, url: String) -> Self {
        let name = messaging::queue_name(&url).to_owned();
        Self { client, url, name }
    }

    /// Sends one job; returns the SQS message id.
    pub async fn send(&self, message: &JobMessage) -> Result<String, QueueError> {
        let span = messaging::send_span(&self.name);
        span.record("job.id", message.job_id.to_string());
        span.record("job.kind", message.job.kind());
        let attributes = propagation::inject_sqs_attributes(&span.context(), 0);
        let result = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(message.encode())
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
                record_error(&span, "sqs_send_failed", &e);
                Err(e)
            }
        }
    }

    /// Readiness: can we reach the queue?
    pub async fn ping(&self) -> Result<(), QueueError> {
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
