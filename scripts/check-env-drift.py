#!/usr/bin/env python3
# Env drift: does docker-compose.yml, infra/template.yaml or scripts/lib.sh set a variable
# its binary does not read (a typo, a leftover), or lib.sh restate a binary's default?
# Each binary lists what it reads, its libraries' variables included (`BIN
# --print-env=json`); no tool knows that list. Also what the README promises of these
# files' settings: faults off in infra/, web's grace period inside ECS's stop timeout,
# spans exported every 500 ms by compose and scripts/dev. Usage:
#   check-env-drift.py --bin-dir DIR --compose-json FILE  (`docker compose config --format json`)
import argparse
import json
import os
import re
import subprocess
import sys

from cfnlint.decode.cfn_yaml import load as load_template

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARIES = ["web", "worker", "esm", "loadgen"]
TOOLING = {"CARGO_TARGET_DIR"}  # set by scripts/lib.sh for cargo, not for the binaries
FORBIDDEN_IN_AWS = {"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def names(node):
    """Every Name in an ECS Environment or Secrets list (both branches of an Fn::If)."""
    if isinstance(node, list):
        return [n for item in node for n in names(item)]
    if isinstance(node, dict):
        return [node["Name"]] if "Name" in node else names(list(node.values()))
    return []


def readme_promises(template, web, services, reads):
    problems = []
    env = {e["Name"]: e.get("Value") for e in web.get("Environment", []) if isinstance(e, dict)}
    default = template["Parameters"]["FaultsEnabled"]["Default"]
    if env.get("FAULTS_ENABLED") not in ({"Ref": "FaultsEnabled"}, "false") or default != "false":
        problems.append(f"infra/template.yaml: FAULTS_ENABLED is {env.get('FAULTS_ENABLED')!r} "
                        f"(FaultsEnabled defaults to {default!r}); the README says off")
    # SIGTERM, SHUTDOWN_GRACE_MS for in-flight requests, the outbox drain (web's
    # DRAIN_TIMEOUT), a flush to the collector sidecar next to it, then SIGKILL.
    with open(os.path.join(ROOT, "web", "src", "outbox", "mod.rs")) as f:
        drain_s = int(re.search(r"DRAIN_TIMEOUT: Duration = Duration::from_secs\((\d+)\)", f.read())[1])
    flush_s = 2
    grace = env.get("SHUTDOWN_GRACE_MS") or reads["web"]["SHUTDOWN_GRACE_MS"]
    stop = web.get("StopTimeout", 30)
    if not (str(grace).isdigit() and str(stop).isdigit()):
        problems.append(f"infra/template.yaml: SHUTDOWN_GRACE_MS {grace!r} or StopTimeout {stop!r} is not a number")
    elif int(grace) + 1000 * (drain_s + flush_s) > int(stop) * 1000:
        problems.append(f"infra/template.yaml: StopTimeout {stop} s leaves no room for a grace period of "
                        f"{grace} ms, the {drain_s} s drain and a {flush_s} s flush")
    for service, svc in sorted(services.items()):
        if (svc.get("build") or {}).get("target") in ("web", "worker"):  # esm exports nothing
            delay = (svc.get("environment") or {}).get("OTEL_BSP_SCHEDULE_DELAY")
            if delay != "500":
                problems.append(f"docker-compose.yml: {service} exports spans every {delay} ms; the README says 500")
    with open(os.path.join(ROOT, "scripts", "dev")) as f:
        if 'OTEL_BSP_SCHEDULE_DELAY="${OTEL_BSP_SCHEDULE_DELAY:-500}"' not in f.read():
            problems.append("scripts/dev does not export spans every 500 ms, as the README says")
    return problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--compose-json", required=True)
    args = parser.parse_args()
    reads = {}  # binary → {variable: default or None}
    for binary in BINARIES:
        out = subprocess.run([os.path.join(args.bin_dir, binary), "--print-env=json"],
                             capture_output=True, text=True, check=True).stdout
        reads[binary] = {v["name"]: v["default"] for v in json.loads(out)["variables"]}
    problems = []

    with open(args.compose_json) as f:
        services = json.load(f)["services"]
    for service, svc in sorted(services.items()):
        binary = (svc.get("build") or {}).get("target")
        if binary in reads:
            print(f"compose {service} ({binary}): {len(svc.get('environment') or {})} variables")
            for name in sorted(set(svc.get("environment") or {}) - set(reads[binary])):
                problems.append(f"docker-compose.yml: service {service} sets {name}, which {binary} does not read")

    resources = load_template(os.path.join(ROOT, "infra", "template.yaml"))["Resources"]
    web = next(c for c in resources["WebTaskDefinition"]["Properties"]["ContainerDefinitions"] if c["Name"] == "web")
    for where, binary, set_names in [
            ("WebTaskDefinition web", "web", names(web.get("Environment")) + names(web.get("Secrets"))),
            ("WorkerFunction", "worker", list(resources["WorkerFunction"]["Properties"]["Environment"]["Variables"]))]:
        print(f"infra {where} ({binary}): {', '.join(sorted(set_names))}")
        for name in sorted(set(set_names) - set(reads[binary])):
            problems.append(f"infra/template.yaml: {where} sets {name}, which {binary} does not read")
        # In AWS the task role and AWS's own endpoints do that, never a variable.
        for name in sorted(set(set_names) & FORBIDDEN_IN_AWS):
            problems.append(f"infra/template.yaml: {where} sets {name}: leave it to the role and AWS")

    with open(os.path.join(ROOT, "scripts", "lib.sh")) as f:
        lib = f.read()
    for name, value in re.findall(r'^:\s*"\$\{(\w+):=([^}]*)\}"', lib, re.M):
        readers = [b for b in BINARIES if name in reads[b]]
        print(f"scripts/lib.sh {name}={value} ({', '.join(readers) or ('cargo' if name in TOOLING else 'no binary')})")
        if not readers and name not in TOOLING:
            problems.append(f"scripts/lib.sh sets {name}, which no binary reads")
        for b in readers:
            if reads[b][name] == value:
                problems.append(f"scripts/lib.sh sets {name}={value}, {b}'s own default: leave it to the binary")

    problems += readme_promises(load_template(os.path.join(ROOT, "infra", "template.yaml")), web,
                                services, reads)

    for p in problems:
        print(f"  PROBLEM {p}")
    if problems:
        print(f"env drift: {len(problems)} problem(s)")
        return 1
    print("no env drift: compose, infra and scripts/lib.sh set only what the binaries read;"
          " faults off in infra/, the grace period inside StopTimeout, spans every 500 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
