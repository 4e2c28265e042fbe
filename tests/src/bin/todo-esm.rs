//! The event source mapping emulator, built inside the test package so integration
//! tests can find it (`CARGO_BIN_EXE_todo-esm`). Same entry point as `esm/src/main.rs`.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("esm", esm::main().await)
}
