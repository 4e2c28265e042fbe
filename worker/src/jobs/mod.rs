//! One module per job kind. Each runs in one transaction that also marks the job done,
//! so a redelivered message (SQS is at-least-once) finds it done and changes nothing.

pub mod attachment;
pub mod completed;
pub mod enrich;
pub mod store;

use common::{
    db::Db,
    files::Bucket,
    job::{Job, JobMessage},
};

use crate::error::RecordError;

/// What processing a record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Already done by an earlier delivery.
    Duplicate,
    /// The to-do (or the attachment) was deleted before the job ran; nothing to do.
    TodoGone,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Duplicate => "duplicate",
            Outcome::TodoGone => "todo_gone",
        }
    }
}

/// Runs the job unless an earlier delivery already did. `before_effect` runs after
/// that check, inside the transaction: a failure it reports (an injected fault) rolls
/// everything back, and a duplicate never reaches it.
pub async fn run(
    db: &Db,
    files: Option<&Bucket>,
    message: &JobMessage,
    attempt: i32,
    before_effect: impl AsyncFnOnce() -> Result<(), RecordError>,
) -> Result<Outcome, RecordError> {
    let mut tx = db.begin().await?;
    let state = store::lock_job(db, &mut tx, message.job_id)
        .await?
        .ok_or(RecordError::UnknownJob(message.job_id))?;
    if state == "done" {
        db.commit(tx).await?;
        return Ok(Outcome::Duplicate);
    }
    before_effect().await?;
    let found = match message.job {
        Job::EnrichTodo { todo_id } => enrich::run(db, &mut tx, todo_id).await?,
        Job::TodoCompleted { todo_id } => completed::run(db, &mut tx, todo_id).await?,
        Job::Meow => {
            tracing::info!("meow");
            true
        }
        Job::ProcessAttachment { attachment_id, .. } => {
            let files = files.ok_or(RecordError::NoBucket)?;
            attachment::run(db, &mut tx, files, attachment_id).await?
        }
    };
    store::mark_done(db, &mut tx, message.job_id, attempt).await?;
    db.commit(tx).await?;
    Ok(if found {
        Outcome::Done
    } else {
        Outcome::TodoGone
    })
}
