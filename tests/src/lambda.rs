//! The Lambda Runtime API (what the function polls) and Invoke API (what the event
//! source mapping calls), in process. This is the control plane that `cargo lambda
//! watch`, the runtime interface emulator and AWS Lambda provide; the function itself
//! runs unmodified under the real `lambda_runtime` client.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
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

struct Invocation {
    id: String,
    payload: Bytes,
}

#[derive(Clone)]
struct Api {
    function_name: String,
    queue: mpsc::UnboundedSender<Invocation>,
    next: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>>,
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Answer>>>>,
    invocations: Arc<Mutex<u64>>,
}

pub struct LambdaApi {
    pub addr: SocketAddr,
    pub function_name: String,
    invocations: Arc<Mutex<u64>>,
}

impl LambdaApi {
    pub async fn start(function_name: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind Lambda API");
        let addr = listener.local_addr().expect("Lambda API address");
        let (tx, rx) = mpsc::unbounded_channel();
        let api = Api {
            function_name: function_name.to_owned(),
            queue: tx,
            next: Arc::new(tokio::sync::Mutex::new(rx)),
            waiting: Arc::default(),
            invocations: Arc::default(),
        };
        let invocations = api.invocations.clone();
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
            function_name: function_name.to_owned(),
            invocations,
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
            self.addr, self.function_name
        )
    }

    pub fn invocation_count(&self) -> u64 {
        *self.invocations.lock().expect("lock")
    }
}

async fn invoke(State(api): State<Api>, Path(name): Path<String>, payload: Bytes) -> Response {
    if name != api.function_name {
        return (StatusCode::NOT_FOUND, format!("Function not found: {name}")).into_response();
    }
    let id = uuid::Uuid::new_v4().to_string();
    let (tx, rx) = oneshot::channel();
    api.waiting.lock().expect("lock").insert(id.clone(), tx);
    *api.invocations.lock().expect("lock") += 1;
    let _ = api.queue.send(Invocation { id, payload });
    match tokio::time::timeout(Duration::from_secs(120), rx).await {
        Ok(Ok(Ok(body))) => (StatusCode::OK, body).into_response(),
        Ok(Ok(Err(body))) => {
            let mut response = (StatusCode::OK, body).into_response();
            response.headers_mut().insert(
                "x-amz-function-error",
                HeaderValue::from_static("Unhandled"),
            );
            response
        }
        _ => (StatusCode::GATEWAY_TIMEOUT, "function timed out").into_response(),
    }
}

async fn next(State(api): State<Api>) -> Response {
    let Some(invocation) = api.next.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline = SystemTime::now() + Duration::from_secs(60);
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
    put("lambda-runtime-aws-request-id", invocation.id);
    put("lambda-runtime-deadline-ms", deadline_ms.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            api.function_name
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
        None => StatusCode::NOT_FOUND,
    }
}
