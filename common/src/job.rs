//! The job message: versioned JSON in the SQS message body.
//!
//! ```json
//! {"v":1,"job_id":"…","kind":"enrich_todo","todo_id":"…"}
//! ```
//! A consumer that meets a version or kind it does not know fails that one record
//! (it goes back to the queue and, after `maxReceiveCount`, to the DLQ) instead of
//! guessing, so a deploy that adds a kind never loses messages to an older worker.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The schema version this build writes and reads.
pub const VERSION: u32 = 1;

/// Largest body we try to parse; SQS itself caps messages at 256 KiB.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub v: u32,
    pub job_id: Uuid,
    #[serde(flatten)]
    pub job: Job,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// A new to-do: derive tags and a priority from its title.
    EnrichTodo { todo_id: Uuid },
    /// A to-do was completed: record completion statistics.
    TodoCompleted { todo_id: Uuid },
    /// The magic word `meow`: an extra message that does nothing but show up in traces.
    Meow,
    /// A file was attached to a to-do: read it back, record its SHA-256 and a preview.
    ProcessAttachment { todo_id: Uuid, attachment_id: Uuid },
}

impl Job {
    /// The `kind` tag as stored in the jobs table and shown in spans.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::EnrichTodo { .. } => "enrich_todo",
            Job::TodoCompleted { .. } => "todo_completed",
            Job::Meow => "meow",
            Job::ProcessAttachment { .. } => "process_attachment",
        }
    }

    pub fn todo_id(&self) -> Option<Uuid> {
        match self {
            Job::EnrichTodo { todo_id }
            | Job::TodoCompleted { todo_id }
            | Job::ProcessAttachment { todo_id, .. } => Some(*todo_id),
            Job::Meow => None,
        }
    }

    pub fn attachment_id(&self) -> Option<Uuid> {
        match self {
            Job::ProcessAttachment { attachment_id, .. } => Some(*attachment_id),
            _ => None,
        }
    }

    /// The job as stored in the jobs table (kind, to-do, attachment), e.g. for the
    /// outbox relay.
    pub fn from_parts(
        kind: &str,
        todo_id: Option<Uuid>,
        attachment_id: Option<Uuid>,
    ) -> Option<Job> {
        match (kind, todo_id, attachment_id) {
            ("enrich_todo", Some(todo_id), _) => Some(Job::EnrichTodo { todo_id }),
            ("todo_completed", Some(todo_id), _) => Some(Job::TodoCompleted { todo_id }),
            ("meow", _, _) => Some(Job::Meow),
            // The attachment deleted since: a job the worker finds nothing to do for.
            ("process_attachment", Some(todo_id), attachment_id) => Some(Job::ProcessAttachment {
                todo_id,
                attachment_id: attachment_id.unwrap_or_default(),
            }),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("job body is empty")]
    Empty,
    #[error("job body is {0} bytes, more than the {MAX_BODY_BYTES} allowed")]
    TooLarge(usize),
    #[error("job body is not valid JSON: {0}")]
    NotJson(String),
    #[error("job schema version {0} is not supported (this worker reads v{VERSION})")]
    UnsupportedVersion(u64),
    #[error("job body has no schema version field \"v\"")]
    MissingVersion,
    #[error("job body does not match schema v{VERSION}: {0}")]
    Invalid(String),
}

impl DecodeError {
    /// A short, stable name for `error.type` on spans.
    pub fn error_type(&self) -> &'static str {
        match self {
            DecodeError::Empty => "job_empty",
            DecodeError::TooLarge(_) => "job_too_large",
            DecodeError::NotJson(_) => "job_not_json",
            DecodeError::UnsupportedVersion(_) => "job_unsupported_version",
            DecodeError::MissingVersion => "job_missing_version",
            DecodeError::Invalid(_) => "job_invalid",
        }
    }
}

impl JobMessage {
    pub fn new(job: Job) -> Self {
        Self {
            v: VERSION,
            job_id: Uuid::new_v4(),
            job,
        }
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a JobMessage always serialises")
    }

