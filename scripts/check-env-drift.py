#!/usr/bin/env python3
"""Env drift check: docker-compose.yml (and infra/template.yaml) against the binaries
and scripts/lib.sh.

The project has one set of environment variable names. This collects the variables each
binary reads (from its Rust sources, plus the SDK/OpenTelemetry/Lambda standard ones its
libraries read), the environment scripts/dev gives each binary natively (scripts/lib.sh
defaults and scripts/dev's exports, which web, esm and the worker inherit), and the
environment docker-compose.yml gives each container, then fails when:

  * a variable the native run sets for a binary, and the binary reads, is missing from
    that binary's compose service;
  * its compose value means something else: values must be equal once hostnames are
    put aside (localhost/127.0.0.1 natively, a compose service name in compose) and the
    Invoke API's address is mapped (:9000 and functions/_ natively, the runtime
    interface emulator's worker:8080 and functions/function in compose);
  * a compose service (or the AWS template's web container / worker function) sets a
    variable its binary does not read (a typo, or a leftover);
  * a URL that only compose sets (the native run leaves it at the binary's default, e.g.
    LOADGEN_BASE_URL) names a host that is no compose service, or means something else
    than the binary's default once hosts are put aside;
The compose contract run (scripts/compose-contract) checks what these names mean by
running the binaries with compose's environment: OTLP endpoints, queue URLs against
deploy/elasticmq.conf's queues, MAX_RECEIVE_COUNT against its redrive.

Usage: check-env-drift.py [--compose-json FILE]   (FILE: `docker compose config
--format json` output, rendered with every profile enabled so that loadgen's `load`
profile is in it; without it docker-compose.yml is read with PyYAML)
Exit status 1 on drift, 2 on a usage or parse error.
"""

import argparse
import glob
import json
import os
import re
import sys
from urllib.parse import urlsplit

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Where each binary's own code lives (relative to ROOT). `common/` is shared: its
# telemetry module's variables count for the binaries that initialise telemetry.
BINARIES = {
    "web": {"include": ["web/src/**/*.rs"], "exclude": []},
    "worker": {
        "include": ["worker/src/**/*.rs"],
        "exclude": ["worker/src/esm/**/*.rs", "worker/src/bin/**/*.rs"],
    },
    "esm": {"include": ["worker/src/esm/**/*.rs", "worker/src/bin/esm.rs"], "exclude": []},
    # The load generator (compose profile `load`); reads LOADGEN_* through common::config.
    "loadgen": {"include": ["loadgen/src/**/*.rs"], "exclude": []},
}

# Standard variables read by libraries rather than by the project's code, listed here
# because no grep can find them. Each applies when the binary's sources show the
# library in use (the marker).
STANDARD = [
    (
        "OpenTelemetry SDK + OTLP exporter",
        "Telemetry::init",
        {
            "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_SDK_DISABLED",
            "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
            "OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_MAX_QUEUE_SIZE",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "OTEL_BSP_EXPORT_TIMEOUT",
            "OTEL_BSP_MAX_CONCURRENT_EXPORTS",
            "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_SPAN_EVENT_COUNT_LIMIT",
            "OTEL_SPAN_LINK_COUNT_LIMIT",
        },
    ),
    (
        # Telemetry::init also builds a meter provider (periodic reader + OTLP/HTTP
        # metric exporter) whenever it exports spans.
        "OpenTelemetry SDK metrics + OTLP metric exporter",
        "Telemetry::init",
        {
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "OTEL_METRIC_EXPORT_INTERVAL",
        },
    ),
    ("tracing EnvFilter", "EnvFilter", {"RUST_LOG"}),
    ("tracing EnvFilter (via telemetry)", "Telemetry::init", {"RUST_LOG"}),
    (
        "AWS SDK (region, endpoint, credentials chain)",
        "aws_config::",
        {
            "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS",
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
            "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_EC2_METADATA_DISABLED",
        },
    ),
    (
        "lambda_runtime (set by Lambda, cargo lambda watch or the emulator)",
        "lambda_runtime",
        {
            "AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_LOG_GROUP_NAME", "_X_AMZN_TRACE_ID",
        },
    ),
]

