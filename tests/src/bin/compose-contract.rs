//! The compose contract run: starts our services (web, the worker function, esm, and
//! loadgen from profile `load`) natively with exactly the environment and program that
//! docker-compose.yml and deploy/Dockerfile give their containers, against stand-ins at
//! the compose service names and ports, and checks that one click is one connected
//! trace web → SQS → worker. A wrong variable, URL, port or path in the compose file
//! fails it.
//!
//! `scripts/compose-contract` prepares the ground and runs this inside a network
//! namespace whose /etc/hosts maps every compose service name to an address of its own:
//! a real PostgreSQL at `postgres:5432`, a real SQS API (moto) at `sqs:9324` with the
//! queues of deploy/elasticmq.conf. This program adds, in process:
//!   * an OTLP receiver where Jaeger takes OTLP/HTTP (`jaeger:4318`, traces only, as
//!     deploy/jaeger.yaml has no metrics pipeline),
//!   * an OTLP metrics receiver where Prometheus takes it (`prometheus:9090`,
//!     `/api/v1/otlp/v1/metrics`, only with `--web.enable-otlp-receiver`),
//!   * the runtime interface emulator's Invoke API (`worker:8080`, path
//!     `/2015-03-31/functions/function/invocations`, one invocation at a time) with the
//!     Runtime API the function polls.
//!
//! Usage: compose-contract --compose FILE.json --dockerfile deploy/Dockerfile
//!        --bin-dir DIR --max-receive-count N

use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    process::ExitCode,
    time::Duration,
};

use anyhow::{Context, bail};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tests::{
    compose::{self, Compose},
    lambda::{LambdaApi, LambdaOptions},
    otlp::{Paths, Receiver},
    process::{Env, Process, dump},
};

/// Ports and paths of the third-party images, as their own configuration sets them.
const JAEGER_IMAGE: &str = "jaegertracing/jaeger";
/// deploy/jaeger.yaml: `receivers.otlp.protocols.http.endpoint` (…:4318).
const JAEGER_OTLP_HTTP: u16 = 4318;
/// deploy/jaeger.yaml: `jaeger_query.http.endpoint` (…:16686).
const JAEGER_UI: u16 = 16686;
const PROMETHEUS_IMAGE: &str = "prom/prometheus";
const PROMETHEUS_PORT: u16 = 9090;
/// Prometheus v3's OTLP receiver, served with `--web.enable-otlp-receiver`.
const PROMETHEUS_OTLP_PATH: &str = "/api/v1/otlp/v1/metrics";
/// The Lambda base image: its entrypoint runs the runtime interface emulator on 8080,
/// which runs /var/runtime/bootstrap.
const LAMBDA_IMAGE: &str = "public.ecr.aws/lambda/";
const RIE_PORT: u16 = 8080;
/// What the emulator sets when the container does not (rie/handlers.go).
const RIE_DEFAULTS: [(&str, &str); 5] = [
    ("AWS_LAMBDA_FUNCTION_NAME", "test_function"),
    ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3008"),
    ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/Functions"),
    ("AWS_LAMBDA_LOG_STREAM_NAME", "$LATEST"),
];

const DEADLINE: Duration = Duration::from_secs(60);

struct Args {
    compose: String,
    dockerfile: String,
    bin_dir: String,
    max_receive_count: i32,
}

fn args() -> anyhow::Result<Args> {
    let mut map = BTreeMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        map.insert(flag, value);
    }
    let get = |k: &str| {
        map.get(k)
            .cloned()
            .with_context(|| format!("missing {k} (see the usage in the source)"))
    };
    Ok(Args {
        compose: get("--compose")?,
        dockerfile: get("--dockerfile")?,
        bin_dir: get("--bin-dir")?,
        max_receive_count: get("--max-receive-count")?
            .parse()
            .context("--max-receive-count")?,
    })
}

