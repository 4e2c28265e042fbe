//! What every handler can reach: made once at start-up (`app.rs`), cheap to clone.

use std::sync::Arc;

use common::{db::Database, faults::Faults, metrics::Metrics};

use crate::{insights::Insights, outbox::Outbox};

#[derive(Clone)]
pub struct AppState {
    /// The database with faults, metrics and insights on every query.
    pub db: Database,
    /// Jobs: recorded with the change that causes them, then sent (the outbox).
    pub outbox: Outbox,
    pub faults: Faults,
    pub metrics: Metrics,
    pub insights: Insights,
    pub site: Site,
}

/// What pages link to.
#[derive(Clone, Debug)]
pub struct Site {
    /// `JAEGER_UI_URL`, without a trailing slash.
    pub jaeger_ui_url: Arc<str>,
    /// Whether the fault panel is served to everyone (its link shows in the header).
    pub faults_panel: bool,
}
