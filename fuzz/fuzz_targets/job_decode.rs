//! Any bytes as an SQS message body: decoding answers Ok or Err, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = std::str::from_utf8(data) {
        let _ = common::job::JobMessage::decode(body);
    }
});
