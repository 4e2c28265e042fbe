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

use sqlx::{PgPool, Postgres, Transaction};
use tracing::Instrument;

use crate::{
    context::RequestContext,
    faults::{Fault, Faults},
    metrics::Metrics,
    spans::{self, QuerySpan},
};

/// Told about every query (web's insights count each user's slow writes).
pub trait QueryObserver: Send + Sync {
    fn query(&self, user: Option<&str>, operation: &'static str, elapsed: Duration, ok: bool);
}

#[derive(Clone)]
pub struct Database(Arc<Shared>);

struct Shared {
    pool: PgPool,
    faults: Faults,
    metrics: Metrics,
    observer: Option<Arc<dyn QueryObserver>>,
}

impl Database {
    pub fn new(pool: PgPool, faults: Faults, metrics: Metrics) -> Self {
        Self(Arc::new(Shared {
            pool,
            faults,
            metrics,
            observer: None,
        }))
    }

    /// The same database, with `observer` told about every query.
    pub fn observed_by(self, observer: Arc<dyn QueryObserver>) -> Self {
        Self(Arc::new(Shared {
            pool: self.0.pool.clone(),
            faults: self.0.faults.clone(),
            metrics: self.0.metrics.clone(),
            observer: Some(observer),
        }))
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

    /// A query's CLIENT span (see [`spans::query`]) for this work's user.
    pub fn span(
        &self,
        operation: &'static str,
        collection: &'static str,
        sql: &'static str,
    ) -> QuerySpan {
        spans::query(operation, collection, sql, self.ctx.user.as_deref())
    }

    /// Runs a query inside `query`'s span, applying the `db_unavailable` and `slow_db`
    /// faults; an error sets the span's status and `error.type` and adds an `exception`
    /// event, so a failed query explains itself in the trace.
    pub async fn run<T, F>(&self, query: QuerySpan, fut: F) -> Result<T, sqlx::Error>
    where
        F: Future<Output = Result<T, sqlx::Error>>,
    {
        let started = Instant::now();
        let faults = &self.database.0.faults;
        if let Some(fault) = faults.active(Fault::DbUnavailable, &self.ctx) {
            fault.mark(&query.span);
            spans::record_error(
                &query.span,
                "db_unavailable",
                &"connection refused: database unavailable (fault injected)",
            );
            self.observe(query.operation, started.elapsed(), false);
            // What sqlx reports when no connection can be had: callers treat it as an outage.
            return Err(sqlx::Error::PoolTimedOut);
        }
        if let Some(fault) = faults.active(Fault::SlowDb, &self.ctx) {
            fault.mark(&query.span);
            let latency = Duration::from_millis(fault.param("latency_ms"));
            tokio::time::sleep(latency)
                .instrument(query.span.clone())
                .await;
        }
        let result = fut.instrument(query.span.clone()).await;
        if let Err(e) = &result {
            spans::record_error(&query.span, "db_error", e);
        }
        // Injected latency included: that is what the user waited.
        self.observe(query.operation, started.elapsed(), result.is_ok());
        result
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
        self.run(self.span("BEGIN", "", "BEGIN"), self.pool().begin())
            .await
    }

    pub async fn commit(&self, tx: Transaction<'static, Postgres>) -> Result<(), sqlx::Error> {
        self.run(self.span("COMMIT", "", "COMMIT"), tx.commit())
            .await
    }

    /// Readiness: can a query run?
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        const SQL: &str = "SELECT 1";
        self.run(
            self.span("SELECT", "", SQL),
            sqlx::query(SQL).execute(self.pool()),
        )
        .await
        .map(|_| ())
    }
}
