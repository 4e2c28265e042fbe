#!/usr/bin/env python3
# Do the telemetry backends' configurations line up with compose and infra/?
#
# The compose demo: Jaeger (deploy/jaeger.yaml), Prometheus (deploy/prometheus.yml), compose:
#   * every component a Jaeger pipeline names, and every extension it runs, is declared;
#     the storages jaeger_query and jaeger_storage_exporter name are jaeger_storage's;
#   * each port compose publishes for Jaeger, and each Prometheus scrape target on it, is
#     an endpoint of jaeger.yaml bound to a non-loopback address;
#   * scrape targets and the Monitor tab's Prometheus backend name compose services;
#   * the demo keeps every trace: no sampling processor in Jaeger's pipelines, and no
#     web or worker service sets a head sampler that drops any.
#
# The AWS deployment's two tiers of collectors (infra/template.yaml, ARCHITECTURE.md
# "Tail sampling"): deploy/otel-router.yaml (the web tasks' sidecar) and
# deploy/otel-sampler.yaml (the otel-sampler service):
#   * the template's copy of each (the container's COLLECTOR_CONFIG) is the file, verbatim,
#     and every ${env:NAME} they use (the --set flags the template adds included) is set
#     in that container, under the same condition;
#   * as the collector will run them, with and without those --set flags: every pipeline
#     component and extension declared, every component type in the pinned image
#     (ADOT_COMPONENTS below), every key of tail_sampling, loadbalancing and
#     memory_limiter one that version knows, every otlphttp exporter with an endpoint
#     (the collector validates even unused components);
#   * the router: traces leave only through a loadbalancing exporter with routing_key
#     traceID and a DNS resolver whose hostname is the sampler's Cloud Map name and whose
#     port is the sampler's OTLP/gRPC port (its receiver, container port and security
#     group, which admits the web tasks only); no sampling there; the worker's default
#     endpoint is the router's name and port;
#   * the sampler: a tail_sampling processor whose policies keep errors (status_code
#     ERROR), slow traces (latency) and a share of the rest (probabilistic), after a
#     memory_limiter; each collector's memory_limiter stays under what its task leaves it;
#   * the head sampler keeps every trace: neither web nor the worker sets
#     OTEL_TRACES_SAMPLER to anything that drops one (the tail sampler must see every
#     error).
# No tool does this offline: neither Jaeger nor a Collector with its extensions installs
# from a package registry, and Debian's promtool (2.42) predates this v3 config.
# Usage: check-telemetry-config.py --compose-json FILE  (`docker compose config --format json`)
#        check-telemetry-config.py --sync-template  (copies the collector files into the template)
import argparse
import copy
import json
import os
import re
import sys
from urllib.parse import urlsplit

import yaml
from cfnlint.decode.cfn_yaml import load as load_template

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOOPBACK = {"localhost", "127.0.0.1", "::1"}

