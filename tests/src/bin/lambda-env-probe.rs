//! A Lambda function under the worker's `lambda_runtime` that answers each invocation
//! with the X-Ray trace id the runtime read from Lambda's header and what
//! `_X_AMZN_TRACE_ID` holds in its environment: the check that the patched runtime
//! (vendor/README.md) no longer puts the id there.

#[global_allocator]
static ALLOCATOR: allocator::MiMalloc = allocator::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            Ok::<_, lambda_runtime::Error>(serde_json::json!({
                "xray_trace_id": event.context.xray_trace_id,
                "environment": std::env::var("_X_AMZN_TRACE_ID").ok(),
            }))
        },
    ))
    .await
}
