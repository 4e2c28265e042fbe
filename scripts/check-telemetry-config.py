#!/usr/bin/env python3
"""Static checks of the compose demo's telemetry backends (no Docker needed): Jaeger v2
(deploy/jaeger.yaml, an OpenTelemetry Collector config) and Prometheus
(deploy/prometheus.yml), against each other and against docker-compose.yml.

  * each backend's config file is mounted where its command line reads it (Jaeger
    `--config PATH`, Prometheus `--config.file=PATH`), and parses as YAML;
  * deploy/jaeger.yaml: every component a pipeline names is declared (a connector only
    as an exporter of one pipeline and a receiver of another, of the right signals);
    every extension the service runs is configured; jaeger_query's trace and metric
    storages and jaeger_storage_exporter's storage are backends of jaeger_storage;
  * Jaeger listens where the others reach it: each port compose publishes and each
    Prometheus scrape target on the Jaeger service is an endpoint of deploy/jaeger.yaml
    bound to a non-loopback address (${env:JAEGER_LISTEN_HOST:-…} resolved with the
    service's environment);
  * the Monitor tab's metric backend (jaeger_storage.metric_backends.*.prometheus) and
    every scrape target name a compose service and the port it serves.

The apps' side (each OTLP endpoint web and worker export to, Prometheus's OTLP path and
flag) is checked by sending to stand-ins at those addresses: scripts/compose-contract.
No linter covers what is left: no Jaeger or Collector binary can be installed here, and
Debian's promtool (2.42) predates this v3 config's keys. What it cannot tell: that the
Jaeger and Prometheus binaries accept every key (their schemas are in the images).

Usage: check-telemetry-config.py [--compose-json FILE]  (`docker compose config --format
json` output; without it docker-compose.yml is read with PyYAML). Exit 1 on a problem.
"""

import argparse
import json
import os
import re
import sys
from urllib.parse import urlsplit

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}
# Default ports of the Prometheus server and of the Jaeger/Collector components used here.
PROMETHEUS_PORT = 9090


