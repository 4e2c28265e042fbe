//! "What was the chain of calls this user made?" and "show me this working, then
//! broken": the journey page and the compare-with-a-working-one links, checked against
//! the trace ids the web itself reported (`traceresponse`).

use serde_json::Value;
use tests::{TestApp, binaries, trace_of};

use crate::DEADLINE;

#[tokio::test]
async fn the_journey_lists_a_users_requests_in_order_with_their_traces_and_the_jobs_they_caused() {
    let app = TestApp::spawn(binaries!()).await;
    let ada = app.sign_in("ada").await;
    let listed = app.get_as(&ada, "/").await;
    assert_eq!(listed.status(), 200);
    let added = app
        .post_as(&ada, "/todos", &[("title", "buy milk #errand")])
        .await;
    assert_eq!(added.status(), 303);
    let missing = app
        .get_as(&ada, "/api/todos/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(missing.status(), 404);
    let expected = [
        ("GET", "/", 200, trace_of(&listed)),
        ("POST", "/todos", 303, trace_of(&added)),
        ("GET", "/api/todos/{id}", 404, trace_of(&missing)),
    ];
    // Someone else's clicks are not in ada's journey.
    let bob = app.sign_in("bob").await;
    assert_eq!(app.get_as(&bob, "/").await.status(), 200);

    // The worker finishes the job the add caused; the journey says so.
    tests::eventually("ada's enrich job done", DEADLINE, || async {
        let journey: Value = app.get("/api/journey/ada").await.json().await.unwrap();
        (journey["steps"][1]["jobs"][0]["state"] == "done").then_some(())
    })
    .await;
    // As ada herself (the polls above were a guest's: not in her journey).
    let journey: Value = app
        .get_as(&ada, "/api/journey/ada")
        .await
        .json()
        .await
        .unwrap();
    let steps = journey["steps"].as_array().unwrap();
    assert_eq!(steps.len(), expected.len(), "{journey:#}");
    for (step, (method, route, status, trace_id)) in steps.iter().zip(&expected) {
        assert_eq!(step["method"], *method, "{step}");
        assert_eq!(step["route"], *route, "{step}");
        assert_eq!(step["status"], *status, "{step}");
        assert_eq!(step["trace_id"], trace_id.as_str(), "{step}");
    }
    let job = &steps[1]["jobs"][0];
    assert_eq!(job["kind"], "enrich_todo");
    assert_eq!(job["title"], "buy milk #errand");
    assert!(
        steps[0]["jobs"].as_array().unwrap().is_empty(),
        "a GET causes no job"
    );
    assert!(
        steps[0]["at"].as_str().unwrap() <= steps[2]["at"].as_str().unwrap(),
        "oldest first: {journey:#}"
    );
    assert_eq!(
        journey["jaeger_search_url"],
        "http://localhost:16686/search?service=todo%2Dweb&tags=%7B%22enduser%2Eid%22%3A%22ada%22%7D&lookback=1h&limit=100"
    );

    let page = app.get_as(&ada, "/journey/ada").await.text().await.unwrap();
    for (_, _, _, trace_id) in &expected {
        assert!(
            page.contains(&format!(r#"data-trace-id="{trace_id}""#))
                && page.contains(&format!("/trace/{trace_id}")),
            "{trace_id} on the page: {page}"
        );
    }
    assert!(
        page.contains("enrich_todo “buy milk #errand”: done"),
        "{page}"
    );
    // Anyone may follow ada's clicks, but her to-do titles are hers.
    let as_guest = app.get_text("/journey/ada").await;
    assert!(
        as_guest.contains("enrich_todo: done") && !as_guest.contains("buy milk"),
        "{as_guest}"
    );
    // From the insights page, each user's name leads to their journey.
    let insights = app.get_text("/insights").await;
    assert!(insights.contains(r#"href="/journey/ada""#), "{insights}");
}

#[tokio::test]
async fn failed_and_slow_requests_are_compared_with_the_latest_working_trace_of_their_route() {
    let app = TestApp::web_only(binaries!()).await;
    let ada = format!("{}; fault_scope=ada-session", app.sign_in("ada").await);
    for _ in 0..2 {
        assert_eq!(app.get_as(&ada, "/").await.status(), 200);
    }

    app.set_fault(
        "web_error",
        serde_json::json!({ "enabled": true, "scope": "ada-session" }),
    )
    .await;
    let failed = app.get_as(&ada, "/").await;
    assert_eq!(failed.status(), 500);
    let broken = trace_of(&failed);
    let error_page = failed.text().await.unwrap();
    assert!(
        error_page.contains(r#"href="/journey/ada""#),
        "the error page leads to the journey: {error_page}"
    );

    // Slow is broken too, and never the working example: the comparison stays with the
    // last fast success.
    app.set_fault("web_error", serde_json::json!({ "enabled": false }))
        .await;
    app.set_fault(
        "slow_db",
        serde_json::json!({ "enabled": true, "scope": "ada-session", "params": { "latency_ms": 600 } }),
    )
    .await;
    let slow = app.get_as(&ada, "/").await;
    assert_eq!(slow.status(), 200);
    let slow = trace_of(&slow);

    let journey: Value = app.get("/api/journey/ada").await.json().await.unwrap();
    let step = |trace: &str| tests::find_in(&journey["steps"], "trace_id", trace);
    // The working example: the last GET / before the failure that worked (< 400) and
    // was not slow (< 500 ms; on any machine, these take a few).
    let steps = journey["steps"].as_array().unwrap();
    let failed_at = steps.iter().position(|s| s["trace_id"] == broken).unwrap();
    let working = steps[..failed_at]
        .iter()
        .rev()
        .find(|s| {
            s["route"] == "/" && s["status"] == 200 && s["latency_ms"].as_f64().unwrap() < 500.0
        })
        .map(|s| s["trace_id"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("a fast GET / before the failure: {journey:#}"));
    let compare = format!(
        "http://localhost:16686/trace/{working}...{broken}?cohort={working}&#38;cohort={broken}"
    );
    assert!(
        error_page.contains(&compare),
        "the error page compares: {error_page}"
    );
    assert_eq!(step(&broken)["failed"], true);
    assert_eq!(step(&broken)["compare_with"], working.as_str());
    assert_eq!(step(&slow)["slow"], true);
    assert_eq!(step(&slow)["compare_with"], working.as_str());
    assert_eq!(step(&working)["compare_with"], Value::Null, "it worked");

    let insights: Value = app.get("/api/insights").await.json().await.unwrap();
    let ada = tests::find_in(&insights["users"], "user", "ada");
    assert_eq!(ada["last_errors"][0]["trace_id"], broken.as_str());
    assert_eq!(ada["last_errors"][0]["compare_with"], working.as_str());
    let page = app.get_text("/insights").await;
    assert!(page.contains(&compare), "insights compare too: {page}");
}
