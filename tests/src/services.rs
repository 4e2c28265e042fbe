//! Where the real services come from:
//! 1. the environment, the same variables the app reads: `DATABASE_URL` (any database
//!    on the server; tests create their own), `AWS_ENDPOINT_URL_SQS` and
//!    `AWS_ENDPOINT_URL_S3` (default: the SQS endpoint, as moto serves both);
//! 2. else, where a Docker engine is reachable, testcontainers starts them;
//! 3. else the test fails, saying how to start them. Never a silent skip.

use tokio::sync::OnceCell;

#[derive(Debug, Clone)]
pub struct Services {
    /// A connection URL to the PostgreSQL server (its maintenance database).
    pub database_url: String,
    pub sqs_endpoint: String,
    pub s3_endpoint: String,
}

static SERVICES: OnceCell<Services> = OnceCell::const_new();

const HOW_TO_START: &str = "Start them and say where they are, e.g. `scripts/test` (starts the \
SQS server and sets the variables), or PostgreSQL on 127.0.0.1:5432 with \
DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres plus `.venv/bin/moto_server -p 9324` \
with AWS_ENDPOINT_URL_SQS=http://127.0.0.1:9324; or run a Docker engine and testcontainers \
will start both.";

pub async fn services() -> &'static Services {
    SERVICES
        .get_or_init(|| async {
            let database_url = common_var("DATABASE_URL");
            let sqs_endpoint = common_var("AWS_ENDPOINT_URL_SQS");
            match (database_url, sqs_endpoint) {
                (Some(database_url), Some(sqs_endpoint)) => Services {
                    database_url,
                    s3_endpoint: common_var("AWS_ENDPOINT_URL_S3")
                        .unwrap_or_else(|| sqs_endpoint.clone()),
                    sqs_endpoint,
                },
                (db, sqs) if docker_available() => containers::start(db, sqs).await,
                (db, sqs) => panic!(
                    "test services missing: {}{}no Docker engine found for testcontainers. {HOW_TO_START}",
                    if db.is_none() { "DATABASE_URL is not set; " } else { "" },
                    if sqs.is_none() { "AWS_ENDPOINT_URL_SQS is not set; " } else { "" },
                ),
            }
        })
        .await
}

/// Panics with the way out when a service is configured but not answering.
pub fn unreachable(service: &str, url: &str, error: impl std::fmt::Display) -> ! {
    panic!("{service} at {url} is not reachable: {error}. {HOW_TO_START}")
}

fn common_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn docker_available() -> bool {
    common_var("DOCKER_HOST").is_some() || std::path::Path::new("/var/run/docker.sock").exists()
}

mod containers {
    use testcontainers::{
        GenericImage, ImageExt,
        core::{IntoContainerPort, WaitFor},
        runners::AsyncRunner,
    };
    use testcontainers_modules::{elasticmq::ElasticMq, postgres::Postgres};

    use super::Services;

    /// Containers live as long as the test process; testcontainers' reaper removes them.
    pub async fn start(db: Option<String>, sqs: Option<String>) -> Services {
        let database_url = match db {
            Some(url) => url,
            None => {
                let pg = Postgres::default()
                    .with_tag("16-alpine")
                    .start()
                    .await
                    .unwrap_or_else(|e| panic!("testcontainers could not start PostgreSQL: {e}"));
                let port = pg.get_host_port_ipv4(5432).await.expect("postgres port");
                std::mem::forget(pg);
                format!("postgres://postgres:postgres@127.0.0.1:{port}/postgres")
            }
        };
        let sqs_endpoint = match sqs {
            Some(url) => url,
            None => {
                let mq = ElasticMq::default()
                    .start()
                    .await
                    .unwrap_or_else(|e| panic!("testcontainers could not start ElasticMQ: {e}"));
                let port = mq.get_host_port_ipv4(9324).await.expect("elasticmq port");
                std::mem::forget(mq);
                format!("http://127.0.0.1:{port}")
            }
        };
        // moto's server for S3 (getmoto/moto's Dockerfile at 5.2.3: port 5000); werkzeug
        // says "Running on" when it listens.
        let s3 = GenericImage::new("motoserver/moto", "5.2.3")
            .with_exposed_port(5000.tcp())
            .with_wait_for(WaitFor::message_on_stderr("Running on"))
            .start()
            .await
            .unwrap_or_else(|e| panic!("testcontainers could not start moto (S3): {e}"));
        let port = s3.get_host_port_ipv4(5000).await.expect("moto port");
        std::mem::forget(s3);
        Services {
            database_url,
            sqs_endpoint,
            s3_endpoint: format!("http://127.0.0.1:{port}"),
        }
    }
}
