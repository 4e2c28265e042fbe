//! Metrics over OTLP (same endpoint as traces): the numbers behind "up is not working".
//! A [`Metrics`] value holds the instruments; web and worker keep one and record through
//! it (a disabled one records nothing when nothing is exported).
//!
//! * `http.server.request.duration` (s): method, route, status (web)
//! * `db.client.operation.duration` (s): operation, and `enduser.id` with bounded
//!   cardinality (the first 100 users, then `other`) (web, worker)
//! * `jobs.processed`: kind and outcome (`done`, `duplicate`, `todo_gone`, `failed`, `dead`) (worker)
//! * `jobs.queue.oldest_age` (s): age of the oldest job not yet done (web)

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use opentelemetry::{
    KeyValue,
    metrics::{Counter, Histogram, MeterProvider, NoopMeterProvider},
};

/// Distinct `enduser.id` values on metrics before the rest count as `other`.
pub const MAX_USERS: usize = 100;

#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    enabled: bool,
    http_duration: Histogram<f64>,
    db_duration: Histogram<f64>,
    jobs: Counter<u64>,
    users: Mutex<HashSet<String>>,
    /// Milliseconds, set by web's relay; read by the gauge's callback.
    oldest_job_ms: Arc<AtomicU64>,
}

impl Metrics {
    /// The instruments, on `provider`'s meter.
    pub fn new(provider: &dyn MeterProvider) -> Self {
        Self::build(provider, true)
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
            users: Mutex::default(),
            oldest_job_ms,
        }))
    }

    /// `user`, or `other` once `MAX_USERS` distinct users have been seen.
    pub fn bounded_user(&self, user: &str) -> String {
        let mut users = self.0.users.lock().unwrap_or_else(|e| e.into_inner());
        if users.contains(user) || users.len() < MAX_USERS {
            users.insert(user.to_owned());
            user.to_owned()
        } else {
            "other".to_owned()
        }
    }

    pub fn http_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        if !self.0.enabled {
            return;
        }
        self.0.http_duration.record(
            elapsed.as_secs_f64(),
            &[
                KeyValue::new("http.request.method", method.to_owned()),
                KeyValue::new("http.route", route.to_owned()),
                KeyValue::new("http.response.status_code", i64::from(status)),
            ],
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
        let mut attrs = vec![
            KeyValue::new("db.system.name", "postgresql"),
            KeyValue::new("db.operation.name", operation),
            KeyValue::new(
                "enduser.id",
                self.bounded_user(user.unwrap_or(crate::context::GUEST)),
            ),
        ];
        if !ok {
            attrs.push(KeyValue::new("error.type", "db_error"));
        }
        self.0.db_duration.record(elapsed.as_secs_f64(), &attrs);
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

    pub fn oldest_job_age(&self, age: Duration) {
        self.0
            .oldest_job_ms
            .store(age.as_millis() as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
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
