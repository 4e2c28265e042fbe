//! `esm`: a local stand-in for Lambda's SQS event source mapping (see the library).

// mimalloc (allocator/): cheaper than glibc's for the many small, short-lived allocations of a
// request and of its spans (freed on the exporter's thread). A zero-sized handle, no state.
#[global_allocator]
static ALLOCATOR: allocator::MiMalloc = allocator::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("esm", esm::main().await)
}
