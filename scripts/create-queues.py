#!/usr/bin/env python3
"""Create the jobs queue and its dead-letter queue, on any SQS API (idempotent):

  create-queues.py QUEUE_URL DLQ_URL MAX_RECEIVE_COUNT

The queue names are the URLs' last path segments; the SQS API is AWS_ENDPOINT_URL_SQS's
(the callers start it first), the visibility timeout JOBS_VISIBILITY_TIMEOUT (30 s).
"""
import json
import os
import sys

import boto3

if len(sys.argv) != 4:
    sys.exit(__doc__)
queue_url, dlq_url, max_receive = sys.argv[1:]
visibility = os.environ.get("JOBS_VISIBILITY_TIMEOUT", "30")
sqs = boto3.client("sqs", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_SQS"),
                   region_name=os.environ.get("AWS_REGION", "us-east-1"))
dlq = sqs.create_queue(QueueName=dlq_url.rstrip("/").rsplit("/", 1)[-1])["QueueUrl"]
dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
queue = sqs.create_queue(QueueName=queue_url.rstrip("/").rsplit("/", 1)[-1], Attributes={
    "VisibilityTimeout": visibility,
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive}),
})["QueueUrl"]
print(f"queue {queue} → DLQ {dlq} after {max_receive} receives (visibility {visibility}s)")
