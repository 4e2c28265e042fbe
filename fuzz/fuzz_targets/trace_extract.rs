//! Any strings as traceparent / tracestate / baggage message attributes: extraction
//! yields a context (valid or empty), never panics.
#![no_main]

use std::{collections::HashMap, sync::Once};

use aws_lambda_events::sqs::SqsMessageAttribute;
use libfuzzer_sys::fuzz_target;

static INIT: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    INIT.call_once(|| {
        // The same propagators the services install.
        common::telemetry::install_propagator();
    });
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let attrs: HashMap<String, SqsMessageAttribute> = ["traceparent", "tracestate", "baggage"]
        .into_iter()
        .filter_map(|k| {
            let mut a = SqsMessageAttribute::default();
            a.string_value = Some(parts.next()?.to_owned());
            Some((k.to_owned(), a))
        })
        .collect();
    let _ = common::telemetry::propagation::extract_sqs_record(&attrs);
});
