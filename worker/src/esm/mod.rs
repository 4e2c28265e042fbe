//! `esm`: a local stand-in for Lambda's SQS event source mapping.
//!
//! Long-polls the queue, builds `SqsEvent` records the way AWS does, invokes the
//! function through the Lambda Invoke API (served by `cargo lambda watch` natively and
//! by the runtime interface emulator in containers), deletes the records that succeeded
//! and leaves the failed ones to reappear after the visibility timeout, so the queue's
//! redrive policy moves poison messages to the DLQ. In AWS the real mapping does this.

mod poller;

pub use poller::main;

use std::{collections::HashSet, time::Duration};

use aws_config::{BehaviorVersion, meta::region::RegionProviderChain};
use aws_lambda_events::{
    encodings::Base64Data,
    sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute},
};
use aws_sdk_sqs::types::Message;
use common::config::{self, ConfigError};

/// `cargo lambda watch --only-lambda-apis` (scripts/dev) serves the function as `_`.
pub const DEFAULT_FUNCTION_URL: &str = "http://127.0.0.1:9000/2015-03-31/functions/_/invocations";
pub const DEFAULT_QUEUE_URL: &str = "http://localhost:9324/123456789012/jobs";

#[derive(Debug, Clone)]
pub struct EsmConfig {
    /// `JOBS_QUEUE_URL`
    pub queue_url: String,
    /// `ESM_FUNCTION_URL`: the function's Invoke API URL.
    pub function_url: String,
    /// `ESM_BATCH_SIZE` (10; 1..=100)
    pub batch_size: usize,
    /// `ESM_BATCH_WINDOW_MS` (0): how long to gather a batch after the first message.
    pub batch_window: Duration,
    /// `ESM_INVOKE_TIMEOUT_MS` (60000): the function's timeout.
    pub invoke_timeout: Duration,
    /// `AWS_REGION` (us-east-1): goes into each record's `awsRegion` and ARN.
    pub region: String,
    /// `ESM_CONCURRENCY` (2; 1..=20): pollers, each invoking the function on its own.
    pub concurrency: usize,
}

impl EsmConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let batch_size: usize = config::parse_or("ESM_BATCH_SIZE", 10)?;
        if !(1..=100).contains(&batch_size) {
            return Err(ConfigError::Invalid {
                name: "ESM_BATCH_SIZE",
                value: batch_size.to_string(),
                reason: "must be between 1 and 100".into(),
            });
        }
        Ok(Self {
            queue_url: config::http_url_or("JOBS_QUEUE_URL", DEFAULT_QUEUE_URL)?,
            function_url: config::http_url_or("ESM_FUNCTION_URL", DEFAULT_FUNCTION_URL)?,
            batch_size,
            batch_window: Duration::from_millis(config::parse_or("ESM_BATCH_WINDOW_MS", 0)?),
            invoke_timeout: Duration::from_millis(config::parse_or(
                "ESM_INVOKE_TIMEOUT_MS",
                60_000,
            )?),
            region: config::var_or("AWS_REGION", "us-east-1"),
            concurrency: match config::parse_or("ESM_CONCURRENCY", 2)? {
                n @ 1..=20 => n,
                n => {
                    return Err(ConfigError::Invalid {
                        name: "ESM_CONCURRENCY",
                        value: n.to_string(),
                        reason: "must be between 1 and 20".into(),
                    });
                }
            },
        })
    }
}

pub async fn sqs_client() -> aws_sdk_sqs::Client {
    let region = RegionProviderChain::default_provider().or_else("us-east-1");
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .load()
        .await;
    aws_sdk_sqs::Client::new(&config)
}

/// Where records say they come from.
#[derive(Debug, Clone)]
pub struct EventSource {
    pub arn: String,
    pub region: String,
}

