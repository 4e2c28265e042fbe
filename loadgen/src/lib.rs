//! The load generator: `LOADGEN_USERS` simulated users sign in and click through the
//! app (add, list, complete, list, delete) at `LOADGEN_RATE` clicks per second in
//! total, for `LOADGEN_DURATION_S` seconds, then stop and print what they saw.

use std::{collections::BTreeMap, time::Duration};

use common::config::{self, ConfigError};
use tokio::time::Instant;

#[derive(clap::Parser, Debug, Clone)]
#[command(about = "Simulated users clicking through traced-todo")]
pub struct Config {
    /// The app
    #[arg(long, env = "LOADGEN_BASE_URL", default_value = "http://localhost:3000", value_parser = config::http_url)]
    pub base_url: String,
    /// Simulated users, each signed in under a name of its own
    #[arg(long, env = "LOADGEN_USERS", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub users: u16,
    /// Clicks per second, all users together
    #[arg(long, env = "LOADGEN_RATE", default_value_t = 20.0, value_parser = rate)]
    pub rate: f64,
    /// How long to click, s
    #[arg(long, env = "LOADGEN_DURATION_S", default_value_t = 60)]
    pub duration_s: u64,
}

fn rate(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(r) if r > 0.0 && r <= 100_000.0 => Ok(r),
        Ok(_) => Err("must be above 0 and at most 100000".into()),
        Err(e) => Err(e.to_string()),
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        config::load("loadgen", &[])
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.duration_s)
    }
}

/// Latencies (ms) and error count of one kind of click.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub latencies_ms: Vec<f64>,
    pub errors: u64,
}

pub type Report = BTreeMap<&'static str, Tally>;

/// How long [`wait_until_ready`] waits for web before giving up: compose starts loadgen
/// as soon as web has started, and web migrates its database first.
pub const READY_DEADLINE: Duration = Duration::from_secs(120);

/// Polls `{base}/readyz` until web answers 200 (its database and queue work), so the
/// first clicks measure the app, not its start-up.
pub async fn wait_until_ready(base_url: &str, deadline: Duration) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let url = format!("{base_url}/readyz");
    let give_up = Instant::now() + deadline;
    let mut last_said = Instant::now();
    loop {
        let status = http.get(&url).send().await.map(|r| r.status());
        if matches!(&status, Ok(s) if s.is_success()) {
            return Ok(());
        }
        if Instant::now() >= give_up {
            anyhow::bail!("{url} did not answer 200 within {deadline:?} (last: {status:?})");
        }
        if last_said.elapsed() >= Duration::from_secs(5) {
            println!("loadgen: waiting for {url} ({status:?})");
            last_said = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Runs the simulation; returns per-action tallies.
pub async fn run(config: &Config) -> anyhow::Result<Report> {
    let end = Instant::now() + config.duration();
    // Each user clicks once every `users / rate` seconds.
    let period = Duration::from_secs_f64(f64::from(config.users) / config.rate);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..usize::from(config.users) {
        let base = config.base_url.clone();
        tasks.spawn(async move { user(n, base, period, end).await });
    }
    let mut report = Report::new();
    while let Some(result) = tasks.join_next().await {
        for (action, tally) in result?? {
            let total = report.entry(action).or_default();
            total.latencies_ms.extend(tally.latencies_ms);
            total.errors += tally.errors;
        }
    }
    Ok(report)
}

async fn user(n: usize, base: String, period: Duration, end: Instant) -> anyhow::Result<Report> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut report = Report::new();
    let name = format!("load-user-{n}");
    let cookie = format!("user={name}");
    let click = |report: &mut Report, action: &'static str, started: Instant, ok: bool| {
        let tally = report.entry(action).or_default();
        tally
            .latencies_ms
            .push(started.elapsed().as_secs_f64() * 1000.0);
        if !ok {
            tally.errors += 1;
        }
    };
    // Spread the users' first clicks over one period.
    let mut next = Instant::now() + period.mul_f64((n % 100) as f64 / 100.0);
    let started = Instant::now();
    let signed_in = http
        .post(format!("{base}/signin"))
        .form(&[("name", name.as_str())])
        .send()
        .await
        .is_ok_and(|r| r.status().is_redirection());
    click(&mut report, "sign in", started, signed_in);
    let mut step = 0u64;
    let mut last_id: Option<String> = None;
    while Instant::now() < end {
        tokio::time::sleep_until(next).await;
        next += period;
        if Instant::now() >= end {
            break;
        }
        let started = Instant::now();
        match step % 4 {
            0 => {
                let title = format!("load {n}-{step} #load");
                let ok = http
                    .post(format!("{base}/todos"))
                    .header("cookie", &cookie)
                    .form(&[("title", title.as_str())])
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_redirection());
                click(&mut report, "add", started, ok);
            }
            1 | 3 => {
                let todos: Option<Vec<serde_json::Value>> = match http
                    .get(format!("{base}/api/todos"))
                    .header("cookie", &cookie)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => r.json().await.ok(),
                    _ => None,
                };
                last_id = todos
                    .as_ref()
                    .and_then(|t| t.last())
                    .and_then(|t| t["id"].as_str())
                    .map(str::to_owned);
                click(&mut report, "list", started, todos.is_some());
            }
            _ => match last_id.take() {
                Some(id) => {
                    let complete = http
                        .post(format!("{base}/todos/{id}/completed"))
                        .header("cookie", &cookie)
                        .form(&[("completed", "true")])
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_redirection());
                    click(&mut report, "complete", started, complete);
                    let started = Instant::now();
                    let delete = http
                        .post(format!("{base}/todos/{id}/delete"))
                        .header("cookie", &cookie)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_redirection());
                    click(&mut report, "delete", started, delete);
                }
                None => click(&mut report, "complete", started, false),
            },
        }
        step += 1;
    }
    Ok(report)
}

/// `p` in 0..=1 of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((p * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)]
}

pub fn print(report: &Report, elapsed: Duration) {
    println!(
        "{:<9} {:>7} {:>7} {:>9} {:>9} {:>9}",
        "action", "clicks", "errors", "p50 ms", "p95 ms", "p99 ms"
    );
    let mut total = 0;
    for (action, tally) in report {
        let mut sorted = tally.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        total += sorted.len();
        println!(
            "{action:<9} {:>7} {:>7} {:>9.1} {:>9.1} {:>9.1}",
            sorted.len(),
            tally.errors,
            percentile(&sorted, 0.50),
            percentile(&sorted, 0.95),
            percentile(&sorted, 0.99)
        );
    }
    println!(
        "{total} requests in {:.1} s ({:.1}/s)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
}
