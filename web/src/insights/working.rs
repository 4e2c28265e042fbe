//! The latest trace of each route that worked (a status below 400, faster than
//! [`SLOW_MS`]): what a failed or slow trace is compared with in Jaeger. Shared through
//! the `working_traces` table; each process keeps a copy, refreshed after every batch,
//! so an error page never waits on the database for it.

use axum::{extract::MatchedPath, http::Method};
use chrono::{DateTime, Utc};
use opentelemetry::trace::TraceId;

/// A request at least this slow counts as slow: it gets a "compare" link and is never
/// the working example. Half a second is where a click feels broken (and what the
/// `slow_db` fault adds to every query by default).
pub const SLOW_MS: f64 = 500.0;

/// Route templates are few (a router's), but methods come from clients: bounded anyway.
pub const MAX_ROUTES: usize = 64;

/// This process's latest working traces not yet written (one per route).
#[derive(Default)]
pub struct NewWorking(pub Vec<(Method, MatchedPath, TraceId, DateTime<Utc>)>);

impl NewWorking {
    /// A linear search: a few dozen short string compares, no hashing or allocation on
    /// the request path.
    pub fn record(
        &mut self,
        method: &Method,
        route: &MatchedPath,
        trace: TraceId,
        at: DateTime<Utc>,
    ) {
        let full = self.0.len() >= MAX_ROUTES;
        match self
            .0
            .iter_mut()
            .find(|(m, r, _, _)| m == method && r.as_str() == route.as_str())
        {
            Some((_, _, latest, when)) => (*latest, *when) = (trace, at),
            None if !full => self.0.push((method.clone(), route.clone(), trace, at)),
            None => {}
        }
    }

    pub fn get(&self, method: &str, route: &str) -> Option<TraceId> {
        self.0
            .iter()
            .find(|(m, r, _, _)| m.as_str() == method && r.as_str() == route)
            .map(|(_, _, trace, _)| *trace)
    }
}

/// Everyone's, as the table had them at the last refresh.
#[derive(Default)]
pub struct WorkingTraces(pub Vec<(String, String, TraceId)>);

impl WorkingTraces {
    pub fn get(&self, method: &str, route: &str) -> Option<TraceId> {
        self.0
            .iter()
            .find(|(m, r, _)| m == method && r == route)
            .map(|(_, _, trace)| *trace)
    }
}
