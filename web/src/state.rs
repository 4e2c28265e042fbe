use std::sync::Arc;

use sqlx::PgPool;

use crate::{config::Config, queue::JobQueue};

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub queue: JobQueue,
    pub config: Arc<Config>,
}
