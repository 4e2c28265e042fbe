//! The Lambda Runtime API (what the function polls) and Invoke API (what the event
//! source mapping calls), in process. This is the control plane that `cargo lambda
//! watch`, the runtime interface emulator and AWS Lambda provide; the function itself
//! runs unmodified under the real `lambda_runtime` client.
//!
//! Like Lambda, it enforces the function's timeout over the whole invoke phase, which
//! ends when the runtime asks for its next invocation: an invocation that has not
//! answered by then fails with `Task timed out`; one that answered but kept the runtime
//! busy past it (a slow flush after the response) is counted too, as Lambda would log
//! the timeout and reset the environment, losing what was not flushed.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use tokio::sync::{mpsc, oneshot};

type Answer = Result<Bytes, Bytes>;

/// How the stand-in behaves.
#[derive(Debug, Clone)]
pub struct LambdaOptions {
    /// `AWS_LAMBDA_FUNCTION_NAME`, and the name in the ARN.
    pub function_name: String,
    /// The name the Invoke API path takes (`/2015-03-31/functions/{name}/invocations`):
    /// the function's name for `cargo lambda watch` and AWS; always `function` for the
    /// runtime interface emulator.
    pub invoke_name: String,
    /// The function's timeout (Lambda's `Timeout`).
    pub timeout: Duration,
    /// The runtime interface emulator runs one invocation at a time (it crashes on an
    /// overlapping one): refuse and count overlaps instead.
    pub one_at_a_time: bool,
    pub bind: SocketAddr,
}

impl LambdaOptions {
    pub fn new(function_name: &str) -> Self {
        Self {
            function_name: function_name.to_owned(),
            invoke_name: function_name.to_owned(),
            timeout: Duration::from_secs(60),
            one_at_a_time: false,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

struct Invocation {
    id: String,
    payload: Bytes,
}

#[derive(Default)]
struct Counters {
    invocations: AtomicU64,
    timeouts: AtomicU64,
    overlaps: AtomicU64,
    wrong_paths: AtomicU64,
    /// The longest invoke phase so far, in µs.
    longest_phase_us: AtomicU64,
}

/// The invocation the runtime is working on (its invoke phase), if any.
#[derive(Default)]
struct Phase {
    /// (request id, handed out at, timeout already counted)
    current: Option<(String, Instant, bool)>,
    /// The runtime is waiting in `/next`.
    waiting: bool,
}

#[derive(Clone)]
struct Api {
    options: Arc<LambdaOptions>,
    queue: mpsc::UnboundedSender<Invocation>,
    next: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>>,
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Answer>>>>,
    busy: Arc<AtomicBool>,
    counters: Arc<Counters>,
    phase: Arc<Mutex<Phase>>,
}

pub struct LambdaApi {
    pub addr: SocketAddr,
    pub function_name: String,
    invoke_name: String,
    counters: Arc<Counters>,
    phase: Arc<Mutex<Phase>>,
}

impl LambdaApi {
    pub async fn start(function_name: &str) -> Self {
        Self::start_with(LambdaOptions::new(function_name)).await
    }

    pub async fn start_with(options: LambdaOptions) -> Self {
        let listener = tokio::net::TcpListener::bind(options.bind)
            .await
            .unwrap_or_else(|e| panic!("bind Lambda API on {}: {e}", options.bind));
        let addr = listener.local_addr().expect("Lambda API address");
        let (tx, rx) = mpsc::unbounded_channel();
        let api = Api {
            options: Arc::new(options.clone()),
            queue: tx,
            next: Arc::new(tokio::sync::Mutex::new(rx)),
            waiting: Arc::default(),
            busy: Arc::default(),
            counters: Arc::default(),
            phase: Arc::default(),
        };
        let counters = api.counters.clone();
        let phase = api.phase.clone();
        let app = Router::new()
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(api);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            function_name: options.function_name,
            invoke_name: options.invoke_name,
            counters,
            phase,
        }
    }

    /// `AWS_LAMBDA_RUNTIME_API` for the function.
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// `ESM_FUNCTION_URL` for the event source mapping.
    pub fn invoke_url(&self) -> String {
        format!(
            "http://{}/2015-03-31/functions/{}/invocations",
            self.addr, self.invoke_name
        )
    }

    pub fn invocation_count(&self) -> u64 {
        self.counters.invocations.load(Ordering::SeqCst)
    }

    /// Whether the runtime is idle, waiting for its next invocation (its last invoke
    /// phase, if any, is over and was judged against the timeout).
    pub fn runtime_idle(&self) -> bool {
        let phase = self.phase.lock().expect("lock");
        phase.waiting && phase.current.is_none()
    }

    /// Invoke phases that outlived the function's timeout.
    pub fn timeout_count(&self) -> u64 {
        self.counters.timeouts.load(Ordering::SeqCst)
    }

    /// The longest invoke phase that has ended: from handing an invocation to the
    /// runtime until it asked for the next (its work, then its flush).
    pub fn longest_invoke_phase(&self) -> Duration {
        Duration::from_micros(self.counters.longest_phase_us.load(Ordering::SeqCst))
    }

    /// Invocations that arrived while another was running (`one_at_a_time`).
    pub fn overlap_count(&self) -> u64 {
        self.counters.overlaps.load(Ordering::SeqCst)
    }

    /// Invocations of another function name than the one served.
    pub fn wrong_path_count(&self) -> u64 {
        self.counters.wrong_paths.load(Ordering::SeqCst)
    }
}

/// Clears the busy flag when the invocation ends, however it ends.
struct Release(Option<Arc<AtomicBool>>);

impl Drop for Release {
    fn drop(&mut self) {
        if let Some(busy) = &self.0 {
            busy.store(false, Ordering::SeqCst);
        }
    }
}

async fn invoke(State(api): State<Api>, Path(name): Path<String>, payload: Bytes) -> Response {
    if name != api.options.invoke_name {
        api.counters.wrong_paths.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::NOT_FOUND, format!("Function not found: {name}")).into_response();
    }
    let _release = if api.options.one_at_a_time {
        if api.busy.swap(true, Ordering::SeqCst) {
            api.counters.overlaps.fetch_add(1, Ordering::SeqCst);
            return (
                StatusCode::BAD_REQUEST,
                "AlreadyReserved: one invocation at a time (the runtime interface emulator crashes here)",
            )
                .into_response();
        }
        Release(Some(api.busy.clone()))
    } else {
        Release(None)
    };
    let id = uuid::Uuid::new_v4().to_string();
    let (tx, rx) = oneshot::channel();
    api.waiting.lock().expect("lock").insert(id.clone(), tx);
    api.counters.invocations.fetch_add(1, Ordering::SeqCst);
    let _ = api.queue.send(Invocation {
        id: id.clone(),
        payload,
    });
    let timeout = api.options.timeout;
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(Ok(body))) => (StatusCode::OK, body).into_response(),
        Ok(Ok(Err(body))) => function_error(body),
        Ok(Err(_)) => (StatusCode::BAD_GATEWAY, "the function went away").into_response(),
        Err(_) => {
            // What Lambda answers: the invocation failed, whatever the function does next.
            api.waiting.lock().expect("lock").remove(&id);
            api.counters.timeouts.fetch_add(1, Ordering::SeqCst);
            if let Some((current, _, counted)) = &mut api.phase.lock().expect("lock").current
                && *current == id
            {
                *counted = true;
            }
            function_error(Bytes::from(format!(
                r#"{{"errorType":"Sandbox.Timedout","errorMessage":"Task timed out after {:.2} seconds"}}"#,
                timeout.as_secs_f64()
            )))
        }
    }
}

