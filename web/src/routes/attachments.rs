//! Files on to-dos: upload (multipart, field `file`), download (the owner only, as an
//! attachment), delete, and the lookup that asks an object itself which request stored
//! it (HeadObject: it answers even when the object's row is gone).
//!
//! An upload reads: read the file (never more than the limit), PutObject, then begin,
//! insert the row, record its job (the outbox), commit, send; a failed commit deletes
//! the object again. A row never names an object that is not there.

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Multipart, Path, Query, State, multipart::MultipartError},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use common::{
    files::StoredBy,
    job::{Job, JobMessage},
    spans::current_trace_id,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    attachments::{self, Attachment},
    error::AppError,
    outbox,
    pages::LookupPage,
    request::{Db, Page},
    state::AppState,
    todos,
};

/// Room for the multipart framing around the file (boundaries, part headers).
const MULTIPART_OVERHEAD: u64 = 16 * 1024;

pub fn router(max_bytes: u64) -> Router<AppState> {
    let limit = usize::try_from(max_bytes + MULTIPART_OVERHEAD).unwrap_or(usize::MAX);
    Router::new()
        .route(
            "/todos/{id}/attachments",
            post(upload).layer(DefaultBodyLimit::max(limit)),
        )
        .route("/attachments/{id}", get(download))
        .route("/attachments/{id}/delete", post(delete))
        .route("/files/lookup", get(lookup_page))
        .route("/api/files/lookup", get(lookup_api))
}

type Result<T, E = AppError> = std::result::Result<T, E>;

/// A file as it arrived: at most the limit read.
struct Upload {
    name: String,
    content_type: String,
    bytes: axum::body::Bytes,
}

async fn upload(
    State(app): State<AppState>,
    Db(db): Db,
    Path(id): Path<String>,
    multipart: std::result::Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response> {
    let todo_id = Uuid::parse_str(&id).map_err(|_| AppError::NotFound("to-do"))?;
    if todos::get(&db, todo_id).await?.is_none() {
        return Err(AppError::NotFound("to-do"));
    }
    let multipart = multipart.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let file = read_file(multipart, app.attachment_max_bytes).await?;
    let id = Uuid::new_v4();
    let attachment = Attachment {
        id,
        todo_id,
        key: attachments::key_for(todo_id, id),
        name: file.name,
        size: file.bytes.len() as i64,
        content_type: file.content_type,
        owner: db.session().owner().to_owned(),
        trace_id: Some(current_trace_id()),
        sha256: None,
        preview: None,
        width: None,
        height: None,
        created_at: chrono::Utc::now(),
    };
    app.files
        .put(
            db.session(),
            &attachment.key,
            &attachment.content_type,
            file.bytes,
        )
        .await?;
    let job = JobMessage::new(Job::ProcessAttachment {
        todo_id,
        attachment_id: id,
    });
    let stored = async {
        let mut tx = db.begin().await?;
        attachments::insert(&db, &mut tx, &attachment).await?;
        todos::touch(&db, &mut tx, todo_id, &current_trace_id()).await?;
        outbox::record(&db, &mut tx, &job).await?;
        db.commit(tx).await
    }
    .await;
    if let Err(e) = stored {
        // No object without its row.
        if let Err(cleanup) = app.files.delete(db.session(), &attachment.key).await {
            tracing::warn!(error = %cleanup, key = attachment.key, "orphan object left");
        }
        return Err(e.into());
    }
    app.outbox.send(&db, &job).await;
    Ok(Redirect::to("/").into_response())
}

/// The part named `file`, read chunk by chunk: past `max` bytes it stops reading and
/// answers 413; an empty file is 422.
async fn read_file(mut multipart: Multipart, max: u64) -> Result<Upload> {
    let bad = |e: MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(max)
        } else {
            AppError::BadRequest(e.body_text())
        }
    };
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = file_name(field.file_name().unwrap_or_default());
        let content_type = field
            .content_type()
            .filter(|t| t.parse::<HeaderValue>().is_ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(bad)? {
            if (bytes.len() + chunk.len()) as u64 > max {
                return Err(too_large(max));
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.is_empty() {
            return Err(AppError::Invalid("That file is empty.".into()));
        }
        return Ok(Upload {
            name,
            content_type,
            bytes: bytes.into(),
        });
    }
    Err(AppError::BadRequest(
        "The form has no file (field `file`).".into(),
    ))
}

fn too_large(max: u64) -> AppError {
    AppError::Status {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!(
            "That file is larger than the {:.1} MiB this app accepts.",
            max as f64 / (1024.0 * 1024.0)
        ),
    }
}

/// What a browser sent as the file's name, as shown (never as the object's key): its
/// last path segment, control characters dropped, at most 255 characters.
fn file_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let name: String = last.chars().filter(|c| !c.is_control()).take(255).collect();
    let name = name.trim();
    if name.is_empty() {
        "file".into()
    } else {
        name.to_owned()
    }
}

