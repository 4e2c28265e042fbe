//! `esm`: a local stand-in for Lambda's SQS event source mapping (see the library).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("esm", esm::main().await)
}
