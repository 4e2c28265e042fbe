//! The Lambda function: SQS batches in, partial batch responses out.

// The Lambda runtime stack (layers over the handler future) is deep for the
// compiler in release builds.
#![recursion_limit = "256"]

// mimalloc (allocator/): cheaper than glibc's for the many small, short-lived allocations of a
// request and of its spans (freed on the exporter's thread). A zero-sized handle, no state.
#[global_allocator]
static ALLOCATOR: allocator::MiMalloc = allocator::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("todo-worker", worker::run_function().await)
}
