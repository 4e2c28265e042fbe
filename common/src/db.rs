//! The database as web and worker use it: a [`Database`] (the pool, the fault switches,
//! the metrics and an optional observer, made once at start-up) and, per request or SQS
//! record, a [`Db`]: the same for one piece of work, whose user and fault scope every
//! query span, injected fault and measurement takes.
//!
//! Every query goes through [`Db::run`] in its CLIENT span ([`Db::span`]), which applies
//! the `db_unavailable` and `slow_db` faults, marks a failed query's span, and reports
//! the query's duration to the metrics and the observer.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use opentelemetry::KeyValue;
use sqlx::{Connection, PgPool, Postgres, Transaction, postgres::PgPoolOptions};
use tracing::instrument::WithSubscriber;

use crate::{
    context::RequestContext,
    faults::{Fault, Faults},
    metrics::Metrics,
    spans::{self, Marks, QuerySpan, Tracer},
};

/// A connection idle longer than this is pinged before a query gets it: under load a
/// connection is back in use within milliseconds, and a server seldom goes away in
/// the second after a connection's last ping.
pub const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// The pool web and worker query through: at most `size` connections, a query waits
/// at most 3 s for one. sqlx pings every connection as it goes back to the pool, and by
/// default once more as it comes out: two of every query's three round trips to
/// PostgreSQL (a 20-row page's two queries made six; ~13 % of web's CPU time per
/// request, most of it in the kernel). A connection that passed its ping on release a
/// moment ago is taken as it is; one idle longer than [`PING_IDLE_AFTER`] (a Lambda
/// thawed, a quiet demo) is pinged first, as before, so a server that went away
/// meanwhile costs a new connection, not a failed query. (sqlx's own recipe, from its
/// issue #1743.)
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
    tracer: Tracer,
    observer: Option<Arc<dyn QueryObserver>>,
}

impl Database {
    /// Queries on `pool`, with these fault switches and metrics, and no spans until
    /// [`Database::traced_by`] gives it a tracer.
    pub fn new(pool: PgPool, faults: Faults, metrics: Metrics) -> Self {
        Self(Arc::new(Shared {
            pool,
            faults,
            metrics,
            tracer: Tracer::disabled(),
            observer: None,
        }))
    }

    /// The same database, with a CLIENT span for every query.
    pub fn traced_by(self, tracer: Tracer) -> Self {
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

    /// What makes its query spans (the fault switches' own queries use it too).
    pub fn tracer(&self) -> &Tracer {
        &self.0.tracer
    }

    /// The pool itself, for what is deliberately untraced and free of faults (the
    /// relay's idle polls, readiness of the fault switches).
    pub fn pool(&self) -> &PgPool {
        &self.0.pool
    }

    /// The database as the work of `ctx` sees it.
    pub fn for_work(&self, ctx: RequestContext) -> Db {
        Db {
            database: self.clone(),
            ctx,
        }
    }
}

/// The database for one request or record.
#[derive(Clone)]
pub struct Db {
    database: Database,
    ctx: RequestContext,
}

impl Db {
    pub fn pool(&self) -> &PgPool {
        &self.database.0.pool
    }

    pub fn ctx(&self) -> &RequestContext {
        &self.ctx
    }

    /// Whether `fault` fires for this work (for faults that live in a query's caller,
    /// such as `n_plus_one`).
    pub fn fault(&self, fault: Fault) -> Option<crate::faults::Active> {
        self.database.0.faults.active(fault, &self.ctx)
    }

    /// A query's CLIENT span (see [`spans::query`]) for this work's user, a child of the
    /// current `tracing` span.
    pub fn span(&self, name: &'static str, sql: &'static str) -> QuerySpan {
        spans::query(&self.database.0.tracer, name, sql, self.ctx.user.as_deref())
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
        if let Some(fault) = faults.active(Fault::DbUnavailable, &self.ctx) {
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
        if let Some(fault) = faults.active(Fault::SlowDb, &self.ctx) {
            fault.mark(query);
            let latency = Duration::from_millis(fault.param("latency_ms"));
            tokio::time::sleep(latency).await;
        }
        // sqlx polls its row stream in the `tracing` span current when the stream was
        // made (`in_current_span`), entering and leaving it for every row: the SERVER span,
        // twenty times for a page of twenty to-dos. The query runs with no subscriber
        // instead; its span in the trace is the one made above. (sqlx's own log of a slow
        // statement goes with it: the span has the duration.)
        let result = fut.with_subscriber(tracing::Dispatch::none()).await;
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
        let user = self.ctx.user.as_deref();
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
