#!/usr/bin/env python3
"""Create the jobs queue and its dead-letter queue (idempotent).

Works against any SQS API: moto, ElasticMQ, LocalStack or AWS. Reads the same
variables as the services: AWS_ENDPOINT_URL_SQS, AWS_REGION, JOBS_QUEUE_URL,
JOBS_DLQ_URL; the queue names are the last path segment of those URLs.
MAX_RECEIVE_COUNT (3) and JOBS_VISIBILITY_TIMEOUT (30 s) shape the redrive.
"""
import json
import os
import sys
import time

import boto3
import botocore.exceptions

queue_url = os.environ.get("JOBS_QUEUE_URL", "http://localhost:9324/123456789012/jobs")
dlq_url = os.environ.get("JOBS_DLQ_URL", "http://localhost:9324/123456789012/jobs-dlq")
max_receive = os.environ.get("MAX_RECEIVE_COUNT", "3")
visibility = os.environ.get("JOBS_VISIBILITY_TIMEOUT", "30")

sqs = boto3.client(
    "sqs",
    endpoint_url=os.environ.get("AWS_ENDPOINT_URL_SQS"),
    region_name=os.environ.get("AWS_REGION", "us-east-1"),
)


def name(url):
    return url.rstrip("/").rsplit("/", 1)[-1]


# The SQS server may still be starting: retry for a while, then say what is wrong.
deadline = time.monotonic() + 30
while True:
    try:
        dlq = sqs.create_queue(QueueName=name(dlq_url))["QueueUrl"]
        break
    except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError) as e:
        if time.monotonic() > deadline:
            sys.exit(f"create-queues: no SQS server at {os.environ.get('AWS_ENDPOINT_URL_SQS')}: {e}")
        time.sleep(0.5)

dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
queue = sqs.create_queue(
    QueueName=name(queue_url),
    Attributes={
        "VisibilityTimeout": visibility,
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive}),
    },
)["QueueUrl"]
print(f"queue {queue} → DLQ {dlq} after {max_receive} receives (visibility {visibility}s)")
