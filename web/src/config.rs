//! Web configuration, from environment variables (defaults match `scripts/dev`).

use common::config::{self, ConfigError};

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/traced_todo";
pub const DEFAULT_JOBS_QUEUE_URL: &str = "http://localhost:9324/123456789012/jobs";
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
    /// `JAEGER_UI_URL`: base of the "open trace" links.
    pub jaeger_ui_url: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            port: config::parse_or("PORT", 3000)?,
            database_url: config::var_or("DATABASE_URL", DEFAULT_DATABASE_URL),
            database_pool_size: config::parse_or("DATABASE_POOL_SIZE", 10)?,
            jobs_queue_url: config::http_url_or("JOBS_QUEUE_URL", DEFAULT_JOBS_QUEUE_URL)?,
            jaeger_ui_url: config::http_url_or("JAEGER_UI_URL", DEFAULT_JAEGER_UI_URL)?
                .trim_end_matches('/')
                .to_owned(),
        })
    }
}
