//! Real outages (the services' connections cut by a TCP proxy), graceful shutdown,
//! and the outbox: nothing lost, recovery without restarts.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::json;
use tests::{TestApp, app::Options, binaries, eventually};

use crate::DEADLINE;

#[tokio::test]
async fn a_postgres_outage_answers_503_with_the_trace_id_and_recovers_by_itself() {
    let app = TestApp::spawn_with(
        binaries!(),
        Options {
            with_worker: false,
            through_proxies: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        app.post_form("/todos", &[("title", "before")])
            .await
            .status(),
        303
    );
    let proxy = app.db_proxy.clone().unwrap();

    proxy.cut();
    let (response, trace_id) = app.traced_get("/").await;
    assert_eq!(response.status(), 503);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("database is unavailable") && html.contains(&trace_id),
        "{html}"
    );
    assert_eq!(app.get("/readyz").await.status(), 503);
    assert_eq!(app.get("/healthz").await.status(), 200, "alive, not ready");
    let spans = app
        .trace_where(&trace_id, "the outage's trace", DEADLINE, |s| {
            s.iter().any(|s| s.kind == SpanKind::Client && s.is_error())
        })
        .await;
    let failed = spans
        .iter()
        .find(|s| s.kind == SpanKind::Client && s.is_error())
        .unwrap();
    assert!(failed.events.iter().any(|e| e == "exception"));

    proxy.restore();
    let restored = Instant::now();
    eventually("the list to work again", DEADLINE, || async {
        (app.get("/").await.status() == 200).then_some(())
    })
    .await;
    eprintln!(
        "recovered {:?} after PostgreSQL came back",
        restored.elapsed()
    );
    assert_eq!(app.get("/readyz").await.status(), 200);
    assert!(app.get_text("/").await.contains("before"), "nothing lost");
}

#[tokio::test]
async fn an_sqs_outage_keeps_every_todo_and_delivers_the_jobs_when_sqs_is_back() {
    let app = TestApp::spawn_with(
        binaries!(),
        Options {
            through_proxies: true,
            ..Default::default()
        },
    )
    .await;
    let proxy = app.sqs_proxy.clone().unwrap();
    proxy.cut();
    for title in ["one", "two", "three"] {
        let (response, _) = app.traced_post_form("/todos", &[("title", title)]).await;
        assert_eq!(response.status(), 303, "saved while SQS is down");
    }
    let todos = app.todos().await;
    assert_eq!(todos.len(), 3);
    assert!(
        todos.iter().all(|t| t["job_state"] == "pending"),
        "{todos:?}"
    );
    assert_eq!(app.get("/readyz").await.status(), 503);

    proxy.restore();
    let restored = Instant::now();
    eventually("every job to be done", DEADLINE, || async {
        let todos = app.todos().await;
        todos.iter().all(|t| t["job_state"] == "done").then_some(())
    })
    .await;
    eprintln!("all jobs done {:?} after SQS came back", restored.elapsed());
    let sent: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE sent_at IS NOT NULL")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(sent, 3);
}

