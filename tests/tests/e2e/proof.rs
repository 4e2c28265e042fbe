//! The proof: hundreds of to-dos through the whole system while it is being broken,
//! then the books must balance. Nothing lost, every effect exactly once, every span
//! accounted for.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use futures::{StreamExt, stream};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::json;
use tests::{TestApp, app::Options, binaries, eventually, eventually_showing};

use crate::DEADLINE;

const TODOS: usize = 520;
const CONCURRENCY: usize = 8;

/// Posts `titles`, retrying while the web is restarting (connections refused). A client
/// without keep-alive: a refused connection is never a request half-processed.
async fn post_all(client: reqwest::Client, base: String, titles: Vec<String>) -> usize {
    stream::iter(titles)
        .map(|title| {
            let client = client.clone();
            let url = format!("{base}/todos");
            async move {
                let deadline = Instant::now() + Duration::from_secs(60);
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    match client
                        .post(&url)
                        .form(&[("title", title.as_str())])
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 303 => return attempts,
                        Ok(r) => panic!("{title}: unexpected {}", r.status()),
                        Err(e) if Instant::now() < deadline => {
                            let _ = e;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(e) => panic!("{title}: {e}"),
                    }
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .fold(0, |n, a| async move { n + a })
        .await
}

/// Job ids of the messages in the DLQ. Each receive hides what it returned for a
/// minute, so the next one returns others (nothing else reads this DLQ).
async fn dlq_job_ids(app: &TestApp) -> HashSet<String> {
    let mut ids = HashSet::new();
    for _ in 0..20 {
        let out = app
            .sqs
            .receive_message()
            .queue_url(&app.dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        for m in out.messages.unwrap_or_default() {
            if let Some(id) = m
                .message_attributes()
                .and_then(|a| a.get("job_id"))
                .and_then(|v| v.string_value())
            {
                ids.insert(id.to_owned());
            }
        }
    }
    ids
}

#[tokio::test]
async fn hundreds_of_todos_survive_outages_errors_and_a_restart_with_the_books_balanced() {
    let mut app = TestApp::spawn_with(
        binaries!(),
        Options {
            // Above a batch's processing time even on a loaded machine, as in production
            // (AWS advises six times the function timeout).
            visibility_timeout: 3,
            through_proxies: true,
            env: vec![("FAULTS_SEED", "7".into())],
            ..Default::default()
        },
    )
    .await;
    app.set_fault(
        "worker_error",
        json!({ "enabled": true, "probability": 0.3 }),
    )
    .await;
    app.set_fault(
        "slow_db",
        json!({ "enabled": true, "params": { "latency_ms": 2 } }),
    )
    .await;
    let client = tests::app::new_visitor();
    let titles: Vec<String> = (0..TODOS).map(|i| format!("proof {i:04}")).collect();
    let mut chunks = titles.chunks(TODOS / 4).map(<[String]>::to_vec);
    let started = Instant::now();

    // 1. Normal operation.
    post_all(client.clone(), app.address.clone(), chunks.next().unwrap()).await;
    // 2. SQS down: to-dos are saved, jobs wait in the outbox.
    let sqs = app.sqs_proxy.clone().unwrap();
    sqs.cut();
    post_all(client.clone(), app.address.clone(), chunks.next().unwrap()).await;
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE state = 'pending'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        pending >= (TODOS / 4) as i64,
        "jobs wait while SQS is down: {pending}"
    );
    sqs.restore();
    let sqs_back = Instant::now();
    // 3. While the relay catches up, the web is restarted under load.
    let during = tokio::spawn(post_all(
        client.clone(),
        app.address.clone(),
        chunks.next().unwrap(),
    ));
    let sigterm = Instant::now();
    app.restart_web().await; // returns once the new process listens
    let web_recovery = sigterm.elapsed();
    let retries = during.await.unwrap();
    assert_eq!(app.get("/healthz").await.status(), 200);
    // 4. The rest.
    for chunk in chunks {
        post_all(client.clone(), app.address.clone(), chunk).await;
    }
    eventually("the outbox to empty", Duration::from_secs(60), || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE state = 'pending'")
            .fetch_one(&app.db)
            .await
            .unwrap();
        (n == 0).then_some(())
    })
    .await;
    let outbox_recovery = sqs_back.elapsed();

    // Every job reaches an end: done, or dead after 3 receives.
    let (done, dead) = eventually_showing("every job to finish", Duration::from_secs(240), || async {
        let (open, done, dead): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE state NOT IN ('done', 'dead')), \
             count(*) FILTER (WHERE state = 'done'), count(*) FILTER (WHERE state = 'dead') FROM jobs",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        if open == 0 {
            return Ok((done, dead));
        }
        // What is still open, and for how long: enough to tell a lost message from a
        // slow worker if this ever times out.
        let groups: Vec<(String, i32, i64, f64)> = sqlx::query_as(
            "SELECT state, attempts, count(*), \
             extract(epoch FROM now() - max(updated_at))::float8 FROM jobs \
             WHERE state NOT IN ('done', 'dead') GROUP BY state, attempts ORDER BY state, attempts",
        )
        .fetch_all(&app.db)
        .await
        .unwrap();
        let groups: Vec<String> = groups
            .iter()
            .map(|(state, attempts, n, idle)| {
                format!("{n} {state} after {attempts} attempts (last change {idle:.0} s ago)")
            })
            .collect();
        Err(format!("{done} done, {dead} dead; open: {}", groups.join(", ")))
    })
    .await;
    let elapsed = started.elapsed();

    // Every to-do saved, once.
    let saved: Vec<String> = sqlx::query_scalar("SELECT title FROM todos")
        .fetch_all(&app.db)
        .await
        .unwrap();
    let distinct: HashSet<_> = saved.iter().collect();
    assert_eq!(distinct.len(), TODOS, "every to-do saved");
    assert_eq!(saved.len(), TODOS, "none saved twice");

    // Jobs sent = processed + dead-lettered.
    let sent: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE sent_at IS NOT NULL")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(sent, TODOS as i64);
    assert_eq!(sent, done + dead);
    // SQS moves a message to the DLQ on the receive after its last failed one; every
    // dead job's message must get there (a duplicate of a done job may too).
    let dead_ids: HashSet<String> =
        sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM jobs WHERE state = 'dead'")
            .fetch_all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .map(|id| id.to_string())
            .collect();
    let mut in_dlq = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dead_ids.is_subset(&in_dlq) {
        assert!(
            Instant::now() < deadline,
            "dead jobs missing from the DLQ: {:?}",
            dead_ids.difference(&in_dlq).collect::<Vec<_>>()
        );
        in_dlq.extend(dlq_job_ids(&app).await);
    }
    let in_dlq = in_dlq.len();
    let enriched: i64 = sqlx::query_scalar("SELECT count(*) FROM todos WHERE priority IS NOT NULL")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(enriched, done, "each done job's effect is there");

    // Every expected span received: per job, one successful CONSUMER span for a done
    // job (effect exactly once). For a dead job, no success and one failed span per
    // receive the worker saw, up to the one it recorded last (`attempts`): SQS counts a
    // receive whose answer never reached esm (a cut connection, a client time-out), so
    // one of 1, 2, 3 may be missing, never the last the worker marked.
    let job_ids: HashMap<String, (String, i32)> =
        sqlx::query_as::<_, (uuid::Uuid, String, i32)>("SELECT id, state, attempts FROM jobs")
            .fetch_all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .map(|(id, state, attempts)| (id.to_string(), (state, attempts)))
            .collect();
    let expected = |spans: &[tests::otlp::Span]| -> Result<(), String> {
        let mut outcomes: HashMap<&str, (usize, Vec<i64>)> = HashMap::new();
        for s in spans.iter().filter(|s| s.kind == SpanKind::Consumer) {
            let Some(job) = s.attr_str("job.id") else {
                continue;
            };
            let entry = outcomes.entry(job).or_default();
            if s.attr_str("job.outcome") == Some("done") {
                entry.0 += 1;
            } else if s.is_error() {
                let receive = s.attr("messaging.aws_sqs.approximate_receive_count");
                entry
                    .1
                    .push(receive.and_then(serde_json::Value::as_i64).unwrap_or(-1));
            }
        }
        for (job, (state, attempts)) in &job_ids {
            let (ok, mut failed) = outcomes.remove(job.as_str()).unwrap_or_default();
            failed.sort_unstable();
            let distinct = failed.windows(2).all(|w| w[0] < w[1]);
            match state.as_str() {
                "done" if ok != 1 => {
                    return Err(format!("job {job}: {ok} successful consumer spans"));
                }
                "dead"
                    if ok != 0
                        || !distinct
                        || failed.iter().any(|r| !(1..=3).contains(r))
                        || failed.last() != Some(&i64::from(*attempts)) =>
                {
                    return Err(format!(
                        "job {job}: dead after {attempts} attempts with {ok} successes and \
                         failed receives {failed:?}"
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    };
    eventually_showing("every expected span", Duration::from_secs(60), || async {
        expected(&app.otlp.spans())
    })
    .await;
    // Effect exactly once, also later: once no message is left to deliver (none
    // waiting or in flight, the dead ones in the DLQ) and the function has flushed its
    // last invocation, nothing can still arrive; look again.
    eventually("the queue to be empty", Duration::from_secs(60), || async {
        (app.queue_depth(&app.queue_url).await == 0).then_some(())
    })
    .await;
    eventually("the function to be idle", DEADLINE, || async {
        app.lambda.runtime_idle().then_some(())
    })
    .await;
    let spans = app.otlp.spans();
    expected(&spans).unwrap();
    let servers = spans
        .iter()
        .filter(|s| {
            s.service == "todo-web"
                && s.name == "POST /todos"
                && s.attr("http.response.status_code") == Some(&json!(303))
        })
        .count();
    let producers = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Producer && !s.is_error())
        .count();
    assert_eq!(servers, TODOS, "one server span per saved to-do");
    // At-least-once: a send whose answer a cut connection swallowed is sent again;
    // every job has at least one successful send (the consumer dedups the rest).
    let sent_jobs: HashSet<&str> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Producer && !s.is_error())
        .filter_map(|s| s.attr_str("job.id"))
        .collect();
    assert_eq!(sent_jobs.len(), TODOS, "every job sent");

    eprintln!(
        "proof: {TODOS} to-dos ({retries} posts in the restart phase), {sent} jobs sent, {done} processed, \
         {dead} dead-lettered ({in_dlq} in the DLQ); spans received {} (consumer {}, server {servers}, producer {producers}); \
         web serving again {web_recovery:?} after SIGTERM; outbox empty {outbox_recovery:?} after SQS came back; \
         all jobs finished after {elapsed:?}",
        spans.len(),
        spans
            .iter()
            .filter(|s| s.kind == SpanKind::Consumer)
            .count(),
    );
}
