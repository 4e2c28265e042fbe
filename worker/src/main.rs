//! The Lambda function: SQS batches in, partial batch responses out.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match worker::run_function().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("todo-worker: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
