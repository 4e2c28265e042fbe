//! `TestApp`: one isolated copy of the whole system per test: its own database, its
//! own queue + DLQ, its own OTLP receiver and Lambda API, and the real binaries
//! (web, worker function, event source mapping) as child processes.

use std::{collections::HashMap, time::Duration};

use sqlx::{Connection, PgConnection, PgPool};

use crate::{
    lambda::{LambdaApi, LambdaOptions},
    otlp::Receiver,
    process::{Env, Process, dump},
    proxy::{self, Proxy},
    queues,
    services::{self, services},
};

/// Paths of the binaries under test. Use [`crate::binaries!`] from a test crate.
#[derive(Debug, Clone, Copy)]
pub struct Binaries {
    pub web: &'static str,
    pub worker: &'static str,
    pub esm: &'static str,
}

/// The binaries of the `tests` package (`todo-web`, `todo-worker`, `todo-esm`): each
/// is a one-line `main` calling the same library entry point as the shipped binary.
#[macro_export]
macro_rules! binaries {
    () => {
        $crate::app::Binaries {
            web: env!("CARGO_BIN_EXE_todo-web"),
            worker: env!("CARGO_BIN_EXE_todo-worker"),
            esm: env!("CARGO_BIN_EXE_todo-esm"),
        }
    };
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds a received message stays invisible (SQS default 30).
    pub visibility_timeout: u32,
    pub max_receive_count: u32,
    /// Start the worker and the event source mapping.
    pub with_worker: bool,
    /// Extra environment for every process (e.g. `FAULTS`).
    pub env: Vec<(&'static str, String)>,
    /// Route the services' PostgreSQL and SQS traffic through cuttable proxies
    /// ([`TestApp::db_proxy`], [`TestApp::sqs_proxy`]).
    pub through_proxies: bool,
    /// The function's timeout, enforced by the Lambda API (infra/template.yaml: 5 s).
    pub function_timeout: Duration,
    /// Extra environment for the worker function only (after `env`).
    pub worker_env: Vec<(&'static str, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            visibility_timeout: 30,
            max_receive_count: 3,
            with_worker: true,
            env: Vec::new(),
            through_proxies: false,
            function_timeout: Duration::from_secs(60),
            worker_env: Vec::new(),
        }
    }
}

pub struct TestApp {
    /// `http://127.0.0.1:{port}` of the web process.
    pub address: String,
    pub db: PgPool,
    pub database_url: String,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_name: String,
    pub dlq_url: String,
    /// The attachments bucket, and a client on it.
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub otlp: Receiver,
    pub lambda: LambdaApi,
    /// Does not follow redirects, so tests see the 303s.
    pub http: reqwest::Client,
    /// Present with `Options::through_proxies`.
    pub db_proxy: Option<Proxy>,
    pub sqs_proxy: Option<Proxy>,
    processes: Vec<Process>,
    bins: Binaries,
    env: HashMap<&'static str, String>,
}

impl TestApp {
    pub async fn spawn(bins: Binaries) -> Self {
        Self::spawn_with(bins, Options::default()).await
    }

