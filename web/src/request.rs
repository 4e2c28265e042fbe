//! Whose a request is, and the extractors handlers take it through.
//!
//! [`session`] (middleware) reads the user (cookie `user`) and the fault scope (cookie
//! `fault_scope`, else W3C baggage `fault.scope`) once per request, records `enduser.id`
//! on the SERVER span, refreshes the fault switches, and leaves the [`Session`] in the
//! request's extensions. Handlers then ask for what they use: [`CurrentSession`], [`Db`]
//! (the database for this request), [`Page`] (what every page's header shows).

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, request::Parts},
    middleware::Next,
    response::Response,
};
use axum_extra::extract::CookieJar;
use common::{
    session::{self, SCOPE_COOKIE, Session},
    spans::Marks as _,
};
use opentelemetry::KeyValue;

use crate::{jaeger, state::AppState};

/// Cookie naming the signed-in user (see `routes::users`).
pub const USER_COOKIE: &str = "user";

pub async fn session(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    app.faults.refresh_if_stale().await;
    let session = of(request.headers());
    if let Some(user) = &session.user {
        opentelemetry::Context::current().attribute(KeyValue::new("enduser.id", user.clone()));
    }
    request.extensions_mut().insert(session);
    next.run(request).await
}

/// The session a request's cookies carry, and the fault scope of the baggage the
/// caller sent (the current context's: `server_span` extracted it).
fn of(headers: &HeaderMap) -> Session {
    let jar = CookieJar::from_headers(headers);
    // A cookie is the client's to write: one that names nobody who could sign in
    // (a bad name, or the shared `guest` and `other` buckets) is no session.
    let user = jar
        .get(USER_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|u| session::can_sign_in_as(u));
    let fault_scope = jar
        .get(SCOPE_COOKIE)
        .map(|c| c.value().to_owned())
        .or_else(|| Session::from_baggage(&opentelemetry::Context::current()).fault_scope);
    Session { user, fault_scope }
}

/// The request's [`Session`].
pub struct CurrentSession(pub Session);

impl<S: Send + Sync> FromRequestParts<S> for CurrentSession {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(CurrentSession(match parts.extensions.get::<Session>() {
            Some(session) => session.clone(),
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
        let CurrentSession(session) = CurrentSession::from_request_parts(parts, app).await?;
        Ok(Db(app.db.for_work(session)))
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
    pub fn new(app: &AppState, session: &Session) -> Self {
        Self {
            user: session.user.clone(),
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
        let CurrentSession(session) = CurrentSession::from_request_parts(parts, app).await?;
        Ok(Page::new(app, &session))
    }
}
