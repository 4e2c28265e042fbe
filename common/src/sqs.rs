//! The SQS client, built once per process from the AWS SDK's own environment variables
//! (`AWS_REGION`, `AWS_ENDPOINT_URL_SQS`, credentials…).

use std::time::Duration;

use aws_config::{BehaviorVersion, meta::region::RegionProviderChain, timeout::TimeoutConfig};

/// How long calls may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calls {
    /// Sends and pings that a request waits for: 3 s an attempt, 8 s in all, so that an
    /// SQS outage costs a request a few seconds, not the SDK's defaults.
    Quick,
    /// Long polls (`WaitTimeSeconds` up to 20 s): the SDK's defaults.
    LongPoll,
}

pub async fn client(calls: Calls) -> aws_sdk_sqs::Client {
    let region = RegionProviderChain::default_provider().or_else("us-east-1");
    let mut timeouts = TimeoutConfig::builder().connect_timeout(Duration::from_secs(2));
    if calls == Calls::Quick {
        timeouts = timeouts
            .operation_attempt_timeout(Duration::from_secs(3))
            .operation_timeout(Duration::from_secs(8));
    }
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .timeout_config(timeouts.build())
        .load()
        .await;
    aws_sdk_sqs::Client::new(&config)
}
