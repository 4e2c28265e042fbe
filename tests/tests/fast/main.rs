#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

//! The fast tier: web's handlers through its router in process (`oneshot`), storage
//! through `#[sqlx::test]` (a database per test, migrated), the worker's batch handling
//! called directly. Real PostgreSQL and a real SQS API, no processes: seconds for the
//! whole tier. The end-to-end stories (tests/tests/e2e) keep what needs the processes:
//! trace shapes, outages, SIGTERM.
//!
//! `#[sqlx::test]` takes the server from `DATABASE_URL` (scripts/test sets it); the SQS
//! API comes from `AWS_ENDPOINT_URL_SQS`, as for the e2e tier.

mod attachments;
mod faults;
mod handlers;
mod insights;
mod span_processor;
mod storage;
mod worker;
