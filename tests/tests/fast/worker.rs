//! The function's handler called directly with an `SqsEvent` (no Lambda, no SQS, no web
//! process), against a database of its own: partial batch responses and idempotency.

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use common::job::{Job, JobMessage};
use lambda_runtime::{Context, LambdaEvent};
use sqlx::PgPool;
use uuid::Uuid;
use worker::Worker;

fn record(id: &str, body: &str, receive_count: u32) -> SqsMessage {
    let mut r = SqsMessage::default();
    r.message_id = Some(id.to_owned());
    r.body = Some(body.to_owned());
    r.event_source_arn = Some("arn:aws:sqs:us-east-1:123456789012:jobs".into());
    r.attributes = [(
        "ApproximateReceiveCount".to_owned(),
        receive_count.to_string(),
    )]
    .into();
    r
}

fn event(records: Vec<SqsMessage>) -> LambdaEvent<SqsEvent> {
    let mut e = SqsEvent::default();
    e.records = records;
    LambdaEvent::new(e, Context::default())
}

async fn todo_with_job(db: &PgPool, title: &str) -> JobMessage {
    let todo_id = Uuid::new_v4();
    let job = JobMessage::new(Job::EnrichTodo { todo_id });
    sqlx::query("INSERT INTO todos (id, title) VALUES ($1, $2)")
        .bind(todo_id)
        .bind(title)
        .execute(db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO jobs (id, todo_id, kind, state) VALUES ($1, $2, 'enrich_todo', 'queued')",
    )
    .bind(job.job_id)
    .bind(todo_id)
    .execute(db)
    .await
    .unwrap();
    job
}

#[sqlx::test(migrations = "../migrations")]
async fn a_batch_reports_only_its_failed_records(pool: PgPool) {
    let good = todo_with_job(&pool, "call the bank").await;
    let unknown = JobMessage::new(Job::EnrichTodo {
        todo_id: Uuid::new_v4(),
    });
    let batch = event(vec![
        record("ok", &good.encode(), 1),
        record("not-json", "{{{", 1),
        record("future-version", r#"{"v":9,"kind":"enrich_todo"}"#, 1),
        record("unknown-job", &unknown.encode(), 2),
    ]);
    let response = Worker::on_pool(pool.clone())
        .handle_batch(batch)
        .await
        .unwrap();
    let mut failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    failed.sort();
    assert_eq!(failed, vec!["future-version", "not-json", "unknown-job"]);

    let (state, attempts): (String, i32) =
        sqlx::query_as("SELECT state, attempts FROM jobs WHERE id = $1")
            .bind(good.job_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((state.as_str(), attempts), ("done", 1));
    let tags: Vec<String> = sqlx::query_scalar("SELECT tags FROM todos")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tags, vec!["calls"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_redelivered_message_changes_nothing_the_second_time(pool: PgPool) {
    let todo_id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO todos (id, title, completed, completed_at, created_at) \
                 VALUES ($1, 'ship it', true, now(), now() - interval '90 seconds')",
    )
    .bind(todo_id)
    .execute(&pool)
    .await
    .unwrap();
    let job = JobMessage::new(Job::TodoCompleted { todo_id });
    sqlx::query(
        "INSERT INTO jobs (id, todo_id, kind, state) VALUES ($1, $2, 'todo_completed', 'queued')",
    )
    .bind(job.job_id)
    .bind(todo_id)
    .execute(&pool)
    .await
    .unwrap();
    let worker = Worker::on_pool(pool.clone());
    for receive_count in [1, 2] {
        let response = worker
            .handle_batch(event(vec![record("m", &job.encode(), receive_count)]))
            .await
            .unwrap();
        assert!(response.batch_item_failures.is_empty());
    }
    let (count, total): (i64, f64) =
        sqlx::query_as("SELECT completed_count, total_seconds FROM completion_stats")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(count, 1, "counted once despite two deliveries");
    assert!((89.0..120.0).contains(&total), "{total}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_record_without_a_message_id_fails_the_whole_invocation(pool: PgPool) {
    let mut r = record("x", "{}", 1);
    r.message_id = None;
    let error = Worker::on_pool(pool.clone())
        .handle_batch(event(vec![r]))
        .await
        .expect_err("no message id, no partial batch response");
    assert_eq!(error.to_string(), "SQS record without messageId");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_job_for_a_deleted_todo_completes_without_effect(pool: PgPool) {
    let job = todo_with_job(&pool, "gone soon").await;
    sqlx::query("DELETE FROM todos")
        .execute(&pool)
        .await
        .unwrap();
    let response = Worker::on_pool(pool.clone())
        .handle_batch(event(vec![record("m", &job.encode(), 1)]))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    let state: String = sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1")
        .bind(job.job_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state, "done");
}
