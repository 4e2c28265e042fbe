#!/usr/bin/env python3
# Do Jaeger (deploy/jaeger.yaml), Prometheus (deploy/prometheus.yml) and compose line up?
#   * every component a Jaeger pipeline names, and every extension it runs, is declared;
#     the storages jaeger_query and jaeger_storage_exporter name are jaeger_storage's;
#   * each port compose publishes for Jaeger, and each Prometheus scrape target on it, is
#     an endpoint of jaeger.yaml bound to a non-loopback address;
#   * scrape targets and the Monitor tab's Prometheus backend name compose services.
# No tool does this offline: neither Jaeger nor a Collector with its extensions installs
# from a package registry, and Debian's promtool (2.42) predates this v3 config.
# Usage: check-telemetry-config.py --compose-json FILE  (`docker compose config --format json`)
import argparse
import json
import re
import sys
from urllib.parse import urlsplit

import yaml

LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def config_file(svc, flag):
    """The host file a service mounts where its command's `flag` (--x PATH or --x=PATH) points."""
    m = re.search(rf"{flag}[= ](\S+)", " ".join(svc.get("command") or []))
    path = m.group(1) if m else None
    source = next((v["source"] for v in svc.get("volumes") or [] if v["target"] == path), None)
    if not source:
        sys.exit(f"compose: {flag} {path} is not a file the service mounts")
    with open(source) as f:
        return source, yaml.safe_load(f)


def endpoints(node):
    """host:port of every `endpoint` (not a URL) and every {host, port} in a Collector config."""
    if isinstance(node, list):
        return [e for item in node for e in endpoints(item)]
    if not isinstance(node, dict):
        return []
    found = [f"{node['host']}:{node['port']}"] if "host" in node and "port" in node else []
    for key, value in node.items():
        if key == "endpoint" and isinstance(value, str) and "://" not in value:
            found.append(value)
        else:
            found += endpoints(value)
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--compose-json", required=True)
    with open(parser.parse_args().compose_json) as f:
        services = json.load(f)["services"]
    jaeger = next(n for n, s in services.items() if s["image"].startswith("jaegertracing/jaeger:"))
    prometheus = next(n for n, s in services.items() if s["image"].startswith("prom/prometheus:"))
    problems = []

    path, cfg = config_file(services[jaeger], "--config")
    declared = {kind: set(cfg.get(kind) or {}) for kind in
                ("receivers", "processors", "exporters", "connectors", "extensions")}
    for ext in cfg["service"].get("extensions") or []:
        if ext not in declared["extensions"]:
            problems.append(f"{path}: service.extensions names {ext!r}, which is not declared")
    for pipeline, roles in cfg["service"]["pipelines"].items():
        for role, names in roles.items():
            # A connector is the exporter of one pipeline and the receiver of another.
            allowed = declared.get(role, set()) | (declared["connectors"] if role != "processors" else set())
            for name in names or []:
                if name not in allowed:
                    problems.append(f"{path}: pipeline {pipeline} {role} names {name!r}, which is not declared")
    extensions = cfg.get("extensions") or {}
    storage = extensions.get("jaeger_storage") or {}
    query = (extensions.get("jaeger_query") or {}).get("storage") or {}
    for what, name, backends in [
        ("jaeger_query.storage.traces", query.get("traces"), storage.get("backends")),
        ("jaeger_query.storage.metrics", query.get("metrics"), storage.get("metric_backends")),
        ("jaeger_storage_exporter.trace_storage",
         ((cfg.get("exporters") or {}).get("jaeger_storage_exporter") or {}).get("trace_storage"),
         storage.get("backends"))]:
        if name not in (backends or {}):
            problems.append(f"{path}: {what} is {name!r}, not one of jaeger_storage's {sorted(backends or {})}")

    env = {k: str(v) for k, v in (services[jaeger].get("environment") or {}).items() if v is not None}
    listens = {}  # port → bound host
    for endpoint in endpoints(cfg):
        # ${env:NAME:-default} resolved with the service's environment, as the Collector does.
        endpoint = re.sub(r"\$\{env:(\w+):-([^}]*)\}", lambda m: env.get(m.group(1)) or m.group(2), endpoint)
        host, _, port = endpoint.rpartition(":")
        listens[int(port)] = host.strip("[]")
    print(f"{jaeger}: listens on " + ", ".join(f"{h}:{p}" for p, h in sorted(listens.items())))

    def reachable(port, who):
        if port not in listens:
            problems.append(f"{who} port {port}, where {path} listens on nothing")
        elif listens[port] in LOOPBACK:
            problems.append(f"{who} port {port}, which {path} binds to {listens[port]}: unreachable")

    for port in services[jaeger].get("ports") or []:
        reachable(port["target"], f"compose service {jaeger} publishes")

    prom_path, prom_cfg = config_file(services[prometheus], "--config.file")
    targets = [(job["job_name"], t) for job in prom_cfg.get("scrape_configs") or []
               for sc in job.get("static_configs") or [] for t in sc.get("targets") or []]
    print(f"{prometheus}: scrapes " + ", ".join(t for _, t in targets))
    for job, target in targets:
        host, _, port = target.rpartition(":")
        if host == jaeger:
            reachable(int(port), f"{prom_path} job {job} scrapes {jaeger}")
        elif host not in services and host not in LOOPBACK:
            problems.append(f"{prom_path} job {job} scrapes {target}: {host!r} is not a compose service")
    for name, backend in (storage.get("metric_backends") or {}).items():
        url = urlsplit((backend.get("prometheus") or {}).get("endpoint", ""))
        if (url.hostname, url.port) != (prometheus, 9090):
            problems.append(f"{path}: metric backend {name} is {url.geturl()!r}, not http://{prometheus}:9090")

    for p in problems:
        print(f"  PROBLEM {p}")
    if problems:
        print(f"telemetry backends: {len(problems)} problem(s)")
        return 1
    print("telemetry backends: Jaeger's pipelines and storages line up, compose and Prometheus "
          "reach what Jaeger serves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
