//! Sign-in by name: no password, a cookie session. Enough to show which user a span,
//! an error or a slow query belongs to (`enduser.id`), which is the point here.

use axum::{
    Form, Router,
    http::header,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;

use crate::{error::AppError, inject::USER_COOKIE, state::AppState, views::SignInPage};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signin", get(page).post(sign_in))
        .route("/signout", post(sign_out))
}

async fn page() -> Response {
    SignInPage {
        error: None,
        jaeger_ui_url: crate::jaeger_ui_url(),
    }
    .into_response()
}

#[derive(Deserialize)]
struct SignIn {
    name: String,
}

async fn sign_in(
    form: Result<Form<SignIn>, axum::extract::rejection::FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let name = form.name.trim();
    if !common::context::valid_user(name) {
        let page = SignInPage {
            error: Some("A name is 1–32 letters, digits, '.', '_' or '-'.".into()),
            jaeger_ui_url: crate::jaeger_ui_url(),
        };
        return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    tracing::info!(enduser.id = name, "signed in");
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = format!("{USER_COOKIE}={name}; Path=/; HttpOnly; SameSite=Lax").parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

async fn sign_out() -> Response {
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = format!("{USER_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0").parse()
    {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
