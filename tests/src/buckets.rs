//! Buckets on the S3 API (moto): a fresh one per test.

use crate::services;

/// An S3 client for `endpoint` (path-style: a local server has no DNS name per bucket).
pub fn client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// `attachments-<random>`, created empty.
pub async fn fresh(s3: &aws_sdk_s3::Client, endpoint: &str) -> String {
    let name = format!(
        "attachments-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    s3.create_bucket()
        .bucket(&name)
        .send()
        .await
        .unwrap_or_else(|e| {
            services::unreachable(
                "The S3 API",
                endpoint,
                aws_sdk_s3::error::DisplayErrorContext(e),
            )
        });
    name
}
