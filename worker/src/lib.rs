//! traced-todo worker: an AWS Lambda function fed by SQS. [`run_function`] wires the
//! process (configuration, telemetry, the database, the fault switches) into a
//! [`Worker`] and serves invocations under lambda_runtime, flushing spans and metrics
//! after every one (Lambda freezes the process between invocations).

pub mod batch;
pub mod config;
pub mod error;
pub mod jobs;
pub mod usage;

use std::sync::Arc;

use common::{
    db::Database,
    faults::{Faults, store},
    files::Bucket,
    metrics::Metrics,
    telemetry::Telemetry,
};

pub use batch::Worker;

use crate::{config::Config, usage::UsageMeter};

/// The function binary's whole life.
pub async fn run_function() -> anyhow::Result<()> {
    use lambda_runtime::{
        Runtime,
        layers::{OpenTelemetryFaasTrigger, OpenTelemetryLayer},
        service_fn,
    };
    let config = Config::from_env()?;
    config::check_lambda_environment()?;
    let telemetry = Telemetry::init("todo-worker", Some(config::EXPORT_TIMEOUT))?;
    let mut worker = worker(&config, &telemetry)?;
    worker.files = Some(
        Bucket::new(
            common::s3::client().await,
            config.attachments_bucket.clone(),
            worker.faults.clone(),
        )
        .observed_by(Arc::new(worker.usage.clone())),
    );
    let flusher = telemetry.flusher();
    let handler = service_fn(|event| worker.handle_batch(event));
    let runtime = Runtime::new(handler)
        .layer(
            // lambda_runtime's own layer: the invocation span (FaaS attributes) and our
            // flush when the invocation ends.
            OpenTelemetryLayer::new(move || flusher.flush())
                .with_trigger(OpenTelemetryFaasTrigger::PubSub),
        )
        .run();
    // SIGTERM (a local runtime stopping, or Lambda's shutdown with an extension): exit
    // with the spans exported. Finished invocations were flushed already; one cut short
    // is delivered again by SQS (jobs are idempotent), its spans ended on the way out.
    tokio::select! {
        result = runtime => result.map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))?,
        () = common::shutdown::signal() => tracing::info!("worker stopping"),
    }
    drop(telemetry);
    Ok(())
}

/// Connects lazily: a cold start costs no round trip, and a database outage fails
/// records (which SQS retries) instead of the whole function's init.
fn worker(config: &Config, telemetry: &Telemetry) -> anyhow::Result<Worker> {
    let pool = common::db::pool_options(config.database_pool_size)
        .connect_lazy(&config.database.database_url)
        .map_err(|e| anyhow::anyhow!("DATABASE_URL is not a valid connection string: {e}"))?;
    let switches = &config.fault_switches;
    let faults = Faults::new(
        store::loader(pool.clone()),
        switches.ttl(),
        switches.faults_seed,
    );
    let metrics = Metrics::on(telemetry.meter_provider());
    let usage = UsageMeter::default();
    Ok(Worker {
        db: Database::new(pool, faults.clone(), metrics.clone())
            .traced_by(telemetry.tracer())
            .observed_by(Arc::new(usage.clone())),
        faults,
        metrics,
        spans: telemetry.span_gate(),
        max_receive_count: config.max_receive_count,
        files: None,
        usage,
        memory_mb: config::memory_mb(),
        prices: config.prices.prices,
    })
}
