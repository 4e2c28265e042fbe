//! The to-do web service. Everything lives in the library so tests run the same code.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("todo-web", web::run().await)
}
