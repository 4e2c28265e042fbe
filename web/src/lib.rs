//! traced-todo web service: axum + PostgreSQL + SQS, traced end to end.
//! ARCHITECTURE.md has the map; `app` wires the modules together.

pub mod app;
pub mod attachments;
pub mod config;
pub mod cpu_time;
pub mod error;
pub mod fault_settings;
pub mod insights;
pub mod jaeger;
pub mod magic;
pub mod observe;
pub mod outbox;
pub mod pages;
pub mod queue;
pub mod request;
pub mod routes;
pub mod security;
pub mod server_span;
pub mod state;
pub mod todos;
pub mod validate;
pub mod web_error_fault;

pub use app::{Application, router, run};

/// Forms here are tiny; anything bigger is refused before it is read.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
