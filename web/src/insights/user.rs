//! One request as the insights hear of it, and the windows they keep per user.

use axum::{extract::MatchedPath, http::Method};
use chrono::{DateTime, Utc};
use opentelemetry::trace::TraceId;

/// Requests whose latency the percentiles are taken from.
pub const LATENCY_SAMPLES: i64 = 2000;
/// Requests on the journey page.
pub const JOURNEY_LEN: i64 = 50;
/// Errors whose traces are kept.
pub const ERROR_TRACES: i64 = 10;
/// Completions the median time to done is taken from.
pub const DONE_SAMPLES: i64 = 500;

/// One finished request, as the journey page shows it.
#[derive(Clone)]
pub struct Visit {
    pub at: DateTime<Utc>,
    pub method: Method,
    /// `None`: no route matched (a 404).
    pub route: Option<MatchedPath>,
    pub status: u16,
    pub latency_ms: f64,
    /// The request's trace, when it was sampled.
    pub trace: Option<TraceId>,
}

impl Visit {
    pub fn route(&self) -> &str {
        self.route.as_ref().map_or("unmatched", MatchedPath::as_str)
    }

    pub fn failed(&self) -> bool {
        self.status >= 500
    }
}
