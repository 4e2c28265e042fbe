//! Invoking the function through the Lambda Invoke API, and reading its partial batch
//! response as Lambda does.

use std::collections::HashSet;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventSource, tests::message};

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
