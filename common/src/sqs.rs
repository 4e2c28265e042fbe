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
    /// Long polls (`WaitTimeSeconds` up to 20 s): an attempt may wait that long for its
    /// answer and 10 s more, never longer. The SDK sets no limit of its own, so a
    /// connection that stalls without closing would hold a poller for ever.
    LongPoll,
}

/// The longest a long poll waits for messages (SQS's own maximum `WaitTimeSeconds`).
pub const LONG_POLL_WAIT: Duration = Duration::from_secs(20);

/// The SDK's timeouts for `calls`.
pub fn timeouts(calls: Calls) -> TimeoutConfig {
    let timeouts = TimeoutConfig::builder().connect_timeout(Duration::from_secs(2));
    match calls {
        Calls::Quick => timeouts
            .operation_attempt_timeout(Duration::from_secs(3))
            .operation_timeout(Duration::from_secs(8)),
        Calls::LongPoll => timeouts
            .operation_attempt_timeout(LONG_POLL_WAIT + Duration::from_secs(10))
            .operation_timeout(3 * (LONG_POLL_WAIT + Duration::from_secs(10))),
    }
    .build()
}

pub async fn client(calls: Calls) -> aws_sdk_sqs::Client {
    let region = RegionProviderChain::default_provider().or_else("us-east-1");
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .timeout_config(timeouts(calls))
        .load()
        .await;
    aws_sdk_sqs::Client::new(&config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_has_an_end() {
        for calls in [Calls::Quick, Calls::LongPoll] {
            let t = timeouts(calls);
            let attempt = t.operation_attempt_timeout().expect("an attempt timeout");
            assert!(t.operation_timeout().expect("an operation timeout") >= attempt);
            if calls == Calls::LongPoll {
                assert!(attempt > LONG_POLL_WAIT, "a long poll must be let finish");
            }
        }
    }
}
