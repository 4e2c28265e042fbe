//! Why one record failed. A failed record is reported in `batchItemFailures`, goes
//! back to the queue, and after `maxReceiveCount` attempts to the DLQ.

use common::{files::FileError, job::DecodeError};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("job {0} is not in the jobs table")]
    UnknownJob(Uuid),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("processing failed (fault injected: {0})")]
    Injected(&'static str),
    #[error(transparent)]
    Storage(#[from] FileError),
    #[error("this worker has no attachments bucket (ATTACHMENTS_BUCKET)")]
    NoBucket,
}

impl RecordError {
    /// A short, stable name for `error.type`.
    pub fn error_type(&self) -> &'static str {
        match self {
            RecordError::Decode(e) => e.error_type(),
            RecordError::UnknownJob(_) => "unknown_job",
            RecordError::Database(_) => "db_error",
            RecordError::Injected(name) => name,
            RecordError::Storage(e) => e.error_type(),
            RecordError::NoBucket => "no_bucket",
        }
    }
}
