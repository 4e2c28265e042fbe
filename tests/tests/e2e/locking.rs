//! Lock order between web and worker: a to-do deleted while its job runs waits for the
//! job instead of deadlocking with it (found by the compose contract run's load).

use std::time::Duration;

use sqlx::{Connection, PgConnection};
use tests::{TestApp, binaries, eventually};
use uuid::Uuid;

use crate::DEADLINE;

#[tokio::test]
async fn deleting_a_todo_while_its_job_runs_waits_for_the_job() {
    let app = TestApp::web_only(binaries!()).await;
    let (todo, job) = (Uuid::new_v4(), Uuid::new_v4());
    sqlx::query("INSERT INTO todos (id, title) VALUES ($1, 'racing')")
        .bind(todo)
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO jobs (id, todo_id, kind, state) VALUES ($1, $2, 'enrich_todo', 'queued')",
    )
    .bind(job)
    .bind(todo)
    .execute(&app.db)
    .await
    .unwrap();

    // The worker's transaction, as worker/src/jobs does it: the job row first.
    let mut worker = PgConnection::connect(&app.database_url).await.unwrap();
    let mut worker_tx = worker.begin().await.unwrap();
    sqlx::query("SELECT state FROM jobs WHERE id = $1 FOR UPDATE")
        .bind(job)
        .execute(&mut *worker_tx)
        .await
        .unwrap();

    // Meanwhile the user deletes the to-do.
    let db = common::db::Database::new(
        app.db.clone(),
        common::faults::Faults::off(),
        common::metrics::Metrics::disabled(),
    )
    .for_work(common::context::RequestContext::default());
    let delete = tokio::spawn(async move {
        let mut tx = db.begin().await?;
        let deleted = web::todos::delete(&db, &mut tx, todo).await?;
        db.commit(tx).await?;
        Ok::<_, sqlx::Error>(deleted)
    });
    eventually("the delete to wait for a lock", DEADLINE, || async {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock'",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        (waiting > 0).then_some(())
    })
    .await;

    // The worker goes on to the to-do row: with one lock order, nobody deadlocks.
    let updated = tokio::time::timeout(
        Duration::from_secs(10),
        sqlx::query("UPDATE todos SET tags = '{racing}' WHERE id = $1")
            .bind(todo)
            .execute(&mut *worker_tx),
    )
    .await
    .expect("the worker's update does not wait on the delete");
    assert!(updated.is_ok(), "no deadlock for the worker: {updated:?}");
    worker_tx.commit().await.unwrap();
    let deleted = delete.await.unwrap();
    assert!(
        matches!(deleted, Ok(true)),
        "the delete went through: {deleted:?}"
    );
}
