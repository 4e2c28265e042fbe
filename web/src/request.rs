//! Who a request is for, and the extractors handlers take it through.
//!
//! [`context`] (middleware) reads the user (cookie `user`) and the fault scope (cookie
//! `fault_scope`, else W3C baggage `fault.scope`) once per request, records `enduser.id`
//! on the SERVER span, refreshes the fault switches, and leaves the
//! [`RequestContext`] in the request's extensions. Handlers then ask for what they use:
//! [`Ctx`] (the context), [`Db`] (the database for this request), [`Page`] (what every
//! page's header shows).

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, request::Parts},
    middleware::Next,
    response::Response,
};
use axum_extra::extract::CookieJar;
use common::{
    context::{self, RequestContext, SCOPE_COOKIE},
    spans::Marks as _,
};
use opentelemetry::{KeyValue, trace::TraceContextExt as _};

use crate::{jaeger, state::AppState};

/// Cookie naming the signed-in user (see `routes::users`).
pub const USER_COOKIE: &str = "user";

pub async fn context(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    app.faults.refresh_if_stale().await;
    let ctx = of(request.headers());
    if let Some(user) = &ctx.user {
        common::spans::current().attribute(KeyValue::new("enduser.id", user.clone()));
    }
    request.extensions_mut().insert(ctx);
    next.run(request).await
}

/// The context a request's headers carry.
fn of(headers: &HeaderMap) -> RequestContext {
    let jar = CookieJar::from_headers(headers);
    let user = jar
        .get(USER_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|u| context::valid_user(u));
    let fault_scope = jar
        .get(SCOPE_COOKIE)
        .map(|c| c.value().to_owned())
        .or_else(|| {
            // Inside a SERVER span (tracing on), its context holds the request's baggage
            // already: `http_span` extracted it, so the headers are not read twice.
            let current = opentelemetry::Context::current();
            let cx = if current.has_active_span() {
                current
            } else {
                common::telemetry::extract(&crate::http_span::Headers(headers))
            };
            RequestContext::from_baggage(&cx).fault_scope
        });
    RequestContext { user, fault_scope }
}

/// The request's [`RequestContext`].
pub struct Ctx(pub RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Ctx(match parts.extensions.get::<RequestContext>() {
            Some(ctx) => ctx.clone(),
            None => of(&parts.headers),
        }))
    }
}

/// The database as this request sees it (its user and fault scope).
pub struct Db(pub common::db::Db);

impl FromRequestParts<AppState> for Db {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Ctx(ctx) = Ctx::from_request_parts(parts, app).await?;
        Ok(Db(app.db.for_work(ctx)))
    }
}

impl std::ops::Deref for Db {
    type Target = common::db::Db;
    fn deref(&self) -> &common::db::Db {
        &self.0
    }
}

/// What every page's header needs: who is signed in, whether the fault panel is served,
/// where Jaeger is (and the links into it pages make).
#[derive(Debug, Clone)]
pub struct Page {
    pub user: Option<String>,
    pub faults_panel: bool,
    pub jaeger_ui_url: std::sync::Arc<str>,
    /// This service's name in Jaeger (`OTEL_SERVICE_NAME`, default `todo-web`).
    pub service_name: std::sync::Arc<str>,
}

impl Page {
    pub fn new(app: &AppState, ctx: &RequestContext) -> Self {
        Self {
            user: ctx.user.clone(),
            faults_panel: app.site.faults_panel,
            jaeger_ui_url: app.site.jaeger_ui_url.clone(),
            service_name: app.site.service_name.clone(),
        }
    }

    /// `JAEGER_UI_URL/trace/{id}` for a real trace id.
    pub fn trace_url(&self, trace_id: &Option<String>) -> Option<String> {
        jaeger::trace_url(&self.jaeger_ui_url, trace_id.as_deref()?)
    }

    /// Jaeger's side-by-side view of a working trace and a broken one.
    pub fn compare_url(&self, working: &Option<String>, broken: &Option<String>) -> Option<String> {
        jaeger::compare_url(&self.jaeger_ui_url, working.as_deref()?, broken.as_deref()?)
    }

    /// Jaeger's search page for this service.
    pub fn jaeger_search_url(&self) -> String {
        jaeger::service_search_url(&self.jaeger_ui_url, &self.service_name)
    }

    /// Jaeger's search for `user`'s traces of the last hour.
    pub fn user_search_url(&self, user: &str) -> String {
        jaeger::user_search_url(&self.jaeger_ui_url, &self.service_name, user, "1h")
    }
}

impl FromRequestParts<AppState> for Page {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Ctx(ctx) = Ctx::from_request_parts(parts, app).await?;
        Ok(Page::new(app, &ctx))
    }
}
