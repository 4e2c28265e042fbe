//! What web, the worker and the local event source mapping share. Modules depend one
//! way: [`telemetry`] on nothing here (copy it into your own service); `session`,
//! `spans`, `metrics`, `job`, `messaging`, `config`, `sqs`, `shutdown` on no other
//! module; `faults` on `session` and `spans`; `db` on `faults`, `metrics`, `spans`,
//! `session`.
//!
//! * [`telemetry`]: the OpenTelemetry providers, W3C propagation (also in SQS message
//!   attributes), log lines with trace ids.
//! * [`session`]: the user and fault scope a piece of work comes from.
//! * [`spans`]: DB client spans, marking a span failed, the current trace id.
//! * [`faults`]: the fault catalogue, the [`faults::Faults`] handle, the settings table.
//! * [`db`]: the database with spans, faults and measurements on every query.
//! * [`metrics`]: the OTLP metrics (HTTP and DB durations, jobs, the app's own).
//! * [`messaging`]: SQS PRODUCER/CONSUMER spans. [`job`]: a job message's JSON body.
//! * [`cost`]: what a user's usage costs, from a table of list prices.
//! * [`config`]: typed configuration from the environment, `--print-env`.
//! * [`sqs`]: the SQS client. [`shutdown`]: SIGTERM / Ctrl-C.

pub mod config;
pub mod cost;
pub mod db;
pub mod faults;
pub mod files;
pub mod job;
pub mod messaging;
pub mod metrics;
pub mod s3;
pub mod session;
pub mod shutdown;
pub mod spans;
pub mod sqs;
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
