//! The to-do web service. Everything lives in the library so tests run the same code.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match web::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("todo-web: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
