//! One scenario per fault: switch it on, drive the app, assert what a user sees AND
//! the trace's shape; switch it off and assert the trace is whole again.
//! Probabilistic faults are tested at probability 1 and 0 only: no flaky tests.

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::json;
use tests::{
    TestApp,
    app::Options,
    binaries, eventually,
    traces::{has_server, is_marked, named, names, one},
};

use crate::DEADLINE;

fn on() -> serde_json::Value {
    json!({ "enabled": true, "probability": 1.0 })
}

fn off() -> serde_json::Value {
    json!({ "enabled": false })
}

async fn todo_by_title(app: &TestApp, title: &str) -> serde_json::Value {
    app.todos()
        .await
        .into_iter()
        .find(|t| t["title"] == title)
        .unwrap_or_else(|| panic!("to-do {title:?} saved"))
}

async fn wait_job_state(app: &TestApp, title: &str, state: &str) -> serde_json::Value {
    eventually(
        &format!("job of {title:?} to be {state}"),
        DEADLINE,
        || async {
            app.todos()
                .await
                .into_iter()
                .find(|t| t["title"] == title && t["job_state"] == state)
        },
    )
    .await
}

#[tokio::test]
async fn web_error_answers_500_with_the_trace_id_and_an_explained_span() {
    let app = TestApp::web_only(binaries!()).await;
    app.set_fault("web_error", on()).await;

    let (response, trace_id) = app.traced_get("/").await;
    assert_eq!(response.status(), 500);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(&trace_id),
        "the error page names the trace: {html}"
    );
    assert!(html.contains("web_error"));
    // The switches themselves keep working while the app is broken.
    assert_eq!(app.get("/faults").await.status(), 200);

    let spans = app
        .trace_where(&trace_id, "the failed request's span", DEADLINE, |s| {
            !s.is_empty()
        })
        .await;
    let server = one(&spans, "todo-web", "GET /");
    assert!(server.is_error() && is_marked(server, "web_error"));
    assert!(server.events.iter().any(|e| e == "exception"));
    assert_eq!(server.attr("http.response.status_code"), Some(&json!(500)));
    assert_eq!(
        server.attr_str("error.type"),
        Some("web_error"),
        "the fault's type, not the status code"
    );
    // The SERVER span is no `tracing` span: the request's ERROR log line still becomes
    // one of its events (common::logs::ContextEvents).
    assert!(
        server.events.iter().any(|e| e == "request failed"),
        "{:?}",
        server.events
    );
    assert!(
        named(&spans, "todo-web", "SELECT todos").is_empty(),
        "failed before any query"
    );

    // Schrödinger at probability 0: on, but never fires.
    app.set_fault("web_error", json!({ "enabled": true, "probability": 0.0 }))
        .await;
    assert_eq!(app.get("/").await.status(), 200);

    app.set_fault("web_error", off()).await;
    let (response, trace_id) = app.traced_get("/").await;
    assert_eq!(response.status(), 200);
    let spans = app
        .trace_where(&trace_id, "a healthy list request", DEADLINE, has_server)
        .await;
    assert!(!one(&spans, "todo-web", "GET /").is_error());
    assert_eq!(named(&spans, "todo-web", "SELECT todos").len(), 1);
}

#[tokio::test]
async fn a_fault_scoped_to_one_session_breaks_only_that_session() {
    let app = TestApp::web_only(binaries!()).await;
    app.set_fault("web_error", json!({ "enabled": true, "scope": "talk-1" }))
        .await;
    let mine = app
        .http
        .get(app.url("/"))
        .header("cookie", "fault_scope=talk-1")
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status(), 500);
    let by_baggage = app
        .http
        .get(app.url("/"))
        .header("baggage", "fault.scope=talk-1")
        .send()
        .await
        .unwrap();
    assert_eq!(by_baggage.status(), 500);
    assert_eq!(app.get("/").await.status(), 200, "everyone else is fine");
    let theirs = app
        .http
        .get(app.url("/"))
        .header("cookie", "fault_scope=talk-2")
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 200);
}

