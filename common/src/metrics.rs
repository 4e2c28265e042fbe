//! Metrics over OTLP: the numbers behind "up is not working". A [`Metrics`] value holds
//! the instruments; web and worker record through it (a disabled one records nothing).
//!
//! * `http.server.request.duration` (s): method, route, status (web)
//! * `db.client.operation.duration` (s): operation, `enduser.id` (the first 100 users,
//!   then `other`) (web, worker)
//! * `jobs.processed`: kind and outcome (worker); `jobs.queue.oldest_age` (s) (web)
//! * the app's own (`todo.`: the conventions have no namespace for it), per `enduser.id`
//!   (bounded as above): `todo.created`, `todo.completed`, `todo.completion.duration`
//!   (s); `todo.user.cost` (USD, the estimate of `crate::cost`, each service adding
//!   what its own work used); and `todo.active_users`, signed-in users of the last hour by
//!   `todo.user.outcome`: `error` (a response ≥ 500) or `ok`.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use opentelemetry::{
    KeyValue,
    metrics::{
        BoundCounter, BoundHistogram, Counter, Histogram, Meter, MeterProvider, NoopMeterProvider,
    },
};

use crate::session::OTHER as OTHER_USER;

/// Distinct `enduser.id` values on metrics before the rest count as `other`.
pub const MAX_USERS: usize = 100;

#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

/// A key (route or user) → its series, each with the rest of its attribute values.
type SeriesMap<K> = RwLock<HashMap<Box<str>, Vec<(K, BoundHistogram<f64>)>>>;