# A literal default: `config::http_url_or("LOADGEN_BASE_URL", "http://localhost:3000")`,
# `config::parse_or("LOADGEN_USERS", 10)`.
DEFAULT = re.compile(
    r'\bconfig::(?:var_or|parse_or|http_url_or)(?:::<[^>]*>)?\(\s*"([A-Z_][A-Z0-9_]*)"\s*,\s*'
    r'("[^"]*"|-?[0-9][0-9_.]*)\s*\)'
)
CALL = re.compile(
    r'\b(?:config::(?:var_or|parse_or|http_url_or|var|required)|(?:std::)?env::var(?:_os)?)'
    r'(?:::<[^>]*>)?\(\s*"([A-Z_][A-Z0-9_]*)"'
)
# `const LAMBDA_VARIABLES: [&str; 4] = ["AWS_LAMBDA_RUNTIME_API", ...]`
CONST_LIST = re.compile(r'const\s+[A-Z_]*VARIABLES\s*:[^=]*=\s*\[([^\]]*)\]', re.S)
STRING = re.compile(r'"([A-Z_][A-Z0-9_]*)"')


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def files(spec):
    found = set()
    for pattern in spec["include"]:
        found.update(glob.glob(os.path.join(ROOT, pattern), recursive=True))
    for pattern in spec["exclude"]:
        found.difference_update(glob.glob(os.path.join(ROOT, pattern), recursive=True))
    return sorted(os.path.relpath(f, ROOT) for f in found)


def names_in(source):
    names = set(CALL.findall(source))
    for body in CONST_LIST.findall(source):
        names.update(STRING.findall(body))
    return names


def binary_defaults():
    """binary → {variable: literal default in its code} (where the default is a literal)."""
    out = {}
    for binary, spec in BINARIES.items():
        found = {}
        for p in files(spec):
            for name, value in DEFAULT.findall(read(p)):
                found.setdefault(name, value[1:-1] if value.startswith('"') else value.replace("_", ""))
        out[binary] = found
    return out


def binary_reads():
    """binary → {variable: where it is read}."""
    telemetry = "common/src/telemetry.rs"
    telemetry_names = names_in(read(telemetry))
    reads = {}
    for binary, spec in BINARIES.items():
        paths = files(spec)
        if not paths:
            sys.exit(f"check-env-drift: no sources for {binary} ({spec['include']})")
        source = "\n".join(read(p) for p in paths)
        found = {}
        for p in paths:
            for name in names_in(read(p)):
                found.setdefault(name, p)
        if "Telemetry::init" in source:
            for name in telemetry_names:
                found.setdefault(name, telemetry)
        for label, marker, names in STANDARD:
            if marker in source:
                for name in names:
                    found.setdefault(name, label)
        reads[binary] = found
    return reads


def native_env():
    """binary → {variable: value} as scripts/dev runs it (defaults, nothing overridden)."""
    env = {}
    for m in re.finditer(r'^:\s*"\$\{([A-Z_][A-Z0-9_]*):=([^}]*)\}"', read("scripts/lib.sh"), re.M):
        env[m.group(1)] = m.group(2)
    dev = read("scripts/dev")
    for m in re.finditer(r'^\s*export\s+([A-Z_][A-Z0-9_]*)=(\S+)', dev, re.M):
        name, value = m.group(1), m.group(2).strip('"')
        d = re.fullmatch(r'\$\{' + name + r':-([^}]*)\}', value)
        env[name] = d.group(1) if d else value

    # scripts/dev starts web, esm and the worker function with its whole environment.
    return {"web": dict(env), "esm": dict(env), "worker": dict(env), "loadgen": dict(env)}


