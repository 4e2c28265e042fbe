//! The insights page answers application questions from known injected latencies:
//! which user's writes are slow, which user hit an error (and its trace).

use serde_json::{Value, json};
use tests::{TestApp, binaries};

async fn post(
    app: &TestApp,
    cookies: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .header("cookie", cookies)
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn insights_show_each_users_slow_writes_error_rate_and_error_traces() {
    let app = TestApp::web_only(binaries!()).await;
    // slowpoke's session gets +150 ms on every query; quick's does not.
    app.set_fault(
        "slow_db",
        json!({ "enabled": true, "scope": "slow-session", "params": { "latency_ms": 150 } }),
    )
    .await;
    let slow = format!(
        "{}; fault_scope=slow-session",
        app.sign_in("slowpoke").await
    );
    let quick = app.sign_in("quick").await;
    for i in 0..3 {
        assert_eq!(
            post(&app, &slow, "/todos", &[("title", &format!("slow {i}"))])
                .await
                .status(),
            303
        );
        assert_eq!(
            post(&app, &quick, "/todos", &[("title", &format!("quick {i}"))])
                .await
                .status(),
            303
        );
    }
    let failed = post(&app, &quick, "/todos", &[("title", "httpstat 503")]).await;
    assert_eq!(failed.status(), 503);
    let trace_id = failed.headers()["traceresponse"]
        .to_str()
        .unwrap()
        .split('-')
        .nth(1)
        .unwrap()
        .to_owned();

    let insights: Vec<Value> = app.get("/api/insights").await.json().await.unwrap();
    let user = |name: &str| {
        insights
            .iter()
            .find(|u| u["user"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {insights:?}"))
    };
    let slowpoke = user("slowpoke");
    // Each add writes an INSERT todos, an INSERT jobs and (when SQS took it) an UPDATE jobs.
    assert!(slowpoke["writes"].as_u64().unwrap() >= 6, "{slowpoke}");
    assert_eq!(
        slowpoke["writes_slower_than_pct"],
        json!([100.0, 100.0, 100.0]),
        "{slowpoke}"
    );
    assert_eq!(slowpoke["error_rate_pct"], json!(0.0));
    assert!(slowpoke["p50_ms"].as_f64().unwrap() >= 150.0);

    let quick = user("quick");
    assert!(quick["writes"].as_u64().unwrap() >= 6);
    assert_eq!(
        quick["writes_slower_than_pct"][2],
        json!(0.0),
        "no quick write took 100 ms: {quick}"
    );
    assert!(quick["error_rate_pct"].as_f64().unwrap() > 0.0);
    assert_eq!(quick["last_errors"][0]["trace_id"], trace_id.as_str());
    assert_eq!(quick["last_errors"][0]["status"], 503);
    assert_eq!(quick["last_errors"][0]["route"], "/todos");

    let page = app.get_text("/insights").await;
    assert!(
        page.contains(r#"<tr id="user-slowpoke">"#) && page.contains(&format!("/trace/{trace_id}")),
        "{page}"
    );
}