#[tokio::test]
async fn sigterm_refuses_new_connections_finishes_in_flight_drains_and_flushes() {
    let mut app = TestApp::spawn_with(
        binaries!(),
        Options {
            with_worker: false,
            // The relay would send pending jobs at once; here only the drain may.
            env: vec![("RELAY_INTERVAL_MS", "600000".into())],
            ..Default::default()
        },
    )
    .await;
    app.set_fault("queue_unavailable", json!({ "enabled": true }))
        .await;
    app.post_form("/todos", &[("title", "waiting")]).await;
    app.set_fault("queue_unavailable", json!({ "enabled": false }))
        .await;
    app.set_fault(
        "slow_db",
        // Long enough that the refusal below surely happens while it is in flight.
        json!({ "enabled": true, "params": { "latency_ms": 4000 } }),
    )
    .await;
    let client = app.http.clone();
    let (traceparent, trace_id) = tests::app::new_traceparent();
    let url = app.url("/");
    let in_flight = tokio::spawn(async move {
        client
            .get(url)
            .header("traceparent", traceparent)
            .send()
            .await
    });
    app.wait_for_log("web", r#"fault injected fault.name="slow_db""#)
        .await;
    app.sigterm_web();
    app.wait_for_log("web", "shutting down: no new connections")
        .await;
    // Within moments of the signal (a connection accepted just before is served), new
    // connections are refused while the in-flight request still waits on its queries.
    let refused = eventually(
        "a new connection to be refused",
        Duration::from_secs(2),
        || {
            let url = app.url("/healthz");
            async move {
                match tests::app::new_visitor().get(url).send().await {
                    Err(e) if e.is_connect() => Some(e),
                    _ => None,
                }
            }
        },
    )
    .await;
    assert!(
        !in_flight.is_finished(),
        "refused ({refused}) while one is in flight"
    );
    app.wait_web_stopped().await;

    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request got its answer");
    assert_eq!(response.status(), 200);
    let spans = app.otlp.trace(&trace_id);
    assert!(
        spans.iter().any(|s| s.kind == SpanKind::Server),
        "spans flushed before exit: {spans:?}"
    );
    let state: String = sqlx::query_scalar("SELECT state FROM jobs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(state, "queued", "the outbox was drained on the way out");
    assert_eq!(app.queue_depth(&app.queue_url).await, 1);
    app.start_web_again().await;
    app.set_fault("slow_db", json!({ "enabled": false })).await;
    assert_eq!(app.get("/").await.status(), 200, "the new instance serves");
}

#[tokio::test]
async fn the_relay_backs_off_while_sqs_refuses() {
    // RELAY_INTERVAL_MS is 200 in the harness.
    let app = TestApp::web_only(binaries!()).await;
    app.set_fault("queue_unavailable", json!({ "enabled": true }))
        .await;
    let (response, trace_id) = app
        .traced_post_form("/todos", &[("title", "wait for it")])
        .await;
    assert_eq!(response.status(), 303);
    // Each round tries the job in the click's trace: one `relay job` span a round.
    let rounds = |spans: &[tests::otlp::Span]| {
        let mut rounds: Vec<(u64, u64)> = spans
            .iter()
            .filter(|s| s.name == "relay job")
            .map(|s| (s.start_unix_nanos, s.end_unix_nanos))
            .collect();
        rounds.sort_unstable();
        rounds
    };
    let spans = app
        .trace_where(&trace_id, "five relay rounds", DEADLINE, |spans| {
            rounds(spans).len() >= 5
        })
        .await;
    // From one try's end to the next one's start: the pause (and the next round's own
    // reads). Every 200 ms would be hammering; the pause doubles instead: 0.4, 0.8, 1.6,
    // 3.2 s.
    let pauses_ms: Vec<f64> = rounds(&spans)
        .windows(2)
        .map(|w| w[1].0.saturating_sub(w[0].1) as f64 / 1e6)
        .collect();
    for (n, pause) in pauses_ms.iter().enumerate() {
        let doubled = 400.0 * f64::from(1 << n);
        assert!(
            *pause >= doubled,
            "pause {n} under {doubled} ms: {pauses_ms:?}"
        );
    }
    app.set_fault("queue_unavailable", json!({ "enabled": false }))
        .await;
    eventually("the job to be sent", DEADLINE, || async {
        let state: String = sqlx::query_scalar("SELECT state FROM jobs")
            .fetch_one(&app.db)
            .await
            .unwrap();
        (state == "queued").then_some(())
    })
    .await;
}

#[tokio::test]
async fn no_header_or_cookie_value_reaches_a_span() {
    let app = TestApp::spawn(binaries!()).await;
    let ada = app.sign_in("ada").await;
    const SECRET: &str = "s3cr3t-4f9e1c";
    let (traceparent, trace_id) = tests::app::new_traceparent();
    let response = app
        .http
        .post(app.url("/todos"))
        .header("traceparent", traceparent)
        .header("cookie", format!("{ada}; session=cookie-{SECRET}"))
        .header("authorization", format!("Bearer token-{SECRET}"))
        .header("x-api-key", format!("key-{SECRET}"))
        .header("referer", format!("{}/?ref={SECRET}", app.address))
        .header("x-forwarded-for", "203.0.113.7")
        .header("baggage", format!("note=baggage-{SECRET}"))
        .header("user-agent", "test-agent/1.0")
        .form(&[("title", "nothing to see")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    // The whole click: web's spans and the worker's.
    let spans = app
        .trace_where(
            &trace_id,
            "web's and the worker's spans",
            DEADLINE,
            |spans| {
                // Each ends after the spans inside it, so these two come last.
                spans.iter().any(|s| s.kind == SpanKind::Server)
                    && spans.iter().any(|s| {
                        s.kind == SpanKind::Consumer && s.attr_str("job.outcome") == Some("done")
                    })
            },
        )
        .await;
    for span in &spans {
        for (key, value) in &span.attributes {
            let value = value.to_string();
            assert!(
                !value.contains(SECRET) && !value.contains("203.0.113.7"),
                "{} {key}={value}",
                span.name
            );
        }
        for text in span.events.iter().chain([&span.name]) {
            assert!(!text.contains(SECRET), "{}: {text}", span.name);
        }
    }
    // What the conventions ask for from a request is there, and only that.
    let server = spans.iter().find(|s| s.kind == SpanKind::Server).unwrap();
    assert_eq!(
        server.attr_str("user_agent.original"),
        Some("test-agent/1.0")
    );
    assert_eq!(server.attr_str("enduser.id"), Some("ada"));
}

#[tokio::test]
async fn cross_site_form_posts_are_refused_and_nothing_is_stored() {
    let app = TestApp::web_only(binaries!()).await;
    for (header, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let response = app
            .http
            .post(app.url("/todos"))
            .header(header, value)
            .form(&[("title", "forged")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{header}: {value}");
    }
    let forged_fault = app
        .http
        .put(app.url("/api/faults/web_error"))
        .header("origin", "https://evil.example")
        .json(&json!({ "enabled": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(forged_fault.status(), 403);
    assert!(app.todos().await.is_empty());
    assert_eq!(app.get("/").await.status(), 200);

    let same_site = app
        .http
        .post(app.url("/todos"))
        .header("origin", app.address.clone())
        .header("sec-fetch-site", "same-origin")
        .form(&[("title", "mine")])
        .send()
        .await
        .unwrap();
    assert_eq!(same_site.status(), 303);
}

#[tokio::test]
async fn responses_carry_security_headers_and_a_traceresponse() {
    let app = TestApp::web_only(binaries!()).await;
    let (response, trace_id) = app.traced_get("/").await;
    let h = response.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    let traceresponse = h["traceresponse"].to_str().unwrap();
    assert!(
        traceresponse.starts_with(&format!("00-{trace_id}-")),
        "{traceresponse}"
    );
    assert_eq!(
        app.get("/no/such/page").await.headers()["x-content-type-options"],
        "nosniff"
    );
}

#[tokio::test]
async fn malformed_trace_headers_start_a_new_trace_and_the_request_works() {
    let app = TestApp::web_only(binaries!()).await;
    for (traceparent, baggage) in [
        ("garbage", "fault.scope"),
        (
            "00-00000000000000000000000000000000-0000000000000000-01",
            "=;=;,,",
        ),
        ("00-zzzz-zzzz-01", "a=b;c=%zz"),
        (
            &*format!("00-{}-{}-01", "a".repeat(32), "b".repeat(200)),
            &*"x".repeat(9000),
        ),
    ] {
        let response = app
            .http
            .get(app.url("/"))
            .header("traceparent", traceparent)
            .header("baggage", baggage)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{traceparent}");
        let trace_id = tests::trace_of(&response);
        assert_eq!(trace_id.len(), 32);
        assert_ne!(trace_id, "0".repeat(32), "a new, valid trace");
    }
}

#[tokio::test]
async fn a_slow_shutdown_is_cut_at_the_grace_period() {
    let mut app = TestApp::spawn_with(
        binaries!(),
        Options {
            with_worker: false,
            env: vec![("SHUTDOWN_GRACE_MS", "500".into())],
            ..Default::default()
        },
    )
    .await;
    app.set_fault(
        "slow_db",
        json!({ "enabled": true, "params": { "latency_ms": 20000 } }),
    )
    .await;
    let client = app.http.clone();
    let url = app.url("/");
    let stuck = tokio::spawn(async move { client.get(url).send().await });
    app.wait_for_log("web", r#"fault injected fault.name="slow_db""#)
        .await;
    let sigterm = Instant::now();
    app.sigterm_web();
    app.wait_web_stopped().await;
    let exited = sigterm.elapsed();
    // The grace period, then a drain and a flush: seconds, not the query's 20 s.
    assert!(
        exited >= Duration::from_millis(500) && exited < Duration::from_secs(8),
        "web exited {exited:?} after SIGTERM, with a grace period of 500 ms"
    );
    app.wait_for_log(
        "web",
        "in-flight requests outlived the shutdown grace period",
    )
    .await;
    // The stuck request lost its connection with no answer (not a time-out of ours).
    let cut = stuck.await.unwrap().expect_err("the stuck request was cut");
    assert!(cut.is_request() && !cut.is_timeout(), "{cut:?}");
    let chain = std::iter::successors(Some(&cut as &dyn std::error::Error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    assert!(
        chain.contains("connection closed before message completed"),
        "{chain}"
    );
}

#[tokio::test]
async fn a_dead_lettered_job_is_listed_and_redriven_in_a_new_trace_linked_to_the_original() {
    let app = TestApp::spawn_with(
        binaries!(),
        Options {
            visibility_timeout: 1,
            ..Default::default()
        },
    )
    .await;
    app.set_fault("poison_message", json!({ "enabled": true }))
        .await;
    let (_, original) = app.traced_post_form("/todos", &[("title", "cursed")]).await;
    app.set_fault("poison_message", json!({ "enabled": false }))
        .await;
    let todo = eventually("the job to die", DEADLINE, || async {
        app.todos()
            .await
            .into_iter()
            .find(|t| t["job_state"] == "dead")
    })
    .await;
    eventually("the message in the DLQ", DEADLINE, || async {
        (app.queue_depth(&app.dlq_url).await == 1).then_some(())
    })
    .await;
    let page = app.get_text("/dead-letters").await;
    assert!(
        page.contains("enrich_todo: cursed") && page.contains("dead after 3 receives"),
        "{page}"
    );
    assert!(
        page.contains(&format!("/trace/{original}")),
        "links the original trace"
    );
    assert!(page.contains("1 message there now"), "{page}");

    let job_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM jobs WHERE state = 'dead'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let (response, redrive) = app
        .traced_post_form(&format!("/dead-letters/{job_id}/redrive"), &[])
        .await;
    assert_eq!(response.status(), 303);
    let done = eventually("the redriven job to be done", DEADLINE, || async {
        app.todos()
            .await
            .into_iter()
            .find(|t| t["id"] == todo["id"] && t["job_state"] == "done")
    })
    .await;
    assert_eq!(done["tags"], json!([]));
    assert_eq!(
        app.queue_depth(&app.dlq_url).await,
        0,
        "removed from the DLQ"
    );
    let spans = app
        .trace_where(&redrive, "the redrive's trace", DEADLINE, |s| {
            s.iter()
                .any(|s| s.kind == SpanKind::Consumer && !s.is_error())
                && s.iter().any(|s| s.kind == SpanKind::Server)
        })
        .await;
    let server = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server && s.name == "POST /dead-letters/{id}/redrive")
        .unwrap();
    assert!(
        server.links.iter().any(|(trace, _)| trace == &original),
        "linked to the original click's trace: {:?}",
        server.links
    );
    assert!(
        app.get_text("/dead-letters")
            .await
            .contains("No dead letters")
    );
}

#[tokio::test]
async fn the_fault_switches_are_off_unless_enabled_or_opened_with_the_admin_token() {
    let closed = TestApp::spawn_with(
        binaries!(),
        Options {
            with_worker: false,
            env: vec![("FAULTS_ENABLED", "false".into())],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(closed.get("/faults").await.status(), 404);
    assert_eq!(closed.get("/api/faults").await.status(), 404);
    assert!(!closed.get_text("/").await.contains(r#"href="/faults""#));

    let guarded = TestApp::spawn_with(
        binaries!(),
        Options {
            with_worker: false,
            env: vec![
                ("FAULTS_ENABLED", "false".into()),
                ("FAULTS_ADMIN_TOKEN", "s3cret-token".into()),
            ],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(guarded.get("/api/faults").await.status(), 404);
    let wrong = guarded
        .http
        .get(guarded.url("/api/faults"))
        .header("authorization", "Bearer nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    let put = guarded
        .http
        .put(guarded.url("/api/faults/web_error"))
        .header("authorization", "Bearer s3cret-token")
        .json(&json!({ "enabled": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(
        guarded.get("/").await.status(),
        500,
        "the switch took effect"
    );
    let login = guarded.get("/faults?token=s3cret-token").await;
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let panel = guarded
        .http
        .get(guarded.url("/faults"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(panel.status(), 200);
}