#[tokio::test]
async fn a_scoped_fault_follows_the_session_into_the_worker() {
    let app = TestApp::spawn(binaries!()).await;
    app.set_fault(
        "slow_db",
        json!({ "enabled": true, "scope": "talk-1", "params": { "latency_ms": 50 } }),
    )
    .await;
    let (traceparent, trace_id) = tests::app::new_traceparent();
    let response = app
        .http
        .post(app.url("/todos"))
        .header("traceparent", traceparent)
        .header("cookie", "fault_scope=talk-1")
        .form(&[("title", "scoped")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let spans = app
        .trace_where(&trace_id, "the worker's slowed queries", DEADLINE, |s| {
            !named(s, "todo-worker", "UPDATE todos").is_empty() && has_server(s)
        })
        .await;
    assert!(is_marked(
        one(&spans, "todo-web", "INSERT todos"),
        "slow_db"
    ));
    let worker_update = one(&spans, "todo-worker", "UPDATE todos");
    assert!(
        is_marked(worker_update, "slow_db"),
        "scope reached the worker via baggage"
    );
    assert!(worker_update.duration_ms() >= 50.0);

    // Another session's click is not slowed, in web or worker.
    let (_, other) = app
        .traced_post_form("/todos", &[("title", "unscoped")])
        .await;
    let spans = app
        .trace_where(&other, "the other session's trace", DEADLINE, |s| {
            !named(s, "todo-worker", "UPDATE todos").is_empty() && has_server(s)
        })
        .await;
    assert!(
        spans.iter().all(|s| s.attr("fault.name").is_none()),
        "{:#?}",
        names(&spans)
    );
}

#[tokio::test]
async fn slow_db_makes_every_query_span_longer_and_marked() {
    let app = TestApp::web_only(binaries!()).await;
    app.set_fault(
        "slow_db",
        json!({ "enabled": true, "params": { "latency_ms": 300 } }),
    )
    .await;
    let (response, trace_id) = app.traced_get("/").await;
    assert_eq!(response.status(), 200, "slow, not broken");
    let spans = app
        .trace_where(&trace_id, "the slow list request", DEADLINE, has_server)
        .await;
    for name in ["SELECT todos", "SELECT completion_stats"] {
        let span = one(&spans, "todo-web", name);
        assert!(is_marked(span, "slow_db"), "{name}");
        assert!(
            span.duration_ms() >= 300.0,
            "{name}: {} ms",
            span.duration_ms()
        );
    }

    app.set_fault("slow_db", off()).await;
    let (_, trace_id) = app.traced_get("/").await;
    let spans = app
        .trace_where(&trace_id, "the list request", DEADLINE, has_server)
        .await;
    assert!(spans.iter().all(|s| s.attr("fault.name").is_none()));
}

#[tokio::test]
async fn n_plus_one_shows_a_ladder_of_one_query_per_row() {
    let app = TestApp::web_only(binaries!()).await;
    for title in ["one", "two", "three", "four"] {
        app.post_form("/todos", &[("title", title)]).await;
    }
    app.set_fault("n_plus_one", on()).await;
    let (response, trace_id) = app.traced_get("/").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.text().await.unwrap().contains("enrich: queued"),
        "same page"
    );
    let spans = app
        .trace_where(&trace_id, "the ladder", DEADLINE, |s| {
            named(s, "todo-web", "SELECT jobs").len() >= 4 && has_server(s)
        })
        .await;
    let server = one(&spans, "todo-web", "GET /");
    assert!(is_marked(server, "n_plus_one"));
    let ladder = named(&spans, "todo-web", "SELECT jobs");
    assert_eq!(ladder.len(), 4, "one query per to-do");
    assert!(ladder.iter().all(|s| s.parent_span_id == server.span_id));

    app.set_fault("n_plus_one", off()).await;
    let (_, trace_id) = app.traced_get("/").await;
    let spans = app
        .trace_where(&trace_id, "the joined list", DEADLINE, has_server)
        .await;
    assert!(named(&spans, "todo-web", "SELECT jobs").is_empty());
    assert_eq!(named(&spans, "todo-web", "SELECT todos").len(), 1);
}

#[tokio::test]
async fn db_unavailable_answers_503_fails_readiness_and_recovers_when_switched_off() {
    let app = TestApp::web_only(binaries!()).await;
    app.set_fault("db_unavailable", on()).await;
    let (response, trace_id) = app.traced_get("/").await;
    assert_eq!(response.status(), 503);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("database is unavailable") && html.contains(&trace_id),
        "{html}"
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert!(
        body["database"]["error"].is_string() && body["queue"] == "ok",
        "{body}"
    );
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "up, but not working"
    );

    let spans = app
        .trace_where(&trace_id, "the failed query span", DEADLINE, has_server)
        .await;
    let query = spans
        .iter()
        .find(|s| s.kind == SpanKind::Client)
        .expect("a DB span");
    assert!(query.is_error() && is_marked(query, "db_unavailable"));
    assert!(query.events.iter().any(|e| e == "exception"));
    assert_eq!(query.attr_str("error.type"), Some("db_unavailable"));
    assert!(one(&spans, "todo-web", "GET /").is_error());

    app.set_fault("db_unavailable", off()).await;
    assert_eq!(app.get("/").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn queue_unavailable_keeps_the_todo_and_delivers_the_job_when_the_queue_is_back() {
    let app = TestApp::spawn(binaries!()).await;
    app.set_fault("queue_unavailable", on()).await;
    let (response, trace_id) = app
        .traced_post_form("/todos", &[("title", "patient")])
        .await;
    assert_eq!(response.status(), 303, "saved anyway");
    assert_eq!(todo_by_title(&app, "patient").await["job_state"], "pending");
    assert_eq!(app.get("/readyz").await.status(), 503);
    let spans = app
        .trace_where(&trace_id, "the failed send", DEADLINE, |s| {
            s.iter().any(|s| s.kind == SpanKind::Producer)
        })
        .await;
    let producer = spans.iter().find(|s| s.kind == SpanKind::Producer).unwrap();
    assert!(producer.is_error() && is_marked(producer, "queue_unavailable"));

    app.set_fault("queue_unavailable", off()).await;
    let todo = wait_job_state(&app, "patient", "done").await;
    assert_eq!(todo["tags"], json!([]));
    // Still one trace: the relay continued the click's trace and linked to it.
    let spans = app
        .trace_where(&trace_id, "the relayed job's spans", DEADLINE, |s| {
            s.iter().any(|s| s.kind == SpanKind::Consumer)
                && !named(s, "todo-web", "relay job").is_empty()
        })
        .await;
    let server = one(&spans, "todo-web", "POST /todos");
    let relay = one(&spans, "todo-web", "relay job");
    assert_eq!(relay.parent_span_id, server.span_id);
    assert!(
        relay
            .links
            .contains(&(trace_id.clone(), server.span_id.clone()))
    );
    let sends: Vec<_> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Producer)
        .collect();
    assert_eq!(sends.len(), 2, "the failed send and the relay's");
    let relayed = sends.iter().find(|s| !s.is_error()).unwrap();
    assert_eq!(relayed.parent_span_id, relay.span_id);
    let consumer = spans.iter().find(|s| s.kind == SpanKind::Consumer).unwrap();
    assert_eq!(consumer.parent_span_id, relayed.span_id);
}

#[tokio::test]
async fn worker_error_fails_attempts_then_the_retry_succeeds() {
    let app = TestApp::spawn_with(
        binaries!(),
        Options {
            visibility_timeout: 1,
            ..Default::default()
        },
    )
    .await;
    app.set_fault(
        "worker_error",
        json!({ "enabled": true, "params": { "fail_first_attempts": 2 } }),
    )
    .await;
    let (_, trace_id) = app
        .traced_post_form("/todos", &[("title", "buy stamps")])
        .await;
    let todo = wait_job_state(&app, "buy stamps", "done").await;
    assert_eq!(todo["job_attempts"], 3);
    assert_eq!(todo["tags"], json!(["shopping"]));

    let spans = app
        .trace_where(&trace_id, "three attempts", DEADLINE, |s| {
            s.iter().filter(|s| s.kind == SpanKind::Consumer).count() == 3
                && !named(s, "todo-worker", "UPDATE todos").is_empty()
        })
        .await;
    let mut attempts: Vec<_> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Consumer)
        .collect();
    attempts.sort_by_key(|s| {
        s.attr("messaging.aws_sqs.approximate_receive_count")
            .and_then(|v| v.as_i64())
    });
    let counts: Vec<_> = attempts
        .iter()
        .map(|s| {
            s.attr("messaging.aws_sqs.approximate_receive_count")
                .and_then(|v| v.as_i64())
        })
        .collect();
    assert_eq!(counts, vec![Some(1), Some(2), Some(3)]);
    assert!(attempts[0].is_error() && is_marked(attempts[0], "worker_error"));
    assert!(attempts[1].is_error() && is_marked(attempts[1], "worker_error"));
    assert!(!attempts[2].is_error() && attempts[2].attr("fault.name").is_none());
    assert_eq!(app.queue_depth(&app.dlq_url).await, 0);
}

