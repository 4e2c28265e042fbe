//! The web service, built inside the test package so integration tests can find it
//! (`CARGO_BIN_EXE_todo-web`). Same entry point as `web/src/main.rs`.
// mimalloc: fewer instructions a request than glibc's malloc (README, "Measurements").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("todo-web", web::run().await)
}
