//! What every handler can reach: made once at start-up (`app.rs`). A handle: cloning it
//! (axum does, for every middleware and extractor of every request) is one reference
//! count, not a copy of its parts.

use std::{ops::Deref, sync::Arc};

use common::{db::Database, faults::Faults, metrics::Metrics};

use common::files::Bucket;

use crate::{insights::Insights, outbox::Outbox};

#[derive(Clone)]
pub struct AppState(Arc<Parts>);

pub struct Parts {
    /// The database with faults, metrics and insights on every query.
    pub db: Database,
    /// Jobs: recorded with the change that causes them, then sent (the outbox).
    pub outbox: Outbox,
    pub faults: Faults,
    /// Attachments' objects (S3).
    pub files: Bucket,
    /// `ATTACHMENT_MAX_BYTES`.
    pub attachment_max_bytes: u64,
    pub metrics: Metrics,
    pub insights: Insights,
    pub site: Site,
}

impl AppState {
    pub fn new(parts: Parts) -> Self {
        Self(Arc::new(parts))
    }
}

impl Deref for AppState {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// What pages link to.
#[derive(Clone, Debug)]
pub struct Site {
    /// `JAEGER_UI_URL`, without a trailing slash.
    pub jaeger_ui_url: Arc<str>,
    /// Whether the fault panel is served to everyone (its link shows in the header).
    pub faults_panel: bool,
    /// This service's name in traces, for Jaeger searches.
    pub service_name: Arc<str>,
}
