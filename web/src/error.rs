//! One error type for the web crate. An error becomes a response that carries an
//! [`ErrorReport`]; `pages::render_errors` turns every such response into the error page
//! (which names the trace id and links to it), whoever produced it: a handler, the
//! cross-site refusal, an injected fault or the 404 fallback.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};

use common::files::FileError;

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
    #[error("{0}")]
    Storage(#[from] common::files::FileError),
    /// Any status with a message for the user (faults, refusals, the magic word httpstat).
    #[error("{message}")]
    Status { status: StatusCode, message: String },
}

/// What the error page says: set on the response by [`AppError`], rendered by
/// `pages::render_errors`.
#[derive(Debug, Clone)]
pub struct ErrorReport {
    pub message: String,
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
            AppError::Storage(FileError::NotFound(_)) => StatusCode::NOT_FOUND,
            AppError::Storage(FileError::Unavailable { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Status { status, .. } => *status,
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
            AppError::Storage(FileError::NotFound(_)) => {
                "That file does not exist (any more).".into()
            }
            AppError::Storage(FileError::Unavailable { .. }) => {
                "File storage is unavailable right now. Try again in a moment.".into()
            }
            AppError::Status { message, .. } => message.clone(),
        }
    }
}

fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed
    )
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::info!(error = %self, "request rejected");
        }
        let mut response = status.into_response();
        response.extensions_mut().insert(ErrorReport {
            message: self.public_message(),
        });
        response
    }
}
