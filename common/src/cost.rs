//! "What do you cost your business?": a user's usage (what their requests and jobs
//! used) priced with a table of list prices. The table is configuration (`PRICES`,
//! `name=value` pairs over [`Prices::default`]), the usage is measured (web: CPU time of
//! each request, database time of each query, SQS and S3 calls; worker: each record's
//! billed duration × the function's memory).
//!
//! An estimate, and says so: shared capacity (a web task, the database instance) is
//! priced as if fully used, so idle capacity and fixed costs (the load balancer, the
//! NAT-less VPC's endpoints, the collector) are not spread over users; SQS and Lambda
//! requests are counted one per message, as if never batched (an upper bound).

use std::{fmt, str::FromStr};

use serde::Serialize;

/// Users with figures (and usage) of their own, across all tasks; the rest share
/// `other` (bounded, like the metrics' `enduser.id`). The database's `insight_user`
/// function applies it.
pub const MAX_USERS: usize = 200;

/// The `insight_users` row each of `names` counts under, in order: theirs (made on
/// first sight, first come first served), or `other` past [`MAX_USERS`]. Its own
/// statement: a row it makes is invisible to the statement making it, so the caller
/// updates the rows in the next one (same transaction).
pub async fn user_rows(
    tx: &mut sqlx::PgConnection,
    names: &[&str],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT insight_user(n, $2) FROM unnest($1::text[]) WITH ORDINALITY AS t(n, i) ORDER BY i",
    )
    .bind(names)
    .bind(MAX_USERS as i32)
    .fetch_all(tx)
    .await
}

/// The region and date of [`Prices::default`].
pub const PRICES_REGION: &str = "us-east-1";
pub const PRICES_AS_OF: &str = "2025-06";

/// List prices in USD, and the sizes shared capacity is spread over.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prices {
    /// Fargate, Linux/x86: per vCPU-hour and per GB-hour.
    pub fargate_vcpu_hour: f64,
    pub fargate_gb_hour: f64,
    /// The web task's size (infra/template.yaml: 256 CPU units, 512 MiB).
    pub web_task_vcpu: f64,
    pub web_task_gb: f64,
    /// RDS for PostgreSQL, the instance per hour (db.t4g.micro, Single-AZ), and its vCPUs.
    pub db_instance_hour: f64,
    pub db_vcpus: f64,
    /// Lambda, arm64: per GB-second and per request.
    pub lambda_gb_second: f64,
    pub lambda_request: f64,
    /// SQS standard queue, per request.
    pub sqs_request: f64,
    /// S3 Standard: per PUT, per GET (and HEAD), per GB-month stored.
    pub s3_put: f64,
    pub s3_get: f64,
    pub s3_gb_month: f64,
}

impl Default for Prices {
    /// AWS list prices for us-east-1 as of [`PRICES_AS_OF`] (on-demand, no free tier).
    fn default() -> Self {
        Self {
            fargate_vcpu_hour: 0.040_48,
            fargate_gb_hour: 0.004_445,
            web_task_vcpu: 0.25,
            web_task_gb: 0.5,
            db_instance_hour: 0.016,
            db_vcpus: 2.0,
            lambda_gb_second: 0.000_013_333_4,
            lambda_request: 0.000_000_2,
            sqs_request: 0.000_000_4,
            s3_put: 0.000_005,
            s3_get: 0.000_000_4,
            s3_gb_month: 0.023,
        }
    }
}

