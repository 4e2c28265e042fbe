#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

//! End-to-end stories against real PostgreSQL, a real SQS API and the real binaries.
//! One test binary, one module per story; test names read as sentences.

mod attachments;
mod config_errors;
mod faults;
mod insights;
mod journey;
mod logs;
mod one_click_one_trace;
mod proof;
mod queue_propagation;
mod reliability;
mod scale_out;
mod stalled_collector;
mod tls_export;
mod todos;
mod users;

use std::time::Duration;

/// Generous: CI machines are small, and these wait on real processes.
pub const DEADLINE: Duration = Duration::from_secs(30);
