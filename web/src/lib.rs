//! traced-todo web service: axum + PostgreSQL + SQS, traced end to end.

pub mod config;
pub mod db;
pub mod error;
pub mod http_span;
pub mod inject;
pub mod insights;
pub mod queue;
pub mod relay;
pub mod routes;
pub mod security;
pub mod state;
pub mod validate;
pub mod views;

use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::Duration,
};

use anyhow::Context as _;
use axum::{Router, extract::DefaultBodyLimit};
use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;

use crate::{config::Config, queue::JobQueue, state::AppState};

/// Forms here are tiny; anything bigger is refused before it is read.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Set once at start-up: error pages link to Jaeger without needing the app state.
pub(crate) static JAEGER_UI_URL: OnceLock<String> = OnceLock::new();
static FAULTS_PANEL: OnceLock<bool> = OnceLock::new();

/// The signed-in user of the request being rendered (for the page header).
pub fn current_user() -> Option<String> {
    common::context::user()
}

/// `JAEGER_UI_URL`, for pages rendered without the app state.
pub fn jaeger_ui_url() -> String {
    JAEGER_UI_URL
        .get()
        .cloned()
        .unwrap_or_else(|| config::DEFAULT_JAEGER_UI_URL.to_owned())
}

/// Whether the fault panel is served (templates hide its link otherwise).
pub fn faults_panel_enabled() -> bool {
    FAULTS_PANEL.get().copied().unwrap_or(false)
}

pub fn router(state: AppState) -> Router {
    let _ = FAULTS_PANEL.set(state.config.faults_enabled);
    let mut routes = routes::router();
    if state.config.faults_enabled {
        routes = routes.merge(routes::faults::router());
    } else if let Some(token) = state.config.faults_admin_token.clone() {
        routes = routes.merge(routes::faults::router().layer(
            axum::middleware::from_fn_with_state(token, security::require_admin),
        ));
    }
    let routes = routes
        .layer(axum::middleware::from_fn(inject::faults))
        .layer(axum::middleware::from_fn(security::refuse_cross_site))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    security::with_headers(routes)
        .layer(axum::middleware::from_fn(http_span::traceresponse))
        // Route-level layer: runs after routing, so the span can use the route template.
        .layer(http_span::layer())
        .with_state(state)
}

/// The built service: connected, migrated, bound, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let _ = JAEGER_UI_URL.set(config.jaeger_ui_url.clone());
        ensure_database(&config.database_url).await?;
        common::db::observe(insights::record_query);
        let db = PgPoolOptions::new()
            .max_connections(config.database_pool_size)
            .acquire_timeout(Duration::from_secs(3))
            .connect(&config.database_url)
            .await
            .with_context(|| {
                format!(
                    "connecting to DATABASE_URL ({})",
                    redact(&config.database_url)
                )
            })?;
        sqlx::migrate!("../migrations")
            .run(&db)
            .await
            .context("running database migrations")?;
        common::faults::install(
            common::faults::store::loader(db.clone()),
            config.faults_ttl,
            config.faults_seed,
        );
        for setting in &config.faults {
            common::faults::store::upsert(&db, setting)
                .await
                .with_context(|| format!("applying FAULTS ({})", setting.name))?;
            tracing::warn!(fault.name = setting.name, "fault switched on by FAULTS");
        }
        let queue = JobQueue::new(
            queue::sqs_client().await,
            config.jobs_queue_url.clone(),
            config.jobs_dlq_url.clone(),
        );
        let listener = TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], config.port)))
            .await
            .with_context(|| format!("binding port {} (PORT)", config.port))?;
        let state = AppState {
            db,
            queue,
            config: Arc::new(config),
        };
        Ok(Self {
            listener,
            router: router(state.clone()),
            state,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves (and relays pending jobs) until `shutdown` resolves, then finishes
    /// in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let AppState { db, queue, config } = self.state;
        let relay = tokio::spawn(relay::run(db.clone(), queue.clone(), config.relay));
        // ECS sends SIGTERM, then SIGKILL after its stop timeout (30 s by default): stop
        // accepting, give in-flight requests `SHUTDOWN_GRACE_MS`, drain the outbox once.
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(self.listener, self.router).with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stopping_tx.send(());
        });
        let grace = config.shutdown_grace;
        let served = tokio::select! {
            served = server => served,
            () = async move {
                let _ = stopping_rx.await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(?grace, "in-flight requests outlived the shutdown grace period");
                Ok(())
            }
        };
        relay.abort();
        // In-flight requests are done: their jobs need no grace period any more.
        let drain = relay::RelayConfig {
            grace: Duration::ZERO,
            ..config.relay
        };
        match tokio::time::timeout(Duration::from_secs(5), relay::round(&db, &queue, drain)).await {
            Ok(Ok(round)) => tracing::info!(sent = round.sent, "outbox drained"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "outbox drain failed; pending jobs wait for the next instance")
            }
            Err(_) => {
                tracing::warn!("outbox drain timed out; pending jobs wait for the next instance")
            }
        }
        served
    }
}

/// Creates the database named in `DATABASE_URL` if the server lacks it, so a fresh
/// PostgreSQL needs no manual step (in AWS the template creates it).
async fn ensure_database(url: &str) -> anyhow::Result<()> {
    use sqlx::migrate::MigrateDatabase;
    let context = || format!("checking DATABASE_URL ({})", redact(url));
    if !sqlx::Postgres::database_exists(url)
        .await
        .with_context(context)?
    {
        tracing::info!("creating the database named in DATABASE_URL");
        sqlx::Postgres::create_database(url)
            .await
            .with_context(context)?;
    }
    Ok(())
}

/// The binary's whole life: telemetry, config, serve, flush on the way out.
pub async fn run() -> anyhow::Result<()> {
    let telemetry = common::telemetry::Telemetry::init("todo-web")?;
    let config = Config::from_env()?;
    let app = Application::build(config).await?;
    let addr = app.local_addr()?;
    // Tests and scripts wait for this exact line.
    println!("todo-web listening on http://{addr}");
    tracing::info!(%addr, "todo-web listening");
    app.run_until(shutdown_signal()).await?;
    tracing::info!("todo-web stopped; flushing spans");
    drop(telemetry);
    Ok(())
}

/// SIGTERM (ECS stopping the task) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// A connection string fit for an error message: the password replaced.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_hides_password_only() {
        assert_eq!(
            super::redact("postgres://u:secret@db:5432/x"),
            "postgres://u:***@db:5432/x"
        );
        assert_eq!(super::redact("postgres://u@db/x"), "postgres://u@db/x");
    }
}
