//! The `SqsEvent` Lambda's SQS trigger would send for a batch of received messages.

use aws_lambda_events::{
    encodings::Base64Data,
    sqs::{SqsEvent, SqsMessage, SqsMessageAttribute},
};
use aws_sdk_sqs::types::Message;

/// `cargo lambda watch --only-lambda-apis` (scripts/dev) serves the function as `_`.
/// Where records say they come from.
#[derive(Debug, Clone)]
pub struct EventSource {
    pub arn: String,
    pub region: String,
}

impl EventSource {
    /// `https://sqs.{region}.amazonaws.com/{account}/{name}` → `arn:aws:sqs:{region}:{account}:{name}`.
    pub fn from_queue_url(queue_url: &str, region: &str) -> Self {
        let mut segments = queue_url.trim_end_matches('/').rsplit('/');
        let name = segments.next().unwrap_or("queue");
        let account = segments
            .next()
            .filter(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or("000000000000");
        Self {
            arn: format!("arn:aws:sqs:{region}:{account}:{name}"),
            region: region.to_owned(),
        }
    }

    /// The event Lambda's SQS trigger would send for these messages.
    pub fn event(&self, messages: &[Message]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = messages.iter().map(|m| self.record(m)).collect();
        event
    }

    fn record(&self, m: &Message) -> SqsMessage {
        let mut r = SqsMessage::default();
        r.message_id = m.message_id.clone();
        r.receipt_handle = m.receipt_handle.clone();
        r.body = m.body.clone();
        r.md5_of_body = m.md5_of_body.clone();
        r.md5_of_message_attributes = m.md5_of_message_attributes.clone();
        r.attributes = m
            .attributes()
            .map(|a| {
                a.iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        r.message_attributes = m
            .message_attributes()
            .map(|attrs| {
                attrs
                    .iter()
                    .map(|(k, v)| {
                        let mut a = SqsMessageAttribute::default();
                        a.data_type = Some(v.data_type().to_owned());
                        a.string_value = v.string_value().map(str::to_owned);
                        a.binary_value = v.binary_value().map(|b| {
                            let mut data = Base64Data::default();
                            *data = b.as_ref().to_vec();
                            data
                        });
                        (k.clone(), a)
                    })
                    .collect()
            })
            .unwrap_or_default();
        r.event_source = Some("aws:sqs".into());
        r.event_source_arn = Some(self.arn.clone());
        r.aws_region = Some(self.region.clone());
        r
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};

    pub(crate) fn message(id: &str) -> Message {
        Message::builder()
            .message_id(id)
            .receipt_handle(format!("rh-{id}"))
            .body("{}")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
            .message_attributes(
                "traceparent",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                    .build()
                    .unwrap(),
            )
            .build()
    }

    #[test]
    fn records_look_like_lambdas() {
        let source =
            EventSource::from_queue_url("http://localhost:9324/123456789012/jobs", "eu-west-1");
        assert_eq!(source.arn, "arn:aws:sqs:eu-west-1:123456789012:jobs");
        let event = source.event(&[message("a")]);
        let json = serde_json::to_value(&event).unwrap();
        let r = &json["Records"][0];
        assert_eq!(r["messageId"], "a");
        assert_eq!(r["receiptHandle"], "rh-a");
        assert_eq!(r["eventSource"], "aws:sqs");
        assert_eq!(
            r["eventSourceARN"],
            "arn:aws:sqs:eu-west-1:123456789012:jobs"
        );
        assert_eq!(r["awsRegion"], "eu-west-1");
        assert_eq!(r["attributes"]["ApproximateReceiveCount"], "2");
        assert_eq!(r["messageAttributes"]["traceparent"]["dataType"], "String");
        assert!(
            r["messageAttributes"]["traceparent"]["stringValue"]
                .as_str()
                .unwrap()
                .starts_with("00-4bf9")
        );
    }
}
