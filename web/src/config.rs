//! Web configuration, from environment variables (defaults match `scripts/dev`).

use std::time::Duration;

use common::{
    config::{self, ConfigError},
    faults::Setting,
};

use crate::relay::RelayConfig;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/traced_todo";
pub const DEFAULT_JOBS_QUEUE_URL: &str = "http://localhost:9324/123456789012/jobs";
pub const DEFAULT_JOBS_DLQ_URL: &str = "http://localhost:9324/123456789012/jobs-dlq";
pub const DEFAULT_JAEGER_UI_URL: &str = "http://localhost:16686";

#[derive(Debug, Clone)]
pub struct Config {
    /// `PORT` (3000); 0 picks a free port (tests).
    pub port: u16,
    /// `DATABASE_URL`
    pub database_url: String,
    /// `DATABASE_POOL_SIZE` (10)
    pub database_pool_size: u32,
    /// `JOBS_QUEUE_URL`
    pub jobs_queue_url: String,
    /// `JOBS_DLQ_URL`: its dead-letter queue (for the dead-letters page).
    pub jobs_dlq_url: String,
    /// `JAEGER_UI_URL`: base of the "open trace" links.
    pub jaeger_ui_url: String,
    /// `FAULTS_ENABLED` (false): serve the fault panel and API to anyone. The local
    /// scripts, compose and the tests switch it on; the AWS template leaves it off.
    pub faults_enabled: bool,
    /// `FAULTS_ADMIN_TOKEN`: serve the panel and API to whoever presents this token
    /// (`Authorization: Bearer …`, or `/faults?token=…` once, which sets a cookie).
    pub faults_admin_token: Option<String>,
    /// `FAULTS`: faults switched on at start-up, e.g. `slow_db:latency_ms=300,web_error@0.25`.
    pub faults: Vec<Setting>,
    /// `FAULTS_TTL_MS` (1000): how stale a process's view of the switches may be.
    pub faults_ttl: Duration,
    /// `FAULTS_SEED`: makes probabilistic faults repeatable.
    pub faults_seed: Option<u64>,
    /// `RELAY_INTERVAL_MS` (1000), `RELAY_GRACE_MS` (2000)
    pub relay: RelayConfig,
    /// `SHUTDOWN_GRACE_MS` (20000): how long in-flight requests may finish after
    /// SIGTERM (ECS kills the task 30 s after it).
    pub shutdown_grace: Duration,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            port: config::parse_or("PORT", 3000)?,
            database_url: config::var_or("DATABASE_URL", DEFAULT_DATABASE_URL),
            database_pool_size: config::parse_or("DATABASE_POOL_SIZE", 10)?,
            jobs_queue_url: config::http_url_or("JOBS_QUEUE_URL", DEFAULT_JOBS_QUEUE_URL)?,
            jobs_dlq_url: config::http_url_or("JOBS_DLQ_URL", DEFAULT_JOBS_DLQ_URL)?,
            jaeger_ui_url: config::http_url_or("JAEGER_UI_URL", DEFAULT_JAEGER_UI_URL)?
                .trim_end_matches('/')
                .to_owned(),
            faults_enabled: config::parse_or("FAULTS_ENABLED", false)?,
            faults_admin_token: config::var("FAULTS_ADMIN_TOKEN"),
            faults: match config::var("FAULTS") {
                None => Vec::new(),
                Some(spec) => {
                    common::faults::parse_env(&spec).map_err(|reason| ConfigError::Invalid {
                        name: "FAULTS",
                        value: spec,
                        reason,
                    })?
                }
            },
            faults_ttl: Duration::from_millis(config::parse_or("FAULTS_TTL_MS", 1000)?),
            faults_seed: match config::var("FAULTS_SEED") {
                None => None,
                Some(_) => Some(config::parse_or("FAULTS_SEED", 0)?),
            },
            relay: RelayConfig {
                interval: Duration::from_millis(
                    config::parse_or("RELAY_INTERVAL_MS", 1000)?.max(10),
                ),
                grace: Duration::from_millis(config::parse_or("RELAY_GRACE_MS", 2000)?),
            },
            shutdown_grace: Duration::from_millis(config::parse_or("SHUTDOWN_GRACE_MS", 20_000)?),
        })
    }
}
