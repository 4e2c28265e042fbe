//! esm's configuration: every environment variable it reads, with its default.
//! `esm --print-env` lists them.

use std::time::Duration;

use common::config::{self, ConfigError};

#[derive(clap::Parser, Debug, Clone)]
#[command(about = "The local event source mapping: SQS → the function's Invoke API")]
pub struct Config {
    /// The queue to poll
    #[arg(long, env = "JOBS_QUEUE_URL", default_value = config::DEFAULT_JOBS_QUEUE_URL, value_parser = config::http_url)]
    pub queue_url: String,
    /// The function's Invoke API (`cargo lambda watch --only-lambda-apis` serves it as `_`)
    #[arg(long, env = "ESM_FUNCTION_URL", default_value = "http://127.0.0.1:9000/2015-03-31/functions/_/invocations", value_parser = config::http_url)]
    pub function_url: String,
    /// Records per invocation
    #[arg(long, env = "ESM_BATCH_SIZE", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub batch_size: u16,
    /// How long to gather a batch after the first message, ms
    #[arg(long, env = "ESM_BATCH_WINDOW_MS", default_value_t = 0)]
    pub batch_window_ms: u64,
    /// The function's timeout, ms
    #[arg(long, env = "ESM_INVOKE_TIMEOUT_MS", default_value_t = 60_000)]
    pub invoke_timeout_ms: u64,
    /// Pollers invoking in parallel
    #[arg(long, env = "ESM_CONCURRENCY", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=20))]
    pub concurrency: u16,
    /// Goes into each record's `awsRegion` and ARN (the AWS SDK reads it too)
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        config::load("esm", &[config::AWS_SDK_VARS, config::LOG_VARS])
    }

    pub fn batch_window(&self) -> Duration {
        Duration::from_millis(self.batch_window_ms)
    }

    pub fn invoke_timeout(&self) -> Duration {
        Duration::from_millis(self.invoke_timeout_ms)
    }
}
