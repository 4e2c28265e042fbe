#!/usr/bin/env python3
"""Env drift: do docker-compose.yml, infra/template.yaml and scripts/lib.sh set only
variables the binaries read?

Each binary says what it reads (`BIN --print-env=json`: its own variables with their
defaults, and those of its libraries: OpenTelemetry, the AWS SDK, the Lambda runtime).
This fails when
  * a compose service sets a variable its binary does not read (a typo, a leftover);
  * the AWS template's web container or worker function does, or sets static AWS
    credentials or an SQS endpoint (the roles and AWS's own endpoints do that there);
  * scripts/lib.sh sets a variable no binary reads (but cargo's), or restates a
    binary's default.
What the values mean is checked by running the binaries with them: the compose contract
run (scripts/compose-contract) for compose, the end-to-end tests for the scripts.

Usage: check-env-drift.py --bin-dir DIR --compose-json FILE
"""

import argparse
import json
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARIES = ["web", "worker", "esm", "loadgen"]
# scripts/lib.sh may set these for the tools, not the binaries.
TOOLING = {"CARGO_TARGET_DIR"}
# The SDK's credential chain and AWS's endpoints do this in AWS, never a variable.
FORBIDDEN_IN_AWS = {"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


class CfnLoader(yaml.SafeLoader):
    """A CloudFormation template, with `!Ref X` and friends kept as plain values."""


CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: (
    loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode)
    else loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode)
    else loader.construct_mapping(node)))


def reads(bin_dir):
    """binary → {name: default or None}, from the binary itself."""
    out = {}
    for binary in BINARIES:
        text = subprocess.run([os.path.join(bin_dir, binary), "--print-env=json"],
                              capture_output=True, text=True, check=True).stdout
        out[binary] = {v["name"]: v["default"] for v in json.loads(text)["variables"]}
    return out


def names(items):
    """Name/Value entries of an ECS list, taking both branches of an `!If` item."""
    found = []
    for item in items or []:
        if isinstance(item, list):  # !If [condition, a, b]
            found += names([i for i in item[1:] if isinstance(i, dict)])
        elif isinstance(item, dict) and "Name" in item:
            found.append(item["Name"])
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--compose-json", required=True)
    args = parser.parse_args()
    known = reads(args.bin_dir)
    problems = []

    with open(args.compose_json, encoding="utf-8") as f:
        services = json.load(f)["services"]
    for service, svc in sorted(services.items()):
        binary = (svc.get("build") or {}).get("target")
        if binary not in known:
            continue
        for name in sorted(svc.get("environment") or {}):
            if name not in known[binary]:
                problems.append(f"docker-compose.yml: service {service} sets {name}, which {binary} does not read")
        print(f"compose {service:8} ({binary}): {len(svc.get('environment') or {})} variables, all read by {binary}")

    with open(os.path.join(ROOT, "infra", "template.yaml"), encoding="utf-8") as f:
        resources = yaml.load(f, Loader=CfnLoader)["Resources"]
    containers = resources["WebTaskDefinition"]["Properties"]["ContainerDefinitions"]
    web = next(c for c in containers if c["Name"] == "web")
    worker = resources["WorkerFunction"]["Properties"]["Environment"]["Variables"]
    for where, binary, set_names in [
        ("WebTaskDefinition/web", "web", names(web.get("Environment")) + names(web.get("Secrets"))),
        ("WorkerFunction", "worker", list(worker)),
    ]:
        for name in set_names:
            if name not in known[binary]:
                problems.append(f"infra/template.yaml: {where} sets {name}, which {binary} does not read")
            if name in FORBIDDEN_IN_AWS:
                problems.append(f"infra/template.yaml: {where} sets {name}; in AWS the role and the "
                                "service's own endpoint do that")
        print(f"infra   {where} ({binary}): {', '.join(sorted(set_names))}")

    with open(os.path.join(ROOT, "scripts", "lib.sh"), encoding="utf-8") as f:
        lib = f.read()
    for name, value in re.findall(r'^:\s*"\$\{([A-Z_][A-Z0-9_]*):=([^}]*)\}"', lib, re.M):
        readers = [b for b in BINARIES if name in known[b]]
        if not readers and name not in TOOLING:
            problems.append(f"scripts/lib.sh sets {name}, which no binary reads")
        for b in readers:
            if known[b][name] is not None and known[b][name] == value:
                problems.append(f"scripts/lib.sh sets {name}={value}, {b}'s own default: leave it to the binary")
        print(f"lib.sh  {name}={value}  ({', '.join(readers) or 'tooling'})")

    if problems:
        print(f"ENV DRIFT ({len(problems)}):")
        for p in problems:
            print(f"  - {p}")
        return 1
    print("no env drift: compose, infra and scripts/lib.sh set only what the binaries read")
    return 0


if __name__ == "__main__":
    sys.exit(main())
