//! Sign-in by name: to-dos belong to users, and `enduser.id` travels with the click
//! from the HTTP span into the worker's spans (W3C baggage).

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tests::{TestApp, binaries};

use crate::DEADLINE;

#[tokio::test]
async fn a_users_click_carries_enduser_id_from_the_http_span_into_the_worker() {
    let app = TestApp::spawn(binaries!()).await;
    let ada = app.sign_in("ada").await;
    let (traceparent, trace_id) = tests::app::new_traceparent();
    let response = app
        .http
        .post(app.url("/todos"))
        .header("cookie", &ada)
        .header("traceparent", traceparent)
        .form(&[("title", "write the notes")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let spans = app
        .trace_where(&trace_id, "web and worker spans", DEADLINE, |s| {
            s.iter()
                .any(|s| s.service == "todo-worker" && s.name == "UPDATE jobs")
                && s.iter().any(|s| s.kind == SpanKind::Server)
        })
        .await;
    for (service, name) in [
        ("todo-web", "POST /todos"),
        ("todo-web", "INSERT todos"),
        ("todo-worker", "UPDATE todos"),
    ] {
        let span = spans
            .iter()
            .find(|s| s.service == service && s.name == name)
            .unwrap_or_else(|| panic!("{service} {name}"));
        assert_eq!(span.attr_str("enduser.id"), Some("ada"), "{service} {name}");
    }
    let consumer = spans.iter().find(|s| s.kind == SpanKind::Consumer).unwrap();
    assert_eq!(consumer.attr_str("enduser.id"), Some("ada"));

    let page = app
        .http
        .get(app.url("/"))
        .header("cookie", &ada)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("write the notes")
            && page.contains(r#"<strong id="current-user">ada</strong>"#)
    );
}

#[tokio::test]
async fn users_see_and_change_only_their_own_todos() {
    let app = TestApp::web_only(binaries!()).await;
    let ada = app.sign_in("ada").await;
    let bob = app.sign_in("bob").await;
    app.http
        .post(app.url("/todos"))
        .header("cookie", &ada)
        .form(&[("title", "ada's secret")])
        .send()
        .await
        .unwrap();
    let as_bob: Vec<serde_json::Value> = app.get_as(&bob, "/api/todos").await.json().await.unwrap();
    assert!(as_bob.is_empty(), "bob sees none of ada's to-dos");
    assert!(app.todos().await.is_empty(), "nor does a guest");
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM todos")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let delete = app
        .http
        .post(app.url(&format!("/todos/{id}/delete")))
        .header("cookie", &bob)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 404, "bob cannot delete ada's to-do");
    let owner: String = sqlx::query_scalar("SELECT owner FROM todos")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(owner, "ada");

    for bad in ["", "a b", "x;y=1", &"n".repeat(33)] {
        let response = app.post_form("/signin", &[("name", bad)]).await;
        assert_eq!(response.status(), 422, "{bad:?}");
    }
    // A cookie header with junk after a valid name is that user's; one naming a shared
    // bucket or an impossible name is nobody's (a guest's).
    let who = |cookie: &'static str| {
        let app = &app;
        async move {
            let page = app.get_as(cookie, "/").await.text().await.unwrap();
            page.split(r#"<strong id="current-user">"#)
                .nth(1)
                .and_then(|rest| rest.split('<').next())
                .map(str::to_owned)
        }
    };
    assert_eq!(who("user=ada;evil").await.as_deref(), Some("ada"));
    let todos: Vec<serde_json::Value> = app
        .get_as("user=ada;evil", "/api/todos")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(todos[0]["title"], "ada's secret");
    for nobody in ["user=guest", "user=other", "user=ada evil", "user=a%20b"] {
        assert_eq!(who(nobody).await, None, "{nobody}");
    }
    let out = app.post_form("/signout", &[]).await;
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn metrics_arrive_over_otlp_with_routes_outcomes_and_bounded_users() {
    let app = TestApp::spawn_with(
        binaries!(),
        tests::app::Options {
            env: vec![("OTEL_METRIC_EXPORT_INTERVAL", "200".into())],
            ..Default::default()
        },
    )
    .await;
    let ada = app.sign_in("ada").await;
    app.http
        .post(app.url("/todos"))
        .header("cookie", &ada)
        .form(&[("title", "measure me")])
        .send()
        .await
        .unwrap();
    let has =
        |service: &'static str, name: &'static str, key: &'static str, value: serde_json::Value| {
            let app = &app;
            move || {
                let found = app.otlp.metrics().into_iter().any(|p| {
                    p.service == service && p.name == name && p.attributes.get(key) == Some(&value)
                });
                async move { found.then_some(()) }
            }
        };
    tests::eventually(
        "the HTTP duration metric",
        DEADLINE,
        has(
            "todo-web",
            "http.server.request.duration",
            "http.route",
            "/todos".into(),
        ),
    )
    .await;
    tests::eventually(
        "ada's DB write durations",
        DEADLINE,
        has(
            "todo-web",
            "db.client.operation.duration",
            "enduser.id",
            "ada".into(),
        ),
    )
    .await;
    tests::eventually(
        "the worker's DB durations for ada",
        DEADLINE,
        has(
            "todo-worker",
            "db.client.operation.duration",
            "enduser.id",
            "ada".into(),
        ),
    )
    .await;
    tests::eventually(
        "a processed job",
        DEADLINE,
        has(
            "todo-worker",
            "jobs.processed",
            "job.outcome",
            "done".into(),
        ),
    )
    .await;
    tests::eventually("the queue age gauge", DEADLINE, || {
        let found = app
            .otlp
            .metrics()
            .iter()
            .any(|p| p.name == "jobs.queue.oldest_age");
        async move { found.then_some(()) }
    })
    .await;
}
