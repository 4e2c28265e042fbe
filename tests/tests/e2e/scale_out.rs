//! Past one machine: two web processes (two ECS tasks) behind a round-robin balancer,
//! sharing the insights through PostgreSQL. One user's clicks alternate between them;
//! either process's journey shows every click in order, the totals are exact, and a
//! process that restarts loses nothing.

use serde_json::Value;
use tests::{
    app::{Options, TestApp, new_traceparent, new_visitor},
    binaries, find_in,
    poll::eventually_showing,
    proxy::RoundRobin,
};

use crate::DEADLINE;

/// (method, route, trace id) of each step of `user`'s journey, as `address` shows it
/// (read as a guest: the read is not a step of theirs).
async fn journey(address: &str, user: &str) -> Vec<(String, String, String)> {
    let journey: Value = new_visitor()
        .get(format!("{address}/api/journey/{user}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    journey["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["method"].as_str().unwrap().to_owned(),
                s["route"].as_str().unwrap().to_owned(),
                s["trace_id"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

async fn user_figures(address: &str, user: &str) -> Value {
    let overview: Value = new_visitor()
        .get(format!("{address}/api/insights"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    find_in(&overview["users"], "user", user).clone()
}

/// `n` clicks of `cookie`'s user through `url_of`, alternating an add and a list; each
/// with its own trace. Returns the steps the journey must show.
async fn click(
    url_of: impl Fn(&str) -> String,
    cookie: &str,
    n: usize,
) -> Vec<(String, String, String)> {
    let http = new_visitor();
    let mut steps = Vec::new();
    for i in 0..n {
        let (traceparent, trace) = new_traceparent();
        let (request, step) = if i % 2 == 0 {
            let form = [("title", format!("click {i}"))];
            (
                http.post(url_of("/todos")).form(&form),
                ("POST", "/todos", 303),
            )
        } else {
            (http.get(url_of("/api/todos")), ("GET", "/api/todos", 200))
        };
        let response = request
            .header("cookie", cookie)
            .header("traceparent", traceparent)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), step.2, "click {i}");
        steps.push((step.0.to_owned(), step.1.to_owned(), trace));
    }
    steps
}

#[tokio::test]
async fn two_web_tasks_behind_a_balancer_share_one_journey_and_exact_totals() {
    let mut app = TestApp::spawn_with(
        binaries!(),
        Options {
            with_worker: false,
            // Each process writes its batch every 200 ms: the other's page catches up.
            env: vec![("INSIGHTS_FLUSH_MS", "200".into())],
            ..Options::default()
        },
    )
    .await;
    let first = app.address.clone();
    let second = app.start_another_web("web 2", "0").await;
    let balancer = RoundRobin::start(&[&first, &second]).await;
    let ada = app.sign_in("ada").await;

    let expected = click(|path| balancer.url(path), &ada, 12).await;
    assert_eq!(balancer.served(), [6, 6], "the clicks alternated");

    for address in [&first, &second] {
        let steps = eventually_showing("every click in the journey", DEADLINE, || async {
            let steps = journey(address, "ada").await;
            if steps.len() == expected.len() {
                Ok(steps)
            } else {
                Err(format!("{address}: {steps:?}"))
            }
        })
        .await;
        assert_eq!(steps, expected, "{address}: every click, in order");
        let ada = user_figures(address, "ada").await;
        assert_eq!(ada["requests"], 12, "{address}: {ada:#}");
        assert_eq!(ada["todos_created"], 6, "{address}: {ada:#}");
        assert_eq!(
            ada["usage"]["sqs_requests"], 6,
            "one SendMessage an add: {ada:#}"
        );
    }
}

#[tokio::test]
async fn a_web_task_that_restarts_loses_nothing() {
    let mut app = TestApp::spawn_with(
        binaries!(),
        Options {
            with_worker: false,
            // No batch on a timer during the test: only shutdown (or a page) writes one.
            env: vec![("INSIGHTS_FLUSH_MS", "60000".into())],
            ..Options::default()
        },
    )
    .await;
    let other = app.start_another_web("web 2", "0").await;
    let ada = app.sign_in("ada").await;
    let first = app.address.clone();
    let before = click(|path| format!("{first}{path}"), &ada, 6).await;

    // Written off the request path: the other task has not seen them yet.
    assert_eq!(
        journey(&other, "ada").await,
        [],
        "still in the first task's batch"
    );

    // ECS stops the task (a deploy, a scale-in): its last batch is written on the way out.
    app.sigterm_web();
    app.wait_web_stopped().await;
    assert_eq!(
        journey(&other, "ada").await,
        before,
        "the other task has them all"
    );

    app.start_web_again().await;
    let after = click(|path| format!("{first}{path}"), &ada, 4).await;
    let all: Vec<_> = before.iter().chain(&after).cloned().collect();
    assert_eq!(
        journey(&first, "ada").await,
        all,
        "the new process reads them back"
    );
    // The other task's page shows the restarted one's new clicks once they are written.
    app.sigterm_web();
    app.wait_web_stopped().await;
    assert_eq!(journey(&other, "ada").await, all);
    let figures = user_figures(&other, "ada").await;
    assert_eq!(figures["requests"], 10, "{figures:#}");
    assert_eq!(figures["todos_created"], 5, "{figures:#}");
}