    /// Decodes a message body, checking the version before the shape so that a
    /// newer producer's message is reported as such, not as "invalid".
    pub fn decode(body: &str) -> Result<Self, DecodeError> {
        if body.trim().is_empty() {
            return Err(DecodeError::Empty);
        }
        if body.len() > MAX_BODY_BYTES {
            return Err(DecodeError::TooLarge(body.len()));
        }
        let value: serde_json::Value =
            serde_json::from_str(body).map_err(|e| DecodeError::NotJson(e.to_string()))?;
        match value.get("v").map(serde_json::Value::as_u64) {
            None => return Err(DecodeError::MissingVersion),
            Some(Some(v)) if v == u64::from(VERSION) => {}
            Some(Some(v)) => return Err(DecodeError::UnsupportedVersion(v)),
            Some(None) => return Err(DecodeError::Invalid("\"v\" must be a number".into())),
        }
        serde_json::from_value(value).map_err(|e| DecodeError::Invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_parts_rebuild_the_job() {
        let id = Uuid::new_v4();
        for job in [
            Job::EnrichTodo { todo_id: id },
            Job::TodoCompleted { todo_id: id },
            Job::Meow,
            Job::ProcessAttachment {
                todo_id: id,
                attachment_id: Uuid::new_v4(),
            },
        ] {
            let parts = (job.kind(), job.todo_id(), job.attachment_id());
            assert_eq!(Job::from_parts(parts.0, parts.1, parts.2), Some(job));
        }
        assert_eq!(Job::from_parts("enrich_todo", None, None), None);
        assert_eq!(
            Job::from_parts("process_attachment", Some(id), None),
            Some(Job::ProcessAttachment {
                todo_id: id,
                attachment_id: Uuid::nil()
            })
        );
        assert_eq!(Job::from_parts("nope", Some(id), None), None);
    }

    #[test]
    fn wire_format_is_flat_and_versioned() {
        let id = Uuid::nil();
        let msg = JobMessage {
            v: 1,
            job_id: id,
            job: Job::TodoCompleted { todo_id: id },
        };
        let json: serde_json::Value = serde_json::from_str(&msg.encode()).unwrap();
        assert_eq!(json["v"], 1);
        assert_eq!(json["kind"], "todo_completed");
        assert_eq!(json["todo_id"], id.to_string());
    }

    #[test]
    fn bad_bodies_are_errors_not_panics() {
        let id = Uuid::nil();
        let cases = [
            ("", DecodeError::Empty),
            ("   ", DecodeError::Empty),
            ("{", DecodeError::NotJson(String::new())),
            ("[1,2]", DecodeError::MissingVersion),
            (r#"{"kind":"enrich_todo"}"#, DecodeError::MissingVersion),
            (r#"{"v":2,"kind":"x"}"#, DecodeError::UnsupportedVersion(2)),
            (r#"{"v":"1"}"#, DecodeError::Invalid(String::new())),
            (
                &format!(r#"{{"v":1,"job_id":"{id}","kind":"launch_rockets","todo_id":"{id}"}}"#),
                DecodeError::Invalid(String::new()),
            ),
            (
                r#"{"v":1,"job_id":"not-a-uuid","kind":"enrich_todo","todo_id":"x"}"#,
                DecodeError::Invalid(String::new()),
            ),
        ];
        for (body, expected) in cases {
            let err = JobMessage::decode(body).expect_err(body);
            assert_eq!(err.error_type(), expected.error_type(), "{body}: {err}");
        }
        let huge = "x".repeat(MAX_BODY_BYTES + 1);
        assert_eq!(
            JobMessage::decode(&huge),
            Err(DecodeError::TooLarge(MAX_BODY_BYTES + 1))
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever arrives in a message body, decoding answers; it never panics.
        #[test]
        fn decoding_never_panics(body in ".{0,300}") {
            let _ = JobMessage::decode(&body);
        }

        #[test]
        fn decoding_json_shaped_garbage_never_panics(
            v in proptest::option::of(any::<i64>()),
            kind in "[a-z_]{0,20}",
            id in "[0-9a-f-]{0,40}",
        ) {
            let mut obj = serde_json::json!({ "kind": kind, "job_id": id, "todo_id": id });
            if let Some(v) = v { obj["v"] = v.into(); }
            let _ = JobMessage::decode(&obj.to_string());
        }

        #[test]
        fn every_job_round_trips(a in any::<u128>(), b in any::<u128>(), which in 0..3u8) {
            let todo_id = Uuid::from_u128(a);
            let job = match which {
                0 => Job::EnrichTodo { todo_id },
                1 => Job::TodoCompleted { todo_id },
                _ => Job::Meow,
            };
            let msg = JobMessage { v: VERSION, job_id: Uuid::from_u128(b), job };
            prop_assert_eq!(JobMessage::decode(&msg.encode()), Ok(msg));
        }
    }
}
