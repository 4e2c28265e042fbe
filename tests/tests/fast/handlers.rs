//! Handlers through the router: what a request gets and what it stores.

use sqlx::PgPool;
use tests::fast::FastApp;

async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_list_renders_with_what_the_header_needs(pool: PgPool) {
    let app = FastApp::new(pool).await;
    let page = app.get("/", &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Nothing to do"), "{}", page.body);
    assert!(page.body.contains(r#"href="/signin""#), "nobody signed in");
    assert!(page.body.contains(r#"href="/faults""#), "the panel is open");
    assert!(
        page.body.contains("http://localhost:16686/search"),
        "the Jaeger link"
    );
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn adding_a_todo_stores_it_with_its_job_and_sends_the_job(pool: PgPool) {
    let app = FastApp::new(pool.clone()).await;
    let added = app.post_form("/todos", "title=buy+milk", &[]).await;
    assert_eq!(added.status, 303);
    assert_eq!(added.headers["location"], "/");
    let (title, kind, state): (String, String, String) = sqlx::query_as(
        "SELECT t.title, j.kind, j.state FROM todos t JOIN jobs j ON j.todo_id = t.id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (title.as_str(), kind.as_str(), state.as_str()),
        ("buy milk", "enrich_todo", "queued")
    );
    assert_eq!(app.queued().await, 1, "the job is in SQS");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_bad_title_is_refused_with_its_reason_and_nothing_is_stored(pool: PgPool) {
    let app = FastApp::new(pool.clone()).await;
    let refused = app.post_form("/todos", "title=+++", &[]).await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("A to-do needs a title."),
        "{}",
        refused.body
    );
    let too_long = format!("title={}", "x".repeat(201));
    assert_eq!(app.post_form("/todos", &too_long, &[]).await.status, 422);
    assert_eq!(app.post_form("/todos", "nope=1", &[]).await.status, 400);
    assert_eq!(count(&pool, "SELECT count(*) FROM todos").await, 0);
    assert_eq!(count(&pool, "SELECT count(*) FROM jobs").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_signed_in_users_todos_are_theirs_alone(pool: PgPool) {
    let app = FastApp::new(pool).await;
    let signed_in = app.post_form("/signin", "name=ada", &[]).await;
    assert_eq!(signed_in.status, 303);
    let cookie = signed_in.headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("user=ada") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert_eq!(
        app.post_form("/todos", "title=mine", &[("cookie", "user=ada")])
            .await
            .status,
        303
    );
    let ada = app.get("/api/todos", &[("cookie", "user=ada")]).await;
    assert!(ada.body.contains("\"title\":\"mine\""), "{}", ada.body);
    let guest = app.get("/api/todos", &[]).await;
    assert_eq!(guest.body, "[]");
    let page = app.get("/", &[("cookie", "user=ada")]).await;
    assert!(
        page.body
            .contains(r#"<strong id="current-user">ada</strong>"#),
        "{}",
        page.body
    );
    let out = app
        .post_form("/signout", "", &[("cookie", "user=ada")])
        .await;
    assert!(
        out.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(app.post_form("/signin", "name=a+b", &[]).await.status, 422);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_cross_site_post_is_refused_with_an_error_page(pool: PgPool) {
    let app = FastApp::new(pool.clone()).await;
    let refused = app
        .post_form("/todos", "title=evil", &[("sec-fetch-site", "cross-site")])
        .await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("cross-site request protection"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains(r#"id="trace-id""#),
        "the error page names its trace"
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM todos").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn web_error_breaks_pages_but_not_the_switches_or_the_probes(pool: PgPool) {
    let app = FastApp::new(pool).await;
    assert_eq!(
        app.put_json("/api/faults/web_error", r#"{"enabled": true}"#)
            .await
            .status,
        200
    );
    let broken = app.get("/", &[]).await;
    assert_eq!(broken.status, 500);
    assert!(
        broken.body.contains("fault web_error is on"),
        "{}",
        broken.body
    );
    assert_eq!(app.get("/healthz", &[]).await.status, 200);
    assert_eq!(app.get("/faults", &[]).await.status, 200);
    assert_eq!(
        app.put_json("/api/faults/web_error", r#"{"enabled": false}"#)
            .await
            .status,
        200
    );
    assert_eq!(app.get("/", &[]).await.status, 200);
    assert_eq!(
        app.put_json("/api/faults/web_error", r#"{"probability": 2}"#)
            .await
            .status,
        422
    );
    assert_eq!(
        app.put_json("/api/faults/web_error", r#"{"colour": 1}"#)
            .await
            .status,
        400
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_fault_switches_open_only_with_the_panel_or_the_token(pool: PgPool) {
    let closed = FastApp::with(pool.clone(), &["--faults-enabled", "false"]).await;
    assert_eq!(closed.get("/faults", &[]).await.status, 404);
    assert_eq!(closed.get("/api/faults", &[]).await.status, 404);
    let page = closed.get("/", &[]).await;
    assert!(
        !page.body.contains(r#"href="/faults""#),
        "no link to a closed panel"
    );

    let guarded = FastApp::with(
        pool,
        &[
            "--faults-enabled",
            "false",
            "--faults-admin-token",
            "s3cret",
        ],
    )
    .await;
    assert_eq!(guarded.get("/api/faults", &[]).await.status, 404);
    let bearer = guarded
        .get("/api/faults", &[("authorization", "Bearer s3cret")])
        .await;
    assert_eq!(bearer.status, 200);
    let login = guarded.get("/faults?token=s3cret", &[]).await;
    assert_eq!(login.status, 303);
    let cookie = login.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        guarded.get("/faults", &[("cookie", &cookie)]).await.status,
        200
    );
    assert_eq!(guarded.get("/faults?token=wrong", &[]).await.status, 404);
}

#[sqlx::test(migrations = "../migrations")]
async fn readyz_names_the_dependency_that_fails(pool: PgPool) {
    let app = FastApp::new(pool).await;
    assert_eq!(app.get("/readyz", &[]).await.status, 200);
    let switched = app
        .put_json("/api/faults/db_unavailable", r#"{"enabled": true}"#)
        .await;
    assert_eq!(switched.status, 200);
    let down = app.get("/readyz", &[]).await;
    assert_eq!(down.status, 503);
    assert!(
        down.body.contains("\"database\":{\"error\""),
        "{}",
        down.body
    );
    assert!(down.body.contains("\"queue\":\"ok\""), "{}", down.body);
    let page = app.get("/", &[]).await;
    assert_eq!(page.status, 503);
    assert!(
        page.body.contains("database is unavailable"),
        "{}",
        page.body
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn magic_words_answer_instead_of_adding(pool: PgPool) {
    let app = FastApp::new(pool.clone()).await;
    let teapot = app.post_form("/todos", "title=httpstat+418", &[]).await;
    assert_eq!(teapot.status, 418);
    assert_eq!(app.get("/httpstat/503", &[]).await.status, 503);
    assert_eq!(app.get("/httpstat/99", &[]).await.status, 404);
    let cat = app.post_form("/todos", "title=cat", &[]).await;
    assert!(cat.body.contains(r#"href="/httpstat/418""#), "{}", cat.body);
    assert_eq!(app.post_form("/todos", "title=meow", &[]).await.status, 303);
    assert_eq!(count(&pool, "SELECT count(*) FROM todos").await, 0);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM jobs WHERE kind = 'meow'").await,
        1
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn completing_twice_records_one_statistics_job(pool: PgPool) {
    let app = FastApp::new(pool.clone()).await;
    app.post_form("/todos", "title=ship+it", &[]).await;
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM todos")
        .fetch_one(&pool)
        .await
        .unwrap();
    for _ in 0..2 {
        let done = app
            .post_form(&format!("/todos/{id}/completed"), "completed=true", &[])
            .await;
        assert_eq!(done.status, 303);
    }
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM jobs WHERE kind = 'todo_completed'"
        )
        .await,
        1
    );
    assert_eq!(
        app.post_form("/todos/not-a-uuid/completed", "completed=true", &[])
            .await
            .status,
        404
    );
    let gone = app
        .post_form(&format!("/todos/{}/delete", uuid::Uuid::new_v4()), "", &[])
        .await;
    assert_eq!(gone.status, 404);
    assert!(gone.body.contains("does not exist"), "{}", gone.body);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_unknown_address_is_a_404_page(pool: PgPool) {
    let app = FastApp::new(pool).await;
    let missing = app.get("/nowhere", &[]).await;
    assert_eq!(missing.status, 404);
    assert!(
        missing.body.contains("There is no page at this address."),
        "{}",
        missing.body
    );
    assert!(
        missing.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

const WORKED: &str = "0af7651916cd43dd8448eb211c80319c";
const BROKE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[sqlx::test(migrations = "../migrations")]
async fn rows_and_dead_letters_whose_job_failed_compare_it_with_the_latest_job_that_worked(
    pool: PgPool,
) {
    let app = FastApp::new(pool.clone()).await;
    assert_eq!(
        app.post_form("/todos", "title=ship+it", &[]).await.status,
        303
    );
    // An older job of the same kind that was done, in trace WORKED (and an even older
    // one: the latest wins); this to-do's job failed, in trace BROKE.
    for (trace, age) in [("ffffffffffffffffffffffffffffffff", 120), (WORKED, 60)] {
        sqlx::query(
            "INSERT INTO jobs (id, kind, state, trace_id, traceparent, updated_at) \
             VALUES (gen_random_uuid(), 'enrich_todo', 'done', $1, \
             '00-' || $1 || '-00f067aa0ba902b7-01', now() - make_interval(secs => $2))",
        )
        .bind(trace)
        .bind(f64::from(age))
        .execute(&pool)
        .await
        .unwrap();
    }
    // The newest done job was not sampled: Jaeger never got it, so it is not the example.
    sqlx::query(
        "INSERT INTO jobs (id, kind, state, trace_id, traceparent) VALUES (gen_random_uuid(), \
         'enrich_todo', 'done', 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee', \
         '00-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-00f067aa0ba902b7-00')",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE jobs SET state = 'failed', attempts = 1, trace_id = $1 WHERE todo_id IS NOT NULL",
    )
    .bind(BROKE)
    .execute(&pool)
    .await
    .unwrap();
    let compare = format!(
        "http://localhost:16686/trace/{WORKED}...{BROKE}?cohort={WORKED}&#38;cohort={BROKE}"
    );
    let list = app.get("/", &[]).await;
    assert!(list.body.contains(&compare), "{}", list.body);

    sqlx::query("UPDATE jobs SET state = 'dead' WHERE trace_id = $1")
        .bind(BROKE)
        .execute(&pool)
        .await
        .unwrap();
    let dead = app.get("/dead-letters", &[]).await;
    assert!(dead.body.contains(&compare), "{}", dead.body);

    // Nothing failed, nothing to compare.
    sqlx::query("UPDATE jobs SET state = 'done' WHERE trace_id = $1")
        .bind(BROKE)
        .execute(&pool)
        .await
        .unwrap();
    assert!(
        !app.get("/", &[])
            .await
            .body
            .contains("compare with a working one")
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_journey_is_each_users_own_and_counts_what_they_created(pool: PgPool) {
    let app = FastApp::new(pool).await;
    let ada = [("cookie", "user=ada")];
    assert_eq!(app.post_form("/todos", "title=one", &ada).await.status, 303);
    assert_eq!(app.get("/nope", &ada).await.status, 404);
    assert_eq!(app.get("/", &[]).await.status, 200);

    let mine = app.get("/journey", &ada).await;
    assert_eq!(mine.status, 303);
    assert_eq!(mine.headers["location"], "/journey/ada");
    assert_eq!(
        app.get("/journey", &[]).await.headers["location"],
        "/journey/guest"
    );

    let journey: serde_json::Value =
        serde_json::from_str(&app.get("/api/journey/ada", &[]).await.body).unwrap();
    let steps: Vec<_> = journey["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["method"].as_str().unwrap(),
                s["route"].as_str().unwrap(),
                s["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("POST", "/todos", 303),
            ("GET", "unmatched", 404),
            ("GET", "/journey", 303)
        ],
        "ada's, in order; the guest's GET / is not among them: {journey:#}"
    );
    let page = app.get("/journey/ada", &[]).await;
    assert!(
        page.body.contains("<h1>ada's journey</h1>"),
        "{}",
        page.body
    );

    let nobody: serde_json::Value =
        serde_json::from_str(&app.get("/api/journey/nobody", &[]).await.body).unwrap();
    assert_eq!(
        nobody["steps"],
        serde_json::json!([]),
        "a name never seen: empty"
    );
    assert_eq!(app.get("/journey/no%20such%20name", &[]).await.status, 404);

    let overview: serde_json::Value =
        serde_json::from_str(&app.get("/api/insights", &[]).await.body).unwrap();
    let ada = tests::find_in(&overview["users"], "user", "ada");
    assert_eq!(ada["todos_created"], 1);
    assert_eq!(ada["todos_completed"], 0);
    assert_eq!(ada["median_time_to_done_s"], serde_json::Value::Null);
}

/// More dead letters than one receive returns (ten): the DLQ is read page by page, so
/// every job whose message sits there is marked dead, and each pass leaves the DLQ as it
/// found it. (The SQS test servers, moto and ElasticMQ, return the same first ten to
/// every receive that hides nothing: the jobs behind them stayed "failed" for ever.)
#[sqlx::test(migrations = "../migrations")]
async fn every_dead_letter_is_reconciled_and_left_in_the_dlq(pool: PgPool) {
    use aws_sdk_sqs::types::MessageAttributeValue;
    let app = FastApp::new(pool.clone()).await;
    for i in 0..15 {
        let added = app
            .post_form("/todos", &format!("title=doomed+{i}"), &[])
            .await;
        assert_eq!(added.status, 303);
    }
    sqlx::query("UPDATE jobs SET state = 'failed', attempts = 2")
        .execute(&pool)
        .await
        .unwrap();
    let mut ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM jobs ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    for id in &ids {
        let job_id = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(id.to_string())
            .build()
            .unwrap();
        app.sqs
            .send_message()
            .queue_url(&app.dlq_url)
            .message_body("{}")
            .message_attributes(common::messaging::JOB_ID_ATTRIBUTE, job_id)
            .send()
            .await
            .unwrap();
    }

    app.state.outbox.reconcile_dead_letters(&app.state.db).await;
    assert_eq!(
        count(&pool, "SELECT count(*) FROM jobs WHERE state = 'dead'").await,
        15,
        "every job in the DLQ, not the first ten"
    );

    let queue = web::queue::JobQueue::new(
        app.sqs.clone(),
        app.queue_url.clone(),
        app.dlq_url.clone(),
        app.state.faults.clone(),
    );
    let mut seen = queue.scan_dlq().await.unwrap();
    seen.sort();
    assert_eq!(seen, ids, "the pass before showed what it read again");
    let redriven = ids[12];
    queue.remove_from_dlq(redriven).await;
    ids.retain(|id| *id != redriven);
    let mut left = queue.scan_dlq().await.unwrap();
    left.sort();
    assert_eq!(
        left, ids,
        "the redriven job's message went, the others stayed"
    );
}

const FORM: &str = "application/x-www-form-urlencoded";
const MULTIPART: &str = "multipart/form-data; boundary=X";

/// Every route that changes something, with a request that would change it (method,
/// path, body, content type).
fn state_changing_requests(
    (todo, dead_job, attachment): &(String, String, String),
) -> Vec<(&'static str, String, String, &'static str)> {
    let form = |path: String, body: &str| ("POST", path, body.to_owned(), FORM);
    let file = "--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\
                Content-Type: text/plain\r\n\r\nhi\r\n--X--\r\n";
    vec![
        form("/todos".into(), "title=forged"),
        // Before the delete below takes the dead job's to-do with it, and its files.
        form(format!("/dead-letters/{dead_job}/redrive"), ""),
        (
            "POST",
            format!("/todos/{todo}/attachments"),
            file.into(),
            MULTIPART,
        ),
        form(format!("/attachments/{attachment}/delete"), ""),
        form("/todos/clear-completed".into(), ""),
        form(format!("/todos/{todo}/title"), "title=forged"),
        form(format!("/todos/{todo}/completed"), "completed=true"),
        form(format!("/todos/{todo}/delete"), ""),
        form("/signin".into(), "name=mallory"),
        form("/signout".into(), ""),
        // Switching a fault off: the same-site pass below must not break the pages.
        form("/faults/web_error".into(), "probability=1&scope=everyone"),
        (
            "PUT",
            "/api/faults/web_error".into(),
            r#"{"enabled":false}"#.into(),
            "application/json",
        ),
    ]
}

/// What those requests would change, read back.
async fn everything(pool: &PgPool) -> String {
    let todos: Vec<(String, bool)> =
        sqlx::query_as("SELECT title, completed FROM todos ORDER BY title")
            .fetch_all(pool)
            .await
            .unwrap();
    let jobs: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, state FROM jobs ORDER BY kind, state")
            .fetch_all(pool)
            .await
            .unwrap();
    let faults: Vec<(String, bool)> =
        sqlx::query_as("SELECT name, enabled FROM faults ORDER BY name")
            .fetch_all(pool)
            .await
            .unwrap();
    let files: Vec<String> = sqlx::query_scalar("SELECT name FROM attachments ORDER BY name")
        .fetch_all(pool)
        .await
        .unwrap();
    format!("{todos:?} {jobs:?} {faults:?} {files:?}")
}

/// A to-do, a dead job and an attachment for [`state_changing_requests`] to act on.
async fn targets(app: &FastApp) -> (String, String, String) {
    let added = app.post_form("/todos", "title=mine", &[]).await;
    assert_eq!(added.status, 303);
    let todo: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM todos WHERE title = 'mine' ORDER BY created_at DESC")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    // Its job, dead (as if it had failed three times).
    let dead_job: uuid::Uuid =
        sqlx::query_scalar("UPDATE jobs SET state = 'dead' WHERE todo_id = $1 RETURNING id")
            .bind(todo)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    // A file's row (its object need not exist: S3 deletes a missing key alike).
    let attachment: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO attachments (id, todo_id, key, name, size, content_type, owner) \
         VALUES (gen_random_uuid(), $1, 'attachments/' || gen_random_uuid(), 'a.txt', 2, \
         'text/plain', 'guest') RETURNING id",
    )
    .bind(todo)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    (
        todo.to_string(),
        dead_job.to_string(),
        attachment.to_string(),
    )
}

#[sqlx::test(migrations = "../migrations")]
async fn every_state_changing_route_refuses_a_cross_site_request(pool: PgPool) {
    let app = FastApp::new(pool.clone()).await;
    let send =
        |method: &str, path: &str, body: &str, content_type: &str, headers: &[(&str, &str)]| {
            let mut request = axum::http::Request::builder()
                .method(method)
                .uri(path)
                .header("host", "todo.example")
                .header("content-type", content_type);
            for (k, v) in headers {
                request = request.header(*k, *v);
            }
            app.send(
                request
                    .body(axum::body::Body::from(body.to_owned()))
                    .unwrap(),
            )
        };

    let requests = state_changing_requests(&targets(&app).await);
    let before = everything(&pool).await;
    let queued = app.queued().await;
    for cross_site in [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("origin", "https://evil.example"),
        ("origin", "http://todo.example.evil.example"),
        ("origin", "null"),
    ] {
        for (method, path, body, content_type) in &requests {
            let reply = send(method, path, body, content_type, &[cross_site]).await;
            assert_eq!(reply.status, 403, "{method} {path} {cross_site:?}");
            assert!(!reply.headers.contains_key("set-cookie"), "{method} {path}");
        }
    }
    assert_eq!(everything(&pool).await, before, "nothing changed");
    assert_eq!(app.queued().await, queued, "nothing sent");

    // The same requests from the app's own pages go through: each route is real.
    for same_site in [
        ("sec-fetch-site", "same-origin"),
        ("origin", "http://todo.example"),
    ] {
        for (method, path, body, content_type) in state_changing_requests(&targets(&app).await) {
            let reply = send(method, &path, &body, content_type, &[same_site]).await;
            assert!(
                matches!(reply.status.as_u16(), 200 | 303),
                "{method} {path} {same_site:?}: {} {}",
                reply.status,
                reply.body
            );
        }
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn nobody_is_guest_or_other_by_sign_in_or_by_cookie(pool: PgPool) {
    let app = FastApp::new(pool.clone()).await;
    for name in ["guest", "other"] {
        let refused = app.post_form("/signin", &format!("name={name}"), &[]).await;
        assert_eq!(refused.status, 422, "{name}");
        assert!(refused.body.contains("are taken"), "{}", refused.body);
        assert!(!refused.headers.contains_key("set-cookie"), "{name}");

        // A cookie written by hand names nobody either: the request is a guest's.
        let cookie = [("cookie", &*format!("user={name}"))];
        let page = app.get("/", &cookie).await;
        assert!(
            page.body.contains(r#"href="/signin""#),
            "{name}: not signed in"
        );
        assert!(!page.body.contains(r#"id="current-user""#), "{}", page.body);
    }
    // A cookie with a name that could sign in, and junk after it, is that user.
    let page = app.get("/", &[("cookie", "user=ada; evil")]).await;
    assert!(
        page.body
            .contains(r#"<strong id="current-user">ada</strong>"#),
        "{}",
        page.body
    );
    let spaced = app.get("/", &[("cookie", "user=ada evil")]).await;
    assert!(
        !spaced.body.contains(r#"id="current-user""#),
        "no such name"
    );
    assert_eq!(
        app.post_form("/todos", "title=whose", &[("cookie", "user=other")])
            .await
            .status,
        303
    );
    let owner: String = sqlx::query_scalar("SELECT owner FROM todos")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(owner, "guest", "stored as a guest's, not as other's");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_failed_job_reads_failed_retrying_until_it_is_done(pool: PgPool) {
    let app = FastApp::new(pool.clone()).await;
    assert_eq!(
        app.post_form("/todos", "title=ship+it", &[]).await.status,
        303
    );
    let label = |state: &'static str, attempts: i32| {
        let (app, pool) = (&app, &pool);
        async move {
            sqlx::query("UPDATE jobs SET state = $1, attempts = $2")
                .bind(state)
                .bind(attempts)
                .execute(pool)
                .await
                .unwrap();
            let page = app.get("/", &[]).await.body;
            let start = page.find(r#"<span class="job job-"#).expect("a job label");
            let end = start + page[start..].find("</span>").unwrap();
            page[start..end].to_owned()
        }
    };
    assert_eq!(
        label("failed", 1).await,
        r#"<span class="job job-failed">enrich: failed (attempt 1), retrying"#
    );
    assert_eq!(
        label("failed", 2).await,
        r#"<span class="job job-failed">enrich: failed (attempt 2), retrying"#
    );
    assert_eq!(
        label("done", 3).await,
        r#"<span class="job job-done">enrich: done"#
    );
    assert_eq!(
        label("dead", 3).await,
        r#"<span class="job job-dead">enrich: dead"#
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_body_limit_is_16_kib_to_the_byte(pool: PgPool) {
    let app = FastApp::new(pool.clone()).await;
    let body = |bytes: usize| format!("title={}", "a".repeat(bytes - "title=".len()));
    assert_eq!(web::MAX_BODY_BYTES, 16 * 1024);
    // At the limit the form is read (and its 16 KiB title refused as too long)…
    let at_limit = app
        .post_form("/todos", &body(web::MAX_BODY_BYTES), &[])
        .await;
    assert_eq!(at_limit.status, 422, "{}", at_limit.body);
    assert!(
        at_limit.body.contains("characters long"),
        "{}",
        at_limit.body
    );
    // …one byte more is not read at all.
    let over = app
        .post_form("/todos", &body(web::MAX_BODY_BYTES + 1), &[])
        .await;
    assert_eq!(over.status, 413, "{}", over.body);
    assert_eq!(count(&pool, "SELECT count(*) FROM todos").await, 0);
}

/// POST `form` to `path` in a new trace of the caller's: the status and the trace id.
async fn traced_post(app: &FastApp, path: &str, form: &str) -> (u16, String) {
    let (reply, trace) = app.traced_post(path, form, &[]).await;
    (reply.status.as_u16(), trace)
}

/// The first to-do's (created, last changed) trace ids, as the JSON API gives them.
async fn trace_ids(app: &FastApp) -> (String, String) {
    let list: serde_json::Value =
        serde_json::from_str(&app.get("/api/todos", &[]).await.body).unwrap();
    let id = |key: &str| list[0][key].as_str().unwrap().to_owned();
    (id("created_trace_id"), id("updated_trace_id"))
}

#[sqlx::test(migrations = "../migrations")]
async fn a_todo_names_the_trace_that_created_it_and_the_one_that_last_changed_it(pool: PgPool) {
    let app = FastApp::new(pool.clone()).await;
    let link = |trace: &str| format!("http://localhost:16686/trace/{trace}");
    let (status, created) = traced_post(&app, "/todos", "title=first").await;
    assert_eq!(status, 303);
    assert_eq!(trace_ids(&app).await, (created.clone(), created.clone()));
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM todos")
        .fetch_one(&pool)
        .await
        .unwrap();

    // An edit and a completion each cause a job: the row's trace link is theirs.
    for (path, form) in [("title", "title=second"), ("completed", "completed=true")] {
        let (status, changed) = traced_post(&app, &format!("/todos/{id}/{path}"), form).await;
        assert_eq!(status, 303);
        assert_eq!(trace_ids(&app).await, (created.clone(), changed.clone()));
        let page = app.get("/", &[]).await.body;
        assert!(
            page.contains(&format!(r#"<a href="{}""#, link(&changed))),
            "{page}"
        );
        assert!(!page.contains(r#"class="changed""#), "{page}");
    }
    let completed = trace_ids(&app).await.1;
    // Reopening causes none: the row links the reopening apart, as the last change.
    let (status, reopened) =
        traced_post(&app, &format!("/todos/{id}/completed"), "completed=false").await;
    assert_eq!(status, 303);
    assert_eq!(trace_ids(&app).await, (created.clone(), reopened.clone()));
    let page = app.get("/", &[]).await.body;
    assert!(
        page.contains(&format!(r#"<a href="{}""#, link(&completed))),
        "{page}"
    );
    assert!(
        page.contains(&format!(r#"<a class="changed" href="{}""#, link(&reopened))),
        "{page}"
    );
    // A change refused changes nothing, its trace included.
    let (status, _) = traced_post(&app, &format!("/todos/{id}/title"), "title=+").await;
    assert_eq!(status, 422);
    assert_eq!(trace_ids(&app).await, (created, reopened));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_todo_and_its_job_are_stored_together_or_not_at_all(pool: PgPool) {
    let app = FastApp::new(pool.clone()).await;
    // The job's insert fails, after the to-do's went through in the same transaction.
    tests::fast::refuse_inserts(&pool, "jobs").await;
    let refused = app.post_form("/todos", "title=half+done", &[]).await;
    assert!(refused.status.is_server_error(), "{}", refused.status);
    assert!(
        refused.body.contains(r#"id="trace-id""#),
        "{}",
        refused.body
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM todos").await,
        0,
        "rolled back"
    );
    assert_eq!(app.queued().await, 0, "nothing sent");

    tests::fast::accept_inserts(&pool, "jobs").await;
    assert_eq!(
        app.post_form("/todos", "title=whole", &[]).await.status,
        303
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM todos").await, 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM jobs").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_dead_letter_shows_its_receive_count_last_error_and_trace(pool: PgPool) {
    let app = FastApp::new(pool.clone()).await;
    let (status, trace) = traced_post(&app, "/todos", "title=renew+the+passport").await;
    assert_eq!(status, 303);
    sqlx::query(
        "UPDATE jobs SET state = 'dead', attempts = 3, \
         last_error = 'job_invalid: the body is not a job'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let page = app.get("/dead-letters", &[]).await.body;
    for shown in [
        "enrich_todo: renew the passport",
        "dead after 3 receives",
        r#"<p class="error">job_invalid: the body is not a job</p>"#,
        &format!("http://localhost:16686/trace/{trace}"),
    ] {
        assert!(page.contains(shown), "{shown}: {page}");
    }
}
