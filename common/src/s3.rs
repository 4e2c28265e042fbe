//! The S3 client and its CLIENT spans, by the semantic conventions for AWS SDK calls
//! (`rpc.system=aws-api`, `rpc.service=S3`, `rpc.method`, `aws.s3.bucket`, `aws.s3.key`).
//! Built once per process from the AWS SDK's own environment (`AWS_REGION`,
//! `AWS_ENDPOINT_URL_S3`, credentials…).

use aws_config::{BehaviorVersion, meta::region::RegionProviderChain};
use tracing::{Span, field::Empty};

use crate::sqs::{Calls, timeouts};

/// S3 with a request's budget (a request waits on its uploads and downloads). With an
/// endpoint of its own (`AWS_ENDPOINT_URL_S3`: moto, a local S3) bucket names go in the
/// path: a local server has no DNS name per bucket.
pub async fn client() -> aws_sdk_s3::Client {
    let region = RegionProviderChain::default_provider().or_else("us-east-1");
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .timeout_config(timeouts(Calls::Quick))
        .load()
        .await;
    let local = std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some();
    let s3 = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(local)
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

/// CLIENT span `S3.{method}` for one call on `key` in `bucket`.
pub fn span(method: &'static str, bucket: &str, key: &str) -> Span {
    tracing::info_span!(
        "aws.s3",
        otel.name = format!("S3.{method}"),
        otel.kind = "client",
        rpc.system = "aws-api",
        rpc.service = "S3",
        rpc.method = method,
        aws.s3.bucket = bucket,
        aws.s3.key = key,
        aws.request_id = Empty,
        http.request.body.size = Empty,
        http.response.body.size = Empty,
        enduser.id = Empty,
        error.type = Empty,
    )
}
