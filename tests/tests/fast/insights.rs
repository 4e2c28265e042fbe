//! Insights and journeys: each user's requests as every web task writes them to
//! PostgreSQL, read through `/api/insights` and `/api/journey/{user}` as the pages read
//! them.

use serde_json::Value;
use sqlx::PgPool;
use tests::{fast::FastApp, find_in};

async fn json(app: &FastApp, path: &str) -> Value {
    let reply = app.get(path, &[]).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    serde_json::from_str(&reply.body).unwrap()
}

/// The ids of the jobs the journey shows under the request of `trace`.
fn jobs_of(journey: &Value, trace: &str) -> Vec<String> {
    find_in(&journey["steps"], "trace_id", trace)["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn job_of(pool: &PgPool, title: &str) -> String {
    let id: uuid::Uuid = sqlx::query_scalar(
        "SELECT j.id FROM jobs j JOIN todos t ON t.id = j.todo_id WHERE t.title = $1",
    )
    .bind(title)
    .fetch_one(pool)
    .await
    .unwrap();
    id.to_string()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_journey_keeps_the_last_50_requests_and_drops_jobs_of_deleted_todos(pool: PgPool) {
    let app = FastApp::new(pool.clone()).await;
    let mut traces = Vec::new();
    for title in ["keep", "drop"] {
        let (added, trace) = app
            .traced_post(
                "/todos",
                &format!("title={title}"),
                &[("cookie", "user=ada")],
            )
            .await;
        assert_eq!(added.status, 303);
        traces.push(trace);
    }
    let (keep, drop) = (job_of(&pool, "keep").await, job_of(&pool, "drop").await);
    // Read as a guest (her own reads would be steps of her journey too).
    let journey = json(&app, "/api/journey/ada").await;
    assert_eq!(
        jobs_of(&journey, &traces[0]),
        std::slice::from_ref(&keep),
        "{journey:#}"
    );
    assert_eq!(jobs_of(&journey, &traces[1]), [drop], "{journey:#}");

    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM todos WHERE title = 'drop'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let deleted = app
        .post_form(
            &format!("/todos/{id}/delete"),
            "",
            &[("cookie", "user=ada")],
        )
        .await;
    assert_eq!(deleted.status, 303);
    let journey = json(&app, "/api/journey/ada").await;
    assert_eq!(jobs_of(&journey, &traces[0]), [keep]);
    assert!(
        jobs_of(&journey, &traces[1]).is_empty(),
        "the request stays, the deleted to-do's job does not: {journey:#}"
    );

    // 49 more: with the delete, exactly the last 50; both adds have dropped out.
    for _ in 0..49 {
        assert_eq!(
            app.get("/api/todos", &[("cookie", "user=ada")])
                .await
                .status,
            200
        );
    }
    let journey = json(&app, "/api/journey/ada").await;
    let steps: Vec<String> = journey["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["method"].as_str().unwrap(),
                s["route"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(steps.len(), 50, "{steps:?}");
    assert_eq!(steps[0], "POST /todos/{id}/delete", "the oldest kept");
    assert!(
        steps[1..].iter().all(|s| s == "GET /api/todos"),
        "{steps:?}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn insights_give_p95_latency_and_count_users_past_the_bound_as_other(pool: PgPool) {
    let app = FastApp::new(pool).await;
    // Slow queries for one cookie only: ada's requests are fast but for two of twenty.
    let slow = |ms: u64| {
        format!(r#"{{"enabled": true, "scope": "slow", "params": {{"latency_ms": {ms}}}}}"#)
    };
    assert_eq!(
        app.put_json("/api/faults/slow_db", &slow(200)).await.status,
        200
    );
    for _ in 0..18 {
        app.get("/api/todos", &[("cookie", "user=ada")]).await;
    }
    let slow_cookie = [("cookie", "user=ada; fault_scope=slow")];
    app.get("/api/todos", &slow_cookie).await;
    assert_eq!(
        app.put_json("/api/faults/slow_db", &slow(1200))
            .await
            .status,
        200
    );
    app.get("/api/todos", &slow_cookie).await;

    let overview = json(&app, "/api/insights").await;
    let ada = find_in(&overview["users"], "user", "ada");
    assert_eq!(ada["requests"], 20);
    let (p50, p95) = (
        ada["p50_ms"].as_f64().unwrap(),
        ada["p95_ms"].as_f64().unwrap(),
    );
    // By rank, of 20 sorted latencies: the 10th and the 19th, the 200 ms one (not the
    // slowest, 1.2 s: p95 is not the maximum).
    assert!(p50 < 200.0, "p50 {p50} ms");
    assert!((200.0..1200.0).contains(&p95), "p95 {p95} ms");

    // Past the bound, new users share one entry, `other`.
    let max = web::insights::MAX_USERS;
    let seen = overview["users"].as_array().unwrap().len();
    let newcomers: Vec<String> = (0..max - seen + 2).map(|i| format!("user-{i}")).collect();
    for name in &newcomers {
        let cookie = format!("user={name}");
        assert_eq!(
            app.get("/api/todos", &[("cookie", &cookie)]).await.status,
            200
        );
    }
    let overview = json(&app, "/api/insights").await;
    let users = overview["users"].as_array().unwrap();
    assert_eq!(users.len(), max + 1, "{max} users and other");
    assert_eq!(find_in(&overview["users"], "user", "other")["requests"], 2);
    let counted = |name: &str| users.iter().any(|u| u["user"] == name);
    assert!(counted(&newcomers[max - seen - 1]) && !counted(&newcomers[max - seen]));
    assert_eq!(
        overview["last_hour"]["all_ok"].as_u64().unwrap() as usize,
        max - 1,
        "signed-in users only: not guest, not other"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn each_users_windows_are_bounded_and_kept_for_the_retention(pool: PgPool) {
    let app = FastApp::new(pool.clone()).await;
    // One real request makes ada's row; the rest are written as batches would be, so the
    // test need not make 2,000 requests. 2,100 of hers: the oldest 20 failed.
    assert_eq!(
        app.get("/api/todos", &[("cookie", "user=ada")])
            .await
            .status,
        200
    );
    assert_eq!(app.get("/api/insights", &[]).await.status, 200);
    sqlx::query(
        "INSERT INTO insight_visits (user_name, at, method, route, status, latency_ms, trace_id) \
         SELECT 'ada', now() - make_interval(secs => 3000 - i), 'GET', '/api/todos', \
                CASE WHEN i <= 20 THEN 500 ELSE 200 END, 1.0, NULL \
         FROM generate_series(1, 2100) AS i",
    )
    .execute(&pool)
    .await
    .unwrap();
    // And one of bob's from before the retention (30 days), with his row.
    sqlx::raw_sql(
        "INSERT INTO insight_users (user_name, last_seen) VALUES ('bob', now() - interval '31 days'); \
         INSERT INTO insight_visits (user_name, at, method, route, status, latency_ms) \
         VALUES ('bob', now() - interval '31 days', 'GET', '/', 200, 1.0)",
    )
    .execute(&pool)
    .await
    .unwrap();

    app.state.insights.prune_now().await.unwrap();

    let kept: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status < 500), count(*) FILTER (WHERE status >= 500) \
         FROM insight_visits WHERE user_name = 'ada'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    // Her last 2,000 requests (all worked) and her last 10 failed ones, older as they are.
    assert_eq!(kept, [(2000, 10)]);
    let bob: i64 =
        sqlx::query_scalar("SELECT count(*) FROM insight_visits WHERE user_name = 'bob'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(bob, 0, "older than the retention");
    let overview = json(&app, "/api/insights").await;
    assert!(
        overview["users"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["user"] != "bob"),
        "{overview:#}"
    );
    let ada = find_in(&overview["users"], "user", "ada");
    assert_eq!(
        ada["last_errors"].as_array().unwrap().len(),
        0,
        "no traces: none shown"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_batch_the_database_refuses_is_written_with_the_next_one(pool: PgPool) {
    let app = FastApp::new(pool.clone()).await;
    tests::fast::refuse_inserts(&pool, "insight_visits").await;
    assert_eq!(
        app.get("/api/todos", &[("cookie", "user=ada")])
            .await
            .status,
        200
    );
    let refused = app.state.insights.flush().await.unwrap_err();
    assert!(
        refused.to_string().contains("no insight_visits today"),
        "{refused}"
    );
    tests::fast::accept_inserts(&pool, "insight_visits").await;
    assert_eq!(
        app.get("/api/todos", &[("cookie", "user=ada")])
            .await
            .status,
        200
    );
    app.state.insights.flush().await.unwrap();
    let journey = json(&app, "/api/journey/ada").await;
    assert_eq!(journey["steps"].as_array().unwrap().len(), 2, "{journey:#}");
    let overview = json(&app, "/api/insights").await;
    assert_eq!(find_in(&overview["users"], "user", "ada")["requests"], 2);
}
