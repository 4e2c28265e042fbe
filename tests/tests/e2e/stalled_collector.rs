//! A collector that hangs must not cost the function its invocations: the worker
//! flushes spans and metrics at the end of every invocation, inside Lambda's timeout
//! (5 s in infra/template.yaml), so each export is bounded well below it.

use std::time::Duration;

use tests::{TestApp, app::Options, binaries, eventually, stalled::Stalled};

use crate::DEADLINE;

#[tokio::test]
async fn a_stalled_collector_neither_times_out_the_function_nor_repeats_a_job() {
    // Fake at the edge under test: the worker's OTLP endpoint accepts and never answers.
    let collector = Stalled::start().await;
    let app = TestApp::spawn_with(
        binaries!(),
        Options {
            function_timeout: Duration::from_secs(5),
            worker_env: vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()),
                // Only the flush exports: no batch timer's export before it to wait on.
                ("OTEL_BSP_SCHEDULE_DELAY", "60000".into()),
            ],
            ..Default::default()
        },
    )
    .await;

    let response = app.post_form("/todos", &[("title", "call the bank")]).await;
    assert_eq!(response.status(), 303);
    let todo = eventually("the job to be done", DEADLINE, || async {
        app.todos()
            .await
            .into_iter()
            .find(|t| t["job_state"] == "done")
    })
    .await;
    assert_eq!(todo["job_attempts"], 1, "done on the first attempt");
    // The invocation answered in time, so esm deleted the message: nothing comes back.
    eventually("the message to be deleted", DEADLINE, || async {
        (app.queue_depth(&app.queue_url).await == 0).then_some(())
    })
    .await;
    app.wait_for_log("worker", "flush failed").await;
    assert!(collector.connections() > 0, "the worker did try to export");
    // The flush runs after the response, before the runtime asks for more: Lambda's
    // timeout covers both, and a late runtime gets its environment reset.
    eventually(
        "the runtime to ask for its next invocation",
        DEADLINE,
        || async { app.lambda.runtime_idle().then_some(()) },
    )
    .await;
    assert_eq!(app.lambda.timeout_count(), 0, "no invocation timed out");
    // Each export (traces, then metrics) gives up after the worker's 1 s: the invocation
    // and its flush fit in about two of them, far inside the function's 5 s. An exporter
    // that ignored its time-out would still be waiting here.
    let phase = app.lambda.longest_invoke_phase();
    let bound = 2 * worker::config::EXPORT_TIMEOUT + Duration::from_millis(1500);
    assert!(
        phase >= worker::config::EXPORT_TIMEOUT && phase < bound,
        "the invocation with its flush took {phase:?}; bound {bound:?}"
    );
    assert_eq!(app.lambda.invocation_count(), 1, "one invocation, no retry");
    let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM jobs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(attempts, 1, "processed once");
}
