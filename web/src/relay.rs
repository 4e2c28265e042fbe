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

/// Runs until the task is dropped.
pub async fn run(db: PgPool, queue: JobQueue, config: RelayConfig) {
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        faults::refresh_if_stale().await;
        match round(&db, &queue, config).await {
            Ok(0) => {}
            Ok(sent) => tracing::info!(sent, "relay sent pending jobs"),
            Err(e) => tracing::warn!(error = %e, "relay round failed; retrying next round"),
        }
    }
}

/// One round: returns how many jobs were sent.
pub async fn round(
    db: &PgPool,
    queue: &JobQueue,
    config: RelayConfig,
) -> Result<usize, sqlx::Error> {
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
        let scope = common::propagation::fault_scope(&origin);
        let delivered = faults::with_scope(scope, async {
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
            break;
        }
        sent += 1;
    }
    tx.commit().await?;
    Ok(sent)
}
