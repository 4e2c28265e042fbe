use std::{future::Future, time::Duration};

/// Polls `check` every 50 ms until it yields `Some`, or panics naming `what` once
/// `deadline` has passed. Synchronisation by condition, never by sleeping blind.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_showing(what, deadline, || {
        let attempt = check();
        async move { attempt.await.ok_or(String::new()) }
    })
    .await
}

/// [`eventually`] for a check that says what it saw when it is not yet satisfied
/// (`Err`): a time-out names the last thing seen, so a failure can be read from the log.
pub async fn eventually_showing<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        let seen = match check().await {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        if tokio::time::Instant::now() >= end {
            if seen.is_empty() {
                panic!("timed out after {deadline:?} waiting for {what}");
            }
            panic!("timed out after {deadline:?} waiting for {what}; last seen: {seen}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
