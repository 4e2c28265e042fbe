#!/usr/bin/env python3
"""Empty the jobs queue (JOBS_QUEUE_URL): benchmarks start from an empty backlog."""
import os

import boto3

url = os.environ.get("JOBS_QUEUE_URL", "http://localhost:9324/123456789012/jobs")
sqs = boto3.client("sqs", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_SQS"),
                   region_name=os.environ.get("AWS_REGION", "us-east-1"))
sqs.purge_queue(QueueUrl=url)
print(f"purged {url}")
