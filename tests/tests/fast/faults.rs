//! The fault switches as a user meets them: how soon a switch reaches a process, and
//! how often a "Schrödinger" fault fires.

use std::time::Duration;

use sqlx::PgPool;
use tests::fast::FastApp;

#[sqlx::test(migrations = "../migrations")]
async fn a_switch_reaches_another_process_within_its_ttl_and_this_one_at_once(pool: PgPool) {
    // Three web tasks on one database, each with its own view of the switches.
    let this = FastApp::with(pool.clone(), &["--faults-ttl-ms", "60000"]).await;
    let cached = FastApp::with(pool.clone(), &["--faults-ttl-ms", "60000"]).await;
    let short = FastApp::with(pool.clone(), &["--faults-ttl-ms", "300"]).await;
    for app in [&this, &cached, &short] {
        assert_eq!(app.get("/api/todos", &[]).await.status, 200, "no fault yet");
    }

    let switched = this
        .put_json("/api/faults/web_error", r#"{"enabled": true}"#)
        .await;
    assert_eq!(switched.status, 200, "{}", switched.body);
    assert_eq!(
        this.get("/api/todos", &[]).await.status,
        500,
        "the process that switched it sees it at once"
    );
    // Well inside its 60 s: the other process answers from the view it loaded.
    for _ in 0..5 {
        assert_eq!(cached.get("/api/todos", &[]).await.status, 200);
    }
    // Past its 300 ms, the third reads the switch (deadline: the TTL and a margin).
    tests::eventually(
        "the switch to reach a process with a 300 ms TTL",
        Duration::from_millis(300 + 5000),
        || async { (short.get("/api/todos", &[]).await.status == 500).then_some(()) },
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_schroedinger_fault_fails_about_its_share_of_requests(pool: PgPool) {
    let app = FastApp::with(pool, &["--faults-seed", "7"]).await;
    let (n, p) = (400u32, 0.3);
    let set = app
        .put_json(
            "/api/faults/web_error",
            &format!(r#"{{"enabled": true, "probability": {p}}}"#),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    let mut failed = 0u32;
    for _ in 0..n {
        match app.get("/api/todos", &[]).await.status.as_u16() {
            500 => failed += 1,
            200 => {}
            other => panic!("status {other}"),
        }
    }
    // Binomial(400, 0.3): mean 120, standard deviation 9.2. Four deviations either side
    // holds for any seed but one in 15,000; this seed is fixed, so the count is too.
    let (mean, sd) = (f64::from(n) * p, (f64::from(n) * p * (1.0 - p)).sqrt());
    assert!(
        (f64::from(failed) - mean).abs() <= 4.0 * sd,
        "{failed} of {n} failed; expected {mean} ± {:.0}",
        4.0 * sd
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_same_seed_throws_the_same_dice(pool: PgPool) {
    // FAULTS_SEED: two processes with one seed fail the same requests, in order.
    let statuses = |seed: &'static str| {
        let pool = pool.clone();
        async move {
            let app = FastApp::with(pool, &["--faults-seed", seed]).await;
            let mut statuses = Vec::new();
            for _ in 0..40 {
                statuses.push(app.get("/api/todos", &[]).await.status.as_u16());
            }
            statuses
        }
    };
    let setter = FastApp::new(pool.clone()).await;
    let set = setter
        .put_json(
            "/api/faults/web_error",
            r#"{"enabled": true, "probability": 0.5}"#,
        )
        .await;
    assert_eq!(set.status, 200);
    let first = statuses("42").await;
    assert!(first.contains(&500) && first.contains(&200), "{first:?}");
    assert_eq!(statuses("42").await, first, "the same seed, the same dice");
    assert_ne!(statuses("43").await, first, "another seed, other dice");
}
