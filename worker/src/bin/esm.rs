//! `esm`: a local stand-in for Lambda's SQS event source mapping.
//!
//! Long-polls the queue, builds `SqsEvent` records the way AWS does, invokes the
//! function through the Lambda Invoke API (served by `cargo lambda watch` natively and
//! by the runtime interface emulator in containers), deletes the records that succeeded
//! and leaves the failed ones to reappear after the visibility timeout, so the queue's
//! redrive policy moves poison messages to the DLQ. In AWS the real mapping does this.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::exit_code("esm", worker::esm::main().await)
}