/// Each series (one set of attribute values) is bound once, on its first measurement,
/// and kept: recording into a bound series is one lookup here and an atomic add there,
/// where an unbound `record` sorts, hashes and compares the key-values every time
/// (~1,600 instructions a measurement, three measurements a request).
struct Inner {
    enabled: bool,
    http_duration: Histogram<f64>,
    db_duration: Histogram<f64>,
    jobs: Counter<u64>,
    todos_created: Counter<u64>,
    todos_completed: Counter<u64>,
    time_to_done: Histogram<f64>,
    cost: Counter<f64>,
    /// For gauges whose values live elsewhere ([`Metrics::observe_users`]).
    meter: Meter,
    /// route → (method, status, series).
    http_series: SeriesMap<(&'static str, u16)>,
    /// user (at most [`MAX_USERS`] of them, then [`OTHER_USER`]) → (operation, ok, series).
    db_series: SeriesMap<(&'static str, bool)>,
    /// user (bounded as for `db_series`) → their to-do series.
    kpi_series: RwLock<HashMap<Box<str>, TodoSeries>>,
    /// Milliseconds, set by web's relay; read by the gauge's callback.
    oldest_job_ms: Arc<AtomicU64>,
}

/// One user's application series, bound on their first to-do.
#[derive(Clone)]
struct TodoSeries {
    created: BoundCounter<u64>,
    completed: BoundCounter<u64>,
    time_to_done: BoundHistogram<f64>,
    cost: BoundCounter<f64>,
}

impl Metrics {
    /// The instruments, on `provider`'s meter.
    pub fn new(provider: &dyn MeterProvider) -> Self {
        Self::build(provider, true)
    }

    /// On `provider`'s meter, or [`Metrics::disabled`] when metrics are not exported.
    pub fn on(provider: Option<&opentelemetry_sdk::metrics::SdkMeterProvider>) -> Self {
        provider.map_or_else(Self::disabled, |p| Self::new(p))
    }

    /// Records nothing (no metrics exporter).
    pub fn disabled() -> Self {
        Self::build(&NoopMeterProvider::new(), false)
    }

    fn build(provider: &dyn MeterProvider, enabled: bool) -> Self {
        let meter = provider.meter("traced-todo");
        let oldest_job_ms = Arc::new(AtomicU64::new(0));
        let gauge_source = oldest_job_ms.clone();
        meter
            .f64_observable_gauge("jobs.queue.oldest_age")
            .with_unit("s")
            .with_description("Age of the oldest job not yet done")
            .with_callback(move |gauge| {
                gauge.observe(gauge_source.load(Ordering::Relaxed) as f64 / 1000.0, &[]);
            })
            .build();
        Self(Arc::new(Inner {
            enabled,
            http_duration: meter
                .f64_histogram("http.server.request.duration")
                .with_unit("s")
                .with_description("Duration of HTTP server requests")
                .build(),
            db_duration: meter
                .f64_histogram("db.client.operation.duration")
                .with_unit("s")
                .with_description("Duration of database client operations, per user")
                .build(),
            jobs: meter
                .u64_counter("jobs.processed")
                .with_description("SQS job records processed, by outcome")
                .build(),
            todos_created: meter
                .u64_counter("todo.created")
                .with_unit("{todo}")
                .with_description("To-dos created, per user")
                .build(),
            todos_completed: meter
                .u64_counter("todo.completed")
                .with_unit("{todo}")
                .with_description("To-dos completed, per user")
                .build(),
            time_to_done: meter
                .f64_histogram("todo.completion.duration")
                .with_unit("s")
                .with_description("Time from a to-do's creation to its completion, per user")
                .with_boundaries(vec![
                    10.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0, 604800.0,
                ])
                .build(),
            cost: meter
                .f64_counter("todo.user.cost")
                .with_unit("USD")
                .with_description("Estimated cost of serving each user (list prices)")
                .build(),
            meter,
            http_series: RwLock::default(),
            db_series: RwLock::default(),
            kpi_series: RwLock::default(),
            oldest_job_ms,
        }))
    }

    /// `user`, or `other` once `MAX_USERS` distinct users have been seen.
    pub fn bounded_user(&self, user: &str) -> String {
        let series = self.0.db_series.read().unwrap_or_else(|e| e.into_inner());
        let known = series.contains_key(user);
        drop(series);
        if known {
            return user.to_owned();
        }
        let mut series = self.0.db_series.write().unwrap_or_else(|e| e.into_inner());
        let users = series.len() - usize::from(series.contains_key(OTHER_USER));
        if series.contains_key(user) || users < MAX_USERS {
            series.entry(user.into()).or_default();
            user.to_owned()
        } else {
            OTHER_USER.to_owned()
        }
    }

    pub fn http_request(&self, method: &http::Method, route: &str, status: u16, elapsed: Duration) {
        if !self.0.enabled {
            return;
        }
        let method = http_method(method);
        record(
            &self.0.http_series,
            route,
            (method, status),
            elapsed,
            || route.into(),
            |route| {
                self.0.http_duration.bind(&[
                    KeyValue::new("http.request.method", method),
                    KeyValue::new("http.route", route.to_owned()),
                    KeyValue::new("http.response.status_code", i64::from(status)),
                ])
            },
        );
    }

    pub fn db_operation(
        &self,
        user: Option<&str>,
        operation: &'static str,
        elapsed: Duration,
        ok: bool,
    ) {
        if !self.0.enabled {
            return;
        }
        let user = user.unwrap_or(crate::session::GUEST);
        record(
            &self.0.db_series,
            user,
            (operation, ok),
            elapsed,
            || self.bounded_user(user).into(),
            |user| {
                let mut attributes = vec![
                    KeyValue::new("db.system.name", "postgresql"),
                    KeyValue::new("db.operation.name", operation),
                    KeyValue::new("enduser.id", user.to_owned()),
                ];
                if !ok {
                    attributes.push(KeyValue::new("error.type", "db_error"));
                }
                self.0.db_duration.bind(&attributes)
            },
        );
    }

    pub fn job(&self, kind: &str, outcome: &'static str) {
        if !self.0.enabled {
            return;
        }
        self.0.jobs.add(
            1,
            &[
                KeyValue::new("job.kind", kind.to_owned()),
                KeyValue::new("job.outcome", outcome),
            ],
        );
    }

    /// A to-do `user` created.
    pub fn todo_created(&self, user: &str) {
        if let Some(series) = self.todo_series(user) {
            series.created.add(1);
        }
    }

    /// A to-do `user` completed, `time_to_done` after it was created.
    pub fn todo_completed(&self, user: &str, time_to_done: Duration) {
        if let Some(series) = self.todo_series(user) {
            series.completed.add(1);
            series.time_to_done.record(time_to_done.as_secs_f64());
        }
    }

    /// `usd` more of what serving `user` cost (`crate::cost`).
    pub fn user_cost(&self, user: &str, usd: f64) {
        if usd > 0.0
            && let Some(series) = self.todo_series(user)
        {
            series.cost.add(usd);
        }
    }

    /// `user`'s to-do series (`other`'s past [`MAX_USERS`]), bound on first use like
    /// the per-request series: no attribute hashing per measurement.
    fn todo_series(&self, user: &str) -> Option<TodoSeries> {
        if !self.0.enabled {
            return None;
        }
        let known = self.0.kpi_series.read().unwrap_or_else(|e| e.into_inner());
        if let Some(series) = known.get(user) {
            return Some(series.clone());
        }
        drop(known);
        let key = self.bounded_user(user);
        let mut all = self.0.kpi_series.write().unwrap_or_else(|e| e.into_inner());
        let series = all.entry(key.as_str().into()).or_insert_with(|| {
            let user = [KeyValue::new("enduser.id", key.clone())];
            TodoSeries {
                created: self.0.todos_created.bind(&user),
                completed: self.0.todos_completed.bind(&user),
                time_to_done: self.0.time_to_done.bind(&user),
                cost: self.0.cost.bind(&user),
            }
        });
        Some(series.clone())
    }

    /// `todo.active_users`: `count` answers (users with an error, users without)
    /// whenever metrics are collected. An up-down counter: the two outcomes add up to
    /// all active users.
    pub fn observe_users(&self, count: impl Fn() -> (u64, u64) + Send + Sync + 'static) {
        if !self.0.enabled {
            return;
        }
        self.0
            .meter
            .i64_observable_up_down_counter("todo.active_users")
            .with_unit("{user}")
            .with_description(
                "Signed-in users seen in the last hour: outcome error (a response >= 500) or ok",
            )
            .with_callback(move |users| {
                let (errors, ok) = count();
                let outcome = |o: &'static str| [KeyValue::new("todo.user.outcome", o)];
                users.observe(i64::try_from(errors).unwrap_or(i64::MAX), &outcome("error"));
                users.observe(i64::try_from(ok).unwrap_or(i64::MAX), &outcome("ok"));
            })
            .build();
    }

    pub fn oldest_job_age(&self, age: Duration) {
        self.0
            .oldest_job_ms
            .store(age.as_millis() as u64, Ordering::Relaxed);
    }
}

/// Records `elapsed` into `key`'s series with the other attribute values `rest`, binding
/// it first if it is new. `owned_key` runs before the write lock is taken (the user
/// bound takes it itself); `bind` gets the key the series is stored under.
fn record<K: PartialEq + Copy>(
    map: &SeriesMap<K>,
    key: &str,
    rest: K,
    elapsed: Duration,
    owned_key: impl FnOnce() -> Box<str>,
    bind: impl FnOnce(&str) -> BoundHistogram<f64>,
) {
    let seconds = elapsed.as_secs_f64();
    let find = |series: &[(K, BoundHistogram<f64>)]| {
        series
            .iter()
            .find(|(k, _)| *k == rest)
            .map(|(_, bound)| bound.record(seconds))
    };
    let known = map.read().unwrap_or_else(|e| e.into_inner());
    if known.get(key).and_then(|series| find(series)).is_some() {
        return;
    }
    drop(known);
    let owned = owned_key();
    let mut all = map.write().unwrap_or_else(|e| e.into_inner());
    let series = all.entry(owned.clone()).or_default();
    if find(series).is_none() {
        let bound = bind(&owned);
        bound.record(seconds);
        series.push((rest, bound));
    }
}

/// `http.request.method` as the HTTP semantic conventions bound it: the methods they
/// know, and `_OTHER` for any other token a client sends (it must not make a series).
/// Told by the parsed method: a standard one is an enum variant, no string compared.
pub fn http_method(method: &http::Method) -> &'static str {
    use http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "_OTHER",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unknown_methods_are_other() {
        let method = |name: &str| http::Method::from_bytes(name.as_bytes()).unwrap();
        for name in [
            "GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
        ] {
            assert_eq!(super::http_method(&method(name)), name);
        }
        for name in ["BREW", "get", "PROPFIND"] {
            assert_eq!(super::http_method(&method(name)), "_OTHER", "{name}");
        }
    }

    #[test]
    fn user_cardinality_is_bounded() {
        let metrics = super::Metrics::disabled();
        for i in 0..super::MAX_USERS {
            assert_eq!(metrics.bounded_user(&format!("u{i}")), format!("u{i}"));
        }
        assert_eq!(metrics.bounded_user("one-too-many"), "other");
        assert_eq!(
            metrics.bounded_user("u3"),
            "u3",
            "known users keep their name"
        );
    }
}