fn function_error(body: Bytes) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        "x-amz-function-error",
        HeaderValue::from_static("Unhandled"),
    );
    response
}

async fn next(State(api): State<Api>) -> Response {
    {
        // Asking for the next invocation ends the last one's invoke phase.
        let mut phase = api.phase.lock().expect("lock");
        if let Some((_, started, counted)) = phase.current.take() {
            let took = started.elapsed();
            api.counters
                .longest_phase_us
                .fetch_max(took.as_micros() as u64, Ordering::SeqCst);
            if !counted && took > api.options.timeout {
                api.counters.timeouts.fetch_add(1, Ordering::SeqCst);
            }
        }
        phase.waiting = true;
    }
    let Some(invocation) = api.next.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    {
        let mut phase = api.phase.lock().expect("lock");
        phase.waiting = false;
        phase.current = Some((invocation.id.clone(), Instant::now(), false));
    }
    let deadline = SystemTime::now() + api.options.timeout;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    };
    // New for every invocation, as Lambda sends it (X-Ray's format), sampled or not.
    let (root, parent) = (uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    put(
        "lambda-runtime-trace-id",
        format!(
            "Root=1-{:08x}-{};Parent={};Sampled=0",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            &root.to_string()[..24],
            &parent.to_string()[..16],
        ),
    );
    put("lambda-runtime-aws-request-id", invocation.id);
    put("lambda-runtime-deadline-ms", deadline_ms.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            api.options.function_name
        ),
    );
    (StatusCode::OK, headers, invocation.payload).into_response()
}

async fn respond(State(api): State<Api>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&api, &id, Ok(body))
}

async fn fail(State(api): State<Api>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&api, &id, Err(body))
}

async fn init_error(body: Bytes) -> StatusCode {
    eprintln!("function init error: {}", String::from_utf8_lossy(&body));
    StatusCode::ACCEPTED
}

fn answer(api: &Api, id: &str, answer: Answer) -> StatusCode {
    match api.waiting.lock().expect("lock").remove(id) {
        Some(tx) => {
            let _ = tx.send(answer);
            StatusCode::ACCEPTED
        }
        // Too late (timed out) or unknown: Lambda refuses it too.
        None => StatusCode::GONE,
    }
}
