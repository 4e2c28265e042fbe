//! The insights page answers application questions from known injected latencies and
//! errors: which user's writes are slow, which user hit an error (and its trace), how many
//! to-dos each user created and completed and how long they took, who was cursed.

use serde_json::{Value, json};
use tests::{TestApp, binaries, find_in, poll::eventually_showing};

use crate::DEADLINE;

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
            app.post_as(&slow, "/todos", &[("title", &format!("slow {i}"))])
                .await
                .status(),
            303
        );
        assert_eq!(
            app.post_as(&quick, "/todos", &[("title", &format!("quick {i}"))])
                .await
                .status(),
            303
        );
    }
    let failed = app
        .post_as(&quick, "/todos", &[("title", "httpstat 503")])
        .await;
    assert_eq!(failed.status(), 503);
    let trace_id = tests::trace_of(&failed);

    let overview: Value = app.get("/api/insights").await.json().await.unwrap();
    let user = |name: &str| tests::find_in(&overview["users"], "user", name);
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

/// The last exported value of `name` for the series whose `key` is `value`
/// (cumulative temporality: the latest point is the total).
fn last_point(app: &TestApp, name: &str, key: &str, value: &str) -> Option<(f64, u64)> {
    app.otlp
        .metrics()
        .into_iter()
        .rev()
        .find(|p| {
            p.service == "todo-web"
                && p.name == name
                && p.attributes.get(key) == Some(&json!(value))
        })
        .map(|p| (p.value, p.count))
}

