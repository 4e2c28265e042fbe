#!/usr/bin/env bash
# What tracing costs web: CPU time per request with tracing off (OTEL_SDK_DISABLED=true)
# and on (OTLP/HTTP to a trace-console receiver), rounds alternated, release build.
#
#   GET / listing 20 to-dos, `wrk -t2 -c16 -d$BENCH_SECONDS` (default 15 s) per round,
#   $BENCH_ROUNDS rounds per mode (default 3), after a 3 s warm-up each.
#   CPU per request = (utime + stime of web over the run, /proc/PID/stat) ÷ requests:
#   unlike req/s it does not depend on what else shares the cores (wrk, PostgreSQL and
#   the receiver do, here).
#
# Prints, per mode: CPU µs/request (median, min–max), req/s, p99, peak RSS (VmHWM); the
# on/off ratio. Used by bench/run.sh; BENCH_ENV adds variables to both modes (e.g.
# BENCH_ENV="MALLOC_ARENA_MAX=2"), BENCH_PATH another path (default /), BENCH_BIN another
# web binary (default the one just built; e.g. a copy of an earlier build's).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_wrk
ensure_venv

SECONDS_PER_ROUND="${BENCH_SECONDS:-15}"
ROUNDS="${BENCH_ROUNDS:-3}"
BENCH_PATH="${BENCH_PATH:-/}"
WEB_PORT=3101
RECEIVER=127.0.0.1:4398
CLK_TCK=$(getconf CLK_TCK)

bench_tracing_setup cost "$RECEIVER"

peak_rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
start_web() { # mode
  tracing_env "$1" "$RECEIVER"
  # shellcheck disable=SC2086 # BENCH_ENV is a list of assignments
  env RUST_LOG=off FAULTS_ENABLED=false "${MODE_ENV[@]}" ${BENCH_ENV:-} PORT=$WEB_PORT \
    "${BENCH_BIN:-$BIN/web}" >/dev/null 2>&1 &
  WEB_PID=$!
  wait_for_port 127.0.0.1 $WEB_PORT web
}
stop_web() { kill -TERM "$WEB_PID"; wait "$WEB_PID" 2>/dev/null || true; }

# 20 to-dos for the guest, as the issue's measurement had them.
seed_todos $WEB_PORT

results=$(mktemp)
for round in $(seq 1 "$ROUNDS"); do
  for mode in off on; do
    start_web $mode
    wrk -t2 -c16 -d3s "http://127.0.0.1:$WEB_PORT$BENCH_PATH" >/dev/null # warm-up
    before=$(cpu_ticks "$WEB_PID")
    out=$(wrk --latency -t2 -c16 -d"${SECONDS_PER_ROUND}s" "http://127.0.0.1:$WEB_PORT$BENCH_PATH")
    after=$(cpu_ticks "$WEB_PID")
    rss=$(peak_rss_kib "$WEB_PID")
    stop_web
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errors=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    us=$(python3 -c "print(round(($after - $before) / $CLK_TCK / $requests * 1e6, 1))")
    printf '%s %s %s %s %s %s\n' "$mode" "$us" "$rps" "$p99" "$rss" "${errors:-0}" >>"$results"
    printf 'round %s %-3s  %7s µs/request  %9s req/s  p99 %8s  peak RSS %5.1f MiB  non-2xx %s\n' \
      "$round" "$mode" "$us" "$rps" "$p99" "$(python3 -c "print($rss / 1024)")" "${errors:-0}"
  done
done

python3 - "$results" <<'EOF'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
by = {m: [r for r in rows if r[0] == m] for m in ("off", "on")}
med = {}
for mode, rs in by.items():
    us = [float(r[1]) for r in rs]
    rps = [float(r[2]) for r in rs]
    rss = [int(r[4]) / 1024 for r in rs]
    med[mode] = statistics.median(us)
    print(f"tracing {mode:3}: CPU {med[mode]:6.1f} µs/request (median; {min(us):.1f}–{max(us):.1f}), "
          f"{statistics.median(rps):8.0f} req/s, p99 {', '.join(r[3] for r in rs)}, "
          f"peak RSS {max(rss):.1f} MiB")
print(f"ratio on/off: {med['on'] / med['off']:.3f}")
EOF
rm -f "$results"
