//! Messaging spans by the OpenTelemetry messaging semantic conventions (AWS SQS).

use tracing::{Span, field::Empty};

pub const SYSTEM: &str = "aws_sqs";

/// Message attribute with the job id, so even a body the worker cannot read can be
/// matched to its job row (e.g. to show it dead-lettered).
pub const JOB_ID_ATTRIBUTE: &str = "job_id";

/// The queue name is the last path segment of its URL.
pub fn queue_name(queue_url: &str) -> &str {
    queue_url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(queue_url)
}

/// PRODUCER span `send {queue}`; record `messaging.message.id` once SQS answers.
pub fn send_span(queue: &str) -> Span {
    tracing::info_span!(
        "messaging.send",
        otel.name = format!("send {queue}"),
        otel.kind = "producer",
        messaging.system = SYSTEM,
        messaging.operation.type = "send",
        messaging.operation.name = "SendMessage",
        messaging.destination.name = queue,
        messaging.message.id = Empty,
        job.id = Empty,
        job.kind = Empty,
        enduser.id = Empty,
        error.type = Empty,
    )
}

/// CONSUMER span `process {queue}` for one SQS record.
pub fn process_span(queue: &str, message_id: &str, batch_size: usize, receive_count: u64) -> Span {
    tracing::info_span!(
        "messaging.process",
        otel.name = format!("process {queue}"),
        otel.kind = "consumer",
        messaging.system = SYSTEM,
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = queue,
        messaging.message.id = message_id,
        messaging.batch.message_count = batch_size as i64,
        messaging.aws_sqs.approximate_receive_count = receive_count as i64,
        job.id = Empty,
        job.kind = Empty,
        enduser.id = Empty,
        error.type = Empty,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn queue_name_is_last_segment() {
        assert_eq!(
            super::queue_name("http://localhost:9324/123456789012/jobs"),
            "jobs"
        );
        assert_eq!(super::queue_name("https://sqs/1/jobs-dlq/"), "jobs-dlq");
        assert_eq!(super::queue_name("jobs"), "jobs");
    }
}
