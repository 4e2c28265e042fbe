//! The database as web and worker use it: a [`Database`] made at start-up and, per
//! request or SQS record, a [`Db`] with that work's session. Every query goes through
//! [`Db::run`] in its CLIENT span ([`Db::span`]), which applies the `db_unavailable` and
//! `slow_db` faults, marks a failed query's span, and reports its duration.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SdkTracer;
use sqlx::{Connection, PgPool, Postgres, Transaction, postgres::PgPoolOptions};

use crate::{
    faults::{Fault, Faults},
    metrics::Metrics,
    session::Session,
    spans::{self, Marks, QuerySpan},
};

/// A connection idle longer than this is pinged before a query gets it: under load a
/// connection is back in use within milliseconds, and a server seldom goes away in
/// the second after a connection's last ping.
pub const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// The pool web and worker query through: at most `size` connections, a query waits
/// at most 3 s for one. A connection is pinged before a query gets it only when it sat
/// idle over [`PING_IDLE_AFTER`] (sqlx's own recipe, its issue #1743): sqlx pings it on
/// release already, and a second ping on acquire made two of a query's three round
/// trips to PostgreSQL.
pub fn pool_options(size: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(3))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_IDLE_AFTER {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// Told about every query (web's insights count each user's slow writes).
pub trait QueryObserver: Send + Sync {
    fn query(&self, user: Option<&str>, operation: &'static str, elapsed: Duration, ok: bool);
}

#[derive(Clone)]
pub struct Database(Arc<Shared>);

#[derive(Clone)]
struct Shared {
    pool: PgPool,
    faults: Faults,
    metrics: Metrics,
    tracer: Option<SdkTracer>,
    /// `server.address`, `server.port`, `db.namespace`: the same on every query span.
    server: Arc<[KeyValue]>,
    observer: Option<Arc<dyn QueryObserver>>,
}

impl Database {
    /// Queries on `pool`, with these fault switches and metrics, and no spans until
    /// [`Database::traced_by`] gives it a tracer.
    pub fn new(pool: PgPool, faults: Faults, metrics: Metrics) -> Self {
        let options = pool.connect_options();
        let mut server = vec![
            KeyValue::new("server.address", options.get_host().to_owned()),
            KeyValue::new("server.port", i64::from(options.get_port())),
        ];
        if let Some(database) = options.get_database() {
            server.push(KeyValue::new("db.namespace", database.to_owned()));
        }
        Self(Arc::new(Shared {
            pool,
            faults,
            metrics,
            tracer: None,
            server: server.into(),
            observer: None,
        }))
    }

    /// The same database, with a CLIENT span for every query (none without a tracer).
    pub fn traced_by(self, tracer: Option<SdkTracer>) -> Self {
        Self(Arc::new(Shared {
            tracer,
            ..(*self.0).clone()
        }))
    }

    /// The same database, with `observer` told about every query.
    pub fn observed_by(self, observer: Arc<dyn QueryObserver>) -> Self {
        Self(Arc::new(Shared {
            observer: Some(observer),
            ..(*self.0).clone()
        }))
    }

    /// What makes its query spans (and web's SERVER spans).
    pub fn tracer(&self) -> Option<&SdkTracer> {
        self.0.tracer.as_ref()
    }

    /// A query's CLIENT span for `user` (see [`spans::query`]), outside any request's
    /// faults (the fault switches' own queries).
    pub fn span(&self, name: &'static str, sql: &'static str, user: Option<&str>) -> QuerySpan {
        spans::query(self.0.tracer.as_ref(), &self.0.server, name, sql, user)
    }

    /// The pool itself, for what is deliberately untraced and free of faults (the
    /// relay's idle polls, readiness of the fault switches).
    pub fn pool(&self) -> &PgPool {
        &self.0.pool
    }

    /// The database as the work of `session` sees it.
    pub fn for_work(&self, session: Session) -> Db {
        Db {
            database: self.clone(),
            session,
        }
    }
}

/// The database for one request or record.
#[derive(Clone)]
pub struct Db {
    database: Database,
    session: Session,
}

impl Db {
    pub fn pool(&self) -> &PgPool {
        &self.database.0.pool
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Whether `fault` fires for this work (for faults that live in a query's caller,
    /// such as `n_plus_one`).
    pub fn fault(&self, fault: Fault) -> Option<crate::faults::Active> {
        self.database.0.faults.active(fault, &self.session)
    }

    /// A query's CLIENT span (see [`spans::query`]) for this work's user, a child of the
    /// span code runs in.
    pub fn span(&self, name: &'static str, sql: &'static str) -> QuerySpan {
        self.database.span(name, sql, self.session.user.as_deref())
    }

    /// Runs a query inside `query`'s span (which ends with it), applying the
    /// `db_unavailable` and `slow_db` faults; an error sets the span's status and
    /// `error.type` and adds an `exception` event, so a failed query explains itself in
    /// the trace.
    pub async fn run<T, F>(&self, mut query: QuerySpan, fut: F) -> Result<T, sqlx::Error>
    where
        F: Future<Output = Result<T, sqlx::Error>>,
    {
        self.run_in(&mut query, fut).await
    }

    /// [`Db::run`], leaving the span open for the caller to add to (e.g.
    /// `db.response.returned_rows`); it ends when the caller drops it.
    pub async fn run_in<T, F>(&self, query: &mut QuerySpan, fut: F) -> Result<T, sqlx::Error>
    where
        F: Future<Output = Result<T, sqlx::Error>>,
    {
        let started = Instant::now();
        let faults = &self.database.0.faults;
        if let Some(fault) = faults.active(Fault::DbUnavailable, &self.session) {
            fault.mark(query);
            spans::record_error(
                query,
                "db_unavailable",
                &"connection refused: database unavailable (fault injected)",
            );
            self.observe(query.operation, started.elapsed(), false);
            // What sqlx reports when no connection can be had: callers treat it as an outage.
            return Err(sqlx::Error::PoolTimedOut);
        }
        if let Some(fault) = faults.active(Fault::SlowDb, &self.session) {
            fault.mark(query);
            let latency = Duration::from_millis(fault.param("latency_ms"));
            tokio::time::sleep(latency).await;
        }
        let result = fut.await;
        if let Err(e) = &result {
            spans::record_error(query, "db_error", e);
        }
        // Injected latency included: that is what the user waited.
        self.observe(query.operation, started.elapsed(), result.is_ok());
        result
    }

    /// `db.response.returned_rows` on a query's span.
    pub fn returned_rows(query: &mut QuerySpan, rows: usize) {
        query.attribute(KeyValue::new("db.response.returned_rows", rows as i64));
    }

    fn observe(&self, operation: &'static str, elapsed: Duration, ok: bool) {
        let shared = &self.database.0;
        let user = self.session.user.as_deref();
        shared.metrics.db_operation(user, operation, elapsed, ok);
        if let Some(observer) = &shared.observer {
            observer.query(user, operation, elapsed, ok);
        }
    }

    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.run(self.span("BEGIN", "BEGIN"), self.pool().begin())
            .await
    }

    pub async fn commit(&self, tx: Transaction<'static, Postgres>) -> Result<(), sqlx::Error> {
        self.run(self.span("COMMIT", "COMMIT"), tx.commit()).await
    }

    /// Readiness: can a query run?
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        const SQL: &str = "SELECT 1";
        self.run(
            self.span("SELECT", SQL),
            sqlx::query(SQL).execute(self.pool()),
        )
        .await
        .map(|_| ())
    }
}
