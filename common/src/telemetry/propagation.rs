//! W3C trace context (and baggage) carried in SQS message attributes.
//!
//! The producer injects with the global propagator ([`super::install_propagator`]) into
//! string attributes; the consumer extracts from the attributes of an `SqsEvent` record.
//! Two SQS rules shape this: attribute values may not be empty (the W3C propagator may
//! emit an empty `tracestate`), and a message carries at most 10 attributes.

use std::collections::HashMap;

use aws_lambda_events::sqs::SqsMessageAttribute;
use aws_sdk_sqs::types::MessageAttributeValue;
use opentelemetry::{
    Context,
    propagation::{Extractor, Injector},
};

/// SQS's per-message attribute limit.
pub const MAX_ATTRIBUTES: usize = 10;

/// Longest attribute value we accept when extracting; longer values are ignored as
/// garbage rather than parsed (a W3C traceparent is 55 bytes, tracestate ≤ 512 members).
const MAX_VALUE_LEN: usize = 8192;

#[derive(Default)]
struct Carrier(HashMap<String, String>);

impl Injector for Carrier {
    fn set(&mut self, key: &str, value: String) {
        if !value.is_empty() {
            self.0.insert(key.to_owned(), value);
        }
    }
}

/// The propagation fields for `cx` (`traceparent`, `tracestate` if non-empty, `baggage`
/// if any), as plain strings.
pub fn inject_fields(cx: &Context) -> HashMap<String, String> {
    let mut carrier = Carrier::default();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(cx, &mut carrier));
    carrier.0
}

/// Rebuilds a context from stored `traceparent` / `baggage` fields (the outbox).
pub fn extract_fields(fields: &HashMap<String, String>) -> Context {
    opentelemetry::global::get_text_map_propagator(|p| {
        p.extract_with_context(&Context::new(), fields)
    })
}

/// The propagation fields for `cx` as SQS message attributes, never more than
/// `MAX_ATTRIBUTES - reserved` of them so callers keep room for their own.
pub fn inject_sqs_attributes(
    cx: &Context,
    reserved: usize,
) -> HashMap<String, MessageAttributeValue> {
    let mut fields: Vec<_> = inject_fields(cx).into_iter().collect();
    // traceparent first: if anything must be dropped, it is never the trace itself.
    fields.sort_by_key(|(k, _)| (k != "traceparent", k.clone()));
    fields
        .into_iter()
        .take(MAX_ATTRIBUTES.saturating_sub(reserved))
        .filter_map(|(k, v)| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .ok()
                .map(|attr| (k, attr))
        })
        .collect()
}

/// Reads propagation fields from the attributes of one `SqsEvent` record.
struct RecordAttributes<'a>(&'a HashMap<String, SqsMessageAttribute>);

impl Extractor for RecordAttributes<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        // Attribute names are case-sensitive in SQS; W3C keys are lower case, but accept
        // any case so a hand-written producer still joins the trace.
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v.string_value.as_deref())
            .filter(|v| v.len() <= MAX_VALUE_LEN)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The remote context carried by a record. Missing or malformed attributes give an
/// empty context (the consumer starts a new trace and keeps going). Extraction starts
/// from an empty context, not the current one: a record without trace context must
/// not pass the invocation's span off as its producer.
pub fn extract_sqs_record(attributes: &HashMap<String, SqsMessageAttribute>) -> Context {
    opentelemetry::global::get_text_map_propagator(|p| {
        p.extract_with_context(&Context::new(), &RecordAttributes(attributes))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::install_propagator;
    use opentelemetry::{
        KeyValue,
        baggage::BaggageExt,
        trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
    };

    fn remote_context(state: TraceState) -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            state,
        ))
    }

    /// What the SDK sends becomes what Lambda delivers: same names, `stringValue`s.
    fn as_record_attributes(
        sent: HashMap<String, MessageAttributeValue>,
    ) -> HashMap<String, SqsMessageAttribute> {
        sent.into_iter()
            .map(|(k, v)| {
                let mut attr = SqsMessageAttribute::default();
                attr.string_value = v.string_value().map(str::to_owned);
                attr.data_type = Some(v.data_type().to_owned());
                (k, attr)
            })
            .collect()
    }

    #[test]
    fn inject_then_extract_keeps_trace_span_and_baggage() {
        install_propagator();
        let state = TraceState::from_key_value([("vendor", "x")]).unwrap();
        let cx = remote_context(state).with_baggage([KeyValue::new("enduser.id", "ada")]);
        let attrs = inject_sqs_attributes(&cx, 0);
        assert!(attrs.contains_key("traceparent"));
        assert!(attrs.contains_key("tracestate"));
        assert!(attrs.contains_key("baggage"));

        let back = extract_sqs_record(&as_record_attributes(attrs));
        let sc = back.span().span_context().clone();
        assert_eq!(sc.trace_id(), cx.span().span_context().trace_id());
        assert_eq!(sc.span_id(), cx.span().span_context().span_id());
        assert!(sc.is_remote() && sc.is_sampled());
        assert_eq!(sc.trace_state().get("vendor"), Some("x"));
        assert_eq!(
            back.baggage().get("enduser.id").map(|v| v.to_string()),
            Some("ada".to_string())
        );
    }

    #[test]
    fn empty_tracestate_and_baggage_are_not_sent() {
        install_propagator();
        let attrs = inject_sqs_attributes(&remote_context(TraceState::default()), 0);
        assert_eq!(attrs.keys().collect::<Vec<_>>(), vec!["traceparent"]);
        assert!(
            attrs
                .values()
                .all(|v| !v.string_value().unwrap_or("").is_empty())
        );
    }

    #[test]
    fn reserved_room_keeps_traceparent() {
        install_propagator();
        let state = TraceState::from_key_value([("vendor", "x")]).unwrap();
        let attrs = inject_sqs_attributes(&remote_context(state), MAX_ATTRIBUTES - 1);
        assert_eq!(attrs.keys().collect::<Vec<_>>(), vec!["traceparent"]);
    }

    #[test]
    fn malformed_attributes_start_a_new_trace() {
        install_propagator();
        for bad in ["", "garbage", "00-zz-zz-01", &"0".repeat(MAX_VALUE_LEN + 1)] {
            let mut attr = SqsMessageAttribute::default();
            attr.string_value = Some(bad.to_owned());
            let attrs = HashMap::from([("traceparent".to_owned(), attr)]);
            let cx = extract_sqs_record(&attrs);
            assert!(
                !cx.span().span_context().is_valid(),
                "{bad:?} gave a valid context"
            );
        }
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any attribute values: extraction yields a context (valid or empty), no panic.
        #[test]
        fn extraction_never_panics(traceparent in ".{0,120}", tracestate in ".{0,200}", baggage in ".{0,200}") {
            crate::telemetry::install_propagator();
            let attrs: HashMap<String, SqsMessageAttribute> = [("traceparent", traceparent), ("tracestate", tracestate), ("baggage", baggage)]
                .into_iter()
                .map(|(k, v)| {
                    let mut a = SqsMessageAttribute::default();
                    a.string_value = Some(v);
                    (k.to_owned(), a)
                })
                .collect();
            let _ = extract_sqs_record(&attrs);
        }
    }
}