#[tokio::test]
async fn a_poison_message_is_dead_lettered_after_three_receives() {
    let app = TestApp::spawn_with(
        binaries!(),
        Options {
            visibility_timeout: 1,
            ..Default::default()
        },
    )
    .await;
    app.set_fault("poison_message", on()).await;
    let (_, trace_id) = app.traced_post_form("/todos", &[("title", "cursed")]).await;
    app.set_fault("poison_message", off()).await;
    wait_job_state(&app, "cursed", "dead").await;
    let html = app.get_text("/").await;
    assert!(html.contains("enrich: dead"), "{html}");
    eventually("the message in the DLQ", DEADLINE, || async {
        (app.queue_depth(&app.dlq_url).await == 1).then_some(())
    })
    .await;

    let spans = app
        .trace_where(&trace_id, "three failed attempts", DEADLINE, |s| {
            s.iter().filter(|s| s.kind == SpanKind::Consumer).count() == 3
        })
        .await;
    let producer = spans.iter().find(|s| s.kind == SpanKind::Producer).unwrap();
    assert!(is_marked(producer, "poison_message"));
    let message_id = producer.attr_str("messaging.message.id").unwrap();
    let consumers: Vec<_> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Consumer)
        .collect();
    assert!(consumers.iter().all(|c| c.is_error()
        && c.attr_str("messaging.message.id") == Some(message_id)
        && c.attr_str("error.type") == Some("job_invalid")));

    // Off again: the next to-do is processed normally.
    app.post_form("/todos", &[("title", "blessed")]).await;
    wait_job_state(&app, "blessed", "done").await;
}

