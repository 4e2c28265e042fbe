//! The Lambda function: SQS batches in, partial batch responses out.

// The Lambda runtime stack (layers over the handler future) is deep for the
// compiler in release builds.
#![recursion_limit = "256"]

// mimalloc: fewer instructions a request than glibc's malloc (README, "Measurements").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("todo-worker", worker::run_function().await)
}