# The collector image infra/template.yaml pins (CollectorImage), and its components: the
# factories listed in pkg/defaultcomponents/defaults.go at tag v0.43.3 of
# github.com/aws-observability/aws-otel-collector, each by the type its vendored
# metadata.yaml gives (collector and collector-contrib v0.117.0, vendor/modules.txt at
# that tag). datadog, logzio, sapm and signalfx sit behind deprecation gates that are off
# by default. That version registers no connectors.
ADOT_IMAGE = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"
ADOT_COMPONENTS = {
    "extensions": {"awsproxy", "ecs_observer", "health_check", "pprof", "sigv4auth", "zpages", "file_storage"},
    "receivers": {"awsecscontainermetrics", "awscontainerinsightreceiver", "awsxray", "statsd", "prometheus",
                  "kafka", "jaeger", "zipkin", "otlp", "filelog"},
    "processors": {"groupbytrace", "tail_sampling", "attributes", "resource", "probabilistic_sampler", "span",
                   "filter", "metricstransform", "resourcedetection", "metricsgeneration", "cumulativetodelta",
                   "deltatorate", "batch", "memory_limiter", "k8sattributes"},
    "exporters": {"awsemf", "prometheusremotewrite", "prometheus", "file", "kafka", "debug", "otlp", "otlphttp",
                  "awsxray", "loadbalancing", "awscloudwatchlogs", "datadog", "logzio", "sapm", "signalfx"},
    "connectors": set(),
}
# The keys these components accept in that version (mapstructure tags; the collector
# refuses an unknown key): collector-contrib v0.117.0
# processor/tailsamplingprocessor/config.go, exporter/loadbalancingexporter/config.go;
# collector v0.117.0 internal/memorylimiter/config.go.
TAIL_SAMPLING_KEYS = {"decision_wait", "num_traces", "expected_new_traces_per_sec", "policies", "decision_cache"}
DECISION_CACHE_KEYS = {"sampled_cache_size", "non_sampled_cache_size"}
POLICY_KEYS = {  # type → the keys of its own section
    "always_sample": set(), "latency": {"threshold_ms", "upper_threshold_ms"},
    "numeric_attribute": {"key", "min_value", "max_value", "invert_match"},
    "probabilistic": {"hash_salt", "sampling_percentage"}, "status_code": {"status_codes"},
    "string_attribute": {"key", "values", "enabled_regex_matching", "cache_max_size", "invert_match"},
    "rate_limiting": {"spans_per_second"}, "span_count": {"min_spans", "max_spans"},
    "trace_state": {"key", "values"}, "boolean_attribute": {"key", "value", "invert_match"},
    "ottl_condition": {"error_mode", "span", "spanevent"},
    "composite": {"max_total_spans_per_second", "policy_order", "composite_sub_policy", "rate_allocation"},
    "and": {"and_sub_policy"},
}
STATUS_CODES = {"OK", "ERROR", "UNSET"}
LOADBALANCING_KEYS = {"timeout", "retry_on_failure", "sending_queue", "protocol", "resolver", "routing_key"}
RESOLVER_KEYS = {"static", "dns", "k8s", "aws_cloud_map"}
DNS_RESOLVER_KEYS = {"hostname", "port", "interval", "timeout"}
ROUTING_KEYS = {"service", "traceID", "metric", "resource", "streamID"}
MEMORY_LIMITER_KEYS = {"check_interval", "limit_mib", "spike_limit_mib", "limit_percentage", "spike_limit_percentage"}
# Head samplers that record every trace (with no sampled=0 parent from outside).
KEEP_ALL_SAMPLERS = {None, "", "always_on", "parentbased_always_on"}
ENV_REF = re.compile(r"\$\{env:(\w+)\}")


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


def kind_of(component_id):
    """The type of a component ID: `otlphttp/traces` → `otlphttp`."""
    return component_id.split("/", 1)[0]


def when(node):
    """Items of a template list as (item, its Fn::If condition or None), AWS::NoValue dropped."""
    for item in node or []:
        if isinstance(item, dict) and "Fn::If" in item:
            cond, yes, no = item["Fn::If"]
            for value, c in ((yes, cond), (no, f"!{cond}")):
                if value != {"Ref": "AWS::NoValue"}:
                    yield value, c
        else:
            yield item, None


def with_flags(cfg, flags):
    """The configuration once ADOT merges `--set=a.b.c=VALUE` into it: the key split on
    dots (aws-otel-collector v0.43.3 pkg/config/flags.go), the value read as YAML, maps
    joined and lists replaced."""
    merged = copy.deepcopy(cfg)
    for flag in flags:
        key, _, value = flag[len("--set="):].partition("=")
        *path, leaf = key.split(".")
        node = merged
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    return merged


def unknown_keys(where, node, known):
    return [f"{where} has {k!r}, which that version does not know (it knows {sorted(known)})"
            for k in sorted(set(node or {}) - known)]


