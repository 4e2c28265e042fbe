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
