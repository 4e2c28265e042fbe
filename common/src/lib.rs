//! What web, worker and the local event source mapping share.
//!
//! * [`telemetry`]: tracing + OpenTelemetry set-up, with a guard that flushes on drop.
//! * [`propagation`]: W3C trace context in and out of SQS message attributes.
//! * [`job`]: the versioned JSON body of a job message.
//! * [`db`]: OpenTelemetry DB client spans around queries (sqlx emits none).
//! * [`faults`]: the fault catalogue and the registry web and worker read it from.
//! * [`context`]: the user and fault scope of the work in progress (task-local, baggage).
//! * [`metrics`]: OTLP metrics (HTTP and DB durations, jobs, queue age).
//! * [`config`]: reading environment variables with clear errors.

pub mod config;
pub mod context;
pub mod db;
pub mod faults;
pub mod job;
pub mod messaging;
pub mod metrics;
pub mod propagation;
pub mod telemetry;

/// A binary's exit: success, or the error (with its causes) on stderr and failure.
pub fn exit_code(name: &str, result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
