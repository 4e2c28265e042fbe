//! The outbox relay: sends jobs that are still `pending` (their request could not reach
//! SQS) with the trace context of the request that caused them, so the trace stays
//! connected; retries every round, backing off while SQS keeps refusing. Every fifth
//! round it also reconciles the DLQ and measures the oldest unfinished job.

use std::time::Duration;

use common::{db::Database, faults::Faults, metrics::Metrics, session::Session};
use opentelemetry::trace::TraceContextExt;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{Outbox, store};

#[derive(Debug, Clone, Copy)]
pub struct RelayConfig {
    /// `RELAY_INTERVAL_MS` (1000)
    pub interval: Duration,
    /// `RELAY_GRACE_MS` (2000): a younger pending job is still being sent by its request.
    pub grace: Duration,
}

/// Longest pause between rounds while SQS or the database keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub sent: usize,
    /// A send failed: jobs are still waiting.
    pub stuck: bool,
}

impl Outbox {
    /// Runs until the task is dropped. While rounds fail, the pause doubles (up to 30 s),
    /// so an outage is not hammered; the first success resets it.
    pub async fn run_relay(self, db: Database, faults: Faults, metrics: Metrics) {
        let config = self.relay;
        let mut pause = config.interval;
        let mut rounds = 0u64;
        loop {
            tokio::time::sleep(pause).await;
            faults.refresh_if_stale().await;
            rounds += 1;
            if rounds.is_multiple_of(5) {
                self.reconcile_dead_letters(&db).await;
                if let Ok(age) = store::oldest_unfinished_age(db.pool()).await {
                    metrics.oldest_job_age(age);
                }
            }
            pause = match self.round(&db, config.grace).await {
                Ok(Round { sent, stuck: false }) => {
                    if sent > 0 {
                        tracing::info!(sent, "relay sent pending jobs");
                    }
                    config.interval
                }
                Ok(Round { sent, stuck: true }) => {
                    tracing::warn!(sent, retry_in = ?pause * 2, "SQS refused a pending job; backing off");
                    (pause * 2).min(MAX_BACKOFF)
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?pause * 2, "relay round failed; backing off");
                    (pause * 2).min(MAX_BACKOFF)
                }
            };
        }
    }

    /// One last round at shutdown, for jobs of requests that just finished (no grace).
    pub async fn drain(&self, db: &Database) {
        match tokio::time::timeout(super::DRAIN_TIMEOUT, self.round(db, Duration::ZERO)).await {
            Ok(Ok(round)) => tracing::info!(sent = round.sent, "outbox drained"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "outbox drain failed; pending jobs wait for the next instance")
            }
            Err(_) => {
                tracing::warn!("outbox drain timed out; pending jobs wait for the next instance")
            }
        }
    }

    /// Marks jobs whose message sits in the DLQ as `dead`. The worker marks a job dead
    /// when its last allowed attempt fails, but SQS counts receives, not attempts: a
    /// message received again while an earlier delivery was still running (or whose
    /// receive never reached the poller) can reach the DLQ without the worker seeing its
    /// "last" attempt. The DLQ is the truth: all of it, read page by page
    /// ([`JobQueue::scan_dlq`](crate::queue::JobQueue::scan_dlq)), not only the ten
    /// messages a receive returns first.
    pub async fn reconcile_dead_letters(&self, db: &Database) {
        let Ok(ids) = self.queue.scan_dlq().await else {
            return;
        };
        if ids.is_empty() {
            return;
        }
        match store::mark_dead(db.pool(), &ids).await {
            Ok(n) if n > 0 => tracing::warn!(jobs = n, "jobs found in the DLQ marked dead"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not reconcile the DLQ"),
        }
    }

    /// One round: sends up to 20 pending jobs older than `grace`, stopping at the first
    /// refusal.
    pub async fn round(&self, db: &Database, grace: Duration) -> Result<Round, sqlx::Error> {
        let mut tx = db.pool().begin().await?;
        let jobs = store::lock_pending(&mut tx, grace.as_millis() as i64, 20).await?;
        let mut sent = 0;
        for job in &jobs {
            let Some(message) = job.message() else {
                tracing::warn!(job.id = %job.id, kind = job.kind, "pending job of unknown kind; skipped");
                continue;
            };
            // The relay's work continues the trace of the request that caused the job
            // (parent) and links to it, as the messaging conventions suggest for batching;
            // the job's baggage says whose it is.
            let origin = job.origin();
            let span = tracing::info_span!(
                "outbox.relay",
                otel.name = "relay job",
                otel.kind = "internal",
                job.id = %job.id,
                job.kind = job.kind,
            );
            let origin_span = origin.span().span_context().clone();
            if origin_span.is_valid() {
                let _ = span.set_parent(origin.clone());
                span.add_link(origin_span);
            }
            let work = db.for_work(Session::from_baggage(&origin));
            let delivered = async {
                match self.queue.send(work.session(), &message).await {
                    Ok(message_id) => store::mark_queued(&work, &mut tx, job.id, &message_id)
                        .await
                        .map(|()| true),
                    Err(_) => Ok(false),
                }
            }
            .instrument(span)
            .await?;
            if !delivered {
                // SQS is still down: leave the rest for the next round.
                tx.commit().await?;
                return Ok(Round { sent, stuck: true });
            }
            sent += 1;
        }
        tx.commit().await?;
        Ok(Round { sent, stuck: false })
    }
}
