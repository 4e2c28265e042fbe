#!/usr/bin/env bash
# The figures of bench/README.md, on whatever this machine is (release build, native;
# wrk, PostgreSQL, moto, the receiver and the app share the cores). Never asserted in
# tests. Each part also runs alone: the script named beside it.
#   (a) instructions per request, tracing off / on / sampled (bench/instructions.sh)
#   (b) CPU per request, off and on side by side (bench/together.sh)
#   (c) over 1,000 requests/s traced: spans dropped (ended vs received) and peak RSS
#   (d) the worker's flush per invocation (flush-cost)
#   (e) click → worker done → last span received (bench/slice.py)
# BENCH_SKIP_CALLGRIND=1 skips (a), BENCH_SKIP_TOGETHER=1 skips (b).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_wrk
ensure_venv

if [ "${BENCH_SKIP_CALLGRIND:-}" != 1 ]; then
  echo "== (a) instructions per request (bench/instructions.sh)"
  bash bench/instructions.sh
fi
if [ "${BENCH_SKIP_TOGETHER:-}" != 1 ]; then
  echo "== (b) CPU per request, off and on side by side (bench/together.sh)"
  bash bench/together.sh
fi

ensure_sqs
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${MOTO_PID:-}" ] && kill "$MOTO_PID" 2>/dev/null || true' EXIT
log "building release binaries"
cargo build --release --quiet -p web -p worker -p esm -p trace-console -p tests \
  --bin web --bin worker --bin esm --bin trace-console --bin flush-cost
cargo build --quiet --bins # `effective` asks the debug binaries for their defaults
BIN="$CARGO_TARGET_DIR/release"
bench_services bench
WEB_PORT=3100
RECEIVER=127.0.0.1:4399
WEB_LOG=$(mktemp)
start_web() { # extra env assignments…
  env "$@" PORT=$WEB_PORT "$BIN/web" >"$WEB_LOG" 2>&1 &
  WEB_PID=$!
  wait_for_port 127.0.0.1 $WEB_PORT web
}
spans() { curl -s "http://$RECEIVER/api/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["spans"])'; }
TRACE_CONSOLE_ADDR=$RECEIVER TRACE_CONSOLE_PRINT=false "$BIN/trace-console" >/dev/null &
wait_for_port 127.0.0.1 4399 trace-console

# Three connections, each pausing 2 ms after every answer (bench/paced.lua).
echo "== (c) over 1,000 requests/s, traced (GET /healthz: one span each; GET /: three)"
seed_todos $WEB_PORT
for path in /healthz /; do
  start_web OTEL_EXPORTER_OTLP_ENDPOINT=http://$RECEIVER RUST_LOG=warn,common::telemetry=info
  before=$(spans)
  out=$(PACE_MS=2 wrk --latency -t1 -c3 -d20s -s bench/paced.lua "http://127.0.0.1:$WEB_PORT$path")
  rss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$WEB_PID/status")
  kill -TERM "$WEB_PID"; wait "$WEB_PID" 2>/dev/null || true # flushes on shutdown
  received=$(( $(spans) - before ))
  ended=$(grep -ho 'ended=[0-9]*' "$WEB_LOG" | tail -1 | cut -d= -f2)
  echo "(c) GET $path: $(awk '/Requests\/sec/ {print $2}' <<<"$out") requests/s;" \
    "spans ended ${ended:-?}, received $received, dropped $(( ${ended:-0} - received ));" \
    "peak RSS $rss MiB"
  grep -h "dropped" "$WEB_LOG" || true # the SDK's own word when its queue was full
done

echo "== (d) the worker's flush per invocation"
OTEL_EXPORTER_OTLP_ENDPOINT=http://$RECEIVER RUST_LOG=off "$BIN/flush-cost" 500

echo "== (e) click → worker done → last span received"
# A receiver that keeps the spans it gets, so that slice.py can ask when a click's
# trace is whole.
TRACES=127.0.0.1:4400
TRACE_CONSOLE_ADDR=$TRACES "$BIN/trace-console" >/dev/null &
wait_for_port 127.0.0.1 4400 "trace-console (keeping spans)"
start_web OTEL_EXPORTER_OTLP_ENDPOINT=http://$TRACES OTEL_BSP_SCHEDULE_DELAY=100 RUST_LOG=off
start_function 9100 http://$TRACES
"$VENV/bin/python" scripts/purge-queue.py "$JOBS_QUEUE_URL"
psql "$DATABASE_URL" -qc "DELETE FROM jobs; DELETE FROM todos"
ESM_FUNCTION_URL=http://127.0.0.1:9100/2015-03-31/functions/_/invocations "$BIN/esm" >/dev/null 2>&1 &
WEB_PID=$WEB_PID RECEIVER_URL=http://$TRACES REQUESTS=1000 python3 bench/slice.py "http://127.0.0.1:$WEB_PORT"
