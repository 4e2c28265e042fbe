//! Receive OTLP/HTTP traces and show them as trees: what Jaeger does for the demo,
//! small enough to run anywhere (no Docker) and to embed in tests.

pub mod console;
pub mod receiver;
pub mod tree;
