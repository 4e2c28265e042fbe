#!/usr/bin/env python3
"""Checks of the Dockerfiles that docker-compose.yml builds that no linter makes (no
Docker needed). hadolint lints the instructions themselves (scripts/validate-deploy);
the compose contract run (scripts/compose-contract) runs what each target's ENTRYPOINT
names with its ENV. What is left needs the build context or the workspace:

For every Dockerfile a compose service builds, and every deploy/*Dockerfile*:
  * each COPY/ADD source (not --from) exists in the build context and is not excluded
    by .dockerignore (docker build would fail with "not found");
  * each base image is pinned to an explicit tag (not missing, not :latest) once ARG
    defaults are substituted (hadolint does not look through `FROM ${ARG}`);
  * each Rust binary a stage copies out of another (`COPY --from=builder
    /app/target/release/NAME`) is built there: a `cargo build` of that stage selects it
    (`--bin NAME` of one of its `-p` packages, or all binaries); every `--bin` belongs to a
    selected workspace package; and the stage's `cargo chef cook` selects the same
    packages and binaries as its `cargo build`, so the build reuses the cooked layer;
  * ARG CARGO_LAMBDA_VERSION and ZIGLANG_VERSION equal scripts/requirements.txt's pins;
  * what the crates read at compile time (include_str!, sqlx::migrate!, askama's
    template dirs) is in the build context.
And .dockerignore keeps the local clutter out of the context (target/, .venv/, .dev/,
node_modules, .git).

Usage: check-dockerfiles.py [--compose-json FILE]  (`docker compose config --format
json` output; without it docker-compose.yml is read with PyYAML). Exit 1 on a problem.
"""

import argparse
import glob
import json
import os
import re
import shlex
import sys
import tomllib

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MUST_IGNORE = ["target", ".venv", ".dev", "node_modules", ".git"]


def instructions(path):
    """(line number, INSTRUCTION, rest) with continuations joined and comments dropped."""
    out, buf, start = [], "", 0
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            stripped = line.strip()
            if not buf and (not stripped or stripped.startswith("#")):
                continue
            if buf and stripped.startswith("#"):
                continue
            if not buf:
                start = number
            if stripped.endswith("\\"):
                buf += stripped[:-1] + " "
                continue
            buf += stripped
            word, _, rest = buf.partition(" ")
            out.append((start, word.upper(), rest.strip()))
            buf = ""
    return out


def substitute(text, args):
    def one(m):
        name = m.group(1) or m.group(2)
        return args.get(name) or ""
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", one, text)


def split_args(rest):
    rest = rest.strip()
    if rest.startswith("["):
        return json.loads(rest)
    return shlex.split(rest)


def ignore_patterns(context):
    path = os.path.join(context, ".dockerignore")
    if not os.path.exists(path):
        return []
    pats = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                pats.append(line.rstrip("/").lstrip("/"))
    return pats