def load_compose(path_json):
    if path_json:
        with open(path_json, encoding="utf-8") as f:
            data = json.load(f)
    else:
        with open(os.path.join(ROOT, "docker-compose.yml"), encoding="utf-8") as f:
            data = yaml.safe_load(f)
    services = data.get("services") or {}
    out = {}
    for name, svc in services.items():
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
        build = svc.get("build")
        target = build.get("target") if isinstance(build, dict) else None
        command = svc.get("command") or []
        if isinstance(command, str):
            command = command.split()
        out[name] = {"env": {k: (None if v is None else str(v)) for k, v in env.items()},
                     "target": target, "command": [str(c) for c in command]}
    return out


# The Invoke API: natively `cargo lambda watch --only-lambda-apis` on :9000 serving
# functions/_; in
# compose the runtime interface emulator on worker:8080, which always serves
# functions/function.
INVOKE_PATH = re.compile(r"^/2015-03-31/functions/[^/]+/invocations$")


def normalise(value, services, compose_side):
    """A value with the host put aside; returns (normalised, problem)."""
    if value is None:
        return None, None
    if not re.match(r"^[a-z][a-z0-9+.-]*://", value):
        return value, None
    u = urlsplit(value)
    host = u.hostname or ""
    port = u.port
    if compose_side:
        if host not in services and host not in ("localhost", "127.0.0.1"):
            return value, f"host {host!r} is neither a compose service nor localhost"
    elif host not in ("localhost", "127.0.0.1"):
        return value, None
    path = u.path
    if INVOKE_PATH.match(path):
        path = "/2015-03-31/functions/<function>/invocations"
        if compose_side and host == "worker" and port == 8080:
            port = 9000
    userinfo = u.netloc.rsplit("@", 1)[0] + "@" if "@" in u.netloc else ""
    return f"{u.scheme}://{userinfo}<host>:{port}{path}{'?' + u.query if u.query else ''}", None


class Report:
    def __init__(self):
        self.problems = []

    def drift(self, where, text):
        self.problems.append(f"{where}: {text}")


def check_compose(reads, native, compose, report, defaults=None):
    services = set(compose)
    by_binary = {}
    for name, svc in compose.items():
        if svc["target"] in BINARIES:
            by_binary.setdefault(svc["target"], []).append(name)
    for binary in BINARIES:
        if binary not in by_binary:
            report.drift("docker-compose.yml", f"no service builds the {binary!r} target")

    rows = []
    for binary, names in sorted(by_binary.items()):
        for service in names:
            env = compose[service]["env"]
            read_set = reads[binary]
            needed = sorted(n for n in native[binary] if n in read_set)
            for name in needed:
                want = native[binary][name]
                have = env.get(name)
                if name not in env:
                    rows.append((service, name, want, "-", "MISSING"))
                    report.drift(f"compose service {service}", f"{name} is not set (scripts/dev: {want!r})")
                    continue
                a, _ = normalise(want, services, False)
                b, problem = normalise(have, services, True)
                if problem:
                    rows.append((service, name, want, have, "BAD HOST"))
                    report.drift(f"compose service {service}", f"{name}={have!r}: {problem}")
                elif a != b:
                    rows.append((service, name, want, have, "DIFFERENT"))
                    report.drift(f"compose service {service}",
                                 f"{name}={have!r} means something else than scripts/dev's {want!r}")
                else:
                    rows.append((service, name, want, have, "ok"))
            for name in sorted(env):
                if name in needed:
                    continue
                if name not in read_set:
                    rows.append((service, name, "-", env[name], "NOT READ"))
                    report.drift(f"compose service {service}",
                                 f"{name} is set but the {binary} binary never reads it")
                    continue
                # Set by compose alone: the native run uses the binary's default.
                default = (defaults or {}).get(binary, {}).get(name)
                if default is not None:
                    shown = f"(binary default: {default})"
                else:
                    shown = "(binary default)" if read_set[name].endswith(".rs") else "(library default)"
                b, problem = normalise(env[name], services, True)
                if problem:
                    rows.append((service, name, shown, env[name], "BAD HOST"))
                    report.drift(f"compose service {service}", f"{name}={env[name]!r}: {problem}")
                    continue
                if default is not None and re.match(r"^[a-z][a-z0-9+.-]*://", default):
                    a, _ = normalise(default, services, False)
                    if a != b:
                        rows.append((service, name, shown, env[name], "DIFFERENT"))
                        report.drift(f"compose service {service}",
                                     f"{name}={env[name]!r} means something else than the {binary} "
                                     f"binary's default {default!r} (hosts put aside)")
                        continue
                rows.append((service, name, shown, env[name], "ok, compose only"))
    return rows