impl Prices {
    fn entries(&mut self) -> [(&'static str, &mut f64); 12] {
        [
            ("fargate_vcpu_hour", &mut self.fargate_vcpu_hour),
            ("fargate_gb_hour", &mut self.fargate_gb_hour),
            ("web_task_vcpu", &mut self.web_task_vcpu),
            ("web_task_gb", &mut self.web_task_gb),
            ("db_instance_hour", &mut self.db_instance_hour),
            ("db_vcpus", &mut self.db_vcpus),
            ("lambda_gb_second", &mut self.lambda_gb_second),
            ("lambda_request", &mut self.lambda_request),
            ("sqs_request", &mut self.sqs_request),
            ("s3_put", &mut self.s3_put),
            ("s3_get", &mut self.s3_get),
            ("s3_gb_month", &mut self.s3_gb_month),
        ]
    }

    /// What one second of a web task's CPU costs: the task's price per hour, over its
    /// vCPUs (a task busy all the time on all its vCPUs costs exactly its price).
    pub fn web_cpu_second(&self) -> f64 {
        (self.fargate_vcpu_hour * self.web_task_vcpu + self.fargate_gb_hour * self.web_task_gb)
            / 3600.0
            / self.web_task_vcpu
    }

    /// What one second of a query costs: the instance's price per hour, over its vCPUs.
    pub fn db_second(&self) -> f64 {
        self.db_instance_hour / 3600.0 / self.db_vcpus
    }

    /// What `usage` cost.
    pub fn cost(&self, usage: &Usage) -> Cost {
        let web = usage.web_cpu_s * self.web_cpu_second();
        let database = usage.db_s * self.db_second();
        let worker = usage.worker_mb_ms as f64 / 1024.0 / 1000.0 * self.lambda_gb_second
            + usage.worker_records as f64 * self.lambda_request;
        let messaging = usage.sqs_requests as f64 * self.sqs_request;
        let storage_requests =
            usage.s3_puts as f64 * self.s3_put + usage.s3_gets as f64 * self.s3_get;
        Cost {
            total_usd: web + database + worker + messaging + storage_requests,
            web_usd: web,
            database_usd: database,
            worker_usd: worker,
            sqs_usd: messaging,
            s3_requests_usd: storage_requests,
            storage_usd_per_month: usage.bytes_stored as f64 / GIB * self.s3_gb_month,
        }
    }
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// `PRICES`: `name=value` pairs, comma-separated, each replacing one default.
impl FromStr for Prices {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let mut prices = Self::default();
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}`: expected name=value"))?;
            let value: f64 = value.trim().parse().map_err(|e| format!("`{pair}`: {e}"))?;
            if !value.is_finite() || value < 0.0 {
                return Err(format!("`{pair}`: a price is a number ≥ 0"));
            }
            let mut entries = prices.entries();
            let names: Vec<&str> = entries.iter().map(|(n, _)| *n).collect();
            let (_, slot) = entries
                .iter_mut()
                .find(|(n, _)| *n == name.trim())
                .ok_or_else(|| {
                    format!(
                        "`{}`: not a price; known: {}",
                        name.trim(),
                        names.join(", ")
                    )
                })?;
            **slot = value;
        }
        if prices.web_task_vcpu <= 0.0 || prices.db_vcpus <= 0.0 {
            return Err("web_task_vcpu and db_vcpus must be above 0".into());
        }
        Ok(prices)
    }
}

impl fmt::Display for Prices {
    /// As `PRICES` would set them all.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut copy = *self;
        let text: Vec<String> = copy
            .entries()
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        f.write_str(&text.join(","))
    }
}

/// A priced call made for a user (what [`UsageObserver`]s count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Billed {
    SqsRequest,
    S3Put,
    /// GET and HEAD.
    S3Get,
    /// DELETE (S3 does not charge for it).
    S3Free,
}

/// Told of every priced call, with the user it was made for.
pub trait UsageObserver: Send + Sync {
    fn billed(&self, user: &str, call: Billed);
}

/// What a user's requests and jobs used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Usage {
    /// Web CPU time (their requests', measured per poll), seconds.
    pub web_cpu_s: f64,
    /// Time their queries took (web's and the worker's), seconds.
    pub db_s: f64,
    /// The worker's billed duration × memory, MB·ms.
    pub worker_mb_ms: u64,
    /// Records the worker processed (each counted as a Lambda request).
    pub worker_records: u64,
    pub sqs_requests: u64,
    pub s3_puts: u64,
    /// GETs and HEADs.
    pub s3_gets: u64,
    /// Bytes of their attachments stored now.
    pub bytes_stored: u64,
}

/// [`Usage`] priced, USD.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Cost {
    /// Everything but storage (which costs by the month).
    pub total_usd: f64,
    pub web_usd: f64,
    pub database_usd: f64,
    pub worker_usd: f64,
    pub sqs_usd: f64,
    pub s3_requests_usd: f64,
    /// Their stored bytes, per month they stay.
    pub storage_usd_per_month: f64,
}

#[cfg(test)]
mod tests {
    use super::{Prices, Usage};

    #[test]
    fn prices_parse_over_the_defaults_and_refuse_unknown_names() {
        let p: Prices = "sqs_request=1, s3_put=2".parse().unwrap();
        assert_eq!((p.sqs_request, p.s3_put), (1.0, 2.0));
        assert_eq!(p.s3_get, Prices::default().s3_get);
        assert_eq!("".parse::<Prices>().unwrap(), Prices::default());
        assert!("sqs=1".parse::<Prices>().unwrap_err().contains("known: "));
        assert!("sqs_request=-1".parse::<Prices>().is_err());
        assert!("sqs_request".parse::<Prices>().is_err());
        assert!("web_task_vcpu=0".parse::<Prices>().is_err());
        let all = Prices::default().to_string();
        assert_eq!(all.parse::<Prices>().unwrap(), Prices::default());
    }

    #[test]
    fn a_fully_busy_task_costs_its_price() {
        let p = Prices::default();
        let hour_of_task = p.web_cpu_second() * 3600.0 * p.web_task_vcpu;
        let price = p.fargate_vcpu_hour * 0.25 + p.fargate_gb_hour * 0.5;
        assert!((hour_of_task - price).abs() < 1e-12);
    }

    #[test]
    fn cost_is_usage_times_prices() {
        let p: Prices = "sqs_request=1,lambda_request=10,s3_put=100,s3_get=1000,\
             lambda_gb_second=10000,s3_gb_month=3"
            .parse()
            .unwrap();
        let usage = Usage {
            sqs_requests: 3,
            worker_records: 2,
            s3_puts: 1,
            s3_gets: 2,
            worker_mb_ms: 1024 * 1000,
            bytes_stored: 1024 * 1024 * 1024,
            ..Usage::default()
        };
        let cost = p.cost(&usage);
        assert_eq!(cost.total_usd, 3.0 + 20.0 + 100.0 + 2000.0 + 10000.0);
        assert_eq!(cost.storage_usd_per_month, 3.0);
    }
}