    pub async fn spawn_with(bins: Binaries, options: Options) -> Self {
        let services = services().await;
        let (database_url, db) = fresh_database(&services.database_url).await;
        let sqs = queues::client(&services.sqs_endpoint).await;
        let (queue_name, queue_url, dlq_url) = queues::fresh_pair(
            &sqs,
            &services.sqs_endpoint,
            options.visibility_timeout,
            options.max_receive_count,
        )
        .await;
        let s3 = crate::buckets::client(&services.s3_endpoint);
        let bucket = crate::buckets::fresh(&s3, &services.s3_endpoint).await;
        let otlp = Receiver::start().await;
        let lambda = LambdaApi::start_with(LambdaOptions {
            timeout: options.function_timeout,
            ..LambdaOptions::new("todo-worker")
        })
        .await;
        let (db_proxy, sqs_proxy) = if options.through_proxies {
            (
                Some(Proxy::start(proxy::target(&database_url, 5432)).await),
                Some(Proxy::start(proxy::target(&services.sqs_endpoint, 80)).await),
            )
        } else {
            (None, None)
        };
        let service_database_url = match &db_proxy {
            Some(p) => proxy::through(&database_url, p.addr),
            None => database_url.clone(),
        };
        let service_sqs_endpoint = match &sqs_proxy {
            Some(p) => proxy::through(&services.sqs_endpoint, p.addr),
            None => services.sqs_endpoint.clone(),
        };

        let env: HashMap<&'static str, String> = HashMap::from([
            ("DATABASE_URL", service_database_url),
            ("AWS_ENDPOINT_URL_SQS", service_sqs_endpoint),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("JOBS_QUEUE_URL", queue_url.clone()),
            ("JOBS_DLQ_URL", dlq_url.clone()),
            ("AWS_ENDPOINT_URL_S3", services.s3_endpoint.clone()),
            ("ATTACHMENTS_BUCKET", bucket.clone()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint()),
            // Export within 100 ms so tests do not wait on the 5 s default.
            ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
            (
                "RUST_LOG",
                "info,sqlx=warn,aws_smithy_runtime=warn,aws_config=warn".into(),
            ),
            // Every request and invocation reads the fault switches afresh (no waiting
            // out a cache after a switch); the relay retries fast.
            ("FAULTS_TTL_MS", "0".into()),
            ("FAULTS_ENABLED", "true".into()),
            ("RELAY_INTERVAL_MS", "200".into()),
            ("RELAY_GRACE_MS", "300".into()),
            ("MAX_RECEIVE_COUNT", options.max_receive_count.to_string()),
            ("ESM_CONCURRENCY", "2".into()),
        ]);
        let mut env = env;
        env.extend(options.env.iter().cloned());

        let mut processes = Vec::new();
        let address = start_web(&mut processes, bins, &env, "0", "web").await;
        if options.with_worker {
            let mut lambda_env = vec![
                ("AWS_LAMBDA_RUNTIME_API", lambda.runtime_api()),
                ("AWS_LAMBDA_FUNCTION_NAME", lambda.function_name.clone()),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ];
            lambda_env.extend(options.worker_env.iter().cloned());
            processes
                .push(Process::start("worker", bins.worker, Env::Inherit(&env, &lambda_env)).0);
            processes.push(
                Process::start(
                    "esm",
                    bins.esm,
                    Env::Inherit(&env, &[("ESM_FUNCTION_URL", lambda.invoke_url())]),
                )
                .0,
            );
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client");
        Self {
            address,
            db,
            database_url,
            sqs,
            queue_url,
            queue_name,
            dlq_url,
            s3,
            bucket,
            otlp,
            lambda,
            http,
            db_proxy,
            sqs_proxy,
            processes,
            bins,
            env,
        }
    }

    /// Stops the web process with SIGTERM (as ECS does), waits for it to exit, and
    /// starts a new one on the same port.
    pub async fn restart_web(&mut self) {
        self.sigterm_web();
        self.wait_web_stopped().await;
        self.start_web_again().await;
    }

    /// Sends SIGTERM to the web process (as ECS does) and returns at once.
    pub fn sigterm_web(&self) {
        self.sigterm("web");
    }

    /// Sends SIGTERM to the process started as `name` and returns at once.
    pub fn sigterm(&self, name: &str) {
        let process = self
            .processes
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("a process named {name}"));
        if let Some(pid) = process.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }

    /// Waits (up to 30 s) for the web process to exit after [`TestApp::sigterm_web`];
    /// panics unless it exits cleanly. Its log is kept (printed if the test fails).
    pub async fn wait_web_stopped(&mut self) {
        self.wait_stopped("web").await;
    }

    /// [`TestApp::wait_web_stopped`] for the process started as `name`.
    pub async fn wait_stopped(&mut self, name: &str) {
        let index = self
            .processes
            .iter()
            .position(|p| p.name == name)
            .unwrap_or_else(|| panic!("a process named {name}"));
        let mut old = self.processes.remove(index);
        let status = tokio::time::timeout(Duration::from_secs(30), old.child.wait()).await;
        old.name = Box::leak(format!("{name} (before restart)").into_boxed_str());
        self.processes.push(old);
        assert!(
            matches!(status, Ok(Ok(s)) if s.success()),
            "{name} exits cleanly on SIGTERM: {status:?}"
        );
    }

    /// Starts web again on the port it had, after [`TestApp::wait_web_stopped`].
    pub async fn start_web_again(&mut self) {
        let port = self.address.rsplit(':').next().unwrap_or("0").to_owned();
        self.address = start_web(&mut self.processes, self.bins, &self.env, &port, "web").await;
    }

    /// Another web process, as a second ECS task is: the same database, queues, bucket
    /// and settings, its own port (`port` "0": any free one). Returns its address.
    pub async fn start_another_web(&mut self, name: &'static str, port: &str) -> String {
        start_web(&mut self.processes, self.bins, &self.env, port, name).await
    }

    /// The web alone (no worker, no event source mapping).
    pub async fn web_only(bins: Binaries) -> Self {
        Self::spawn_with(
            bins,
            Options {
                with_worker: false,
                ..Options::default()
            },
        )
        .await
    }

    /// Signs in by name; returns the session cookie (`user=…`) to send back.
    pub async fn sign_in(&self, name: &str) -> String {
        let response = self.post_form("/signin", &[("name", name)]).await;
        assert_eq!(response.status(), 303, "sign in as {name}");
        response.headers()["set-cookie"]
            .to_str()
            .expect("cookie")
            .split(';')
            .next()
            .expect("cookie pair")
            .to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_text(&self, path: &str) -> String {
        self.get(path).await.text().await.expect("body")
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("POST")
    }

    /// GET with a session's cookies (e.g. [`TestApp::sign_in`]'s).
    pub async fn get_as(&self, cookies: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header("cookie", cookies)
            .send()
            .await
            .expect("GET")
    }

    /// POST a form with a session's cookies.
    pub async fn post_as(
        &self,
        cookies: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("cookie", cookies)
            .form(form)
            .send()
            .await
            .expect("POST")
    }

    /// GET with a fresh sampled `traceparent`: the web continues it, so the returned
    /// trace id names this request's trace.
    pub async fn traced_get(&self, path: &str) -> (reqwest::Response, String) {
        let (traceparent, trace_id) = new_traceparent();
        let response = self
            .http
            .get(self.url(path))
            .header("traceparent", traceparent)
            .send()
            .await
            .expect("GET");
        (response, trace_id)
    }

    /// POST a form with a fresh `traceparent` (see [`TestApp::traced_get`]).
    pub async fn traced_post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (reqwest::Response, String) {
        let (traceparent, trace_id) = new_traceparent();
        let response = self
            .http
            .post(self.url(path))
            .header("traceparent", traceparent)
            .form(form)
            .send()
            .await
            .expect("POST");
        (response, trace_id)
    }

    /// Switches a fault through the JSON API; panics unless it is accepted.
    pub async fn set_fault(&self, name: &str, setting: serde_json::Value) {
        let response = self
            .http
            .put(self.url(&format!("/api/faults/{name}")))
            .json(&setting)
            .send()
            .await
            .expect("PUT /api/faults");
        let status = response.status();
        assert_eq!(
            status,
            200,
            "{name}: {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// Polls until `check` accepts the spans of `trace_id`, or panics after `deadline`.
    pub async fn trace_where(
        &self,
        trace_id: &str,
        what: &str,
        deadline: Duration,
        check: impl Fn(&[crate::otlp::Span]) -> bool,
    ) -> Vec<crate::otlp::Span> {
        crate::eventually(what, deadline, || async {
            let spans = self.otlp.trace(trace_id);
            check(&spans).then_some(spans)
        })
        .await
    }

    /// The to-dos as the JSON API returns them.
    pub async fn todos(&self) -> Vec<serde_json::Value> {
        self.get("/api/todos")
            .await
            .json()
            .await
            .expect("todos JSON")
    }

    /// Messages visible + in flight in a queue.
    pub async fn queue_depth(&self, url: &str) -> u64 {
        queues::depth(&self.sqs, url).await
    }

    /// Waits until process `name` ("web", "worker", "esm") logged a line containing
    /// `needle`; returns that line. After a restart, "web" is the newest web process, or
    /// the stopped one until a new one starts.
    pub async fn wait_for_log(&self, name: &str, needle: &str) -> String {
        let stopped = format!("{name} (before restart)");
        self.processes
            .iter()
            .rev()
            .find(|p| p.name == name || p.name == stopped)
            .unwrap_or_else(|| panic!("no process {name}"))
            .wait_for_log(needle, Duration::from_secs(30))
            .await
    }

    /// Prints every process's log (called on failure).
    pub fn dump_logs(&self) {
        dump(&self.processes);
    }
}

async fn start_web(
    processes: &mut Vec<Process>,
    bins: Binaries,
    env: &HashMap<&'static str, String>,
    port: &str,
    name: &'static str,
) -> String {
    let (web, listening) = Process::start(
        name,
        bins.web,
        Env::Inherit(env, &[("PORT", port.to_owned())]),
    );
    processes.push(web);
    match tokio::time::timeout(Duration::from_secs(30), listening).await {
        Ok(Ok(line)) => line
            .rsplit(':')
            .next()
            .map(|port| format!("http://127.0.0.1:{}", port.trim()))
            .expect("port in the listening line"),
        _ => {
            dump(processes);
            panic!("todo-web did not report it was listening within 30 s");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if std::thread::panicking() {
            dump(&self.processes);
        }
        for p in &mut self.processes {
            let _ = p.child.start_kill();
        }
    }
}

/// The trace id a response names in its W3C `traceresponse` header.
pub fn trace_of(response: &reqwest::Response) -> String {
    response.headers()["traceresponse"]
        .to_str()
        .expect("traceresponse is ASCII")
        .split('-')
        .nth(1)
        .expect("traceresponse: 00-{trace id}-{span id}-{flags}")
        .to_owned()
}

/// A client that keeps no connection between requests (each opens its own, as a new
/// visitor's) and follows no redirect.
pub fn new_visitor() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// A sampled W3C `traceparent` with random ids, and its trace id.
pub fn new_traceparent() -> (String, String) {
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let span_id = &uuid::Uuid::new_v4().simple().to_string()[..16];
    (format!("00-{trace_id}-{span_id}-01"), trace_id)
}

/// Creates `traced_todo_test_…` on the server and returns its URL and a migrated pool.
async fn fresh_database(server_url: &str) -> (String, PgPool) {
    let mut admin = PgConnection::connect(server_url)
        .await
        .unwrap_or_else(|e| services::unreachable("PostgreSQL", server_url, e));
    let name = format!("traced_todo_test_{}", uuid::Uuid::new_v4().simple());
    // The name is ours (a fixed prefix and a UUID): safe to splice.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("CREATE DATABASE");
    let url = with_database(server_url, &name);
    let pool = PgPool::connect(&url)
        .await
        .expect("connect to the test database");
    sqlx::migrate!("../migrations")
        .run(&pool)
        .await
        .expect("migrations");
    (url, pool)
}

/// `server_url` with its database name replaced.
fn with_database(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server_url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            super::with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            super::with_database("postgres://u@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(
            super::with_database("postgres://u@h", "x"),
            "postgres://u@h/x"
        );
    }
}
