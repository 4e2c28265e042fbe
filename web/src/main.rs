//! The to-do web service. Everything lives in the library so tests run the same code.

// mimalloc: fewer instructions a request than glibc's malloc (README, "Measurements").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("todo-web", web::run().await)
}
