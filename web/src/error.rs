//! One error type for the web crate; every error page carries the trace id.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    #[error("request body over the {} byte limit", crate::MAX_BODY_BYTES)]
    TooLarge,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Database(e) if is_unavailable(e) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the user reads: never the raw database error.
    fn public_message(&self) -> String {
        match self {
            AppError::NotFound(what) => format!("That {what} does not exist (any more)."),
            AppError::BadRequest(why) | AppError::Invalid(why) => why.clone(),
            AppError::TooLarge => format!(
                "That form is larger than the {} KiB this app accepts.",
                crate::MAX_BODY_BYTES / 1024
            ),
            AppError::Unavailable(_) => {
                "The queue is unavailable right now. Try again in a moment.".into()
            }
            AppError::Database(e) if is_unavailable(e) => {
                "The database is unavailable right now. Try again in a moment.".into()
            }
            AppError::Database(_) => "Something went wrong while talking to the database.".into(),
        }
    }
}

fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed
    )
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub status: u16,
    pub reason: String,
    pub message: String,
    pub trace_id: String,
    pub jaeger_ui_url: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::info!(error = %self, "request rejected");
        }
        error_page(status, self.public_message())
    }
}

/// An error page for `status`, naming the current trace so the user can open it.
pub fn error_page(status: StatusCode, message: String) -> Response {
    let page = ErrorPage {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("Error").to_owned(),
        message,
        trace_id: common::telemetry::current_trace_id(),
        jaeger_ui_url: crate::jaeger_ui_url(),
    };
    (status, page).into_response()
}
