//! `esm`: a local stand-in for Lambda's SQS event source mapping.
//!
//! Long-polls the queue, builds `SqsEvent` records the way AWS does ([`event`]), invokes
//! the function through the Lambda Invoke API ([`invoke`]: served by `cargo lambda
//! watch` natively and by the runtime interface emulator in containers), deletes the
//! records that succeeded and leaves the failed ones to reappear after the visibility
//! timeout, so the queue's redrive policy moves poison messages to the DLQ ([`poller`]).
//! In AWS the real mapping does this.

pub mod config;
pub mod event;
pub mod invoke;
pub mod poller;

pub use poller::main;
