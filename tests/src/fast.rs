//! The fast tier's harness: web's whole router in process, driven with
//! `tower::ServiceExt::oneshot`, on the database `#[sqlx::test]` made for the test and
//! a fresh queue pair on the real SQS API. No processes, no telemetry exporter, no
//! relay: what a handler does and stores, in milliseconds.

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Request, StatusCode},
};
use clap::Parser;
use common::metrics::Metrics;
use opentelemetry_sdk::trace::SdkTracer;
use sqlx::PgPool;
use tower::ServiceExt;
use web::{config::Config, state::AppState};

use crate::{queues, services::services};

/// Fake at an edge under test: every insert into `table` fails from now on (as a full
/// disk or a broken constraint would), inside whatever transaction makes it.
pub async fn refuse_inserts(pool: &PgPool, table: &str) {
    // The table name is the test's own literal: safe to splice.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'no {table} today'; END $$; \
         CREATE TRIGGER refuse BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_{table}();"
    )))
    .execute(pool)
    .await
    .expect("the refusing trigger");
}

/// Undoes [`refuse_inserts`].
pub async fn accept_inserts(pool: &PgPool, table: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP TRIGGER refuse ON {table}"
    )))
    .execute(pool)
    .await
    .expect("dropping the refusing trigger");
}

pub struct FastApp {
    pub router: Router,
    pub state: AppState,
    pub pool: PgPool,
    pub sqs: aws_sdk_sqs::Client,
    /// The attachments bucket, and a client on it.
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub queue_url: String,
    pub dlq_url: String,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl FastApp {
    /// The app as the demo runs it (fault panel open, switches read afresh every time).
    pub async fn new(pool: PgPool) -> Self {
        Self::with(pool, &[]).await
    }

    /// With extra command-line settings for web's `Config`, e.g. `["--faults-enabled",
    /// "false"]`. The test's own environment is ignored where these say otherwise.
    pub async fn with(pool: PgPool, settings: &[&str]) -> Self {
        Self::traced(pool, settings, None).await
    }

    /// [`FastApp::with`], its SERVER and query spans made by `tracer`.
    pub async fn traced(pool: PgPool, settings: &[&str], tracer: Option<SdkTracer>) -> Self {
        // Jobs carry the trace context and baggage through the global propagator, which
        // a binary installs at start-up.
        common::telemetry::install_propagator();
        let services = services().await;
        let sqs = queues::client(&services.sqs_endpoint).await;
        let (_, queue_url, dlq_url) = queues::fresh_pair(&sqs, &services.sqs_endpoint, 30, 3).await;
        // web's own S3 client finds it through AWS_ENDPOINT_URL_S3, as SQS's.
        let s3 = crate::buckets::client(&services.s3_endpoint);
        let bucket = crate::buckets::fresh(&s3, &services.s3_endpoint).await;
        let defaults = [
            ("--attachments-bucket", bucket.as_str()),
            ("--jobs-queue-url", queue_url.as_str()),
            ("--jobs-dlq-url", dlq_url.as_str()),
            ("--faults-enabled", "true"),
            ("--faults-ttl-ms", "0"),
        ];
        let mut args = vec!["web"];
        for (flag, value) in defaults {
            if !settings.contains(&flag) {
                args.extend([flag, value]);
            }
        }
        args.extend_from_slice(settings);
        let config = Config::try_parse_from(args).expect("web's settings");
        let state = web::app::state(&config, pool.clone(), Metrics::disabled(), tracer)
            .await
            .expect("web's state");
        let router = web::router(state.clone(), config.faults_admin_token.clone());
        Self {
            router,
            state,
            pool,
            sqs,
            s3,
            bucket,
            queue_url,
            dlq_url,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("the body");
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// GET `path` with these headers.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = Request::get(path);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        self.send(request.body(Body::empty()).expect("request"))
            .await
    }

    /// POST a url-encoded form body (e.g. `title=buy+milk`) with these headers.
    pub async fn post_form(&self, path: &str, form: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request =
            Request::post(path).header("content-type", "application/x-www-form-urlencoded");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        self.send(request.body(Body::from(form.to_owned())).expect("request"))
            .await
    }

    /// [`FastApp::post_form`] continuing a new sampled trace of the caller's
    /// (`traceparent`): the reply, and the trace id the request ran in.
    pub async fn traced_post(
        &self,
        path: &str,
        form: &str,
        headers: &[(&str, &str)],
    ) -> (Reply, String) {
        let (traceparent, trace) = crate::app::new_traceparent();
        let mut headers = headers.to_vec();
        headers.push(("traceparent", &traceparent));
        (self.post_form(path, form, &headers).await, trace)
    }

    /// PUT a JSON body (the fault API).
    pub async fn put_json(&self, path: &str, json: &str) -> Reply {
        let request = Request::put(path)
            .header("content-type", "application/json")
            .body(Body::from(json.to_owned()))
            .expect("request");
        self.send(request).await
    }

    /// Messages waiting or in flight in the jobs queue.
    pub async fn queued(&self) -> u64 {
        queues::depth(&self.sqs, &self.queue_url).await
    }
}
