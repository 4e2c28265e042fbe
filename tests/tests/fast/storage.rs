//! The stores on a database of their own (`#[sqlx::test]`): to-dos, the outbox, the
//! fault switches, the lock order between web and worker, and when the pool pings.

use std::time::Duration;

use common::{
    db::{Database, Db},
    faults::{Fault, Faults, Setting, store as fault_store},
    job::{Job, JobMessage},
    metrics::Metrics,
    session::Session,
};
use sqlx::{Connection, PgPool};
use tests::eventually;
use uuid::Uuid;
use web::{outbox, todos};

fn db_for(pool: &PgPool, user: Option<&str>) -> Db {
    Database::new(pool.clone(), Faults::off(), Metrics::disabled()).for_work(Session {
        user: user.map(str::to_owned),
        fault_scope: None,
    })
}

async fn add(db: &Db, title: &str) -> (Uuid, JobMessage) {
    let id = Uuid::new_v4();
    let job = JobMessage::new(Job::EnrichTodo { todo_id: id });
    let mut tx = db.begin().await.unwrap();
    todos::insert(db, &mut tx, id, title, "trace")
        .await
        .unwrap();
    outbox::record(db, &mut tx, &job).await.unwrap();
    db.commit(tx).await.unwrap();
    (id, job)
}

