//! The event source mapping emulator, built inside the test package so integration
//! tests can find it (`CARGO_BIN_EXE_todo-esm`). Same entry point as `worker/src/bin/esm.rs`.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match worker::esm::main().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("esm: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