def pattern_regex(pat):
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regular expression."""
    out, i = "", 0
    while i < len(pat):
        if pat.startswith("**", i):
            i += 2
            if pat[i:i + 1] == "/":
                i += 1
                out += "(?:.*/)?"
            else:
                out += ".*"
        elif pat[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pat[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pat[i]), i + 1
    return re.compile("^" + out + "$")


def ignored(relpath, patterns):
    """Docker's rule: the last matching pattern wins; a pattern also covers what is under it."""
    parts = relpath.strip("/").split("/")
    result = False
    for pat in patterns:
        negate = pat.startswith("!")
        regex = pattern_regex(pat[1:] if negate else pat)
        if any(regex.match("/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            result = not negate
    return result


def workspace_binaries():
    """package name → its binary targets, for the workspace members of ./Cargo.toml
    ([[bin]] entries plus Cargo's automatic src/main.rs and src/bin/*.rs)."""
    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as f:
        members = (tomllib.load(f).get("workspace") or {}).get("members") or []
    packages = {}
    for pattern in members:
        for crate in sorted(glob.glob(os.path.join(ROOT, pattern))):
            manifest = os.path.join(crate, "Cargo.toml")
            if not os.path.exists(manifest):
                continue
            with open(manifest, "rb") as f:
                toml = tomllib.load(f)
            name = (toml.get("package") or {}).get("name") or os.path.basename(crate)
            bins = {b["name"] for b in toml.get("bin") or [] if "name" in b}
            paths = {os.path.normpath(b.get("path", "")) for b in toml.get("bin") or []}
            if (toml.get("package") or {}).get("autobins", True):
                if os.path.exists(os.path.join(crate, "src", "main.rs")) and "src/main.rs" not in paths:
                    bins.add(name)
                for rs in glob.glob(os.path.join(crate, "src", "bin", "*.rs")):
                    if os.path.relpath(rs, crate) not in paths:
                        bins.add(os.path.splitext(os.path.basename(rs))[0])
            packages[name] = bins
    return packages


def cargo_selection(command):
    """The packages and binaries a `cargo build` / `cargo chef cook` command line selects:
    (packages or None for the default, bins or None for all, workspace flag)."""
    tokens = shlex.split(command)
    packages, bins, workspace, all_bins = [], [], False, False
    i = 0
    while i < len(tokens):
        t = tokens[i]
        value = tokens[i + 1] if i + 1 < len(tokens) else ""
        if t in ("-p", "--package"):
            packages.append(value)
            i += 1
        elif t.startswith("--package="):
            packages.append(t.split("=", 1)[1])
        elif t.startswith("-p") and len(t) > 2:
            packages.append(t[2:])
        elif t == "--bin":
            bins.append(value)
            i += 1
        elif t.startswith("--bin="):
            bins.append(t.split("=", 1)[1])
        elif t == "--bins":
            all_bins = True
        elif t in ("--workspace", "--all"):
            workspace = True
        i += 1
    return (sorted(packages) or None, None if all_bins or not bins else sorted(bins), workspace)


def cargo_commands(run):
    """(kind, command) for each `cargo build` / `cargo chef cook` in a RUN line."""
    out = []
    for part in re.split(r"&&|\|\||;", run):
        part = part.strip()
        m = re.search(r"\bcargo\s+(build|chef\s+cook)\b", part)
        if m:
            out.append(("build" if m.group(1) == "build" else "cook", part[m.start():]))
    return out


def check_rust_binaries(rel, runs, copied, problems):
    """Binaries copied out of a build stage are built there, from its own packages; the
    stage's cook and build agree. Returns a summary for the log."""
    try:
        packages = workspace_binaries()
    except (OSError, tomllib.TOMLDecodeError) as e:
        problems.append(f"{rel}: cannot read the workspace manifests: {e}")
        return []
    summary = []
    builds_by_stage = {}
    for stage, lines in runs.items():
        cooks, builds = [], []
        for where, run in lines:
            for kind, command in cargo_commands(run):
                sel = cargo_selection(command)
                (builds if kind == "build" else cooks).append((where, sel))
                pkgs, bins, _ = sel
                for b in bins or []:
                    owners = [p for p in (pkgs or packages) if b in packages.get(p, set())]
                    if not owners:
                        problems.append(f"{where}: --bin {b} is not a binary of "
                                        f"{', '.join(pkgs) if pkgs else 'the workspace'}")
                for p in pkgs or []:
                    if p not in packages:
                        problems.append(f"{where}: -p {p} is not a workspace package ({', '.join(sorted(packages))})")
        for (cw, csel), (bw, bsel) in [(c, b) for c in cooks for b in builds]:
            if csel[:2] != bsel[:2]:
                problems.append(f"{bw}: cargo build selects packages {bsel[0]} and binaries {bsel[1]}, "
                                f"but the cook at {cw} selects {csel[0]} and {csel[1]}: the build would "
                                "not reuse the cooked dependency layer")
        builds_by_stage[stage] = builds
    for where, stage, source in copied:
        # target/<profile>/NAME or target/<triple>/<profile>/NAME, from a stage that runs
        # cargo build (not, e.g., the cargo-lambda stage).
        m = re.match(r"^/app/target/(?:[^/]+/){1,2}([A-Za-z0-9_-]+)$", source)
        if not m or not builds_by_stage.get(stage):
            continue
        binary = m.group(1)
        built = False
        for _, (pkgs, bins, workspace) in builds_by_stage[stage]:
            if bins is not None:
                built = built or binary in bins
            else:
                scope = pkgs or list(packages)
                built = built or any(binary in packages.get(p, set()) for p in scope)
        if not built:
            problems.append(f"{where}: copies {source} from stage {stage!r}, whose cargo build "
                            f"does not build the binary {binary!r} (add -p <package> --bin {binary})")
        else:
            summary.append(f"{binary} (from {stage})")
    return summary


def check_dockerfile(dockerfile, context, targets, problems):
    rel = os.path.relpath(dockerfile, ROOT)
    patterns = ignore_patterns(context)
    global_args, args, stages = {}, {}, []
    seen_from = False
    copies = 0
    runs, copied, stage = {}, [], None
    for number, word, rest in instructions(dockerfile):
        where = f"{rel}:{number}"
        if word == "ARG":
            name, _, default = rest.partition("=")
            name = name.strip()
            if not seen_from:
                global_args[name] = default.strip().strip('"')
            else:
                args[name] = default.strip().strip('"') or global_args.get(name, "")
        elif word == "FROM":
            seen_from = True
            args = {}
            parts = [p for p in rest.split() if not p.startswith("--platform")]
            image = substitute(parts[0], global_args)
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            if image not in stages:
                repo, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
                if "@sha256:" not in image and (not tag or tag == "latest"):
                    problems.append(f"{where}: base image {image!r} is not pinned to a tag")
            if name:
                stages.append(name)
            stage = name or f"#{len(runs)}"
            runs.setdefault(stage, [])
        elif word == "RUN" and stage is not None:
            runs[stage].append((where, substitute(rest, {**global_args, **args})))
        elif word in ("COPY", "ADD"):
            tokens = split_args(substitute(rest, {**global_args, **args}))
            flags = [t for t in tokens if t.startswith("--")]
            paths = [t for t in tokens if not t.startswith("--")]
            source_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            if source_stage is not None:
                for src in paths[:-1]:
                    copied.append((where, source_stage, src))
                continue
            if len(paths) < 2:
                problems.append(f"{where}: {word} needs a source and a destination")
                continue
            for src in paths[:-1]:
                if re.match(r"^https?://", src):
                    continue
                copies += 1
                matches = glob.glob(os.path.join(context, src))
                if not matches:
                    problems.append(f"{where}: {word} source {src!r} does not exist in the build context")
                    continue
                for m in matches:
                    r = os.path.relpath(m, context)
                    if r != "." and ignored(r, patterns):
                        problems.append(f"{where}: {word} source {src!r} is excluded by .dockerignore")
    # The worker is built with the cargo-lambda (and zig) that scripts/dev and `sam build` use.
    requirements = open(os.path.join(ROOT, "scripts", "requirements.txt")).read()
    for arg, package in [("CARGO_LAMBDA_VERSION", "cargo-lambda"), ("ZIGLANG_VERSION", "ziglang")]:
        pinned = re.search(rf"^{package}==(\S+)", requirements, re.M)
        if arg in global_args and (not pinned or global_args[arg] != pinned.group(1)):
            problems.append(f"{rel}: ARG {arg}={global_args[arg]} but scripts/requirements.txt pins "
                            f"{package}=={pinned.group(1) if pinned else '(nothing)'}")
    built = check_rust_binaries(rel, runs, copied, problems)
    if built:
        print(f"{rel}: Rust binaries copied out of their build stage, each built there: {', '.join(built)}")
    return stages, copies


def compile_time_inputs():
    """Files the Rust build reads besides sources: include_str!/include_bytes! (relative
    to the file), sqlx::migrate! (relative to the crate) and askama template dirs."""
    found = []
    for cargo_toml in glob.glob(os.path.join(ROOT, "*", "Cargo.toml")):
        crate = os.path.dirname(cargo_toml)
        for rs in glob.glob(os.path.join(crate, "src", "**", "*.rs"), recursive=True):
            with open(rs, encoding="utf-8") as f:
                text = f.read()
            for m in re.finditer(r'include_(?:str|bytes)!\(\s*"([^"]+)"', text):
                found.append((rs, os.path.normpath(os.path.join(os.path.dirname(rs), m.group(1)))))
            for m in re.finditer(r'migrate!\(\s*"([^"]+)"', text):
                found.append((rs, os.path.normpath(os.path.join(crate, m.group(1)))))
        askama = os.path.join(crate, "askama.toml")
        if os.path.exists(askama):
            with open(askama, encoding="utf-8") as f:
                for d in re.findall(r'"([^"]+)"', "".join(re.findall(r"dirs\s*=\s*\[[^\]]*\]", f.read()))):
                    found.append((askama, os.path.normpath(os.path.join(crate, d))))
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--compose-json")
    args = parser.parse_args()
    if args.compose_json:
        with open(args.compose_json, encoding="utf-8") as f:
            compose = json.load(f)
    else:
        with open(os.path.join(ROOT, "docker-compose.yml"), encoding="utf-8") as f:
            compose = yaml.safe_load(f)

    builds = {}  # (dockerfile, context) → targets
    for name, svc in (compose.get("services") or {}).items():
        build = svc.get("build")
        if not build:
            continue
        if isinstance(build, str):
            build = {"context": build}
        context = os.path.normpath(os.path.join(ROOT, build.get("context", ".")))
        dockerfile = build.get("dockerfile", "Dockerfile")
        dockerfile = os.path.normpath(os.path.join(context, dockerfile))
        builds.setdefault((dockerfile, context), set())
        if build.get("target"):
            builds[(dockerfile, context)].add(build["target"])
    for extra in glob.glob(os.path.join(ROOT, "deploy", "*Dockerfile*")):
        if not any(d == os.path.normpath(extra) for d, _ in builds):
            builds[(os.path.normpath(extra), ROOT)] = set()

    problems = []
    if not builds:
        problems.append("no Dockerfile found (compose builds nothing, deploy/ has none)")
    for (dockerfile, context), targets in sorted(builds.items()):
        if not os.path.exists(dockerfile):
            problems.append(f"{os.path.relpath(dockerfile, ROOT)}: does not exist")
            continue
        stages, copies = check_dockerfile(dockerfile, context, targets, problems)
        print(f"{os.path.relpath(dockerfile, ROOT)}: stages {', '.join(stages)}; "
              f"{copies} COPY/ADD sources checked; compose targets {', '.join(sorted(targets)) or '-'}")
        patterns = ignore_patterns(context)
        for must in MUST_IGNORE:
            if not ignored(must, patterns):
                problems.append(f"{os.path.relpath(context, ROOT) or '.'}/.dockerignore does not exclude {must}")

    # What the crates read at compile time must be in the build context too.
    patterns = ignore_patterns(ROOT)
    inputs = compile_time_inputs()
    for source, path in inputs:
        rel = os.path.relpath(path, ROOT)
        where = os.path.relpath(source, ROOT)
        if not os.path.exists(path):
            problems.append(f"{where}: reads {rel} at compile time, which does not exist")
        elif ignored(rel, patterns):
            problems.append(f"{where}: reads {rel} at compile time, but .dockerignore excludes it")
    print(f"compile-time inputs in the build context: {', '.join(sorted({os.path.relpath(p, ROOT) for _, p in inputs}))}")

    if problems:
        print(f"DOCKERFILE PROBLEMS ({len(problems)}):")
        for p in problems:
            print(f"  - {p}")
        return 1
    print("Dockerfiles: every COPY source exists and is in the context; base images pinned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
