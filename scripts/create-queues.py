#!/usr/bin/env python3
"""Create the jobs queue and its dead-letter queue (idempotent).

  create-queues.py QUEUE_URL DLQ_URL MAX_RECEIVE_COUNT

Works against any SQS API: moto, ElasticMQ, LocalStack or AWS (AWS_ENDPOINT_URL_SQS,
AWS_REGION). The queue names are the last path segment of the URLs; the scripts pass
web's JOBS_QUEUE_URL and JOBS_DLQ_URL and the worker's MAX_RECEIVE_COUNT (their values,
or the binaries' defaults: scripts/lib.sh's `effective`). JOBS_VISIBILITY_TIMEOUT (30 s)
is the queue's visibility timeout.
"""
import json
import os
import sys
import time

import boto3
import botocore.exceptions

if len(sys.argv) != 4:
    sys.exit(__doc__)
queue_url, dlq_url, max_receive = sys.argv[1:]
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
