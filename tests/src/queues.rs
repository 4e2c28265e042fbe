//! Queue pairs on the SQS API (moto, ElasticMQ): a fresh jobs queue and its DLQ per test.

use aws_sdk_sqs::types::QueueAttributeName;

use crate::services;

pub async fn client(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// `jobs-<random>` and `jobs-<random>-dlq`, redriven after `max_receive_count`
/// receives: (queue name, queue URL, DLQ URL).
pub async fn fresh_pair(
    sqs: &aws_sdk_sqs::Client,
    endpoint: &str,
    visibility_timeout: u32,
    max_receive_count: u32,
) -> (String, String, String) {
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let name = format!("jobs-{suffix}");
    let dlq = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .unwrap_or_else(|e| {
            services::unreachable(
                "The SQS API",
                endpoint,
                aws_sdk_sqs::error::DisplayErrorContext(e),
            )
        });
    let dlq_url = dlq.queue_url().expect("DLQ URL").to_owned();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("DLQ ARN")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("QueueArn attribute");
    let redrive = serde_json::json!({
        "deadLetterTargetArn": arn,
        "maxReceiveCount": max_receive_count.to_string(),
    });
    let queue = sqs
        .create_queue()
        .queue_name(&name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout.to_string(),
        )
        .send()
        .await
        .expect("CreateQueue");
    let url = queue.queue_url().expect("queue URL").to_owned();
    (name, url, dlq_url)
}

/// Messages visible + in flight in a queue.
pub async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("GetQueueAttributes");
    out.attributes()
        .map(|a| a.values().filter_map(|v| v.parse::<u64>().ok()).sum())
        .unwrap_or(0)
}
