#!/usr/bin/env python3
"""Empty a queue (benchmarks start from an empty backlog): purge-queue.py QUEUE_URL."""
import os
import sys

import boto3

if len(sys.argv) != 2:
    sys.exit(__doc__)
boto3.client("sqs", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_SQS"),
             region_name=os.environ.get("AWS_REGION", "us-east-1")).purge_queue(QueueUrl=sys.argv[1])
print(f"purged {sys.argv[1]}")
