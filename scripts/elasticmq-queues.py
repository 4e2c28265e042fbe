#!/usr/bin/env python3
"""The queues of deploy/elasticmq.conf (ElasticMQ's HOCON), recreated on any SQS API: the
compose contract run (scripts/compose-contract) stands moto in for ElasticMQ.

  elasticmq-queues.py CONF port              print the SQS port (rest-sqs.bind-port)
  elasticmq-queues.py CONF create ENDPOINT   create every queue (dead-letter queues first,
                                             with visibility timeouts and redrive
                                             policies); print the largest maxReceiveCount
"""
import json
import re
import sys

import boto3
from pyhocon import ConfigFactory


def seconds(duration):  # pyhocon reads "30 seconds" as a dateutil relativedelta
    return duration.days * 86400 + duration.hours * 3600 + duration.minutes * 60 + duration.seconds


if sys.argv[2:] != ["port"] and (len(sys.argv) != 4 or sys.argv[2] != "create"):
    sys.exit(__doc__)
with open(sys.argv[1]) as f:  # without the include of ElasticMQ's defaults (in its jar)
    conf = ConfigFactory.parse_string(re.sub(r"^\s*include\s+classpath\(.*$", "", f.read(), flags=re.M))
if sys.argv[2] == "port":
    print(conf.get_int("rest-sqs.bind-port"))
    sys.exit()

sqs = boto3.client("sqs", endpoint_url=sys.argv[3], region_name=conf.get_string("aws.region", "us-east-1"),
                   aws_access_key_id="test", aws_secret_access_key="test")
queues = conf.get_config("queues")
dead_letter = {q["deadLettersQueue"]["name"] for q in queues.values() if "deadLettersQueue" in q}
arns, max_receive = {}, 0
for name in sorted(queues, key=lambda n: n not in dead_letter):
    q, attributes = queues[name], {}
    if "defaultVisibilityTimeout" in q:
        attributes["VisibilityTimeout"] = str(seconds(q["defaultVisibilityTimeout"]))
    if "deadLettersQueue" in q:
        dlq = q["deadLettersQueue"]
        max_receive = max(max_receive, int(dlq["maxReceiveCount"]))
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": arns[dlq["name"]], "maxReceiveCount": str(dlq["maxReceiveCount"])})
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arns[name] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    print(f"queue {name}: {url} {attributes}", file=sys.stderr)
print(max_receive)
