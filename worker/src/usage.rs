//! What each user's records used in one invocation (billed duration × memory, database
//! time, SQS and S3 requests), added to their row of `insight_users` after the
//! invocation, where web's insights page prices it (the cost column), and to the
//! `todo.user.cost` metric.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{
    cost::{Billed, Prices, Usage, UsageObserver},
    db::{Database, QueryObserver},
    metrics::Metrics,
    session::GUEST,
};

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Used {
    pub db_us: i64,
    pub mb_ms: i64,
    pub records: i64,
    pub sqs_requests: i64,
    pub s3_gets: i64,
}

/// The invocation's usage so far, by user (`guest` for a job with no user).
#[derive(Clone, Default)]
pub struct UsageMeter(Arc<Mutex<HashMap<String, Used>>>);

impl UsageMeter {
    fn with(&self, user: &str, f: impl FnOnce(&mut Used)) {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(all.entry(user.to_owned()).or_default());
    }

    /// One record: its duration, billed as Lambda bills (rounded up to the
    /// millisecond) × the function's memory; SQS received it once, and deletes it
    /// once when it succeeded (one request each, as if never batched).
    pub fn record(&self, user: Option<&str>, took: Duration, memory_mb: i64, ok: bool) {
        let billed_ms = took.as_micros().div_ceil(1000) as i64;
        self.with(user.unwrap_or(GUEST), |u| {
            u.mb_ms += billed_ms * memory_mb;
            u.records += 1;
            u.sqs_requests += 1 + i64::from(ok);
        });
    }

    /// The usage so far, emptied.
    pub fn take(&self) -> HashMap<String, Used> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Adds the invocation's usage to each user's row (best effort: a failure is
    /// logged, never a failed record; outside the fault switches), and its cost to the
    /// metric.
    pub async fn write(&self, db: &Database, prices: &Prices, metrics: &Metrics) {
        let used = self.take();
        if used.is_empty() {
            return;
        }
        for (user, u) in &used {
            let usage = Usage {
                db_s: u.db_us as f64 / 1e6,
                worker_mb_ms: u.mb_ms as u64,
                worker_records: u.records as u64,
                sqs_requests: u.sqs_requests as u64,
                s3_gets: u.s3_gets as u64,
                ..Usage::default()
            };
            metrics.user_cost(user, prices.cost(&usage).total_usd);
        }
        let names: Vec<&str> = used.keys().map(String::as_str).collect();
        let column = |f: fn(&Used) -> i64| used.values().map(f).collect::<Vec<i64>>();
        // Untraced bookkeeping (as web's batches): not part of any job's story.
        let result: Result<(), sqlx::Error> = async {
            let mut tx = db.pool().begin().await?;
            let slots = common::cost::user_rows(&mut tx, &names).await?;
            sqlx::query(
                "UPDATE insight_users u SET db_us = u.db_us + d.db, \
                 worker_mb_ms = u.worker_mb_ms + d.mb_ms, worker_records = u.worker_records + d.records, \
                 sqs_requests = u.sqs_requests + d.sqs, s3_gets = u.s3_gets + d.gets \
                 FROM (SELECT n AS user_name, sum(db) AS db, sum(mb_ms) AS mb_ms, sum(records) AS records, \
                       sum(sqs) AS sqs, sum(gets) AS gets \
                       FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[]) \
                       AS t(n, db, mb_ms, records, sqs, gets) GROUP BY n) d \
                 WHERE u.user_name = d.user_name",
            )
            .bind(slots)
            .bind(column(|u| u.db_us))
            .bind(column(|u| u.mb_ms))
            .bind(column(|u| u.records))
            .bind(column(|u| u.sqs_requests))
            .bind(column(|u| u.s3_gets))
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "usage not recorded");
        }
    }
}

impl QueryObserver for UsageMeter {
    fn query(&self, user: Option<&str>, _: &'static str, elapsed: Duration, _: bool) {
        self.with(user.unwrap_or(GUEST), |u| {
            u.db_us += elapsed.as_micros() as i64
        });
    }
}

impl UsageObserver for UsageMeter {
    fn billed(&self, user: &str, call: Billed) {
        match call {
            Billed::S3Get => self.with(user, |u| u.s3_gets += 1),
            Billed::SqsRequest => self.with(user, |u| u.sqs_requests += 1),
            Billed::S3Put | Billed::S3Free => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn a_record_is_billed_by_the_millisecond_rounded_up() {
        let meter = super::UsageMeter::default();
        meter.record(Some("ada"), Duration::from_micros(2_001), 128, true);
        meter.record(Some("ada"), Duration::from_micros(1_000), 128, false);
        meter.record(None, Duration::ZERO, 128, true);
        let used = meter.take();
        assert_eq!(used["ada"].mb_ms, (3 + 1) * 128);
        assert_eq!(used["ada"].records, 2);
        assert_eq!(used["ada"].sqs_requests, 2 + 1);
        assert_eq!(used["guest"].mb_ms, 0);
        assert!(meter.take().is_empty());
    }
}