/// The request's user's attachment `raw_id`; 404 for a bad id or anyone else's file.
async fn owned(db: &common::db::Db, raw_id: &str) -> Result<Attachment> {
    let id = Uuid::parse_str(raw_id).map_err(|_| AppError::NotFound("file"))?;
    attachments::one(db, id)
        .await?
        .ok_or(AppError::NotFound("file"))
}

async fn download(
    State(app): State<AppState>,
    Db(db): Db,
    Path(id): Path<String>,
) -> Result<Response> {
    let attachment = owned(&db, &id).await?;
    let bytes = app.files.get(db.session(), &attachment.key).await?;
    let disposition = format!(
        "attachment; filename*=UTF-8''{}",
        percent_encoding::utf8_percent_encode(&attachment.name, percent_encoding::NON_ALPHANUMERIC)
    );
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&attachment.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// The row goes first (its to-do's job rows locked before it, in the order the worker
/// takes them), then the object: a failed DeleteObject leaves an orphan object, which
/// the lookup still answers for and the bucket's lifecycle rule removes in AWS; never
/// a row without its object.
async fn delete(
    State(app): State<AppState>,
    Db(db): Db,
    Path(id): Path<String>,
) -> Result<Response> {
    let attachment = owned(&db, &id).await?;
    let mut tx = db.begin().await?;
    outbox::store::lock_jobs_of_todos(&db, &mut tx, Some(attachment.todo_id)).await?;
    let key = attachments::delete(&db, &mut tx, attachment.id)
        .await?
        .ok_or(AppError::NotFound("file"))?;
    db.commit(tx).await?;
    if let Err(e) = app.files.delete(db.session(), &key).await {
        tracing::warn!(error = %e, key, "the object stays behind, an orphan");
    }
    Ok(Redirect::to("/").into_response())
}

#[derive(Deserialize)]
struct Lookup {
    #[serde(default)]
    key: String,
}

/// The page: a form for a key, and what the object says when one was given.
async fn lookup_page(
    State(app): State<AppState>,
    Db(db): Db,
    page: Page,
    Query(Lookup { key }): Query<Lookup>,
) -> Result<Response> {
    let found = if key.is_empty() {
        None
    } else {
        Some(stored_by(&app, &db, &key).await?)
    };
    Ok(LookupPage { page, key, found }.into_response())
}

async fn stored_by(app: &AppState, db: &common::db::Db, key: &str) -> Result<StoredBy> {
    if key.is_empty() || key.len() > 1024 {
        return Err(AppError::Invalid("A key is 1–1024 bytes.".into()));
    }
    Ok(app.files.head(db.session(), key).await?)
}

/// Which request stored the object at `key`, from the object's own metadata.
async fn lookup_api(
    State(app): State<AppState>,
    Db(db): Db,
    Query(lookup): Query<Lookup>,
) -> Result<Json<StoredBy>> {
    Ok(Json(stored_by(&app, &db, &lookup.key).await?))
}