def check_components(path, cfg):
    """Declared, in the image, keys it knows: what the collector validates at start."""
    problems = []
    declared = {kind: set(cfg.get(kind) or {}) for kind in ADOT_COMPONENTS}
    for kind, ids in declared.items():
        for cid in sorted(ids):
            if kind_of(cid) not in ADOT_COMPONENTS[kind]:
                problems.append(f"{path}: {kind[:-1]} {cid!r}: no {kind_of(cid)!r} {kind[:-1]} in {ADOT_IMAGE}")
    for ext in cfg["service"].get("extensions") or []:
        if ext not in declared["extensions"]:
            problems.append(f"{path}: service.extensions names {ext!r}, which is not declared")
    for pipeline, roles in cfg["service"]["pipelines"].items():
        for role, ids in roles.items():
            for cid in ids or []:
                if cid not in declared.get(role, set()) | declared["connectors"]:
                    problems.append(f"{path}: pipeline {pipeline} {role} names {cid!r}, which is not declared")
    for cid, conf in (cfg.get("exporters") or {}).items():
        conf = conf or {}
        if kind_of(cid) == "otlphttp" and not any(conf.get(k) for k in
                                                 ("endpoint", "traces_endpoint", "metrics_endpoint", "logs_endpoint")):
            problems.append(f"{path}: exporter {cid} has no endpoint (the collector refuses to start)")
        if kind_of(cid) == "loadbalancing":
            problems += unknown_keys(f"{path}: {cid}", conf, LOADBALANCING_KEYS)
            problems += unknown_keys(f"{path}: {cid}.resolver", conf.get("resolver"), RESOLVER_KEYS)
            problems += unknown_keys(f"{path}: {cid}.resolver.dns", (conf.get("resolver") or {}).get("dns"),
                                     DNS_RESOLVER_KEYS)
            if conf.get("routing_key", "traceID") not in ROUTING_KEYS:
                problems.append(f"{path}: {cid}.routing_key {conf['routing_key']!r} is not one of {sorted(ROUTING_KEYS)}")
    for cid, conf in (cfg.get("processors") or {}).items():
        conf = conf or {}
        if kind_of(cid) == "memory_limiter":
            problems += unknown_keys(f"{path}: {cid}", conf, MEMORY_LIMITER_KEYS)
        if kind_of(cid) == "tail_sampling":
            problems += unknown_keys(f"{path}: {cid}", conf, TAIL_SAMPLING_KEYS)
            problems += unknown_keys(f"{path}: {cid}.decision_cache", conf.get("decision_cache"),
                                     DECISION_CACHE_KEYS)
            for policy in conf.get("policies") or []:
                kind = policy.get("type")
                where = f"{path}: {cid} policy {policy.get('name')!r}"
                if kind not in POLICY_KEYS:
                    problems.append(f"{where}: type {kind!r} is not one of {sorted(POLICY_KEYS)}")
                    continue
                problems += unknown_keys(where, policy, {"name", "type", kind})
                problems += unknown_keys(f"{where}.{kind}", policy.get(kind), POLICY_KEYS[kind])
                codes = (policy.get(kind) or {}).get("status_codes") or [] if kind == "status_code" else []
                for code in codes:
                    if code not in STATUS_CODES:
                        problems.append(f"{where}: status code {code!r} is not one of {sorted(STATUS_CODES)}")
    return problems


def env_refs(node):
    """Every string value of a parsed configuration, joined: where ${env:…} is expanded."""
    if isinstance(node, dict):
        return " ".join(env_refs(v) for v in node.values())
    if isinstance(node, list):
        return " ".join(env_refs(v) for v in node)
    return node if isinstance(node, str) else ""


def container_setup(resources, task, name, path):
    """The collector configuration `path` (the file), the variants the container's Command
    makes of it, the container's environment and itself; problems when the template's copy
    is not the file, or the file or a flag uses a variable the container does not set."""
    problems = []
    containers = resources[task]["Properties"]["ContainerDefinitions"]
    container = next(c for c in containers if c["Name"] == name)
    env = {}  # name → (value, condition)
    for item, cond in when(container.get("Environment")):
        env[item["Name"]] = (item.get("Value"), cond)
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    command = list(when(container.get("Command")))
    if not command or command[0] != ("--config=env:COLLECTOR_CONFIG", None):
        problems.append(f"infra/template.yaml {task} {name}: Command does not start with "
                        f"--config=env:COLLECTOR_CONFIG")
    if "AOT_CONFIG_CONTENT" in env:
        problems.append(f"infra/template.yaml {task} {name}: AOT_CONFIG_CONTENT is set, so ADOT ignores its "
                        f"--config and --set flags (aws-otel-collector v0.43.3 pkg/config/config_factory.go)")
    copy_in_template = (env.get("COLLECTOR_CONFIG") or (None,))[0]
    if copy_in_template != text:
        first = next((i for i, (a, b) in enumerate(zip((copy_in_template or "").splitlines(), text.splitlines()),
                                                    start=1) if a != b), None)
        problems.append(f"infra/template.yaml {task} {name}: COLLECTOR_CONFIG is not {path} verbatim"
                        + (f" (line {first} of the file differs)" if first else " (lengths differ)")
                        + f"; copy it there: {sys.argv[0]} --sync-template")
    # Every ${env:NAME} the collector expands (a value, not a comment) is set in the
    # container, under the flag's condition (or always).
    cfg = yaml.safe_load(text)
    for where, value, cond in [(path, env_refs(cfg), None)] + [(f"Command {c!r}", c, k) for c, k in command]:
        for var in ENV_REF.findall(value):
            if var not in env:
                problems.append(f"infra/template.yaml {task} {name}: {where} uses ${{env:{var}}}, "
                                f"which the container's Environment does not set")
            elif env[var][1] not in (None, cond):
                problems.append(f"infra/template.yaml {task} {name}: {where} uses ${{env:{var}}} "
                                f"{'always' if cond is None else 'when ' + cond}, set only when {env[var][1]}")
    conditions = sorted({k for _, k in command if k})
    variants = {"as the file is": cfg}
    for c in conditions:
        variants[f"with the --set flags of {c}"] = with_flags(
            cfg, [flag for flag, k in command if k == c and flag.startswith("--set=")])
    return cfg, variants, env, container, problems