#[tokio::test]
async fn kpis_count_each_users_todos_time_to_done_and_who_hit_an_error_and_export_them() {
    let app = TestApp::spawn_with(
        binaries!(),
        tests::app::Options {
            with_worker: false,
            env: vec![("OTEL_METRIC_EXPORT_INTERVAL", "200".into())],
            ..Default::default()
        },
    )
    .await;
    let ada = app.sign_in("ada").await;
    let bob = app.sign_in("bob").await;
    for title in ["one", "two", "three"] {
        assert_eq!(
            app.post_as(&ada, "/todos", &[("title", title)])
                .await
                .status(),
            303
        );
    }
    // "one" was created 600 s ago, "two" 1,200 s ago: their median time to done is 900 s.
    for (title, age) in [("one", 600.0), ("two", 1200.0)] {
        sqlx::query(
            "UPDATE todos SET created_at = now() - make_interval(secs => $2) WHERE title = $1",
        )
        .bind(title)
        .bind(age)
        .execute(&app.db)
        .await
        .unwrap();
    }
    let todos: Vec<Value> = app.get_as(&ada, "/api/todos").await.json().await.unwrap();
    for todo in todos.iter().filter(|t| t["title"] != "three") {
        let path = format!("/todos/{}/completed", todo["id"].as_str().unwrap());
        assert_eq!(
            app.post_as(&ada, &path, &[("completed", "true")])
                .await
                .status(),
            303
        );
        // Completing again changes nothing and counts nothing.
        assert_eq!(
            app.post_as(&ada, &path, &[("completed", "true")])
                .await
                .status(),
            303
        );
    }
    // bob's one click fails.
    assert_eq!(
        app.post_as(&bob, "/todos", &[("title", "httpstat 500")])
            .await
            .status(),
        500
    );

    let overview: Value = app.get("/api/insights").await.json().await.unwrap();
    let user = |name: &str| tests::find_in(&overview["users"], "user", name);
    let a = user("ada");
    assert_eq!(
        (a["todos_created"].as_u64(), a["todos_completed"].as_u64()),
        (Some(3), Some(2)),
        "{a}"
    );
    let median = a["median_time_to_done_s"].as_f64().unwrap();
    assert!((899.0..=910.0).contains(&median), "median {median} s");
    assert_eq!(a["error_in_last_hour"], false);
    assert_eq!(user("bob")["error_in_last_hour"], true);
    // Signed-in users only: guest (everyone not signed in) is not one user.
    assert_eq!(
        overview["last_hour"],
        json!({ "with_errors": 1, "all_ok": 1 })
    );

    let page = app.get_text("/insights").await;
    assert!(
        page.contains(r#"<strong id="users-with-errors">1</strong>"#),
        "{page}"
    );
    assert!(
        page.contains(r#"<strong id="users-all-ok">1</strong>"#),
        "{page}"
    );
    assert!(
        page.contains(r#"<td class="time-to-done">15m "#),
        "900 s and a little: {page}"
    );

    // The same figures as OTLP metrics, one series per user (bounded like enduser.id).
    tests::eventually("ada's KPIs exported", DEADLINE, || async {
        let created = last_point(&app, "todo.created", "enduser.id", "ada")?;
        let completed = last_point(&app, "todo.completed", "enduser.id", "ada")?;
        let done = last_point(&app, "todo.completion.duration", "enduser.id", "ada")?;
        let outcome = "todo.user.outcome";
        let errors = last_point(&app, "todo.active_users", outcome, "error")?;
        let ok = last_point(&app, "todo.active_users", outcome, "ok")?;
        (created.0 == 3.0
            && completed.0 == 2.0
            && done.1 == 2
            && (1799.0..=1820.0).contains(&done.0)
            && errors.0 == 1.0
            && ok.0 == 1.0)
            .then_some(())
    })
    .await;
}

/// The last exported `todo.user.cost` of `user`, summed over the services (web adds
/// what its requests used, the worker what its records used).
fn exported_cost(app: &TestApp, user: &str) -> f64 {
    ["todo-web", "todo-worker"]
        .iter()
        .filter_map(|service| {
            app.otlp
                .metrics()
                .into_iter()
                .rev()
                .find(|p| {
                    p.service == *service
                        && p.name == "todo.user.cost"
                        && p.attributes.get("enduser.id") == Some(&json!(user))
                })
                .map(|p| p.value)
        })
        .sum()
}

#[tokio::test]
async fn a_user_with_n_clicks_and_m_jobs_costs_what_the_price_table_says() {
    // Only per-request prices: CPU and database time are priced at 0, so the cost is
    // exact (`a_users_cost_prices_cpu_and_database_time` prices those).
    let prices = "fargate_vcpu_hour=0,fargate_gb_hour=0,db_instance_hour=0,lambda_gb_second=0,\
                  sqs_request=0.001,lambda_request=0.01";
    let app = TestApp::spawn_with(
        binaries!(),
        tests::app::Options {
            env: vec![
                ("PRICES", prices.into()),
                ("OTEL_METRIC_EXPORT_INTERVAL", "200".into()),
            ],
            ..Default::default()
        },
    )
    .await;
    let ada = app.sign_in("ada").await;
    let (clicks, jobs) = (7, 5);
    for i in 0..jobs {
        let added = app
            .post_as(&ada, "/todos", &[("title", &format!("t{i}"))])
            .await;
        assert_eq!(added.status(), 303);
    }
    for _ in jobs..clicks {
        assert_eq!(app.get_as(&ada, "/api/todos").await.status(), 200);
    }
    // Each job: web's SendMessage, the worker's receive and delete; one Lambda request.
    let want = (3 * jobs) as f64 * 0.001 + jobs as f64 * 0.01;
    let figures = eventually_showing("every job processed and counted", DEADLINE, || async {
        let overview: Value = app.get("/api/insights").await.json().await.unwrap();
        let figures = find_in(&overview["users"], "user", "ada").clone();
        if figures["usage"]["worker_records"] == jobs {
            Ok(figures)
        } else {
            Err(figures.to_string())
        }
    })
    .await;
    assert_eq!(figures["requests"], clicks, "{figures:#}");
    assert_eq!(figures["usage"]["sqs_requests"], 3 * jobs, "{figures:#}");
    let mb_ms = figures["usage"]["worker_mb_ms"].as_u64().unwrap();
    assert!(
        mb_ms >= jobs * 128 && mb_ms % 128 == 0,
        "each record billed whole milliseconds × 128 MB: {mb_ms}"
    );
    let total = figures["cost"]["total_usd"].as_f64().unwrap();
    assert!(
        (total - want).abs() < 1e-12,
        "{total} != {want}: {figures:#}"
    );
    let per_todo = figures["cost_per_todo_usd"].as_f64().unwrap();
    assert!((per_todo - want / jobs as f64).abs() < 1e-12, "{per_todo}");
    // The metric says the same, web's part and the worker's added up.
    eventually_showing("the cost exported by web and worker", DEADLINE, || async {
        let exported = exported_cost(&app, "ada");
        if (exported - want).abs() < 1e-9 {
            Ok(())
        } else {
            Err(format!("{exported}"))
        }
    })
    .await;
    let page = app.get_text("/insights").await;
    assert!(page.contains("$0.0650"), "the cost column: {page}");
}

#[tokio::test]
async fn a_users_cost_prices_cpu_and_database_time() {
    let app = TestApp::web_only(binaries!()).await;
    let ada = app.sign_in("ada").await;
    for i in 0..3 {
        let added = app
            .post_as(&ada, "/todos", &[("title", &format!("t{i}"))])
            .await;
        assert_eq!(added.status(), 303);
    }
    let overview: Value = app.get("/api/insights").await.json().await.unwrap();
    let ada = find_in(&overview["users"], "user", "ada");
    let (usage, cost, prices) = (&ada["usage"], &ada["cost"], &overview["prices"]);
    let f = |v: &Value| v.as_f64().unwrap();
    let (cpu, db) = (f(&usage["web_cpu_s"]), f(&usage["db_s"]));
    assert!(cpu > 0.0 && cpu < 3.0, "three requests' CPU: {cpu} s");
    assert!(db > 0.0 && db < 3.0, "their queries' time: {db} s");
    // The default table (us-east-1 list prices): a task's price over its vCPUs, an
    // instance's over its vCPUs.
    let cpu_second = (f(&prices["fargate_vcpu_hour"]) * f(&prices["web_task_vcpu"])
        + f(&prices["fargate_gb_hour"]) * f(&prices["web_task_gb"]))
        / 3600.0
        / f(&prices["web_task_vcpu"]);
    let db_second = f(&prices["db_instance_hour"]) / 3600.0 / f(&prices["db_vcpus"]);
    assert!(
        (f(&cost["web_usd"]) - cpu * cpu_second).abs() < 1e-15,
        "{cost}"
    );
    assert!(
        (f(&cost["database_usd"]) - db * db_second).abs() < 1e-15,
        "{cost}"
    );
    assert_eq!(overview["prices_region"], "us-east-1");
}
