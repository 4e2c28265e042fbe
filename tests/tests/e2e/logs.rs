//! Logs joined to traces: the log line of a failed request carries the trace id that
//! its error page shows, as JSON (`LOG_FORMAT=json`, for CloudWatch) and as text.

use serde_json::{Value, json};
use tests::{TestApp, app::Options, binaries};

/// The trace id in the error page's `<code id="trace-id">`.
fn shown_trace_id(html: &str) -> String {
    let start = html
        .find(r#"id="trace-id">"#)
        .expect("the error page shows a trace id")
        + 14;
    html[start..start + 32].to_owned()
}

async fn failing_page(log_format: &str) -> (TestApp, String) {
    let app = TestApp::spawn_with(
        binaries!(),
        Options {
            with_worker: false,
            env: vec![("LOG_FORMAT", log_format.into())],
            ..Options::default()
        },
    )
    .await;
    app.set_fault("web_error", json!({ "enabled": true, "probability": 1.0 }))
        .await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 500);
    let trace_id = shown_trace_id(&response.text().await.unwrap());
    assert!(
        trace_id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{trace_id}"
    );
    (app, trace_id)
}

#[tokio::test]
async fn an_injected_errors_json_log_line_carries_the_trace_id_of_its_error_page() {
    let (app, trace_id) = failing_page("json").await;
    let line = app.wait_for_log("web", "request failed").await;
    let line: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("one JSON object per line ({e}): {line}"));
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["trace_id"], trace_id.as_str(), "{line}");
    assert_eq!(line["span_id"].as_str().map(str::len), Some(16), "{line}");
    assert!(
        line["error"]
            .as_str()
            .is_some_and(|e| e.contains("web_error")),
        "the line says what failed: {line}"
    );
}

#[tokio::test]
async fn an_injected_errors_text_log_line_carries_the_trace_id_of_its_error_page() {
    let (app, trace_id) = failing_page("text").await;
    let line = app.wait_for_log("web", "request failed").await;
    assert!(
        line.contains(&format!("trace_id={trace_id} span_id=")),
        "{line}"
    );
}

#[tokio::test]
async fn the_workers_log_line_carries_the_trace_id_of_the_click() {
    let app = TestApp::spawn_with(
        binaries!(),
        Options {
            worker_env: vec![("LOG_FORMAT", "json".into())],
            ..Options::default()
        },
    )
    .await;
    let (response, trace_id) = app.traced_post_form("/todos", &[("title", "log me")]).await;
    assert_eq!(response.status(), 303);
    let line = app
        .wait_for_log("worker", &format!(r#""trace_id":"{trace_id}""#))
        .await;
    let line: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["message"], "record processed", "{line}");
    assert_eq!(line["outcome"], "done", "{line}");
    assert_eq!(
        line["span"], "messaging.process",
        "the CONSUMER span's: {line}"
    );

    // A failure's line too: the one a user searches for with the trace id of the click.
    app.set_fault("worker_error", json!({ "enabled": true }))
        .await;
    let (_, trace_id) = app
        .traced_post_form("/todos", &[("title", "fail me")])
        .await;
    let line = app
        .wait_for_log("worker", r#""message":"record failed""#)
        .await;
    let line: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["trace_id"], trace_id.as_str(), "{line}");
    assert!(
        line["error"]
            .as_str()
            .is_some_and(|e| e.contains("worker_error")),
        "{line}"
    );
}

/// Waits until web has exported a metric point: its exporters have run since the
/// request, so a span that was going to be exported would be here too.
async fn until_a_metric_is_exported(app: &TestApp) {
    tests::eventually("a metric point from web", crate::DEADLINE, || async {
        app.otlp
            .metrics()
            .iter()
            .any(|p| p.name == "http.server.request.duration")
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn what_is_exported_is_set_by_the_otel_variables_never_by_rust_log() {
    // RUST_LOG=off prints nothing, and the spans (with their events) still leave.
    let quiet = TestApp::spawn_with(
        binaries!(),
        Options {
            with_worker: false,
            env: vec![("RUST_LOG", "off".into())],
            ..Options::default()
        },
    )
    .await;
    quiet
        .set_fault("web_error", json!({ "enabled": true }))
        .await;
    let (response, trace_id) = quiet.traced_get("/").await;
    assert_eq!(response.status(), 500);
    let spans = quiet
        .trace_where(
            &trace_id,
            "the failed request's span",
            crate::DEADLINE,
            |s| !s.is_empty(),
        )
        .await;
    // The error's log line, printed nowhere, is still its span's event.
    assert!(
        spans[0].events.iter().any(|e| e == "request failed"),
        "{spans:?}"
    );

    // OTEL_TRACES_EXPORTER=none: metrics leave, spans do not, not even at shutdown.
    let mut untraced = TestApp::spawn_with(
        binaries!(),
        Options {
            with_worker: false,
            env: vec![
                ("OTEL_TRACES_EXPORTER", "none".into()),
                ("OTEL_METRIC_EXPORT_INTERVAL", "200".into()),
            ],
            ..Options::default()
        },
    )
    .await;
    assert_eq!(untraced.get("/").await.status(), 200);
    until_a_metric_is_exported(&untraced).await;
    untraced.sigterm_web();
    untraced.wait_web_stopped().await;
    assert!(
        untraced.otlp.spans().is_empty(),
        "{:?}",
        untraced.otlp.spans()
    );

    // OTEL_SDK_DISABLED=true: nothing leaves, not even at shutdown (which flushes).
    let mut disabled = TestApp::spawn_with(
        binaries!(),
        Options {
            with_worker: false,
            env: vec![("OTEL_SDK_DISABLED", "true".into())],
            ..Options::default()
        },
    )
    .await;
    assert_eq!(disabled.get("/").await.status(), 200);
    disabled.sigterm_web();
    disabled.wait_web_stopped().await;
    assert!(disabled.otlp.spans().is_empty() && disabled.otlp.metrics().is_empty());
}