#[tokio::test]
async fn worker_timeout_delivers_twice_and_the_effect_happens_once() {
    let app = TestApp::spawn_with(
        binaries!(),
        Options {
            visibility_timeout: 1,
            ..Default::default()
        },
    )
    .await;
    app.post_form("/todos", &[("title", "ship it")]).await;
    wait_job_state(&app, "ship it", "done").await;
    let id = todo_by_title(&app, "ship it").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.set_fault(
        "worker_timeout",
        json!({ "enabled": true, "params": { "sleep_ms": 2500 } }),
    )
    .await;
    let (_, trace_id) = app
        .traced_post_form(&format!("/todos/{id}/completed"), &[("completed", "true")])
        .await;
    let spans = app
        .trace_where(&trace_id, "two deliveries of one message", DEADLINE, |s| {
            s.iter()
                .filter(|s| s.kind == SpanKind::Consumer && s.attr("job.outcome").is_some())
                .count()
                == 2
        })
        .await;
    let consumers: Vec<_> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Consumer)
        .collect();
    assert_eq!(consumers.len(), 2);
    assert_eq!(
        consumers[0].attr_str("messaging.message.id"),
        consumers[1].attr_str("messaging.message.id")
    );
    let mut outcomes: Vec<_> = consumers
        .iter()
        .filter_map(|c| c.attr_str("job.outcome"))
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, vec!["done", "duplicate"]);
    let slow = consumers
        .iter()
        .find(|c| is_marked(c, "worker_timeout"))
        .expect("the slow attempt");
    assert!(slow.duration_ms() >= 2500.0);
    let count: i64 = sqlx::query_scalar("SELECT completed_count FROM completion_stats")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 1, "counted once");
}

