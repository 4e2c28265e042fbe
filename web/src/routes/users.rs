//! Sign-in by name: no password, a cookie session. Enough to show which user a span,
//! an error or a slow query belongs to (`enduser.id`), which is the point here.

use axum::{
    Form, Router,
    extract::rejection::FormRejection,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use axum_extra::extract::{
    CookieJar,
    cookie::{Cookie, SameSite},
};
use serde::Deserialize;

use crate::{
    error::AppError,
    pages::SignInPage,
    request::{Page, USER_COOKIE},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signin", get(page).post(sign_in))
        .route("/signout", post(sign_out))
}

async fn page(page: Page) -> Response {
    SignInPage { page, error: None }.into_response()
}

#[derive(Deserialize)]
struct SignIn {
    name: String,
}

async fn sign_in(
    page: Page,
    jar: CookieJar,
    form: Result<Form<SignIn>, FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let name = form.name.trim();
    let refused = if !common::session::valid_user(name) {
        Some("A name is 1–32 letters, digits, '.', '_' or '-'.")
    } else if !common::session::can_sign_in_as(name) {
        Some("'guest' and 'other' are taken: they stand for many people.")
    } else {
        None
    };
    if let Some(message) = refused {
        let page = SignInPage {
            page,
            error: Some(message.into()),
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    tracing::info!(enduser.id = name, "signed in");
    Ok((jar.add(user_cookie(name.to_owned())), Redirect::to("/")).into_response())
}

/// Always answers with the expired cookie (`Max-Age=0`), signed in or not: the jar's
/// `remove` would only expire a cookie this request carried.
async fn sign_out(jar: CookieJar) -> Response {
    let mut expired = user_cookie(String::new());
    expired.make_removal();
    (jar.add(expired), Redirect::to("/")).into_response()
}

fn user_cookie(name: String) -> Cookie<'static> {
    Cookie::build((USER_COOKIE, name))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .build()
}
