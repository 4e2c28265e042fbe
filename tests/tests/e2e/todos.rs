use tests::{TestApp, binaries, eventually};

use crate::DEADLINE;

async fn count_todos(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM todos")
        .fetch_one(&app.db)
        .await
        .expect("count")
}

#[tokio::test]
async fn the_list_page_renders_and_works_without_javascript() {
    let app = TestApp::web_only(binaries!()).await;
    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<form method="post" action="/todos""#),
        "plain form: {html}"
    );
    assert!(html.contains("Nothing to do"));
    let htmx = app.get("/static/htmx.min.js").await;
    assert_eq!(htmx.status(), 200);
    assert!(htmx.text().await.unwrap().len() > 10_000);
}

#[tokio::test]
async fn an_empty_or_over_long_title_comes_back_with_a_message_and_nothing_is_stored() {
    let app = TestApp::web_only(binaries!()).await;
    for (title, message) in [
        ("", "A to-do needs a title."),
        ("   \n\t ", "A to-do needs a title."),
        (&"x".repeat(201), "the limit is 200"),
    ] {
        let response = app.post_form("/todos", &[("title", title)]).await;
        assert_eq!(response.status(), 422, "title {title:?}");
        let html = response.text().await.unwrap();
        assert!(html.contains(message), "{title:?}: {html}");
        assert!(html.contains(r#"aria-invalid="true""#));
    }
    assert_eq!(count_todos(&app).await, 0);
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(jobs, 0, "no job for an invalid to-do");
}

#[tokio::test]
async fn a_todo_can_be_edited_completed_reopened_and_deleted() {
    let app = TestApp::web_only(binaries!()).await;
    assert_eq!(
        app.post_form("/todos", &[("title", "first")])
            .await
            .status(),
        303
    );
    let id = app.todos().await[0]["id"].as_str().unwrap().to_owned();

    let edit = app
        .post_form(&format!("/todos/{id}/title"), &[("title", "  renamed  ")])
        .await;
    assert_eq!(edit.status(), 303);
    assert_eq!(app.todos().await[0]["title"], "renamed");

    let done = app
        .post_form(&format!("/todos/{id}/completed"), &[("completed", "true")])
        .await;
    assert_eq!(done.status(), 303);
    assert_eq!(app.todos().await[0]["completed"], true);
    assert!(
        app.get_text("/").await.contains("stats: queued"),
        "the completion job waits in SQS"
    );

    let reopen = app
        .post_form(&format!("/todos/{id}/completed"), &[("completed", "false")])
        .await;
    assert_eq!(reopen.status(), 303);
    assert_eq!(app.todos().await[0]["completed"], false);

    let delete = app.post_form(&format!("/todos/{id}/delete"), &[]).await;
    assert_eq!(delete.status(), 303);
    assert!(app.todos().await.is_empty());
    // The jobs outlive their to-do (the worker must still find them).
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE todo_id IS NULL")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(jobs, 3, "add + edit enrich jobs and the completion job");
}

#[tokio::test]
async fn clear_completed_removes_only_completed_todos() {
    let app = TestApp::web_only(binaries!()).await;
    for title in ["keep", "drop"] {
        app.post_form("/todos", &[("title", title)]).await;
    }
    let todos = app.todos().await;
    let drop_id = todos.iter().find(|t| t["title"] == "drop").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post_form(
        &format!("/todos/{drop_id}/completed"),
        &[("completed", "true")],
    )
    .await;
    assert_eq!(
        app.post_form("/todos/clear-completed", &[]).await.status(),
        303
    );
    let left: Vec<_> = app
        .todos()
        .await
        .into_iter()
        .map(|t| t["title"].clone())
        .collect();
    assert_eq!(left, vec![serde_json::json!("keep")]);
}

#[tokio::test]
async fn bad_ids_and_malformed_forms_get_clear_errors_with_a_trace_id() {
    let app = TestApp::web_only(binaries!()).await;
    let missing = app
        .post_form(
            "/todos/00000000-0000-0000-0000-000000000000/title",
            &[("title", "x")],
        )
        .await;
    assert_eq!(missing.status(), 404);
    let not_uuid = app.post_form("/todos/not-a-uuid/delete", &[]).await;
    assert_eq!(not_uuid.status(), 404);
    let html = not_uuid.text().await.unwrap();
    assert!(html.contains("Trace id:"), "{html}");
    let trace_id = html
        .split(r#"<code id="trace-id">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap();
    assert_eq!(trace_id.len(), 32);
    assert!(trace_id.chars().all(|c| c.is_ascii_hexdigit()) && trace_id != "0".repeat(32));

    let no_field = app.post_form("/todos", &[("nope", "x")]).await;
    assert_eq!(no_field.status(), 400);
    let bad_bool = app
        .post_form(
            "/todos/00000000-0000-0000-0000-000000000000/completed",
            &[("completed", "maybe")],
        )
        .await;
    assert_eq!(bad_bool.status(), 400);
    let invalid_utf8 = app
        .http
        .post(app.url("/todos"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"title=%FF%FE".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(invalid_utf8.status(), 422);
    assert!(invalid_utf8.text().await.unwrap().contains("invalid UTF-8"));
    // One byte over the 16 KiB limit (at the limit, the form is read: tests/fast).
    let oversized = app
        .http
        .post(app.url("/todos"))
        .header("content-type", "application/x-www-form-urlencoded")
        // The server answers before reading the body; don't reuse that connection.
        .header("connection", "close")
        .body(format!("title={}", "a".repeat(web::MAX_BODY_BYTES + 1 - 6)))
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), 413);
    assert_eq!(count_todos(&app).await, 0);
    assert_eq!(app.get("/no/such/page").await.status(), 404);
}

#[tokio::test]
async fn titles_are_escaped_when_rendered() {
    let app = TestApp::web_only(binaries!()).await;
    app.post_form("/todos", &[("title", "<script>alert(1)</script>")])
        .await;
    let html = app.get_text("/").await;
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || html.contains("&lt;script&gt;")
    );
}

#[tokio::test]
async fn completing_a_todo_records_completion_stats_through_the_worker() {
    let app = TestApp::spawn(binaries!()).await;
    app.post_form("/todos", &[("title", "write the talk")])
        .await;
    let id = app.todos().await[0]["id"].as_str().unwrap().to_owned();
    app.post_form(&format!("/todos/{id}/completed"), &[("completed", "true")])
        .await;
    let todo = eventually("the completion job", DEADLINE, || async {
        app.todos()
            .await
            .into_iter()
            .find(|t| t["job_kind"] == "todo_completed" && t["job_state"] == "done")
    })
    .await;
    assert!(todo["done_in_seconds"].as_f64().is_some_and(|s| s >= 0.0));
    let html = app.get_text("/").await;
    assert!(html.contains("1 ever completed"), "{html}");
    assert!(html.contains("done in"), "{html}");
}

#[tokio::test]
async fn readiness_checks_the_database_and_the_queue() {
    let app = TestApp::web_only(binaries!()).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"database": "ok", "queue": "ok"}));
}
