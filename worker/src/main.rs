//! The Lambda function: SQS batches in, partial batch responses out.

use lambda_runtime::{
    Runtime, service_fn,
    layers::{OpenTelemetryFaasTrigger, OpenTelemetryLayer},
};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("todo-worker: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    // lambda_runtime panics on a missing runtime variable; say what to do instead.
    worker::config::check_lambda_environment()?;
    let telemetry = common::telemetry::Telemetry::init("todo-worker")?;
    let worker = worker::Worker::from_env()?;
    let provider = telemetry.provider();
    let handler = service_fn(|event| worker.handle_batch(event));
    Runtime::new(handler)
        // Lambda freezes the process between invocations: flush after every one.
        .layer(
            OpenTelemetryLayer::new(move || common::telemetry::flush(&provider))
                .with_trigger(OpenTelemetryFaasTrigger::PubSub),
        )
        .run()
        .await
        .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))?;
    drop(telemetry);
    Ok(())
}
