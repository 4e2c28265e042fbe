//! Worker configuration from environment variables.

use common::config::{self, ConfigError};

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/traced_todo";
pub const DEFAULT_MAX_RECEIVE_COUNT: i32 = 3;

/// Each OTLP export's timeout (traces, then metrics) unless `OTEL_EXPORTER_OTLP_TIMEOUT`
/// says otherwise. The function flushes both before it answers each invocation, so a
/// stalled collector costs it twice this: well inside the function's 5 s timeout
/// (infra/template.yaml). The SDK's 10 s would turn finished work into a timed-out
/// invocation, a retried batch and, in the end, dead letters.
pub const EXPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1000);

/// Variables the Lambda runtime (or `cargo lambda watch`, or the runtime interface
/// emulator) sets; lambda_runtime panics without them.
const LAMBDA_VARIABLES: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`
    pub database_url: String,
    /// `DATABASE_POOL_SIZE` (2: one invocation at a time per Lambda instance)
    pub database_pool_size: u32,
    /// `MAX_RECEIVE_COUNT` (3): the queue's redrive `maxReceiveCount`; a record failing
    /// on that attempt is about to be dead-lettered, and its job is marked `dead`.
    pub max_receive_count: i32,
    /// `FAULTS_TTL_MS` (1000)
    pub faults_ttl: std::time::Duration,
    /// `FAULTS_SEED`
    pub faults_seed: Option<u64>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            database_url: config::var_or("DATABASE_URL", DEFAULT_DATABASE_URL),
            database_pool_size: config::parse_or("DATABASE_POOL_SIZE", 2)?,
            max_receive_count: config::parse_or("MAX_RECEIVE_COUNT", DEFAULT_MAX_RECEIVE_COUNT)?,
            faults_ttl: std::time::Duration::from_millis(config::parse_or("FAULTS_TTL_MS", 1000)?),
            faults_seed: match config::var("FAULTS_SEED") {
                None => None,
                Some(_) => Some(config::parse_or("FAULTS_SEED", 0)?),
            },
        })
    }
}

pub fn check_lambda_environment() -> Result<(), ConfigError> {
    for name in LAMBDA_VARIABLES {
        if config::var(name).is_none() {
            return Err(ConfigError::Missing {
                name,
                hint: "the worker is a Lambda function: run it under `cargo lambda watch` \
                       (scripts/dev does), the Lambda runtime interface emulator, or AWS Lambda",
            });
        }
    }
    config::parse_or::<i32>("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 0).map(|_| ())
}