def load_compose(path_json):
    if path_json:
        with open(path_json, encoding="utf-8") as f:
            return json.load(f)
    with open(os.path.join(ROOT, "docker-compose.yml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def expand(value, env):
    """`${env:NAME:-default}` / `${NAME}` as the Collector's confmap resolves them."""
    def one(m):
        name, default = m.group(1), m.group(2)
        got = env.get(name)
        return got if got not in (None, "") else (default or "")
    return re.sub(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}", one, str(value))


def mounted_file(svc, container_path):
    """The host file a compose service mounts at container_path (relative to ROOT)."""
    for v in svc.get("volumes") or []:
        if isinstance(v, str):
            parts = v.split(":")
            source, target = parts[0], parts[1] if len(parts) > 1 else ""
        else:
            source, target = v.get("source", ""), v.get("target", "")
        if target == container_path:
            return os.path.relpath(os.path.normpath(os.path.join(ROOT, source)), ROOT)
    return None


def flag_value(command, flag):
    """`--flag value` or `--flag=value` from a command list."""
    for i, c in enumerate(command):
        if c == flag and i + 1 < len(command):
            return command[i + 1]
        if c.startswith(flag + "="):
            return c.split("=", 1)[1]
    return None


def host_port(endpoint):
    """(host, port) of `host:port` or `[v6]:port`, port an int or None."""
    m = re.fullmatch(r"\[?([^\]]*?)\]?:(\d+)", endpoint.strip())
    return (m.group(1), int(m.group(2))) if m else (endpoint.strip(), None)


def published(svc):
    out = []
    for p in svc.get("ports") or []:
        if isinstance(p, dict):
            out.append(int(p["target"]))
        else:
            out.append(int(str(p).rsplit(":", 1)[-1].split("/")[0]))
    return out


def kind_of(pipeline_id):
    return pipeline_id.split("/", 1)[0]


def check_jaeger(name, svc, problems):
    """Returns {port: (what, bound host)} of the endpoints Jaeger listens on, and the
    metric backend URLs."""
    command = [str(c) for c in svc.get("command") or []]
    path = flag_value(command, "--config")
    if not path:
        problems.append(f"compose service {name}: no --config: it runs the bundled all-in-one "
                        "config, without the Monitor tab's metrics pipeline")
        return {}, []
    source = mounted_file(svc, path.removeprefix("file:"))
    if not source:
        problems.append(f"compose service {name}: --config {path} is not a file it mounts")
        return {}, []
    try:
        with open(os.path.join(ROOT, source), encoding="utf-8") as f:
            cfg = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        problems.append(f"{source}: {e}")
        return {}, []
    env = {k: (None if v is None else str(v)) for k, v in (svc.get("environment") or {}).items()}
    where = source

    declared = {kind: set((cfg.get(kind) or {}).keys())
                for kind in ("receivers", "processors", "exporters", "connectors", "extensions")}
    service = cfg.get("service") or {}
    for ext in service.get("extensions") or []:
        if ext not in declared["extensions"]:
            problems.append(f"{where}: service.extensions names {ext!r}, not configured under extensions")
    as_exporter, as_receiver = {}, {}
    pipelines = service.get("pipelines") or {}
    if not pipelines:
        problems.append(f"{where}: no service.pipelines")
    for pid, p in pipelines.items():
        kind = kind_of(pid)
        if kind not in ("traces", "metrics", "logs"):
            problems.append(f"{where}: pipeline {pid!r} is not traces/, metrics/ or logs/")
        for role, allowed in (("receivers", ("receivers", "connectors")),
                              ("processors", ("processors",)),
                              ("exporters", ("exporters", "connectors"))):
            for comp in (p or {}).get(role) or []:
                if not any(comp in declared[a] for a in allowed):
                    problems.append(f"{where}: pipeline {pid} {role} names {comp!r}, which is not declared")
                if comp in declared["connectors"]:
                    (as_exporter if role == "exporters" else as_receiver).setdefault(comp, []).append(kind)
        if not (p or {}).get("receivers") or not (p or {}).get("exporters"):
            problems.append(f"{where}: pipeline {pid} needs receivers and exporters")
    for conn in declared["connectors"]:
        if conn not in as_exporter or conn not in as_receiver:
            problems.append(f"{where}: connector {conn!r} must be an exporter of one pipeline "
                            "and a receiver of another")
    if "spanmetrics" in declared["connectors"]:
        if "traces" not in as_exporter.get("spanmetrics", []) or "metrics" not in as_receiver.get("spanmetrics", []):
            problems.append(f"{where}: spanmetrics must go from a traces pipeline into a metrics pipeline")

    exts = cfg.get("extensions") or {}
    storage = exts.get("jaeger_storage") or {}
    backends = set((storage.get("backends") or {}).keys())
    metric_backends = storage.get("metric_backends") or {}
    query = exts.get("jaeger_query")
    if query is None:
        problems.append(f"{where}: no jaeger_query extension: no UI")
        query = {}
    qs = query.get("storage") or {}
    if qs.get("traces") not in backends:
        problems.append(f"{where}: jaeger_query.storage.traces={qs.get('traces')!r} is not a jaeger_storage backend {sorted(backends)}")
    if not qs.get("metrics"):
        problems.append(f"{where}: jaeger_query.storage.metrics is not set: the Monitor tab has no data")
    elif qs["metrics"] not in metric_backends:
        problems.append(f"{where}: jaeger_query.storage.metrics={qs['metrics']!r} is not a "
                        f"jaeger_storage metric backend {sorted(metric_backends)}")
    exporter = (cfg.get("exporters") or {}).get("jaeger_storage_exporter") or {}
    if exporter and exporter.get("trace_storage") not in backends:
        problems.append(f"{where}: jaeger_storage_exporter.trace_storage={exporter.get('trace_storage')!r} "
                        f"is not a jaeger_storage backend")

    # Where it listens.
    listens = {}

    def listen(what, endpoint, default_port):
        host, port = host_port(expand(endpoint, env)) if endpoint else ("", default_port)
        listens[port or default_port] = (what, host)

    otlp = ((cfg.get("receivers") or {}).get("otlp") or {}).get("protocols") or {}
    for proto, default in (("grpc", 4317), ("http", 4318)):
        if proto in otlp:
            listen(f"OTLP/{proto}", (otlp[proto] or {}).get("endpoint"), default)
    listen("jaeger_query HTTP (UI)", ((query.get("http") or {}).get("endpoint")), 16686)
    listen("jaeger_query gRPC", ((query.get("grpc") or {}).get("endpoint")), 16685)
    prom_exp = (cfg.get("exporters") or {}).get("prometheus")
    if prom_exp is not None:
        listen("prometheus exporter (span metrics)", (prom_exp or {}).get("endpoint"), None)
    for reader in ((service.get("telemetry") or {}).get("metrics") or {}).get("readers") or []:
        pull = ((reader or {}).get("pull") or {}).get("exporter", {}).get("prometheus")
        if pull:
            host = expand(pull.get("host", "localhost"), env)
            listens[int(pull.get("port", 8888))] = ("internal telemetry", host)

    for port in published(svc):
        if port not in listens:
            problems.append(f"compose service {name}: publishes {port}, where {where} listens on nothing")
        elif listens[port][1] in LOOPBACK:
            problems.append(f"compose service {name}: publishes {port} ({listens[port][0]}), "
                            f"bound to {listens[port][1]} inside the container: unreachable")

    urls = []
    for bname, b in metric_backends.items():
        prom = (b or {}).get("prometheus")
        if prom:
            urls.append((f"{where} metric backend {bname}", expand(prom.get("endpoint", ""), env)))
            if not (prom.get("normalize_calls") and prom.get("normalize_duration")):
                problems.append(f"{where}: metric backend {bname}: normalize_calls and normalize_duration "
                                "should be true for the spanmetrics connector's Prometheus names")
    return listens, urls


def check_prometheus(name, svc, problems):
    """Returns the scrape targets [(job, host, port)]."""
    command = [str(c) for c in svc.get("command") or []]
    path = flag_value(command, "--config.file") or "/etc/prometheus/prometheus.yml"
    if not command:
        problems.append(f"compose service {name}: no command: the image's defaults do not enable "
                        "the OTLP receiver")
    source = mounted_file(svc, path)
    if not source:
        problems.append(f"compose service {name}: --config.file {path} is not a file it mounts")
        return []
    try:
        with open(os.path.join(ROOT, source), encoding="utf-8") as f:
            cfg = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        problems.append(f"{source}: {e}")
        return []
    if command and not flag_value(command, "--storage.tsdb.path"):
        problems.append(f"compose service {name}: a command replaces the image's, so it needs "
                        "--storage.tsdb.path=/prometheus (the image's volume) too")
    targets = []
    for job in cfg.get("scrape_configs") or []:
        for sc in job.get("static_configs") or []:
            for t in sc.get("targets") or []:
                host, port = host_port(t)
                targets.append((job.get("job_name"), host, port))
    return targets


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--compose-json")
    args = parser.parse_args()
    compose = load_compose(args.compose_json)
    services = compose.get("services") or {}
    problems = []

    def by_image(prefix):
        return [(n, s) for n, s in services.items() if str(s.get("image", "")).split("/", 1)[-1].startswith(prefix)
                or str(s.get("image", "")).startswith(prefix)]

    jaegers = by_image("jaegertracing/jaeger:")
    proms = by_image("prom/prometheus:")
    if not jaegers or not proms:
        problems.append("docker-compose.yml: expected a jaegertracing/jaeger and a prom/prometheus service")
    listens_by_service, backend_urls = {}, []
    for name, svc in jaegers:
        listens, urls = check_jaeger(name, svc, problems)
        listens_by_service[name] = listens
        backend_urls += urls
        print(f"{name}: listens on " + ", ".join(f"{p} ({w}, {h or 'all'})" for p, (w, h) in sorted(
            (k, v) for k, v in listens.items() if k)))
    prom_names = {n for n, _ in proms}
    targets = []
    for name, svc in proms:
        targets += check_prometheus(name, svc, problems)
        print(f"{name}: scrapes " + ", ".join(f"{h}:{p} ({j})" for j, h, p in targets))

    # Jaeger's Monitor tab reads Prometheus.
    for where, url in backend_urls:
        u = urlsplit(url)
        if u.hostname not in prom_names:
            problems.append(f"{where}: {url!r} is not a Prometheus compose service ({sorted(prom_names)})")
        elif (u.port or 80) != PROMETHEUS_PORT:
            problems.append(f"{where}: {url!r}: Prometheus serves on {PROMETHEUS_PORT}")
    # Prometheus scrapes Jaeger (and itself).
    for job, host, port in targets:
        if host in ("localhost", "127.0.0.1"):
            if port != PROMETHEUS_PORT:
                problems.append(f"prometheus job {job}: {host}:{port} is not Prometheus itself")
            continue
        if host not in services:
            problems.append(f"prometheus job {job}: {host!r} is not a compose service")
        elif host in listens_by_service:
            got = listens_by_service[host].get(port)
            if not got:
                problems.append(f"prometheus job {job}: {host} listens on nothing at {port}")
            elif got[1] in LOOPBACK:
                problems.append(f"prometheus job {job}: {host}:{port} ({got[0]}) is bound to {got[1]}: unreachable")
    if problems:
        print(f"TELEMETRY CONFIG PROBLEMS ({len(problems)}):")
        for p in problems:
            print(f"  - {p}")
        return 1
    print("telemetry backends: Jaeger's pipelines and storages line up, Prometheus scrapes what "
          "Jaeger serves, the Monitor tab reads Prometheus")
    return 0


if __name__ == "__main__":
    sys.exit(main())
