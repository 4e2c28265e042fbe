//! The Lambda function: SQS batches in, partial batch responses out.

// The Lambda runtime stack (layers over the handler future) is deep for the
// compiler in release builds.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("todo-worker", worker::run_function().await)
}
