#!/usr/bin/env bash
# Soak: $SOAK_SECONDS (default 600) of mixed load from loadgen (~$SOAK_RATE clicks/s,
# default 200: add/list/complete/delete by 50 users) through the whole native stack in
# release builds: web, esm, the worker under a Lambda Runtime API (`cargo lambda watch`),
# trace-console (printing every trace, to a file), moto for SQS.
#
# Prints, per process: RSS (VmRSS) at the end of the warm-up (the first fifth, at least
# 60 s), its maximum after it, and at the end; the growth after warm-up (goal ≤ 2 MiB):
# the highest sample of the last minute over the highest of the first minute after the
# warm-up. Also the maximum over the warm-up's last sample, which includes the swings:
# trace-console's RSS moves by up to ~4.5 MiB from one sample to the next, 5 s apart (it
# decodes batches of up to 2,048 spans, assembles and prints traces), web's by ~1 MiB, so
# one sample against the highest of a hundred measures the swing more than any growth.
# Then spans: ended by web and the worker (their "spans at shutdown" logs) vs received
# by trace-console (goal: all of them).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_venv
ensure_sqs
SOAK_SECONDS="${SOAK_SECONDS:-600}"
SOAK_RATE="${SOAK_RATE:-200}"
WARMUP=$(( SOAK_SECONDS / 5 > 60 ? SOAK_SECONDS / 5 : 60 ))
[ "$WARMUP" -ge "$SOAK_SECONDS" ] && WARMUP=$(( SOAK_SECONDS / 2 ))
OUT="$ROOT/.bench/soak"; rm -rf "$OUT"; mkdir -p "$OUT"
pids=()
# Waits for our processes only: a bare `wait` would also wait for the moto server
# ensure_sqs started (a job of this shell too) and never reach its kill.
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  [ ${#pids[@]} -gt 0 ] && { wait "${pids[@]}" 2>/dev/null || true; }
  [ -n "${MOTO_PID:-}" ] && kill "$MOTO_PID" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 1' INT TERM

for port in 4397 3104 9104; do
  if port_open 127.0.0.1 $port; then log "port $port is taken (an earlier run still going?)"; exit 1; fi
done
log "building (release)"
cargo build --release --quiet -p web -p worker -p esm -p trace-console -p loadgen --bins
cargo build --quiet --bins # `effective` asks the debug binaries for their defaults
BIN="$CARGO_TARGET_DIR/release"
bench_services soak
"$VENV/bin/python" scripts/purge-queue.py "$JOBS_QUEUE_URL"
RECEIVER=127.0.0.1:4397 WEB_PORT=3104 INVOKE_PORT=9104
export OTEL_EXPORTER_OTLP_ENDPOINT=http://$RECEIVER
# Only the telemetry's own report (spans at shutdown) and problems.
export RUST_LOG=warn,common::telemetry=info AWS_REGION="${AWS_REGION:-us-east-1}"

TRACE_CONSOLE_ADDR=$RECEIVER "$BIN/trace-console" >"$OUT/trace-console.out" 2>&1 &
console_pid=$!; pids+=($console_pid)
wait_for_port 127.0.0.1 "${RECEIVER##*:}" trace-console
PORT=$WEB_PORT "$BIN/web" >"$OUT/web.log" 2>&1 &
web_pid=$!; pids+=($web_pid)
PATH="$VENV/bin:$PATH" cargo lambda watch --only-lambda-apis \
  --invoke-address 127.0.0.1 --invoke-port $INVOKE_PORT >"$OUT/lambda-api.log" 2>&1 &
pids+=($!)
wait_for_port 127.0.0.1 $INVOKE_PORT "cargo lambda watch" 120
AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:$INVOKE_PORT/.rt AWS_LAMBDA_FUNCTION_NAME=worker \
  AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 \
  "$BIN/worker" >"$OUT/worker.log" 2>&1 &
worker_pid=$!; pids+=($worker_pid)
ESM_FUNCTION_URL=http://127.0.0.1:$INVOKE_PORT/2015-03-31/functions/_/invocations \
  "$BIN/esm" >"$OUT/esm.log" 2>&1 &
esm_pid=$!; pids+=($esm_pid)
wait_for_port 127.0.0.1 $WEB_PORT web
psql "$DATABASE_URL" -qc "DELETE FROM jobs; DELETE FROM todos" >/dev/null # an earlier run's

log "soak: ${SOAK_SECONDS}s at ${SOAK_RATE} clicks/s (warm-up ${WARMUP}s)"
LOADGEN_BASE_URL=http://127.0.0.1:$WEB_PORT LOADGEN_USERS=50 LOADGEN_RATE=$SOAK_RATE \
  LOADGEN_DURATION_S=$SOAK_SECONDS "$BIN/loadgen" >"$OUT/loadgen.out" 2>&1 &
loadgen_pid=$!
# RSS of each process every 5 s: "seconds name kib".
start=$SECONDS
while kill -0 $loadgen_pid 2>/dev/null; do
  for p in web:$web_pid esm:$esm_pid worker:$worker_pid trace-console:$console_pid; do
    awk -v t=$((SECONDS - start)) -v n="${p%%:*}" '/VmRSS/ {print t, n, $2}' "/proc/${p##*:}/status" >>"$OUT/rss.txt" 2>/dev/null || true
  done
  sleep 5
done
wait $loadgen_pid || { log "loadgen failed: $(tail -3 "$OUT/loadgen.out")"; exit 1; }
cat "$OUT/loadgen.out"

# Let the queue drain (the worker finishes what the last clicks enqueued), then stop
# web and the worker: each logs how many spans it ended and exported.
deadline=$((SECONDS + 120))
until [ "$(psql "$DATABASE_URL" -Atc "SELECT count(*) FROM jobs WHERE state IN ('pending','queued')")" = 0 ]; do
  [ $SECONDS -ge $deadline ] && { log "jobs still open after 120 s"; break; }
  sleep 1
done
for pid in $esm_pid $web_pid $worker_pid; do
  kill -TERM "$pid" 2>/dev/null || log "process $pid had exited early"
  wait "$pid" 2>/dev/null || true
done
received=$(curl -s "http://$RECEIVER/api/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["spans"])')

python3 - "$OUT" "$WARMUP" "$received" <<'PY'
import json, re, sys
out, warmup, received = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = [l.split() for l in open(f"{out}/rss.txt")]
print(f"RSS (MiB) after a {warmup} s warm-up: at its end → max after → end; growth, the last "
      f"minute's max over the first minute's (goal ≤ 2 MiB); max after over the warm-up's end")
for name in ("web", "esm", "worker", "trace-console"):
    series = [(int(t), int(k) / 1024) for t, n, k in rows if n == name]
    after = [(t, r) for t, r in series if t >= warmup]
    values = [r for _, r in after]
    first = max(r for t, r in after if t < after[0][0] + 60)
    last = max(r for t, r in after if t > after[-1][0] - 60)
    print(f"  {name:13} {values[0]:6.1f} → {max(values):6.1f} → {values[-1]:6.1f}   "
          f"growth {last - first:+5.1f} (first minute {first:.1f}, last {last:.1f}); "
          f"max over warm-up's end {max(values) - values[0]:+5.1f}")
ended = exported = lost = 0
for name in ("web", "worker"):
    text = open(f"{out}/{name}.log").read()
    m = re.findall(r"spans at shutdown.*", text)
    line = m[-1] if m else ""
    nums = dict(re.findall(r"(ended|exported|lost)[=:]\s*(\d+)", line))
    if not nums:
        sys.exit(f"{name} did not report its spans at shutdown (see {out}/{name}.log)")
    print(f"  spans of {name}: ended {nums['ended']}, exported {nums['exported']}, lost {nums['lost']}")
    ended += int(nums["ended"]); exported += int(nums["exported"]); lost += int(nums["lost"])
print(f"spans: ended {ended}, exported {exported}, received by trace-console {received}, "
      f"missing {ended - received} (goal 0)")
PY
