//! The worker's configuration: every environment variable it reads, with its default.
//! `worker --print-env` lists them (with what the Lambda runtime sets).

use common::config::{self, ConfigError, DatabaseArgs, FaultArgs, PriceArgs};

pub const DEFAULT_MAX_RECEIVE_COUNT: i32 = 3;

/// Each OTLP export's timeout (traces, then metrics) unless `OTEL_EXPORTER_OTLP_TIMEOUT`
/// says otherwise. The function flushes both at the end of each invocation, inside its
/// timeout, so a stalled collector costs it twice this: well inside the function's 5 s
/// (infra/template.yaml). The SDK's 10 s would turn finished work into a timed-out
/// invocation: a reset environment, lost spans, and in the worst case a retried batch.
pub const EXPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1000);

/// Variables the Lambda runtime (or `cargo lambda watch`, or the runtime interface
/// emulator) sets; lambda_runtime panics without them.
const LAMBDA_VARIABLES: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

#[derive(clap::Parser, Debug, Clone)]
#[command(about = "traced-todo's worker: a Lambda function fed by the SQS jobs queue")]
pub struct Config {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Database connections (one invocation at a time per Lambda instance)
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 2)]
    pub database_pool_size: u32,
    /// The queue's redrive `maxReceiveCount`: a record failing on that attempt is about
    /// to be dead-lettered, and its job is marked `dead`
    #[arg(long, env = "MAX_RECEIVE_COUNT", default_value_t = DEFAULT_MAX_RECEIVE_COUNT)]
    pub max_receive_count: i32,
    #[command(flatten)]
    pub fault_switches: FaultArgs,
    /// The S3 bucket of attachments (its endpoint: the SDK's `AWS_ENDPOINT_URL_S3`)
    #[arg(long, env = "ATTACHMENTS_BUCKET", default_value = "attachments")]
    pub attachments_bucket: String,
    #[command(flatten)]
    pub prices: PriceArgs,
}

/// The function's memory in MB (checked by [`check_lambda_environment`]; 128, Lambda's
/// smallest, if it were missing).
pub fn memory_mb() -> i64 {
    config::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        .and_then(|m| m.parse().ok())
        .unwrap_or(128)
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        config::load(
            "worker",
            &[
                config::TELEMETRY_VARS,
                config::LOG_VARS,
                config::LAMBDA_VARS,
                config::AWS_SDK_VARS,
            ],
        )
    }
}

/// lambda_runtime panics on a missing runtime variable; say what to do instead.
pub fn check_lambda_environment() -> Result<(), ConfigError> {
    for name in LAMBDA_VARIABLES {
        if config::var(name).is_none() {
            return Err(ConfigError::Missing {
                name,
                hint: "the worker is a Lambda function: run it under scripts/dev (`cargo lambda watch` \
                       serves its Lambda APIs), the Lambda runtime interface emulator, or AWS Lambda",
            });
        }
    }
    let memory = config::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").unwrap_or_default();
    memory
        .parse::<i32>()
        .map(|_| ())
        .map_err(|e| ConfigError::Invalid {
            name: "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
            value: memory,
            reason: e.to_string(),
        })
}
