//! The outbox relay: sends jobs that are still `pending` (their request could not reach
//! SQS) with the trace context of the request that caused them, so the trace stays
//! connected; retries every round until SQS takes them.

use std::time::Duration;

use common::faults;
use opentelemetry::trace::TraceContextExt;
use sqlx::PgPool;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{db, queue::JobQueue};

#[derive(Debug, Clone, Copy)]
pub struct RelayConfig {
    /// `RELAY_INTERVAL_MS` (1000)
    pub interval: Duration,
    /// `RELAY_GRACE_MS` (2000): a younger pending job is still being sent by its request.
    pub grace: Duration,
}

/// Longest pause between rounds while SQS or the database keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Runs until the task is dropped. While rounds fail, the pause doubles (up to 30 s),
/// so an outage is not hammered; the first success resets it.
pub async fn run(db: PgPool, queue: JobQueue, config: RelayConfig) {
    let mut pause = config.interval;
    let mut rounds = 0u64;
    loop {
        tokio::time::sleep(pause).await;
        faults::refresh_if_stale().await;
        rounds += 1;
        if rounds.is_multiple_of(5) {
            reconcile_dead_letters(&db, &queue).await;
            oldest_job_age(&db).await;
        }
        pause = match round(&db, &queue, config).await {
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

/// Marks jobs whose message sits in the DLQ as `dead`. The worker marks a job dead when
/// its last allowed attempt fails, but SQS counts receives, not attempts: a message
/// received again while an earlier delivery was still running can reach the DLQ
/// without the worker seeing its "last" attempt. The DLQ is the truth.
async fn reconcile_dead_letters(db: &PgPool, queue: &JobQueue) {
    // Visibility 0: a peek that hides nothing from a redrive.
    let Ok(ids) = queue.scan_dlq(0).await else {
        return;
    };
    if ids.is_empty() {
        return;
    }
    // Not traced: a periodic background check, like the relay's idle poll.
    let result = sqlx::query(
        "UPDATE jobs SET state = 'dead', updated_at = now() \
         WHERE id = ANY($1) AND state NOT IN ('done', 'dead')",
    )
    .bind(&ids)
    .execute(db)
    .await;
    match result {
        Ok(r) if r.rows_affected() > 0 => {
            tracing::warn!(
                jobs = r.rows_affected(),
                "jobs found in the DLQ marked dead"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not reconcile the DLQ"),
    }
}

/// Feeds the `jobs.queue.oldest_age` gauge (CloudWatch's ApproximateAgeOfOldestMessage
/// is not in the SQS API, so the jobs table answers: oldest job not yet done).
async fn oldest_job_age(db: &PgPool) {
    let age: Result<Option<f64>, _> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM now() - min(created_at))::float8 FROM jobs \
         WHERE state IN ('pending', 'queued', 'failed')",
    )
    .fetch_one(db)
    .await;
    if let Ok(age) = age {
        common::metrics::oldest_job_age(Duration::from_secs_f64(age.unwrap_or(0.0).max(0.0)));
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub sent: usize,
    /// A send failed: jobs are still waiting.
    pub stuck: bool,
}

/// One round: sends up to 20 pending jobs, stopping at the first refusal.
pub async fn round(
    db: &PgPool,
    queue: &JobQueue,
    config: RelayConfig,
) -> Result<Round, sqlx::Error> {
    let mut tx = db.begin().await?;
    let jobs = db::jobs::lock_pending(&mut *tx, config.grace.as_millis() as i64, 20).await?;
    let mut sent = 0;
    for job in &jobs {
        let Some(message) = job.message() else {
            tracing::warn!(job.id = %job.id, kind = job.kind, "pending job of unknown kind; skipped");
            continue;
        };
        // The relay's work continues the trace of the request that caused the job
        // (parent) and links to it, as the messaging conventions suggest for batching.
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
        let ctx = common::context::from_baggage(&origin);
        let delivered = common::context::scope(ctx, async {
            match queue.send(&message).await {
                Ok(message_id) => db::jobs::mark_queued(&mut *tx, job.id, &message_id)
                    .await
                    .map(|()| true),
                Err(_) => Ok(false),
            }
        })
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
