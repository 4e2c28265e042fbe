//! The test harness: real PostgreSQL, a real SQS API, the real binaries, and two
//! in-process stand-ins at the edges we observe: an OTLP receiver (where Jaeger would
//! be) and the Lambda Runtime + Invoke API (what `cargo lambda watch`, the runtime
//! interface emulator and AWS Lambda serve to the function).

pub mod app;
pub mod buckets;
pub mod compose;
pub mod fast;
#[cfg(test)]
mod house_rules;
pub mod lambda;
pub use trace_console::receiver as otlp;
pub mod poll;
pub mod process;
pub mod proxy;
pub mod queues;
pub mod services;
pub mod stalled;
pub mod tls;
pub mod traces;

pub use app::{TestApp, trace_of};
pub use poll::{eventually, eventually_showing};

/// The element of the JSON array `array` whose `key` is `value`, e.g. a user of
/// `/api/insights` or a step of a journey; panics, showing the array, when none is.
pub fn find_in(array: &serde_json::Value, key: &str, value: &str) -> serde_json::Value {
    array
        .as_array()
        .and_then(|items| items.iter().find(|item| item[key] == value))
        .cloned()
        .unwrap_or_else(|| panic!("no {key} = {value:?} in {array:#}"))
}
