//! The attachments bucket: PutObject, HeadObject, GetObject and DeleteObject, each in a
//! CLIENT span ([`s3::span`]) under the current span. An object's metadata holds
//! the W3C `traceparent` of the request that stored it and its uploader, so the object
//! itself answers "which request stored this file?". Applies `storage_unavailable`.

use std::{collections::HashMap, sync::Arc};

use aws_sdk_s3::{Client, operation::RequestId as _, primitives::ByteStream};
use bytes::Bytes;

use crate::{
    cost::{Billed, UsageObserver},
    faults::{Fault, Faults},
    s3,
    session::Session,
    spans::record_error,
};
use opentelemetry::trace::TraceContextExt;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Object metadata keys (S3 sends them as `x-amz-meta-…`).
pub const TRACEPARENT: &str = "traceparent";
pub const UPLOADED_BY: &str = "uploaded-by";

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("S3 {operation} failed: {message}")]
    Unavailable {
        operation: &'static str,
        message: String,
    },
    #[error("no object {0}")]
    NotFound(String),
}

impl FileError {
    /// `error.type` on spans.
    pub fn error_type(&self) -> &'static str {
        match self {
            FileError::Unavailable { .. } => "storage_unavailable",
            FileError::NotFound(_) => "object_missing",
        }
    }

    fn from_sdk(operation: &'static str, e: impl std::error::Error) -> Self {
        Self::Unavailable {
            operation,
            message: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
        }
    }
}

/// What an object's own metadata says of it (HeadObject).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredBy {
    pub bucket: String,
    pub key: String,
    pub traceparent: Option<String>,
    /// From `traceparent`.
    pub trace_id: Option<String>,
    pub uploaded_by: Option<String>,
    /// `Last-Modified`, RFC 3339.
    pub stored_at: Option<String>,
    pub size: Option<i64>,
    pub content_type: Option<String>,
}

#[derive(Clone)]
pub struct Bucket {
    client: Client,
    name: String,
    faults: Faults,
    /// Told of every call made (what a user costs).
    observer: Option<Arc<dyn UsageObserver>>,
}

impl Bucket {
    pub fn new(client: Client, name: String, faults: Faults) -> Self {
        Self {
            client,
            name,
            faults,
            observer: None,
        }
    }

    /// The same bucket, with `observer` told of every call made.
    pub fn observed_by(mut self, observer: Arc<dyn UsageObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The span of one call, failed at once when `storage_unavailable` fires.
    fn call(
        &self,
        method: &'static str,
        key: &str,
        session: &Session,
    ) -> Result<tracing::Span, FileError> {
        let mut span = s3::span(method, &self.name, key);
        if let Some(user) = &session.user {
            span.record("enduser.id", user.as_str());
        }
        if let Some(fault) = self.faults.active(Fault::StorageUnavailable, session) {
            fault.mark(&mut span);
            let e = FileError::Unavailable {
                operation: method,
                message: "connection refused: storage unavailable (fault injected)".into(),
            };
            record_error(&mut span, e.error_type(), &e);
            return Err(e);
        }
        if let Some(observer) = &self.observer {
            let billed = match method {
                "PutObject" => Billed::S3Put,
                "DeleteObject" => Billed::S3Free,
                _ => Billed::S3Get,
            };
            observer.billed(session.owner(), billed);
        }
        Ok(span)
    }

    /// Stores `body` at `key` with the current trace context and the uploader in the
    /// object's metadata.
    pub async fn put(
        &self,
        session: &Session,
        key: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<(), FileError> {
        let mut span = self.call("PutObject", key, session)?;
        span.record("http.request.body.size", body.len() as i64);
        let mut metadata = HashMap::new();
        // The span's own context: "stored by" is this PutObject, inside the request (or,
        // untraced, the caller's context the request continues).
        let sc = match span.context().span().span_context().clone() {
            sc if sc.is_valid() => sc,
            _ => opentelemetry::Context::current()
                .span()
                .span_context()
                .clone(),
        };
        if sc.is_valid() {
            metadata.insert(
                TRACEPARENT.to_owned(),
                format!(
                    "00-{}-{}-{:02x}",
                    sc.trace_id(),
                    sc.span_id(),
                    sc.trace_flags().to_u8()
                ),
            );
        }
        metadata.insert(UPLOADED_BY.to_owned(), session.owner().to_owned());
        let result = self
            .client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .content_type(content_type)
            .set_metadata(Some(metadata))
            .body(ByteStream::from(body))
            .send()
            .instrument(span.clone())
            .await;
        match result {
            Ok(out) => {
                if let Some(id) = out.request_id() {
                    span.record("aws.request_id", id);
                }
                Ok(())
            }
            Err(e) => {
                let e = FileError::from_sdk("PutObject", e);
                record_error(&mut span, e.error_type(), &e);
                Err(e)
            }
        }
    }

    /// What the object at `key` says of itself: who stored it, in which trace.
    pub async fn head(&self, session: &Session, key: &str) -> Result<StoredBy, FileError> {
        let mut span = self.call("HeadObject", key, session)?;
        let result = self
            .client
            .head_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .instrument(span.clone())
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
                let e = FileError::NotFound(key.to_owned());
                record_error(&mut span, e.error_type(), &e);
                return Err(e);
            }
            Err(e) => {
                let e = FileError::from_sdk("HeadObject", e);
                record_error(&mut span, e.error_type(), &e);
                return Err(e);
            }
        };
        let meta = out.metadata();
        let traceparent = meta.and_then(|m| m.get(TRACEPARENT)).cloned();
        Ok(StoredBy {
            bucket: self.name.clone(),
            key: key.to_owned(),
            trace_id: traceparent
                .as_deref()
                .and_then(|t| t.split('-').nth(1))
                .filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(str::to_owned),
            traceparent,
            uploaded_by: meta.and_then(|m| m.get(UPLOADED_BY)).cloned(),
            stored_at: out
                .last_modified()
                .and_then(|t| t.fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime).ok()),
            size: out.content_length(),
            content_type: out.content_type().map(str::to_owned),
        })
    }

    /// The object's bytes (attachments are small: bounded by the upload limit).
    pub async fn get(&self, session: &Session, key: &str) -> Result<Bytes, FileError> {
        let mut span = self.call("GetObject", key, session)?;
        let result = async {
            let out = self
                .client
                .get_object()
                .bucket(&self.name)
                .key(key)
                .send()
                .await
                .map_err(|e| match e.as_service_error() {
                    Some(s) if s.is_no_such_key() => FileError::NotFound(key.to_owned()),
                    _ => FileError::from_sdk("GetObject", e),
                })?;
            out.body
                .collect()
                .await
                .map(|b| b.into_bytes())
                .map_err(|e| FileError::from_sdk("GetObject", e))
        }
        .instrument(span.clone())
        .await;
        match result {
            Ok(bytes) => {
                span.record("http.response.body.size", bytes.len() as i64);
                Ok(bytes)
            }
            Err(e) => {
                record_error(&mut span, e.error_type(), &e);
                Err(e)
            }
        }
    }

    /// Removes the object at `key` (S3 answers the same whether it was there or not).
    pub async fn delete(&self, session: &Session, key: &str) -> Result<(), FileError> {
        let mut span = self.call("DeleteObject", key, session)?;
        let result = self
            .client
            .delete_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .instrument(span.clone())
            .await;
        result.map(|_| ()).map_err(|e| {
            let e = FileError::from_sdk("DeleteObject", e);
            record_error(&mut span, e.error_type(), &e);
            e
        })
    }
}