class CfnLoader(yaml.SafeLoader):
    """Reads a CloudFormation template, keeping `!Ref X` and friends as plain values."""


CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: (
    loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode)
    else loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode)
    else loader.construct_mapping(node)))

# Set by the SDK's credential chain (task and function roles), never by hand in AWS.
FORBIDDEN_IN_AWS = {"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def entries(items):
    """Name/Value entries of a list, taking both branches of an `!If [cond, a, b]` item."""
    out = []
    for item in items or []:
        if isinstance(item, dict) and "Fn::If" in item:
            item = [None] + list(item["Fn::If"][1:])
        if isinstance(item, list):
            out.extend(b for b in item[1:] if isinstance(b, dict) and "Name" in b)
        elif isinstance(item, dict) and "Name" in item:
            out.append(item)
    return out


def check_infra(reads, report):
    path = os.path.join(ROOT, "infra", "template.yaml")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        tpl = yaml.load(f, Loader=CfnLoader)
    rows = []
    seen = set()
    for rname, res in (tpl.get("Resources") or {}).items():
        props = res.get("Properties") or {}
        if res.get("Type") == "AWS::ECS::TaskDefinition":
            for c in props.get("ContainerDefinitions") or []:
                if c.get("Name") not in BINARIES:
                    continue
                names = [e["Name"] for e in entries(c.get("Environment")) + entries(c.get("Secrets"))]
                rows.append((f"{rname}/{c['Name']}", c["Name"], names))
        elif res.get("Type") == "AWS::Serverless::Function":
            binary = ((res.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
            if binary in BINARIES:
                names = list(((props.get("Environment") or {}).get("Variables") or {}).keys())
                rows.append((rname, binary, names))
    for where, binary, names in rows:
        seen.add(binary)
        for name in names:
            if name not in reads[binary]:
                report.drift(f"infra/template.yaml {where}", f"{name} is set but the {binary} binary never reads it")
            if name in FORBIDDEN_IN_AWS:
                report.drift(f"infra/template.yaml {where}", f"{name} must not be set in AWS (roles give credentials)")
        for name in ("DATABASE_URL", "JOBS_QUEUE_URL", "JOBS_DLQ_URL", "MAX_RECEIVE_COUNT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
            if name in reads[binary] and name not in names:
                report.drift(f"infra/template.yaml {where}", f"{name} is not set (the {binary} binary reads it)")
    for binary in ("web", "worker"):
        if binary not in seen:
            report.drift("infra/template.yaml", f"no container or function runs the {binary} binary")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compose-json", help="`docker compose config --format json` output")
    args = parser.parse_args()

    reads = binary_reads()
    native = native_env()
    compose = load_compose(args.compose_json)
    report = Report()

    print("variables the binaries read (their code; SDK/OTel/Lambda standard ones not listed):")
    for binary, found in reads.items():
        own = sorted(n for n, src in found.items() if src.endswith(".rs"))
        print(f"  {binary:7} {' '.join(own)}")

    rows = check_compose(reads, native, compose, report, binary_defaults())
    width = max((len(r[1]) for r in rows), default=10)
    print("\ncompose vs scripts/dev (values compared with hosts put aside):")
    for service, name, want, have, status in rows:
        print(f"  {service:7} {name:{width}}  {status:17} {have}   [native: {want}]")

    infra = check_infra(reads, report)
    if infra:
        print("\ninfra/template.yaml:")
        for where, binary, names in infra:
            print(f"  {where} ({binary}): {' '.join(sorted(names))}")

    if report.problems:
        print(f"\nENV DRIFT ({len(report.problems)}):")
        for p in report.problems:
            print(f"  - {p}")
        return 1
    print("\nno env drift: compose and infra use the binaries' names with scripts/lib.sh's meanings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