impl EventSource {
    /// `https://sqs.{region}.amazonaws.com/{account}/{name}` → `arn:aws:sqs:{region}:{account}:{name}`.
    pub fn from_queue_url(queue_url: &str, region: &str) -> Self {
        let mut segments = queue_url.trim_end_matches('/').rsplit('/');
        let name = segments.next().unwrap_or("queue");
        let account = segments
            .next()
            .filter(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or("000000000000");
        Self {
            arn: format!("arn:aws:sqs:{region}:{account}:{name}"),
            region: region.to_owned(),
        }
    }

    /// The event Lambda's SQS trigger would send for these messages.
    pub fn event(&self, messages: &[Message]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = messages.iter().map(|m| self.record(m)).collect();
        event
    }

    fn record(&self, m: &Message) -> SqsMessage {
        let mut r = SqsMessage::default();
        r.message_id = m.message_id.clone();
        r.receipt_handle = m.receipt_handle.clone();
        r.body = m.body.clone();
        r.md5_of_body = m.md5_of_body.clone();
        r.md5_of_message_attributes = m.md5_of_message_attributes.clone();
        r.attributes = m
            .attributes()
            .map(|a| {
                a.iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        r.message_attributes = m
            .message_attributes()
            .map(|attrs| {
                attrs
                    .iter()
                    .map(|(k, v)| {
                        let mut a = SqsMessageAttribute::default();
                        a.data_type = Some(v.data_type().to_owned());
                        a.string_value = v.string_value().map(str::to_owned);
                        a.binary_value = v.binary_value().map(|b| {
                            let mut data = Base64Data::default();
                            *data = b.as_ref().to_vec();
                            data
                        });
                        (k.clone(), a)
                    })
                    .collect()
            })
            .unwrap_or_default();
        r.event_source = Some("aws:sqs".into());
        r.event_source_arn = Some(self.arn.clone());
        r.aws_region = Some(self.region.clone());
        r
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("invoke request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("function error (HTTP {status}): {body}")]
    Function { status: u16, body: String },
}

/// Invokes the function; returns the ids of the records that failed.
pub async fn invoke(
    http: &reqwest::Client,
    url: &str,
    event: &SqsEvent,
) -> Result<HashSet<String>, InvokeError> {
    let response = http.post(url).json(event).send().await?;
    let status = response.status();
    let function_error = response.headers().contains_key("x-amz-function-error");
    let body = response.text().await?;
    if !status.is_success() || function_error {
        return Err(InvokeError::Function {
            status: status.as_u16(),
            body: body.chars().take(500).collect(),
        });
    }
    Ok(failed_ids(event, &body))
}

/// Reads a partial batch response as Lambda does: no body or an empty list means all
/// succeeded; a response that cannot be read, or that names an id not in the batch,
/// fails the whole batch (nothing is deleted, nothing is lost).
pub fn failed_ids(event: &SqsEvent, body: &str) -> HashSet<String> {
    let all = || {
        event
            .records
            .iter()
            .filter_map(|r| r.message_id.clone())
            .collect::<HashSet<_>>()
    };
    let body = body.trim();
    if body.is_empty() || body == "null" {
        return HashSet::new();
    }
    let Ok(response) = serde_json::from_str::<SqsBatchResponse>(body) else {
        tracing::warn!(body, "unreadable batch response; failing the whole batch");
        return all();
    };
    let ids: HashSet<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    let known = all();
    if ids.iter().any(|id| !known.contains(id)) {
        tracing::warn!("batch response names an unknown record; failing the whole batch");
        return known;
    }
    ids
}

/// SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};

    fn message(id: &str) -> Message {
        Message::builder()
            .message_id(id)
            .receipt_handle(format!("rh-{id}"))
            .body("{}")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
            .message_attributes(
                "traceparent",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                    .build()
                    .unwrap(),
            )
            .build()
    }

    #[test]
    fn records_look_like_lambdas() {
        let source =
            EventSource::from_queue_url("http://localhost:9324/123456789012/jobs", "eu-west-1");
        assert_eq!(source.arn, "arn:aws:sqs:eu-west-1:123456789012:jobs");
        let event = source.event(&[message("a")]);
        let json = serde_json::to_value(&event).unwrap();
        let r = &json["Records"][0];
        assert_eq!(r["messageId"], "a");
        assert_eq!(r["receiptHandle"], "rh-a");
        assert_eq!(r["eventSource"], "aws:sqs");
        assert_eq!(
            r["eventSourceARN"],
            "arn:aws:sqs:eu-west-1:123456789012:jobs"
        );
        assert_eq!(r["awsRegion"], "eu-west-1");
        assert_eq!(r["attributes"]["ApproximateReceiveCount"], "2");
        assert_eq!(r["messageAttributes"]["traceparent"]["dataType"], "String");
        assert!(
            r["messageAttributes"]["traceparent"]["stringValue"]
                .as_str()
                .unwrap()
                .starts_with("00-4bf9")
        );
    }

    #[test]
    fn partial_batch_response_is_read_like_lambda() {
        let source = EventSource::from_queue_url("http://h/1/q", "us-east-1");
        let event = source.event(&[message("a"), message("b")]);
        assert!(failed_ids(&event, "").is_empty());
        assert!(failed_ids(&event, "null").is_empty());
        assert!(failed_ids(&event, r#"{"batchItemFailures":[]}"#).is_empty());
        assert_eq!(
            failed_ids(&event, r#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#),
            HashSet::from(["b".to_owned()])
        );
        // Unreadable or unknown ids: everything is retried, nothing deleted.
        assert_eq!(failed_ids(&event, "{oops").len(), 2);
        assert_eq!(
            failed_ids(&event, r#"{"batchItemFailures":[{"itemIdentifier":"zz"}]}"#).len(),
            2
        );
    }
}