# Which file each container's COLLECTOR_CONFIG copies.
COLLECTOR_FILES = {"otel-collector": "deploy/otel-router.yaml", "otel-sampler": "deploy/otel-sampler.yaml"}


def sync_template():
    """Copies each collector file into its container's COLLECTOR_CONFIG block in
    infra/template.yaml (a literal block scalar, `Value: |`), leaving the rest as it is."""
    path = os.path.join(ROOT, "infra", "template.yaml")
    with open(path) as f:
        lines = f.read().splitlines(keepends=True)
    out, container, i = [], None, 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        m = re.match(r"\s*- Name: (\S+)\s*$", line)
        if m and m.group(1) in COLLECTOR_FILES:
            container = m.group(1)
        if re.match(r"\s*- Name: COLLECTOR_CONFIG\s*$", line) and re.match(r"\s*Value: \|\s*$", lines[i + 1]):
            out.append(lines[i + 1])
            indent = " " * (len(lines[i + 1]) - len(lines[i + 1].lstrip()) + 2)
            i += 2
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(indent)):
                i += 1  # the old copy
            with open(os.path.join(ROOT, COLLECTOR_FILES[container])) as f:
                out += [indent + l if l.strip() else "\n" for l in f.read().splitlines(keepends=True)]
            print(f"infra/template.yaml: {container}'s COLLECTOR_CONFIG = {COLLECTOR_FILES[container]}")
            continue
        i += 1
    with open(path, "w") as f:
        f.writelines(out)


