//! The worker's Lambda runtime leaves `_X_AMZN_TRACE_ID` out of the environment
//! (vendor/README.md): on glibc every value `setenv` is given stays allocated for the
//! life of the process, and Lambda sends a new trace id with every invocation.

use serde_json::{Value, json};
use tests::lambda::LambdaApi;

#[tokio::test]
async fn the_lambda_runtime_reads_the_trace_id_without_putting_it_in_the_environment() {
    let lambda = LambdaApi::start("lambda-env-probe").await;
    // Fake at the edge under test: a probe function instead of the worker, so that the
    // invocation's answer can say what the runtime did to the environment.
    let _probe = tokio::process::Command::new(env!("CARGO_BIN_EXE_lambda-env-probe"))
        .env("AWS_LAMBDA_RUNTIME_API", lambda.runtime_api())
        .env("AWS_LAMBDA_FUNCTION_NAME", "lambda-env-probe")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env_remove("_X_AMZN_TRACE_ID")
        .kill_on_drop(true)
        .spawn()
        .expect("start the probe function (CARGO_BIN_EXE_lambda-env-probe)");
    let client = reqwest::Client::new();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let answer: Value = tokio::time::timeout(
            crate::DEADLINE,
            client.post(lambda.invoke_url()).json(&json!({})).send(),
        )
        .await
        .expect("the probe answers within the deadline")
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
        let trace_id = answer["xray_trace_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            trace_id.starts_with("Root=1-"),
            "the runtime reads Lambda's trace id header: {answer}"
        );
        assert_eq!(
            answer["environment"],
            Value::Null,
            "_X_AMZN_TRACE_ID must stay unset (each value set leaks on glibc)"
        );
        seen.push(trace_id);
    }
    assert_ne!(
        seen[0], seen[1],
        "a new trace id per invocation, as Lambda sends"
    );
}
