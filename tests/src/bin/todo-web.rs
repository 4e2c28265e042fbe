//! The web service, built inside the test package so integration tests can find it
//! (`CARGO_BIN_EXE_todo-web`). Same entry point as `web/src/main.rs`.
// mimalloc (allocator/): cheaper than glibc's for the many small, short-lived allocations of a
// request and of its spans (freed on the exporter's thread). A zero-sized handle, no state.
#[global_allocator]
static ALLOCATOR: allocator::MiMalloc = allocator::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("todo-web", web::run().await)
}
