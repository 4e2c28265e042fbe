//! Start-up and shutdown: connect, migrate, build the state and the router, serve,
//! relay the outbox, and on SIGTERM finish in-flight requests, drain, flush.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use axum::{Router, extract::DefaultBodyLimit, middleware};
use common::{
    db::Database,
    faults::{Faults, store},
    files::Bucket,
    metrics::Metrics,
    sqs::{self, Calls},
    telemetry::Telemetry,
};
use opentelemetry_sdk::trace::SdkTracer;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower::ServiceBuilder;

use crate::{
    MAX_BODY_BYTES,
    config::Config,
    fault_settings,
    insights::Insights,
    observe,
    outbox::Outbox,
    pages,
    queue::JobQueue,
    request, routes, security, server_span,
    state::{AppState, Parts, Site},
    web_error_fault,
};

/// `service.name` unless `OTEL_SERVICE_NAME` says otherwise.
pub const SERVICE: &str = "todo-web";

/// The whole app: routes, then (outer to inner) the SERVER span (with `traceresponse`)
/// around it all, security headers, the request's context, error pages, body limit,
/// cross-site refusal, measurements and the `web_error` fault.
pub fn router(app: AppState, faults_admin_token: Option<String>) -> Router {
    let mut routes = routes::router().merge(routes::attachments::router(app.attachment_max_bytes));
    if app.site.faults_panel {
        routes = routes.merge(routes::faults::router());
    } else if let Some(token) = faults_admin_token {
        routes = routes.merge(routes::faults::router().route_layer(
            middleware::from_fn_with_state(token, security::require_admin),
        ));
    }
    let [csp, nosniff, frame, referrer] = security::headers();
    // One `layer` call for the whole stack (outermost first), as axum advises: each
    // `Router::layer` boxes every route again, and each `from_fn` middleware clones the
    // service inside it on every request, so eleven separate calls cloned eleven nested
    // boxes per layer: 107 allocations a request, a third of what a page makes.
    let stack = ServiceBuilder::new()
        // Runs after routing (a route-level layer), so the span can use the route template.
        .layer(middleware::from_fn_with_state(
            app.db.tracer().cloned(),
            server_span::serve,
        ))
        .layer(referrer)
        .layer(frame)
        .layer(nosniff)
        .layer(csp)
        .layer(middleware::from_fn_with_state(
            app.clone(),
            request::session,
        ))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            pages::render_errors,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(security::refuse_cross_site))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            observe::requests,
        ))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            web_error_fault::inject,
        ));
    routes.layer(stack).with_state(app)
}

/// The state every handler shares, on a migrated `pool`: the fault switches (with
/// `FAULTS` applied), the database with its observers, the queue and the outbox.
pub async fn state(
    config: &Config,
    pool: PgPool,
    metrics: Metrics,
    tracer: Option<SdkTracer>,
) -> anyhow::Result<AppState> {
    let switches = &config.fault_switches;
    let faults = Faults::new(
        store::loader(pool.clone()),
        switches.ttl(),
        switches.faults_seed,
    );
    let insights = Insights::new(pool.clone(), config.insights(), metrics.clone());
    let counted = insights.clone();
    metrics.observe_users(move || {
        let users = counted.users_last_hour();
        (users.with_errors, users.all_ok)
    });
    let db = Database::new(pool, faults.clone(), metrics.clone())
        .traced_by(tracer)
        .observed_by(Arc::new(insights.clone()));
    for setting in &config.faults.0 {
        fault_settings::upsert(&db, setting)
            .await
            .with_context(|| format!("applying FAULTS ({})", setting.name))?;
        tracing::warn!(fault.name = setting.name, "fault switched on by FAULTS");
    }
    let queue = JobQueue::new(
        sqs::client(Calls::Quick).await,
        config.jobs_queue_url.clone(),
        config.jobs_dlq_url.clone(),
        faults.clone(),
    )
    .observed_by(Arc::new(insights.clone()));
    let files = Bucket::new(
        common::s3::client().await,
        config.attachments_bucket.clone(),
        faults.clone(),
    )
    .observed_by(Arc::new(insights.clone()));
    Ok(AppState::new(Parts {
        db,
        outbox: Outbox::new(queue, config.relay()),
        files,
        attachment_max_bytes: config.attachment_max_bytes,
        faults,
        metrics,
        insights,
        site: Site {
            jaeger_ui_url: config.jaeger_ui_url.as_str().into(),
            faults_panel: config.faults_enabled,
            service_name: common::telemetry::service_name(SERVICE).into(),
        },
    }))
}

/// The built service: connected, migrated, bound, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    config: Config,
}

impl Application {
    pub async fn build(config: Config, telemetry: &Telemetry) -> anyhow::Result<Self> {
        let url = &config.database.database_url;
        ensure_database(url).await?;
        let pool = common::db::pool_options(config.database_pool_size)
            .connect(url)
            .await
            .with_context(|| format!("connecting to DATABASE_URL ({})", redact(url)))?;
        sqlx::migrate!("../migrations")
            .run(&pool)
            .await
            .context("running database migrations")?;
        let metrics = Metrics::on(telemetry.meter_provider());
        let state = state(&config, pool, metrics, telemetry.tracer()).await?;
        let listener = TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], config.port)))
            .await
            .with_context(|| format!("binding port {} (PORT)", config.port))?;
        Ok(Self {
            listener,
            router: router(state.clone(), config.faults_admin_token.clone()),
            state,
            config,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves (and relays pending jobs) until `shutdown` resolves, then finishes
    /// in-flight requests and drains the outbox once.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = self.state;
        let (db, outbox) = (app.db.clone(), app.outbox.clone());
        let relay = tokio::spawn(outbox.clone().run_relay(
            db.clone(),
            app.faults.clone(),
            app.metrics.clone(),
        ));
        let insights = tokio::spawn(app.insights.clone().run_flusher());
        // ECS sends SIGTERM, then SIGKILL after its stop timeout (30 s by default): stop
        // accepting, give in-flight requests `SHUTDOWN_GRACE_MS`, drain the outbox once.
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(self.listener, self.router).with_graceful_shutdown(async move {
            shutdown.await;
            // Tests wait for this line before checking that new connections are refused.
            tracing::info!("shutting down: no new connections, finishing in-flight requests");
            let _ = stopping_tx.send(());
        });
        let grace = self.config.shutdown_grace();
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
        insights.abort();
        // In-flight requests are done: their jobs need no grace period any more.
        outbox.drain(&db).await;
        // And their insights are written: another task (or this one, restarted) has them.
        if let Err(e) = app.insights.flush().await {
            tracing::warn!(error = %e, "insights: the last batch was not written");
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

/// The binary's whole life: configuration, telemetry, serve, flush on the way out.
pub async fn run() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let telemetry = Telemetry::init(SERVICE, None)?;
    let app = Application::build(config, &telemetry).await?;
    let addr = app.local_addr()?;
    // Tests and scripts wait for this exact line.
    println!("todo-web listening on http://{addr}");
    tracing::info!(%addr, "todo-web listening");
    app.run_until(common::shutdown::signal()).await?;
    tracing::info!("todo-web stopped; flushing spans");
    drop(telemetry);
    Ok(())
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
