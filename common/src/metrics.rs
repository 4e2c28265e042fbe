//! Metrics over OTLP (same endpoint as traces): the numbers behind "up is not working".
//!
//! * `http.server.request.duration` (s): method, route, status (web)
//! * `db.client.operation.duration` (s): operation, collection-free, and `enduser.id`
//!   with bounded cardinality (the first 100 users, then `other`) (web, worker)
//! * `jobs.processed`: kind and outcome (`done`, `duplicate`, `todo_gone`, `failed`, `dead`) (worker)
//! * `jobs.queue.oldest_age` (s): age of the oldest job not yet done (web)

use std::{
    collections::HashSet,
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use opentelemetry::{
    KeyValue, global,
    metrics::{Counter, Histogram},
};

/// Distinct `enduser.id` values on metrics before the rest count as `other`.
pub const MAX_USERS: usize = 100;

pub struct Metrics {
    http_duration: Histogram<f64>,
    db_duration: Histogram<f64>,
    jobs: Counter<u64>,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();
static USERS: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
/// Milliseconds, set by web's relay loop; read by the gauge's callback.
static OLDEST_JOB_MS: AtomicU64 = AtomicU64::new(0);

/// Creates the instruments on the global meter provider (set by telemetry).
pub fn install() {
    let meter = global::meter("traced-todo");
    let _ = METRICS.set(Metrics {
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
    });
    meter
        .f64_observable_gauge("jobs.queue.oldest_age")
        .with_unit("s")
        .with_description("Age of the oldest job not yet done")
        .with_callback(|gauge| {
            gauge.observe(OLDEST_JOB_MS.load(Ordering::Relaxed) as f64 / 1000.0, &[]);
        })
        .build();
}

/// `user`, or `other` once `MAX_USERS` distinct users have been seen.
pub fn bounded_user(user: &str) -> String {
    let users = USERS.get_or_init(Default::default);
    let mut users = users.lock().unwrap_or_else(|e| e.into_inner());
    if users.contains(user) || users.len() < MAX_USERS {
        users.insert(user.to_owned());
        user.to_owned()
    } else {
        "other".to_owned()
    }
}

pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    if let Some(m) = METRICS.get() {
        m.http_duration.record(
            elapsed.as_secs_f64(),
            &[
                KeyValue::new("http.request.method", method.to_owned()),
                KeyValue::new("http.route", route.to_owned()),
                KeyValue::new("http.response.status_code", i64::from(status)),
            ],
        );
    }
}

pub fn db_operation(operation: &'static str, elapsed: Duration, ok: bool) {
    if let Some(m) = METRICS.get() {
        let user = crate::context::user().unwrap_or_else(|| "guest".to_owned());
        let mut attrs = vec![
            KeyValue::new("db.system.name", "postgresql"),
            KeyValue::new("db.operation.name", operation),
            KeyValue::new("enduser.id", bounded_user(&user)),
        ];
        if !ok {
            attrs.push(KeyValue::new("error.type", "db_error"));
        }
        m.db_duration.record(elapsed.as_secs_f64(), &attrs);
    }
}

pub fn job(kind: &str, outcome: &'static str) {
    if let Some(m) = METRICS.get() {
        m.jobs.add(
            1,
            &[
                KeyValue::new("job.kind", kind.to_owned()),
                KeyValue::new("job.outcome", outcome),
            ],
        );
    }
}

pub fn oldest_job_age(age: Duration) {
    OLDEST_JOB_MS.store(age.as_millis() as u64, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_cardinality_is_bounded() {
        for i in 0..super::MAX_USERS {
            assert_eq!(super::bounded_user(&format!("u{i}")), format!("u{i}"));
        }
        assert_eq!(super::bounded_user("one-too-many"), "other");
        assert_eq!(
            super::bounded_user("u3"),
            "u3",
            "known users keep their name"
        );
    }
}