#[tokio::test]
async fn broken_propagation_splits_the_click_into_two_traces_until_fixed() {
    let app = TestApp::spawn(binaries!()).await;
    app.set_fault("broken_propagation", on()).await;
    let (_, trace_id) = app.traced_post_form("/todos", &[("title", "orphan")]).await;
    wait_job_state(&app, "orphan", "done").await;
    let web = app
        .trace_where(&trace_id, "the web half", DEADLINE, |s| {
            s.iter().any(|s| s.kind == SpanKind::Producer)
        })
        .await;
    let producer = web.iter().find(|s| s.kind == SpanKind::Producer).unwrap();
    assert!(is_marked(producer, "broken_propagation"));
    let message_id = producer
        .attr_str("messaging.message.id")
        .unwrap()
        .to_owned();
    let consumer = eventually("the worker half", DEADLINE, || async {
        app.otlp.spans().into_iter().find(|s| {
            s.kind == SpanKind::Consumer && s.attr_str("messaging.message.id") == Some(&message_id)
        })
    })
    .await;
    assert_ne!(consumer.trace_id, trace_id, "two disconnected traces");
    assert!(consumer.links.is_empty(), "{consumer:#?}");
    // The worker's half hangs off the Lambda invocation span, in a trace of its own.
    let parent = eventually("the invocation span", DEADLINE, || async {
        app.otlp
            .spans()
            .into_iter()
            .find(|s| s.span_id == consumer.parent_span_id)
    })
    .await;
    assert_eq!(parent.attr_str("faas.trigger"), Some("pubsub"));
    assert_eq!(parent.trace_id, consumer.trace_id);

    app.set_fault("broken_propagation", off()).await;
    let (_, trace_id) = app.traced_post_form("/todos", &[("title", "whole")]).await;
    let spans = app
        .trace_where(&trace_id, "the whole trace again", DEADLINE, |s| {
            s.iter().any(|s| s.kind == SpanKind::Consumer) && has_server(s)
        })
        .await;
    assert!(spans.iter().all(|s| s.attr("fault.name").is_none()));
}

#[tokio::test]
async fn lost_spans_drops_the_workers_spans_until_the_flush_is_back() {
    let app = TestApp::spawn(binaries!()).await;
    app.set_fault("lost_spans", on()).await;
    let (_, lost) = app.traced_post_form("/todos", &[("title", "ghost")]).await;
    wait_job_state(&app, "ghost", "done").await;

    app.set_fault("lost_spans", off()).await;
    let (_, kept) = app
        .traced_post_form("/todos", &[("title", "visible")])
        .await;
    wait_job_state(&app, "visible", "done").await;
    // The worker exports in order: once the later trace's spans are in, the earlier
    // invocation's would be too, had they not been lost.
    app.trace_where(&kept, "the later click's worker spans", DEADLINE, |s| {
        s.iter()
            .any(|s| s.service == "todo-worker" && s.kind == SpanKind::Consumer)
    })
    .await;
    let spans = app.otlp.trace(&lost);
    assert!(
        spans.iter().any(|s| s.service == "todo-web"),
        "web's half is there"
    );
    assert!(
        spans.iter().all(|s| s.service != "todo-worker"),
        "the worker's spans are lost: {:#?}",
        names(&spans)
    );
}

