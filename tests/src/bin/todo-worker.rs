//! The worker function, built inside the test package so integration tests can find
//! it (`CARGO_BIN_EXE_todo-worker`). Same entry point as `worker/src/main.rs`.

// As in worker/src/main.rs: the Lambda runtime stack is deep for release builds.
#![recursion_limit = "256"]
// mimalloc: fewer instructions a request than glibc's malloc (README, "Measurements").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("todo-worker", worker::run_function().await)
}
