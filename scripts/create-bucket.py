#!/usr/bin/env python3
"""Create the attachments bucket on any S3 API (idempotent):

  create-bucket.py BUCKET

The S3 API is AWS_ENDPOINT_URL_S3's (the callers start it first; moto serves S3 where it
serves SQS).
"""
import os
import sys

import boto3

if len(sys.argv) != 2:
    sys.exit(__doc__)
bucket = sys.argv[1]
s3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_S3"),
                  region_name=os.environ.get("AWS_REGION", "us-east-1"))
try:
    s3.create_bucket(Bucket=bucket)
except s3.exceptions.BucketAlreadyOwnedByYou:
    pass
print(f"bucket {bucket}")
