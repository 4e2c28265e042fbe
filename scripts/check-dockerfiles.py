#!/usr/bin/env python3
# What hadolint (scripts/validate-deploy) cannot check, because it needs the build
# context, the ARG defaults or the other stages, for each Dockerfile compose builds:
#   * each COPY/ADD source exists in the context and .dockerignore does not exclude it;
#   * each base image is pinned (a tag other than latest, or a digest) once the ARG
#     defaults are substituted;
#   * each binary copied out of a stage (COPY --from=S /app/target/.../NAME) is built by
#     S's `cargo build`, and S's `cargo chef cook` selects the same -p/--bin (else the
#     build does not reuse the cooked dependency layer);
#   * ARG CARGO_LAMBDA_VERSION and ZIGLANG_VERSION equal scripts/requirements.txt's pins.
# Usage: check-dockerfiles.py --compose-json FILE  (`docker compose config --format json`)
import argparse
import glob
import json
import os
import re
import shlex
import sys

from docker.utils.build import exclude_paths
from dockerfile_parse import DockerfileParser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PINS = {"CARGO_LAMBDA_VERSION": "cargo-lambda", "ZIGLANG_VERSION": "ziglang"}


def cargo_commands(run):
    """(build or cook, its -p packages, its --bin binaries) for each cargo command of a RUN."""
    for part in re.split(r"&&|\|\||;", run):
        m = re.search(r"\bcargo\s+(build|chef\s+cook)\b(.*)", part)
        if m:
            tokens = shlex.split(m.group(2))
            flags = list(zip(tokens, tokens[1:]))
            yield ("build" if m.group(1) == "build" else "cook",
                   {v for f, v in flags if f == "-p"}, {v for f, v in flags if f == "--bin"})


def builds(packages, binaries, binary):
    """Whether a cargo build with these -p and --bin builds `binary` (a package's main
    binary bears the package's name; no flags at all build everything)."""
    return binary in binaries if binaries else (binary in packages or not packages)


def check(dockerfile, context, problems):
    rel = os.path.relpath(dockerfile, ROOT)
    parser = DockerfileParser(dockerfile)
    patterns = []
    if os.path.exists(os.path.join(context, ".dockerignore")):
        with open(os.path.join(context, ".dockerignore")) as f:
            patterns = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    in_context = exclude_paths(context, patterns)  # Docker's own matching: what is sent
    with open(os.path.join(ROOT, "scripts", "requirements.txt")) as f:
        requirements = f.read()
    bases = iter(parser.parent_images)  # one per FROM, ARG defaults substituted
    stages, cargo, copied = [], {}, []
    for ins in parser.structure:
        where, word, value = f"{rel}:{ins['startline'] + 1}", ins["instruction"], ins["value"]
        if word == "ARG" and not stages and value.partition("=")[0] in PINS:
            name, _, default = value.partition("=")
            pin = PINS[name] + "==" + default.strip('"')
            if not re.search(rf"^{re.escape(pin)}$", requirements, re.M):
                problems.append(f"{where}: ARG {value}, but scripts/requirements.txt has no {pin}")
        elif word == "FROM":
            image, words = next(bases), value.split()
            stages.append(words[-1] if len(words) > 2 and words[-2].upper() == "AS" else f"#{len(stages)}")
            last = image.rsplit("/", 1)[-1]
            if image not in stages and "@" not in image and (":" not in last or last.endswith(":latest")):
                problems.append(f"{where}: base image {image!r} (FROM {value}) is not pinned to a tag")
        elif word == "RUN":
            for kind, packages, binaries in cargo_commands(value):
                cargo.setdefault(stages[-1], []).append((where, kind, packages, binaries))
        elif word in ("COPY", "ADD"):
            tokens = json.loads(value) if value.startswith("[") else shlex.split(value)
            stage = next((t.split("=", 1)[1] for t in tokens if t.startswith("--from=")), None)
            for src in [t for t in tokens if not t.startswith("--")][:-1]:
                if stage:
                    copied.append((where, stage, src))
                    continue
                found = glob.glob(src, root_dir=context)
                if not found:
                    problems.append(f"{where}: {word} source {src!r} does not exist in the build context")
                elif not any(f == "." or os.path.normpath(f) in in_context for f in found):
                    problems.append(f"{where}: {word} source {src!r} is excluded by .dockerignore")

    for commands in cargo.values():
        cooks = [c for c in commands if c[1] == "cook"]
        for where, _, packages, binaries in [c for c in commands if c[1] == "build"]:
            for cook_at, _, cooked_packages, cooked_binaries in cooks:
                if (packages, binaries) != (cooked_packages, cooked_binaries):
                    problems.append(f"{where}: cargo build selects -p {sorted(packages)} --bin {sorted(binaries)}, "
                                    f"the cook at {cook_at} -p {sorted(cooked_packages)} --bin "
                                    f"{sorted(cooked_binaries)}: the build would not reuse the cooked layer")
    checked = []
    for where, stage, src in copied:
        m = re.match(r"/app/target/(?:[^/]+/){1,2}([\w-]+)$", src)
        builds_here = [c for c in cargo.get(stage, []) if c[1] == "build"]
        if not m or not builds_here:
            continue
        checked.append(m.group(1))
        if not any(builds(packages, binaries, m.group(1)) for _, _, packages, binaries in builds_here):
            problems.append(f"{where}: copies {src} from stage {stage!r}, whose cargo build does not "
                            f"build {m.group(1)!r} (add -p <package> --bin {m.group(1)})")
    print(f"{rel}: stages {', '.join(stages)}; binaries copied from a cargo build: {', '.join(checked) or '-'}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--compose-json", required=True)
    with open(parser.parse_args().compose_json) as f:
        services = json.load(f)["services"]
    # In compose's JSON the context is absolute, the dockerfile relative to it.
    dockerfiles = {(os.path.join(s["build"]["context"], s["build"].get("dockerfile", "Dockerfile")),
                    s["build"]["context"]) for s in services.values() if s.get("build")}
    problems = []
    for dockerfile, context in sorted(dockerfiles):
        check(dockerfile, context, problems)
    for p in problems:
        print(f"  PROBLEM {p}")
    if problems:
        print(f"Dockerfiles: {len(problems)} problem(s)")
        return 1
    print("Dockerfiles: COPY sources in the context, base images pinned, copied binaries built")
    return 0


if __name__ == "__main__":
    sys.exit(main())