def check_collectors(services, jaeger_cfg):
    template = load_template(os.path.join(ROOT, "infra", "template.yaml"))
    params, resources = template["Parameters"], template["Resources"]
    problems = []
    if params["CollectorImage"]["Default"] != ADOT_IMAGE:
        problems.append(f"infra/template.yaml: CollectorImage is {params['CollectorImage']['Default']!r}; "
                        f"ADOT_COMPONENTS lists {ADOT_IMAGE}'s: read that image's components and update it")

    router, router_variants, router_env, _, p = container_setup(
        resources, "WebTaskDefinition", "otel-collector", "deploy/otel-router.yaml")
    problems += p
    sampler, sampler_variants, sampler_env, sampler_container, p = container_setup(
        resources, "TraceSamplerTaskDefinition", "otel-sampler", "deploy/otel-sampler.yaml")
    problems += p
    for path, variants in (("deploy/otel-router.yaml", router_variants),
                           ("deploy/otel-sampler.yaml", sampler_variants)):
        found = {label: check_components(path, cfg) for label, cfg in variants.items()}
        everywhere = set.intersection(*(set(f) for f in found.values()))
        problems += sorted(everywhere, key=list(found.values())[0].index)
        problems += [f"{x} ({label})" for label, f in found.items() for x in f if x not in everywhere]

    # The router: stateless, traces by trace ID to the sampler's Cloud Map name and port.
    path = "deploy/otel-router.yaml"
    traces = router["service"]["pipelines"].get("traces") or {}
    lb_ids = [e for e in traces.get("exporters") or [] if kind_of(e) == "loadbalancing"]
    if not lb_ids or len(traces.get("exporters") or []) != 1:
        problems.append(f"{path}: the traces pipeline exports to {traces.get('exporters')}, not to one "
                        f"loadbalancing exporter alone")
    for proc in traces.get("processors") or []:
        if kind_of(proc) in ("tail_sampling", "probabilistic_sampler", "groupbytrace"):
            problems.append(f"{path}: the traces pipeline runs {proc!r}: the router must not sample "
                            f"(it sees only the spans of its own task)")
    for pipeline, roles in router["service"]["pipelines"].items():
        if pipeline.split("/")[0] != "traces" and any(kind_of(e) == "loadbalancing" for e in roles.get("exporters") or []):
            problems.append(f"{path}: pipeline {pipeline} goes through the sampler; only traces are sampled")
    namespace = resources["ServiceNamespace"]["Properties"]["Name"]
    discovery = resources["TraceSamplerDiscovery"]["Properties"]
    if discovery.get("NamespaceId") != {"Fn::GetAtt": ["ServiceNamespace", "Id"]}:
        problems.append("infra/template.yaml: TraceSamplerDiscovery is not in ServiceNamespace")
    cloud_map_name = f"{discovery['Name']}.{namespace['Fn::Sub'] if isinstance(namespace, dict) else namespace}"
    sampler_receiver = ((sampler.get("receivers") or {}).get("otlp") or {}).get("protocols", {}).get("grpc") or {}
    sampler_port = sampler_receiver.get("endpoint", ":4317").rpartition(":")[2]
    for lb in lb_ids:
        conf = router["exporters"][lb] or {}
        if conf.get("routing_key") != "traceID":
            problems.append(f"{path}: {lb}.routing_key is {conf.get('routing_key')!r}, not traceID: the spans "
                            f"of one trace would reach different samplers")
        dns = (conf.get("resolver") or {}).get("dns") or {}
        if set(conf.get("resolver") or {}) != {"dns"}:
            problems.append(f"{path}: {lb}.resolver is {sorted(conf.get('resolver') or {})}, not dns alone")
        refs = ENV_REF.fullmatch(str(dns.get("hostname", "")))
        hostname = router_env.get(refs.group(1), (None,))[0] if refs else dns.get("hostname")
        hostname = hostname.get("Fn::Sub") if isinstance(hostname, dict) else hostname
        if hostname != cloud_map_name:
            problems.append(f"{path}: {lb} resolves {dns.get('hostname')!r} = {hostname!r}, not the sampler's "
                            f"Cloud Map name {cloud_map_name!r} (TraceSamplerDiscovery in ServiceNamespace)")
        if str(dns.get("port", "4317")) != sampler_port:
            problems.append(f"{path}: {lb} sends to port {dns.get('port', '4317')}, where deploy/otel-sampler.yaml "
                            f"listens on {sampler_port}")
    ports = [str(m["ContainerPort"]) for m in sampler_container.get("PortMappings") or []]
    if ports != [sampler_port]:
        problems.append(f"infra/template.yaml: the otel-sampler container maps ports {ports}, not {sampler_port}")
    ingress = resources["TraceSamplerSecurityGroup"]["Properties"].get("SecurityGroupIngress") or []
    if [(str(r.get("FromPort")), str(r.get("ToPort")), r.get("SourceSecurityGroupId")) for r in ingress] != [
            (sampler_port, sampler_port, {"Fn::GetAtt": ["WebSecurityGroup", "GroupId"]})]:
        problems.append(f"infra/template.yaml: TraceSamplerSecurityGroup admits {ingress}, not port {sampler_port} "
                        f"from WebSecurityGroup alone")
    worker_endpoint = resources["WorkerFunction"]["Properties"]["Environment"]["Variables"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    router_port = (((router.get("receivers") or {}).get("otlp") or {}).get("protocols", {}).get("http") or {}).get(
        "endpoint", "").rpartition(":")[2]
    default_endpoint = worker_endpoint.get("Fn::If", [None, None, {}])[2] if isinstance(worker_endpoint, dict) else {}
    expected = f"http://{resources['CollectorDiscovery']['Properties']['Name']}.{namespace.get('Fn::Sub')}:{router_port}"
    if default_endpoint != {"Fn::Sub": expected}:
        problems.append(f"infra/template.yaml: the worker's default OTEL_EXPORTER_OTLP_ENDPOINT is "
                        f"{default_endpoint!r}, not the router's {expected!r}")

    # The sampler: errors, slow traces, a share of the rest, under the memory limiter.
    path = "deploy/otel-sampler.yaml"
    pipeline = (sampler["service"]["pipelines"].get("traces") or {}).get("processors") or []
    tail = [p for p in pipeline if kind_of(p) == "tail_sampling"]
    if len(tail) != 1:
        problems.append(f"{path}: the traces pipeline runs {len(tail)} tail_sampling processors, not one")
    for tid in tail:
        policies = (sampler["processors"][tid] or {}).get("policies") or []
        by_type = {}
        for policy in policies:
            by_type.setdefault(policy.get("type"), []).append(policy.get(policy.get("type")) or {})
        if not any("ERROR" in (c.get("status_codes") or []) for c in by_type.get("status_code", [])):
            problems.append(f"{path}: {tid} has no status_code policy with ERROR: traces with errors could be dropped")
        if not any("threshold_ms" in c for c in by_type.get("latency", [])):
            problems.append(f"{path}: {tid} has no latency policy with a threshold_ms: slow traces could be dropped")
        if not by_type.get("probabilistic"):
            problems.append(f"{path}: {tid} has no probabilistic policy: no share of the other traces is kept")
        limiters = [p for p in pipeline if kind_of(p) == "memory_limiter"]
        if not limiters or pipeline.index(limiters[0]) > pipeline.index(tid):
            problems.append(f"{path}: no memory_limiter before {tid} in the traces pipeline")
    # Each collector's memory limit stays under what its task leaves it.
    for path, cfg, task, name in [("deploy/otel-router.yaml", router, "WebTaskDefinition", "otel-collector"),
                                  ("deploy/otel-sampler.yaml", sampler, "TraceSamplerTaskDefinition", "otel-sampler")]:
        props = resources[task]["Properties"]
        others = sum(int(c.get("MemoryReservation", 0)) for c in props["ContainerDefinitions"] if c["Name"] != name)
        room = int(props["Memory"]) - others
        for lid, conf in (cfg.get("processors") or {}).items():
            if kind_of(lid) == "memory_limiter" and int((conf or {}).get("limit_mib", 0)) >= room:
                problems.append(f"{path}: {lid}.limit_mib {conf.get('limit_mib')} is not under the {room} MiB "
                                f"that {task} leaves {name}")

    # Head sampling keeps every trace, in AWS and in the demo; the demo keeps them all.
    web = next(c for c in resources["WebTaskDefinition"]["Properties"]["ContainerDefinitions"] if c["Name"] == "web")
    heads = [("infra/template.yaml web", {i["Name"]: i.get("Value") for i, _ in when(web.get("Environment"))}),
             ("infra/template.yaml WorkerFunction", resources["WorkerFunction"]["Properties"]["Environment"]["Variables"])]
    heads += [(f"docker-compose.yml {n}", svc.get("environment") or {}) for n, svc in sorted(services.items())
              if (svc.get("build") or {}).get("target") in ("web", "worker")]
    for where, env in heads:
        if env.get("OTEL_TRACES_SAMPLER") not in KEEP_ALL_SAMPLERS:
            problems.append(f"{where} sets OTEL_TRACES_SAMPLER={env['OTEL_TRACES_SAMPLER']!r}: the head sampler "
                            f"must keep every trace, or the tail sampler never sees some errors")
    for pipeline, roles in jaeger_cfg["service"]["pipelines"].items():
        for proc in roles.get("processors") or []:
            if kind_of(proc) in ("tail_sampling", "probabilistic_sampler"):
                problems.append(f"deploy/jaeger.yaml: pipeline {pipeline} runs {proc!r}: the demo keeps every trace")

    print(f"collectors: deploy/otel-router.yaml ({len(router_variants)} variants) and deploy/otel-sampler.yaml "
          f"({len(sampler_variants)}) against {ADOT_IMAGE}; the sampler is {cloud_map_name}:{sampler_port}")
    return problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--compose-json")
    parser.add_argument("--sync-template", action="store_true",
                        help="copy deploy/otel-router.yaml and deploy/otel-sampler.yaml into infra/template.yaml")
    args = parser.parse_args()
    if args.sync_template:
        sync_template()
        return 0
    if not args.compose_json:
        parser.error("--compose-json is required")
    with open(args.compose_json) as f:
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

    problems += check_collectors(services, cfg)

    for p in problems:
        print(f"  PROBLEM {p}")
    if problems:
        print(f"telemetry backends: {len(problems)} problem(s)")
        return 1
    print("telemetry backends: Jaeger's pipelines and storages line up, compose and Prometheus "
          "reach what Jaeger serves, the demo keeps every trace; the AWS collectors' configs are the "
          "template's, in the pinned image, and route whole traces to the tail sampler")
    return 0


if __name__ == "__main__":
    sys.exit(main())
