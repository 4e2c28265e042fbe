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
