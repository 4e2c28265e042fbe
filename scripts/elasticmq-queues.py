#!/usr/bin/env python3
"""The queues of deploy/elasticmq.conf (ElasticMQ's HOCON), recreated on any SQS API.

The compose contract run (scripts/compose-contract) stands moto in for ElasticMQ: this
gives it the queues ElasticMQ would create from its configuration, so a queue URL in
docker-compose.yml that names no configured queue fails there as it would in compose.

  elasticmq-queues.py CONF port              the SQS port (rest-sqs.bind-port)
  elasticmq-queues.py CONF create ENDPOINT   create every queue (dead-letter queues
                                             first, with each queue's visibility timeout
                                             and redrive policy); prints the largest
                                             maxReceiveCount
"""
import json
import re
import sys

import boto3
from pyhocon import ConfigFactory


def load(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # ElasticMQ's own defaults, which it includes from its classpath.
    text = re.sub(r"^\s*include\s+classpath\([^)]*\)\s*$", "", text, flags=re.M)
    return ConfigFactory.parse_string(text)


def seconds(value):
    """A HOCON duration as pyhocon reads it ("30 seconds" → relativedelta), or a number."""
    if hasattr(value, "seconds"):
        return int(getattr(value, "days", 0) * 86400 + getattr(value, "hours", 0) * 3600
                   + getattr(value, "minutes", 0) * 60 + value.seconds)
    return int(value)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    conf = load(sys.argv[1])
    if sys.argv[2] == "port":
        print(conf.get_int("rest-sqs.bind-port"))
        return
    if sys.argv[2] != "create" or len(sys.argv) != 4:
        sys.exit(__doc__)
    sqs = boto3.client("sqs", endpoint_url=sys.argv[3], region_name=conf.get_string("aws.region", "us-east-1"),
                       aws_access_key_id="test", aws_secret_access_key="test")
    queues = conf.get_config("queues")
    dead_letter = {q["deadLettersQueue"]["name"] for q in queues.values() if "deadLettersQueue" in q}
    arns, max_receive = {}, 0
    for name in sorted(queues, key=lambda n: n not in dead_letter):
        q = queues[name]
        attributes = {}
        if "defaultVisibilityTimeout" in q:
            attributes["VisibilityTimeout"] = str(seconds(q["defaultVisibilityTimeout"]))
        if "deadLettersQueue" in q:
            dlq = q["deadLettersQueue"]
            if dlq["name"] not in arns:
                sys.exit(f"queue {name}: dead-letter queue {dlq['name']} is not configured")
            max_receive = max(max_receive, int(dlq["maxReceiveCount"]))
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arns[dlq["name"]], "maxReceiveCount": str(dlq["maxReceiveCount"])})
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arns[name] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        print(f"queue {name}: {url} {attributes}", file=sys.stderr)
    print(max_receive)


if __name__ == "__main__":
    main()
