//! The transactional outbox: the one place that owns jobs.
//!
//! A change that causes a job writes it in its own transaction ([`record`]); after the
//! commit the request sends it at once ([`Outbox::send`], holding its row so nothing
//! else sends it too); whatever SQS refused, the [`relay`] sends later in the trace of
//! the click that caused it. Dead letters are listed and redriven here too, and the
//! relay reconciles the DLQ with the jobs table. All SQL on `jobs` is in [`store`].
//!
//! A handler reads: begin, write, record, commit, send.

pub mod relay;
pub mod store;

use std::time::Duration;

use common::{db::Db, job::JobMessage, spans::current_trace_id};
use opentelemetry::{KeyValue, trace::TraceContextExt};
use sqlx::PgConnection;
use uuid::Uuid;

pub use relay::RelayConfig;
pub use store::DeadJob;

use crate::{error::AppError, queue::JobQueue};

/// Records `job` as pending in the caller's transaction, with the current trace
/// context: committed with the change, or not at all.
pub async fn record(db: &Db, tx: &mut PgConnection, job: &JobMessage) -> Result<(), sqlx::Error> {
    store::insert(db, tx, job, &current_trace_id()).await
}

#[derive(Clone)]
pub struct Outbox {
    queue: JobQueue,
    relay: RelayConfig,
}

impl Outbox {
    pub fn new(queue: JobQueue, relay: RelayConfig) -> Self {
        Self { queue, relay }
    }

    pub fn queue(&self) -> &JobQueue {
        &self.queue
    }

    pub fn relay_config(&self) -> RelayConfig {
        self.relay
    }

    /// Sends a recorded job now (the fast path), holding its row so that the relay,
    /// which skips locked rows, never sends it too. If SQS refuses, the job stays
    /// `pending` and the relay delivers it later; the change is saved either way.
    pub async fn send(&self, db: &Db, job: &JobMessage) {
        let result: Result<(), sqlx::Error> = async {
            let mut tx = db.begin().await?;
            if !store::claim_pending(db, &mut tx, job.job_id).await? {
                // The relay got there first.
                return db.commit(tx).await;
            }
            match self.queue.send(db.session(), job).await {
                Ok(message_id) => store::mark_queued(db, &mut tx, job.job_id, &message_id).await?,
                Err(e) => {
                    tracing::error!(error = %e, job.id = %job.job_id, "job not sent; it stays pending")
                }
            }
            db.commit(tx).await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, job.id = %job.job_id, "job left for the outbox relay");
        }
    }

    /// Jobs whose last attempt failed, newest first, and how many messages the DLQ holds
    /// (if SQS answers).
    pub async fn dead_letters(&self, db: &Db) -> Result<(Vec<DeadJob>, Option<u64>), AppError> {
        let jobs = store::dead(db).await?;
        Ok((jobs, self.queue.dlq_depth().await.ok()))
    }

    /// Sends a dead job again, rebuilt from its row, in the current request's trace
    /// (a new one), linked to the trace of the click that caused it.
    pub async fn redrive(&self, db: &Db, id: Uuid) -> Result<(), AppError> {
        let job = store::dead_one(db, id)
            .await?
            .ok_or(AppError::NotFound("dead-lettered job"))?;
        let message = job
            .message()
            .ok_or(AppError::NotFound("dead-lettered job"))?;
        let origin = job.origin().span().span_context().clone();
        let cx = opentelemetry::Context::current();
        let span = cx.span();
        if origin.is_valid() {
            span.add_link(origin, Vec::new());
        }
        span.set_attribute(KeyValue::new("job.id", id.to_string()));
        self.queue.remove_from_dlq(id).await;
        let message_id = self
            .queue
            .send(db.session(), &message)
            .await
            .map_err(|e| AppError::Unavailable(e.to_string()))?;
        store::redriven(db, id, &message_id, &current_trace_id()).await?;
        Ok(())
    }
}

/// How long the drain at shutdown may take before pending jobs are left to the next
/// instance.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
