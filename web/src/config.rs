//! Web's configuration: every environment variable it reads, with its default (the
//! native demo's, scripts/dev's). `web --print-env` lists them.

use std::time::Duration;

use common::{
    config::{self, ConfigError, DatabaseArgs, FaultArgs},
    faults::Setting,
};

use crate::outbox::RelayConfig;

#[derive(clap::Parser, Debug, Clone)]
#[command(about = "traced-todo's web app: to-dos in PostgreSQL, jobs to SQS, traced end to end")]
pub struct Config {
    /// Listen port (0: any free port)
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Database connections
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 10)]
    pub database_pool_size: u32,
    /// The jobs queue
    #[arg(long, env = "JOBS_QUEUE_URL", default_value = config::DEFAULT_JOBS_QUEUE_URL, value_parser = config::http_url)]
    pub jobs_queue_url: String,
    /// Its dead-letter queue (the dead-letters page)
    #[arg(long, env = "JOBS_DLQ_URL", default_value = "http://localhost:9324/123456789012/jobs-dlq", value_parser = config::http_url)]
    pub jobs_dlq_url: String,
    /// Base of the "open trace" links (opened by the browser, not by web)
    #[arg(long, env = "JAEGER_UI_URL", default_value = "http://localhost:16686", value_parser = config::http_url)]
    pub jaeger_ui_url: String,
    /// Serve the fault panel and API to anyone (scripts and compose: true; AWS: false)
    #[arg(long, env = "FAULTS_ENABLED", default_value_t = false, action = clap::ArgAction::Set)]
    pub faults_enabled: bool,
    /// Serve them to whoever presents this token (`Authorization: Bearer …`, or `/faults?token=…` once)
    #[arg(long, env = "FAULTS_ADMIN_TOKEN")]
    pub faults_admin_token: Option<String>,
    /// Faults switched on at start-up: `name[@probability][:key=value]…`, comma-separated
    #[arg(long, env = "FAULTS", value_parser = faults_spec, default_value = "")]
    pub faults: FaultSpec,
    #[command(flatten)]
    pub fault_switches: FaultArgs,
    /// Outbox relay: pause between rounds, ms
    #[arg(long, env = "RELAY_INTERVAL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..))]
    pub relay_interval_ms: u64,
    /// Outbox relay: age before it takes over a pending job, ms
    #[arg(long, env = "RELAY_GRACE_MS", default_value_t = 2000)]
    pub relay_grace_ms: u64,
    /// Time in-flight requests get after SIGTERM, ms (ECS kills the task 30 s after it)
    #[arg(long, env = "SHUTDOWN_GRACE_MS", default_value_t = 20_000)]
    pub shutdown_grace_ms: u64,
    /// The S3 bucket for attachments (its endpoint: the SDK's `AWS_ENDPOINT_URL_S3`)
    #[arg(long, env = "ATTACHMENTS_BUCKET", default_value = "attachments")]
    pub attachments_bucket: String,
    /// The largest attachment accepted, bytes (never more is read)
    #[arg(long, env = "ATTACHMENT_MAX_BYTES", default_value_t = 5 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..=100 * 1024 * 1024))]
    pub attachment_max_bytes: u64,
    /// How often each task writes its insights (journeys, per-user figures, usage) to
    /// PostgreSQL, ms: what another task's page may lag behind
    #[arg(long, env = "INSIGHTS_FLUSH_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub insights_flush_ms: u64,
    /// Days the insights keep a request, a completion, a user not seen since
    #[arg(long, env = "INSIGHTS_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(i32).range(1..=3650))]
    pub insights_retention_days: i32,
    #[command(flatten)]
    pub prices: config::PriceArgs,
}

/// The parsed `FAULTS` variable.
#[derive(Debug, Clone, Default)]
pub struct FaultSpec(pub Vec<Setting>);

fn faults_spec(spec: &str) -> Result<FaultSpec, String> {
    common::faults::parse_env(spec).map(FaultSpec)
}

impl Config {
    pub fn insights(&self) -> crate::insights::InsightsConfig {
        crate::insights::InsightsConfig {
            flush_every: Duration::from_millis(self.insights_flush_ms),
            retention_days: self.insights_retention_days,
            prices: self.prices.prices,
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        config::load(
            "web",
            &[
                config::TELEMETRY_VARS,
                config::LOG_VARS,
                config::AWS_SDK_VARS,
            ],
        )
    }

    pub fn relay(&self) -> RelayConfig {
        RelayConfig {
            interval: Duration::from_millis(self.relay_interval_ms),
            grace: Duration::from_millis(self.relay_grace_ms),
        }
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}
