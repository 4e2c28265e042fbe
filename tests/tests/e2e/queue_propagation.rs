//! Trace context through a real SQS API: inject on send, receive, build the Lambda
//! record the way the event source mapping does, extract.

use std::collections::HashMap;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use esm::event::EventSource;
use opentelemetry::{
    Context,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use tests::{TestApp, binaries};

#[tokio::test]
async fn trace_context_survives_a_round_trip_through_sqs() {
    let app = TestApp::web_only(binaries!()).await;
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let sent = SpanContext::new(
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
        SpanId::from_hex("b7ad6b7169203331").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let cx = Context::new().with_remote_span_context(sent.clone());
    let attributes = common::telemetry::propagation::inject_sqs_attributes(&cx, 0);
    app.sqs
        .send_message()
        .queue_url(&app.queue_url)
        .message_body("{}")
        .set_message_attributes(Some(attributes))
        .send()
        .await
        .expect("SQS accepts the attributes (no empty tracestate)");

    let received = app
        .sqs
        .receive_message()
        .queue_url(&app.queue_url)
        .wait_time_seconds(5)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1);
    let event = EventSource::from_queue_url(&app.queue_url, "us-east-1").event(&received);
    let record = &event.records[0];
    assert_eq!(
        record
            .attributes
            .get("ApproximateReceiveCount")
            .map(String::as_str),
        Some("1")
    );
    let back = common::telemetry::propagation::extract_sqs_record(&record.message_attributes);
    let got = back.span().span_context().clone();
    assert_eq!(got.trace_id(), sent.trace_id());
    assert_eq!(got.span_id(), sent.span_id());
    assert!(got.is_remote());
    let names: HashMap<_, _> = record.message_attributes.iter().collect();
    assert_eq!(names.len(), 1, "only traceparent: {names:?}");
}
