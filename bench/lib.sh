# Sourced by the benchmarks after scripts/lib.sh (and ensure_venv, ensure_sqs): the
# database and queues of one benchmark, on the server and SQS API the app would use.
bench_services() { # name
  local server_url
  server_url=$(effective web DATABASE_URL)
  check_postgres "$server_url"
  export DATABASE_URL="${server_url%/*}/traced_todo_$1"
  export JOBS_QUEUE_URL="${AWS_ENDPOINT_URL_SQS%/}/123456789012/$1-jobs"
  export JOBS_DLQ_URL="${AWS_ENDPOINT_URL_SQS%/}/123456789012/$1-jobs-dlq"
  "$VENV/bin/python" scripts/create-queues.py "$JOBS_QUEUE_URL" "$JOBS_DLQ_URL" 3 >/dev/null
}

# What both tracing benchmarks (instructions.sh, together.sh) stand on: web and
# trace-console built (release), SQS, the database and queues of `name`, a quiet OTLP
# receiver at `receiver` (host:port) for the spans, and an exit trap for all of it.
# Sets BIN.
bench_tracing_setup() { # name receiver
  log "building (release)"
  cargo build --release --quiet -p web -p trace-console
  cargo build --quiet -p web # `effective` asks the debug binary for its defaults
  BIN="$CARGO_TARGET_DIR/release"
  ensure_sqs
  bench_services "$1"
  trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${MOTO_PID:-}" ] && kill "$MOTO_PID" 2>/dev/null || true' EXIT
  TRACE_CONSOLE_ADDR=$2 TRACE_CONSOLE_PRINT=false "$BIN/trace-console" >/dev/null &
  wait_for_port "${2%:*}" "${2##*:}" trace-console
}

# web's environment with tracing `off` (OTEL_SDK_DISABLED: no spans, no metrics), `on`
# (every span and the metrics to `receiver`) or `sampled` (as `on`, a tenth of the traces
# kept: parentbased_traceidratio 0.1), into the array MODE_ENV.
tracing_env() { # off|on|sampled receiver
  case "$1" in
    off) MODE_ENV=(OTEL_SDK_DISABLED=true) ;;
    on) MODE_ENV=(OTEL_EXPORTER_OTLP_ENDPOINT="http://$2") ;;
    sampled) MODE_ENV=(OTEL_EXPORTER_OTLP_ENDPOINT="http://$2"
      OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.1) ;;
  esac
}

# One slot's web for the side-by-side benchmark (together.sh): tracing
# `mode` (off|on, spans to $RECEIVER), more variables `extra` (assignments, may be
# empty), listening on `port`, quiet; its pid in STARTED once it listens.
start_slot_web() { # mode port extra binary
  tracing_env "$1" "$RECEIVER"
  # shellcheck disable=SC2086 # the extra environment is a list of assignments
  env RUST_LOG=off FAULTS_ENABLED=false "${MODE_ENV[@]}" $3 PORT="$2" "$4" >/dev/null 2>&1 &
  STARTED=$!
  wait_for_port 127.0.0.1 "$2" web
}

# The page both benchmarks measure: 20 to-dos for the guest, added through a web
# started for it on `port` (and stopped again).
seed_todos() { # port
  env RUST_LOG=off FAULTS_ENABLED=false OTEL_SDK_DISABLED=true PORT="$1" "$BIN/web" >/dev/null 2>&1 &
  local web=$!
  wait_for_port 127.0.0.1 "$1" web
  psql "$DATABASE_URL" -qc "DELETE FROM jobs; DELETE FROM todos" >/dev/null
  for i in $(seq 1 20); do
    curl -s -o /dev/null -X POST "http://127.0.0.1:$1/todos" -d "title=to-do number $i #bench"
  done
  kill -TERM $web; wait $web 2>/dev/null || true
}

# The worker as Lambda runs it, locally: `cargo lambda watch` serving the Runtime and
# Invoke APIs on `port`, the release worker (128 MB, as infra/) on it, spans and metrics
# to `otlp` (a URL). esm then invokes http://127.0.0.1:PORT/2015-03-31/functions/_/invocations.
start_function() { # port otlp
  PATH="$VENV/bin:$PATH" cargo lambda watch --only-lambda-apis \
    --invoke-address 127.0.0.1 --invoke-port "$1" >/dev/null 2>&1 &
  wait_for_port 127.0.0.1 "$1" "cargo lambda watch" 120
  AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:$1/.rt AWS_LAMBDA_FUNCTION_NAME=worker \
    AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 \
    OTEL_EXPORTER_OTLP_ENDPOINT="$2" RUST_LOG=off "$BIN/worker" >/dev/null 2>&1 &
}

# wrk, from apt when missing.
ensure_wrk() {
  command -v wrk >/dev/null || { log "installing wrk"; apt-get install -y -q wrk >/dev/null; }
}

# A process's CPU time so far, "user,system" (utime and stime of /proc/PID/stat), in
# clock ticks.
cpu_split() { # pid
  awk '{print $14 "," $15}' "/proc/$1/stat"
}
