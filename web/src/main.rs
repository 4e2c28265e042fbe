//! The to-do web service. Everything lives in the library so tests run the same code.

// mimalloc (allocator/): cheaper than glibc's for the many small, short-lived allocations of a
// request and of its spans (freed on the exporter's thread). A zero-sized handle, no state.
#[global_allocator]
static ALLOCATOR: allocator::MiMalloc = allocator::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("todo-web", web::run().await)
}