/// One of our services, ready to run: its compose name, the binary its image runs and
/// the whole environment its container gets.
struct Ours {
    name: String,
    binary: String,
    env: BTreeMap<String, String>,
    lambda: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => {
            println!("compose contract: OK");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("compose contract: FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let args = args()?;
    let compose = Compose::from_json(&std::fs::read_to_string(&args.compose)?)?;
    let stages = compose::stages(&std::fs::read_to_string(&args.dockerfile)?)?;
    let dockerfile = std::fs::read_to_string(&args.dockerfile)?;
    let mut ours = BTreeMap::new();
    for (name, service) in &compose.services {
        let Some(build) = &service.build else {
            continue;
        };
        let target = build
            .target
            .as_deref()
            .with_context(|| format!("service {name}: build without a target"))?;
        let stage = compose::resolve(&stages, target)?;
        let lambda = stage.base.starts_with(LAMBDA_IMAGE);
        let binary = if lambda {
            // The function's bootstrap is what the Lambda build stage packaged.
            let start = dockerfile
                .find("target/lambda/")
                .context("the Dockerfile packages no target/lambda/<binary>/bootstrap")?;
            dockerfile[start + "target/lambda/".len()..]
                .split('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        } else {
            let entrypoint = stage
                .entrypoint
                .as_ref()
                .and_then(|e| e.first())
                .with_context(|| format!("stage {target}: no ENTRYPOINT"))?;
            entrypoint.rsplit('/').next().unwrap_or_default().to_owned()
        };
        // The image's ENV first; compose's environment overrides it.
        let mut env: BTreeMap<String, String> = stage.env.into_iter().collect();
        env.extend(service.environment.clone());
        ours.insert(
            name.clone(),
            Ours {
                name: name.clone(),
                binary: format!("{}/{binary}", args.bin_dir),
                env,
                lambda,
            },
        );
    }
    let mut report = Report::default();
    let mut processes = Vec::new();
    let result = exercise(&compose, &ours, &args, &mut report, &mut processes).await;
    if result.is_err() || !report.failures.is_empty() {
        dump(&processes);
    }
    report.print();
    result?;
    if !report.failures.is_empty() {
        bail!("{} check(s) failed", report.failures.len());
    }
    Ok(())
}

#[derive(Default)]
struct Report {
    passed: Vec<String>,
    failures: Vec<String>,
}

impl Report {
    fn check(&mut self, ok: bool, what: impl Into<String>) {
        let what = what.into();
        if ok {
            self.passed.push(what);
        } else {
            self.failures.push(what);
        }
    }

    fn print(&self) {
        for p in &self.passed {
            println!("  ok    {p}");
        }
        for f in &self.failures {
            println!("  FAIL  {f}");
        }
    }
}

/// The address a compose service name resolves to (the namespace's /etc/hosts).
async fn address_of(service: &str, port: u16) -> anyhow::Result<SocketAddr> {
    tokio::net::lookup_host((service, port))
        .await
        .with_context(|| format!("resolving the compose service name {service:?}"))?
        .find(|a| matches!(a.ip(), IpAddr::V4(_)))
        .with_context(|| format!("{service:?} has no IPv4 address"))
}

fn service(ours: &BTreeMap<String, Ours>, pick: impl Fn(&Ours) -> bool) -> Option<&Ours> {
    ours.values().find(|o| pick(o))
}

async fn exercise(
    compose: &Compose,
    ours: &BTreeMap<String, Ours>,
    args: &Args,
    report: &mut Report,
    processes: &mut Vec<Process>,
) -> anyhow::Result<()> {
    // ---- stand-ins for the third-party images
    let (jaeger_name, jaeger) = compose
        .by_image(JAEGER_IMAGE)
        .context("no Jaeger service in the compose file")?;
    let traces = Receiver::start_with(
        address_of(jaeger_name, JAEGER_OTLP_HTTP).await?,
        Paths {
            traces: Some("/v1/traces"),
            metrics: None,
        },
    )
    .await?;
    let (prometheus_name, prometheus) = compose
        .by_image(PROMETHEUS_IMAGE)
        .context("no Prometheus service in the compose file")?;
    let otlp_enabled = prometheus
        .command
        .iter()
        .flatten()
        .any(|a| a == "--web.enable-otlp-receiver");
    let metrics = Receiver::start_with(
        address_of(prometheus_name, PROMETHEUS_PORT).await?,
        Paths {
            traces: None,
            metrics: otlp_enabled.then_some(PROMETHEUS_OTLP_PATH),
        },
    )
    .await?;

    let worker = service(ours, |o| o.lambda).context("no service runs the Lambda image")?;
    let web = service(ours, |o| o.binary.ends_with("/web")).context("no service runs web")?;
    let esm = service(ours, |o| o.binary.ends_with("/esm")).context("no service runs esm")?;
    let loadgen = service(ours, |o| o.binary.ends_with("/loadgen"));

    // ---- the worker, behind the runtime interface emulator's Invoke API
    let function_name = worker
        .env
        .get("AWS_LAMBDA_FUNCTION_NAME")
        .cloned()
        .unwrap_or_else(|| "test_function".into());
    let timeout = worker
        .env
        .get("AWS_LAMBDA_FUNCTION_TIMEOUT")
        .and_then(|t| t.parse().ok())
        .map_or(Duration::from_secs(300), Duration::from_secs);
    let rie = LambdaApi::start_with(LambdaOptions {
        function_name: function_name.clone(),
        invoke_name: "function".into(),
        timeout,
        one_at_a_time: true,
        bind: address_of(&worker.name, RIE_PORT).await?,
    })
    .await;
    let mut worker_env = worker.env.clone();
    for (k, v) in RIE_DEFAULTS {
        worker_env.entry(k.into()).or_insert_with(|| v.into());
    }
    worker_env.insert("AWS_LAMBDA_RUNTIME_API".into(), rie.runtime_api());
    processes.push(start("worker", &worker.binary, &worker_env).0);

    // ---- web and esm with their compose environment
    let (web_process, listening) = start("web", &web.binary, &web.env);
    processes.push(web_process);
    tokio::time::timeout(DEADLINE, listening)
        .await
        .context("web did not say it was listening")??;
    processes.push(start("esm", &esm.binary, &esm.env).0);

    // ---- the published ports and the links the browser follows
    let web_service = &compose.services[&web.name];
    let port: u16 = web
        .env
        .get("PORT")
        .context("web has no PORT")?
        .parse()
        .context("web's PORT")?;
    report.check(
        web_service.published(port).is_some(),
        format!("web listens on PORT={port}, and compose publishes that container port"),
    );
    let jaeger_published = jaeger.published(JAEGER_UI);
    let ui_url = web.env.get("JAEGER_UI_URL").cloned().unwrap_or_default();
    report.check(
        jaeger_published.is_some_and(|p| {
            ui_url == format!("http://localhost:{p}") || ui_url == format!("http://127.0.0.1:{p}")
        }),
        format!(
            "JAEGER_UI_URL={ui_url} is where the host reaches Jaeger's UI (published {jaeger_published:?})"
        ),
    );
    report.check(
        compose.services.values().all(|s| {
            s.published(5432).is_none()
                && s.published(9324).is_none()
                && s.published(RIE_PORT).is_none()
        }),
        "only what a user opens is published (no PostgreSQL, SQS or Invoke API ports)",
    );
    let max_receive = worker
        .env
        .get("MAX_RECEIVE_COUNT")
        .map_or(Ok(worker::config::DEFAULT_MAX_RECEIVE_COUNT), |v| v.parse())
        .context("the worker's MAX_RECEIVE_COUNT")?;
    report.check(
        max_receive == args.max_receive_count,
        format!(
            "the worker's MAX_RECEIVE_COUNT ({max_receive}) is the queue's maxReceiveCount ({})",
            args.max_receive_count
        ),
    );

    // ---- one click, one trace
    let base = format!("http://{}:{port}", web.name);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?;
    within("web's /readyz to answer 200", DEADLINE, || async {
        let r = http.get(format!("{base}/readyz")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await?;
    report.check(
        true,
        format!("web at {base} is ready: its database and queue answer"),
    );
    let (traceparent, trace_id) = tests::app::new_traceparent();
    let added = http
        .post(format!("{base}/todos"))
        .header("traceparent", traceparent)
        .form(&[("title", "check the compose file")])
        .send()
        .await?;
    report.check(
        added.status() == 303,
        format!("POST /todos through the form: {}", added.status()),
    );
    let done = within("the worker to finish the job", DEADLINE, || async {
        let todos: Vec<serde_json::Value> = http
            .get(format!("{base}/api/todos"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        todos.into_iter().find(|t| t["job_state"] == "done")
    })
    .await?;
    report.check(
        done["created_trace_id"] == trace_id.as_str(),
        "the job ran in the worker and the row names the click's trace",
    );
    let spans = within(
        "the click's spans from web and worker",
        DEADLINE,
        || async {
            let spans = traces.trace(&trace_id);
            let producer = spans.iter().find(|s| s.kind == SpanKind::Producer)?;
            spans
                .iter()
                .any(|s| s.kind == SpanKind::Consumer && s.parent_span_id == producer.span_id)
                .then_some(spans)
        },
    )
    .await?;
    let server = spans.iter().find(|s| s.kind == SpanKind::Server);
    let producer = spans.iter().find(|s| s.kind == SpanKind::Producer);
    let consumer = spans.iter().find(|s| s.kind == SpanKind::Consumer);
    report.check(
        server.is_some_and(|s| s.name == "POST /todos" && s.parent_span_id.len() == 16),
        "the SERVER span continues the browser's traceparent",
    );
    report.check(
        matches!((producer, consumer), (Some(p), Some(c)) if c.parent_span_id == p.span_id && c.service != p.service),
        format!(
            "one connected trace at {jaeger_name}:{JAEGER_OTLP_HTTP}: {} → SQS → {}",
            producer.map_or("?", |s| s.service.as_str()),
            consumer.map_or("?", |s| s.service.as_str())
        ),
    );
    report.check(
        consumer.is_some_and(|c| {
            spans
                .iter()
                .any(|s| s.kind == SpanKind::Client && s.parent_span_id == c.span_id)
        }),
        "the worker's database spans are under its CONSUMER span",
    );

    // ---- a file: web stores it on S3, the worker reads it back, one trace
    let todo_id = done["id"].as_str().context("the to-do's id")?.to_owned();
    let (traceparent, upload_trace) = tests::app::new_traceparent();
    let boundary = "compose-contract";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.txt\"\r\n\
         Content-Type: text/plain\r\n\r\ncompose\r\n--{boundary}--\r\n"
    );
    let uploaded = http
        .post(format!("{base}/todos/{todo_id}/attachments"))
        .header("traceparent", traceparent)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await?;
    report.check(
        uploaded.status() == 303,
        format!("an upload through the form: {}", uploaded.status()),
    );
    let s3 = web
        .env
        .get("AWS_ENDPOINT_URL_S3")
        .cloned()
        .unwrap_or_default();
    let read_back = within("the worker to read the file back", DEADLINE, || async {
        let todo: serde_json::Value = http
            .get(format!("{base}/api/todos/{todo_id}"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        todo["attachments"][0]["sha256"].is_string().then_some(())
    })
    .await
    .is_ok();
    report.check(
        read_back,
        format!("web stored the file at {s3} and the worker read it back (its checksum)"),
    );
    let s3_spans = within("the upload's S3 spans", DEADLINE, || async {
        let spans = traces.trace(&upload_trace);
        let has = |name: &str| spans.iter().any(|s| s.name == name);
        (has("S3.PutObject") && has("S3.GetObject")).then_some(())
    })
    .await
    .is_ok();
    report.check(
        s3_spans,
        "one trace: S3.PutObject in web, S3.GetObject in the worker",
    );

    // ---- metrics where Prometheus takes them
    let web_service_name = server.map(|s| s.service.clone()).unwrap_or_default();
    let worker_service_name = consumer.map(|s| s.service.clone()).unwrap_or_default();
    let metrics_ok = within("metrics from web and worker", DEADLINE, || async {
        let points = metrics.metrics();
        let from = |service: &str, name: &str| {
            points
                .iter()
                .any(|p| p.service == service && p.name == name)
        };
        (from(&web_service_name, "http.server.request.duration")
            && from(&worker_service_name, "jobs.processed"))
        .then_some(())
    })
    .await
    .is_ok();
    report.check(
        metrics_ok,
        format!(
            "metrics from {web_service_name} and {worker_service_name} at {prometheus_name}:{PROMETHEUS_PORT}{PROMETHEUS_OTLP_PATH}"
        ),
    );

    // ---- the emulator's rules
    report.check(
        rie.invocation_count() > 0 && rie.wrong_path_count() == 0,
        format!(
            "esm invokes {}:{RIE_PORT}/2015-03-31/functions/function/invocations ({} invocations, {} to another path)",
            worker.name,
            rie.invocation_count(),
            rie.wrong_path_count()
        ),
    );
    report.check(
        rie.overlap_count() == 0,
        "one invocation at a time (the emulator crashes on an overlapping one)",
    );
    report.check(rie.timeout_count() == 0, "no invocation timed out");

    // ---- profile `load`: loadgen against web
    if let Some(loadgen) = loadgen {
        let (process, _) = start("loadgen", &loadgen.binary, &loadgen.env);
        processes.push(process);
        let last = processes.last_mut().context("loadgen")?;
        let status = tokio::time::timeout(Duration::from_secs(120), last.exited())
            .await
            .context("loadgen did not stop by itself")??;
        let summary = last
            .lines()
            .into_iter()
            .find(|l| l.contains("requests in"))
            .unwrap_or_default();
        let errors: u64 = last
            .lines()
            .iter()
            .filter_map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                (cols.len() == 6 && cols[1].parse::<u64>().is_ok())
                    .then(|| cols[2].parse::<u64>().ok())?
            })
            .sum();
        report.check(
            status.success() && !summary.is_empty() && errors == 0,
            format!(
                "loadgen ({}) clicked through web: {summary}, {errors} errors",
                loadgen.name
            ),
        );
    }
    Ok(())
}

fn start(
    name: &'static str,
    binary: &str,
    env: &BTreeMap<String, String>,
) -> (Process, tokio::sync::oneshot::Receiver<String>) {
    let vars: Vec<(String, String)> = env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    Process::start(name, binary, Env::Only(&vars))
}

/// Polls `check` every 100 ms until it yields `Some`, or fails naming `what`.
async fn within<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= end {
            bail!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