#[sqlx::test(migrations = "../migrations")]
async fn todos_belong_to_their_owner(pool: PgPool) {
    let ada = db_for(&pool, Some("ada"));
    let (id, _) = add(&ada, "mine").await;
    let rows = todos::list(&ada).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].job_state.as_deref(),
        Some("pending"),
        "recorded, not sent yet"
    );
    let bob = db_for(&pool, Some("bob"));
    assert!(todos::list(&bob).await.unwrap().is_empty());
    assert!(todos::get(&bob, id).await.unwrap().is_none());
    let mut tx = bob.begin().await.unwrap();
    assert!(
        !todos::delete(&bob, &mut tx, id).await.unwrap(),
        "bob cannot delete ada's"
    );
    bob.commit(tx).await.unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn completing_reports_whether_anything_changed_and_the_time_to_done(pool: PgPool) {
    let db = db_for(&pool, None);
    let (id, _) = add(&db, "ship it").await;
    // Created ten minutes ago: completing it now took ~600 s.
    sqlx::query("UPDATE todos SET created_at = now() - interval '600 seconds' WHERE id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    let mut tx = db.begin().await.unwrap();
    let first = todos::set_completed(&db, &mut tx, id, true, "t")
        .await
        .unwrap()
        .unwrap();
    assert!(first.changed);
    let secs = first
        .time_to_done
        .expect("completed just now")
        .as_secs_f64();
    assert!((599.0..=605.0).contains(&secs), "time to done {secs} s");
    let again = todos::set_completed(&db, &mut tx, id, true, "t")
        .await
        .unwrap()
        .unwrap();
    assert!(!again.changed);
    assert_eq!(
        again.time_to_done, None,
        "a second completion is not counted"
    );
    assert!(
        todos::set_completed(&db, &mut tx, Uuid::new_v4(), true, "t")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(todos::clear_completed(&db, &mut tx).await.unwrap(), 1);
    db.commit(tx).await.unwrap();
    assert!(todos::list(&db).await.unwrap().is_empty());
}

#[sqlx::test(migrations = "../migrations")]
async fn a_pending_job_is_claimed_by_one_sender_only(pool: PgPool) {
    let db = db_for(&pool, None);
    let (_, job) = add(&db, "once").await;
    let mut first = db.begin().await.unwrap();
    assert!(
        outbox::store::claim_pending(&db, &mut first, job.job_id)
            .await
            .unwrap()
    );
    // A second sender (the relay, another instance) skips the locked row.
    let mut second = db.begin().await.unwrap();
    assert!(
        !outbox::store::claim_pending(&db, &mut second, job.job_id)
            .await
            .unwrap()
    );
    let pending = outbox::store::lock_pending(&mut second, 0, 20)
        .await
        .unwrap();
    assert!(pending.is_empty(), "the relay skips it too");
    db.commit(second).await.unwrap();
    outbox::store::mark_queued(&db, &mut first, job.job_id, "m-1")
        .await
        .unwrap();
    db.commit(first).await.unwrap();
    let mut again = db.begin().await.unwrap();
    assert!(
        !outbox::store::claim_pending(&db, &mut again, job.job_id)
            .await
            .unwrap(),
        "sent already"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_relay_waits_out_the_grace_period_and_keeps_the_trace_context(pool: PgPool) {
    // What a binary does at start-up: the outbox stores baggage through it.
    common::telemetry::install_propagator();
    let db = db_for(&pool, Some("ada"));
    let (_, job) = add(&db, "later").await;
    let mut tx = pool.begin().await.unwrap();
    assert!(
        outbox::store::lock_pending(&mut tx, 60_000, 20)
            .await
            .unwrap()
            .is_empty(),
        "too young"
    );
    let jobs = outbox::store::lock_pending(&mut tx, 0, 20).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].message(), Some(job));
    // The user travels in the stored baggage (no span here, so no traceparent).
    let ctx = Session::from_baggage(&jobs[0].origin());
    assert_eq!(ctx.user.as_deref(), Some("ada"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_dead_job_is_listed_and_redriven_once(pool: PgPool) {
    let db = db_for(&pool, None);
    let (_, job) = add(&db, "doomed").await;
    sqlx::query("UPDATE jobs SET state = 'dead', attempts = 3, last_error = 'boom'")
        .execute(&pool)
        .await
        .unwrap();
    let dead = outbox::store::dead(&db).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].title.as_deref(), Some("doomed"));
    assert_eq!(dead[0].last_error.as_deref(), Some("boom"));
    outbox::store::redriven(&db, job.job_id, "m-2", "redrive-trace")
        .await
        .unwrap();
    let (state, attempts, trace): (String, i32, String) =
        sqlx::query_as("SELECT state, attempts, trace_id FROM jobs")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (state.as_str(), attempts, trace.as_str()),
        ("queued", 0, "redrive-trace")
    );
    assert!(
        outbox::store::dead_one(&db, job.job_id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        outbox::store::mark_dead(&pool, &[job.job_id])
            .await
            .unwrap(),
        1,
        "the DLQ is the truth"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn fault_switches_round_trip_and_reach_a_registry(pool: PgPool) {
    let mut setting = Setting::off(Fault::SlowDb);
    setting.enabled = true;
    setting.probability = 0.5;
    setting.scope = Some("talk-1".into());
    let database = Database::new(pool.clone(), Faults::off(), Metrics::disabled());
    web::fault_settings::upsert(&database, &setting)
        .await
        .unwrap();
    let listed = web::fault_settings::list(&database).await.unwrap();
    assert_eq!(listed.len(), Fault::ALL.len(), "every fault, stored or off");
    assert_eq!(listed.iter().find(|s| s.name == "slow_db"), Some(&setting));
    let faults = Faults::new(fault_store::loader(pool), Duration::ZERO, Some(1));
    faults.refresh_if_stale().await;
    assert_eq!(faults.enabled_names(), vec!["slow_db"]);
}

/// A to-do deleted while its job runs waits for the job instead of deadlocking with it
/// (found by the compose contract run's load).
#[sqlx::test(migrations = "../migrations")]
async fn deleting_a_todo_while_its_job_runs_waits_for_the_job(pool: PgPool) {
    let db = db_for(&pool, None);
    let (todo, job) = add(&db, "racing").await;
    // The worker's transaction, as worker/src/jobs does it: the job row first.
    let mut worker = pool.acquire().await.unwrap().detach();
    let mut worker_tx = Connection::begin(&mut worker).await.unwrap();
    sqlx::query("SELECT state FROM jobs WHERE id = $1 FOR UPDATE")
        .bind(job.job_id)
        .execute(&mut *worker_tx)
        .await
        .unwrap();
    // Meanwhile the user deletes the to-do.
    let deleting = db.clone();
    let delete = tokio::spawn(async move {
        let mut tx = deleting.begin().await?;
        let deleted = todos::delete(&deleting, &mut tx, todo).await?;
        deleting.commit(tx).await?;
        Ok::<_, sqlx::Error>(deleted)
    });
    eventually(
        "the delete to wait for a lock",
        Duration::from_secs(10),
        || async {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            (waiting > 0).then_some(())
        },
    )
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

/// The pool web and worker use ([`common::db::pool_options`]), on `pool`'s database,
/// with one connection: every query below takes the same one (and [`backend_pid`]
/// waits for it to be idle again).
async fn app_pool(pool: &PgPool) -> PgPool {
    common::db::pool_options(1)
        .connect_with(pool.connect_options().as_ref().clone())
        .await
        .unwrap()
}

/// The backend that served the query, once its connection is back in the pool: sqlx
/// releases (and pings) a connection in a task of its own, after the query returns.
async fn backend_pid(pool: &PgPool) -> Result<i32, sqlx::Error> {
    let pid = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await;
    if pid.is_ok() {
        eventually(
            "the connection back in the pool",
            Duration::from_secs(5),
            || async { (pool.num_idle() == 1).then_some(()) },
        )
        .await;
    }
    pid
}

async fn terminate(pool: &PgPool, pid: i32) {
    let done: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(done, "backend {pid} terminated");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_connection_the_server_closed_while_it_sat_idle_is_replaced_not_failed(pool: PgPool) {
    let app = app_pool(&pool).await;
    let pid = backend_pid(&app).await.unwrap();
    terminate(&pool, pid).await;
    // Not a synchronisation: sitting idle this long is what makes the pool ping.
    tokio::time::sleep(common::db::PING_IDLE_AFTER + Duration::from_millis(100)).await;
    let again = backend_pid(&app)
        .await
        .expect("the ping finds the connection closed and the pool opens a new one");
    assert_ne!(again, pid);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_connection_used_a_moment_ago_is_not_pinged_first(pool: PgPool) {
    // The other side of the trade: no round trip before a query on a connection that
    // passed its ping as it was released. If the server closed it since, that one query
    // fails (web answers 503, the worker's record is retried) and the next gets a new
    // connection.
    let app = app_pool(&pool).await;
    let pid = backend_pid(&app).await.unwrap();
    terminate(&pool, pid).await;
    // Not pinged: the query went to the closed connection and failed on it (an I/O
    // error, or the server's own "terminating connection" notice), not on the pool.
    let error = backend_pid(&app)
        .await
        .expect_err("not pinged: the query went to the closed connection");
    assert!(
        matches!(&error, sqlx::Error::Io(_))
            || matches!(&error, sqlx::Error::Database(e) if e.code().as_deref() == Some("57P01")),
        "{error:?}"
    );
    let again = backend_pid(&app).await.expect("a new connection");
    assert_ne!(again, pid);
}
