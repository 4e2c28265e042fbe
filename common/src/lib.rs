//! What web, worker and the local event source mapping share. Modules depend one way:
//! `context`, `spans`, `metrics`, `job`, `propagation`, `messaging`, `config`, `sqs`,
//! `shutdown` depend on no other module here; `faults` on `context` and `spans`; `db` on
//! `faults`, `metrics`, `spans`, `context`; `telemetry` on `config`, `metrics` and
//! `console_spans`, which depends on `trace_tree`.
//!
//! * [`context`]: the user and fault scope of a piece of work (a value, and W3C baggage).
//! * [`spans`]: DB client spans, error marking, the current trace id.
//! * [`faults`]: the fault catalogue, the [`faults::Faults`] handle, the settings table.
//! * [`db`]: the database with spans, faults and measurements on every query.
//! * [`metrics`]: OTLP metrics (HTTP and DB durations, jobs, queue age).
//! * [`telemetry`]: tracing + OpenTelemetry set-up, flushing, the `lost_spans` gate.
//! * [`console_spans`], [`trace_tree`]: with no OTLP endpoint, each trace printed as a
//!   tree (trace-console prints the same lines).
//! * [`propagation`]: W3C trace context in and out of SQS message attributes.
//! * [`messaging`]: SQS PRODUCER/CONSUMER spans.
//! * [`job`]: the versioned JSON body of a job message.
//! * [`config`]: typed configuration from the environment, `--print-env`.
//! * [`sqs`]: the SQS client. [`shutdown`]: SIGTERM / Ctrl-C.

pub mod config;
pub mod console_spans;
pub mod context;
pub mod db;
pub mod faults;
pub mod job;
pub mod logs;
pub mod messaging;
pub mod metrics;
pub mod otlp;
pub mod propagation;
pub mod shutdown;
pub mod spans;
pub mod sqs;
pub mod telemetry;
pub mod trace_tree;

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