#[tokio::test]
async fn magic_words_answer_with_a_status_meow_and_show_cat_buttons() {
    let app = TestApp::spawn(binaries!()).await;
    let (response, trace_id) = app
        .traced_post_form("/todos", &[("title", "httpstat 418")])
        .await;
    assert_eq!(response.status(), 418);
    let spans = app
        .trace_where(&trace_id, "the teapot", DEADLINE, |s| !s.is_empty())
        .await;
    let server = one(&spans, "todo-web", "POST /todos");
    assert_eq!(server.attr("http.response.status_code"), Some(&json!(418)));
    assert!(is_marked(server, "magic_word_httpstat"));
    let (response, _) = app
        .traced_post_form("/todos", &[("title", "httpstat 503")])
        .await;
    assert_eq!(response.status(), 503);

    let (response, trace_id) = app.traced_post_form("/todos", &[("title", "meow")]).await;
    assert_eq!(response.status(), 303);
    let spans = app
        .trace_where(&trace_id, "the meow message processed", DEADLINE, |s| {
            s.iter()
                .any(|s| s.kind == SpanKind::Consumer && s.attr_str("job.kind") == Some("meow"))
                && !named(s, "todo-web", "POST /todos").is_empty()
        })
        .await;
    assert!(is_marked(
        one(&spans, "todo-web", "POST /todos"),
        "magic_word_meow"
    ));
    assert!(app.todos().await.is_empty(), "magic words are not to-dos");

    let cat = app.post_form("/todos", &[("title", "cat")]).await;
    assert_eq!(cat.status(), 200);
    let html = cat.text().await.unwrap();
    for code in [200, 404, 418, 500, 503] {
        assert!(
            html.contains(&format!(r#"href="/httpstat/{code}""#)),
            "{code}"
        );
    }
    assert_eq!(app.get("/httpstat/500").await.status(), 500);
    assert_eq!(app.get("/httpstat/201").await.status(), 201);
    assert_eq!(app.get("/httpstat/999").await.status(), 404);
}

#[tokio::test]
async fn faults_can_be_switched_on_at_start_up_and_bad_settings_are_refused() {
    let app = TestApp::spawn_with(
        binaries!(),
        Options {
            with_worker: false,
            env: vec![("FAULTS", "web_error:status=502".into())],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(app.get("/").await.status(), 502);
    let list: Vec<serde_json::Value> = app.get("/api/faults").await.json().await.unwrap();
    assert_eq!(list.len(), 11, "the eleven faults of the catalogue");
    let web_error = list.iter().find(|f| f["name"] == "web_error").unwrap();
    assert_eq!(web_error["enabled"], true);
    assert!(web_error["description"].as_str().unwrap().contains("500"));

    for (name, body, status) in [
        ("web_error", json!({ "probability": 2 }), 422),
        ("web_error", json!({ "params": { "status": 200 } }), 422),
        ("slow_db", json!({ "params": { "colour": 1 } }), 422),
        ("slow_db", json!({ "scope": "<script>" }), 422),
        ("slow_db", json!({ "enabled": "yes" }), 400),
        ("nope", json!({ "enabled": true }), 404),
    ] {
        let response = app
            .http
            .put(app.url(&format!("/api/faults/{name}")))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{name} {body}");
    }
    app.set_fault("web_error", off()).await;
    assert_eq!(app.get("/").await.status(), 200);
}

#[tokio::test]
async fn the_fault_panel_switches_faults_with_plain_forms() {
    let app = TestApp::web_only(binaries!()).await;
    let panel = app.get_text("/faults").await;
    for fault in ["web_error", "slow_db", "n_plus_one", "lost_spans"] {
        assert!(
            panel.contains(&format!(r#"action="/faults/{fault}""#)),
            "{fault}"
        );
    }
    let response = app
        .post_form(
            "/faults/web_error",
            &[
                ("enabled", "on"),
                ("probability", "1"),
                ("param.status", "503"),
                ("scope", "me"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("scope cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("fault_scope="));
    let mine = app
        .http
        .get(app.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status(), 503);
    assert_eq!(app.get("/").await.status(), 200);
    let banner = app.get_text("/").await;
    assert!(banner.contains("Faults on: <strong>web_error"), "{banner}");

    let response = app
        .post_form("/faults/web_error", &[("probability", "1")])
        .await;
    assert_eq!(response.status(), 303);
    let mine = app
        .http
        .get(app.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status(), 200, "unchecked box switches it off");
}
