//! Bad configuration stops a binary at start-up with an error naming the variable.

use std::process::Command;

use tests::binaries;

fn run(path: &str, env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(path)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .envs(env.iter().copied())
        .output()
        .expect("run binary");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn web_names_the_bad_variable() {
    let (ok, stderr) = run(binaries!().web, &[("PORT", "eighty")]);
    assert!(!ok);
    assert!(stderr.contains("PORT=\"eighty\" is invalid"), "{stderr}");
    let (ok, stderr) = run(binaries!().web, &[("JOBS_QUEUE_URL", "localhost/jobs")]);
    assert!(!ok);
    assert!(stderr.contains("JOBS_QUEUE_URL"), "{stderr}");
}

#[test]
fn worker_outside_lambda_says_how_to_run_it() {
    let (ok, stderr) = run(binaries!().worker, &[("AWS_LAMBDA_RUNTIME_API", "")]);
    assert!(!ok);
    assert!(
        stderr.contains("AWS_LAMBDA_RUNTIME_API") && stderr.contains("cargo lambda watch"),
        "{stderr}"
    );
}

#[test]
fn esm_rejects_an_impossible_batch_size() {
    let (ok, stderr) = run(binaries!().esm, &[("ESM_BATCH_SIZE", "0")]);
    assert!(!ok);
    assert!(stderr.contains("ESM_BATCH_SIZE"), "{stderr}");
}

#[test]
fn a_telemetry_value_the_sdk_would_skip_stops_the_binary() {
    // The SDK alone would fall back to parentbased_always_on without a word.
    let (ok, stderr) = run(
        binaries!().web,
        &[("OTEL_TRACES_SAMPLER", "always_sometimes")],
    );
    assert!(!ok);
    assert!(
        stderr.contains("OTEL_TRACES_SAMPLER=\"always_sometimes\" is invalid")
            && stderr.contains("parentbased_traceidratio"),
        "{stderr}"
    );
    let (ok, stderr) = run(
        binaries!().web,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")],
    );
    assert!(!ok);
    assert!(stderr.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{stderr}");
}
