#!/usr/bin/env bash
# Where a web's CPU goes, thread by thread: two webs side by side (as bench/together.sh
# runs them, each under its own wrk at the same time), and for each thread name (the
# request threads `tokio-rt-worker`, the span export thread `otlp-spans`, reqwest's
# runtime thread…) its CPU time per request. Read from /proc/PID/task/TID/schedstat,
# the nanoseconds each thread ran: exact, where utime and stime are sampled at the
# clock's tick and split between user and kernel by those samples.
#   BENCH_A / BENCH_B: tracing modes (off|on), default off / on;
#   BENCH_A_ENV / BENCH_B_ENV: more variables for each (e.g. OTEL_BSP_* for B);
#   BENCH_A_BIN / BENCH_B_BIN: another web binary for a slot;
#   BENCH_ROUNDS (3), BENCH_SECONDS (10).
# A thread that ends during a round is not counted (none does under a steady load).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_wrk
ensure_venv
ROUNDS="${BENCH_ROUNDS:-3}"
SECONDS_PER_ROUND="${BENCH_SECONDS:-10}"
RECEIVER=127.0.0.1:4396
PORT_A=3113
PORT_B=3114
bench_tracing_setup threads "$RECEIVER"
# "name nanoseconds" per thread name, summed over the threads of that name.
threads() { # pid
  for task in /proc/"$1"/task/*; do
    printf '%s %s\n' "$(tr ' ' _ <"$task/comm")" "$(cut -d' ' -f1 "$task/schedstat")"
  done 2>/dev/null | awk '{ns[$1] += $2} END {for (t in ns) print t, ns[t]}'
}
load() { # seconds → each slot's wrk output in $out.a / $out.b
  wrk -t1 -c8 -d"$1s" "http://127.0.0.1:$PORT_A/" >"$out.a" &
  local other=$!
  wrk -t1 -c8 -d"$1s" "http://127.0.0.1:$PORT_B/" >"$out.b"
  wait "$other"
}
seed_todos $PORT_A
out=$(mktemp)
results=$(mktemp)
for round in $(seq 1 "$ROUNDS"); do
  start_slot_web "${BENCH_A:-off}" $PORT_A "${BENCH_A_ENV:-}" "${BENCH_A_BIN:-$BIN/web}"; A=$STARTED
  start_slot_web "${BENCH_B:-on}" $PORT_B "${BENCH_B_ENV:-}" "${BENCH_B_BIN:-$BIN/web}"; B=$STARTED
  load 3
  threads $A >"$out.a0"; threads $B >"$out.b0"
  load "$SECONDS_PER_ROUND"
  threads $A >"$out.a1"; threads $B >"$out.b1"
  kill -TERM $A $B; wait $A $B 2>/dev/null || true
  python3 - "$round" "$out" "$results" <<'PY'
import json, re, sys
round_, out, results = sys.argv[1:]
def per_request(slot):
    requests = int(re.search(r"(\d+) requests in", open(f"{out}.{slot}").read())[1])
    before = dict(line.split() for line in open(f"{out}.{slot}0"))
    after = dict(line.split() for line in open(f"{out}.{slot}1"))
    return {t: (int(ns) - int(before.get(t, 0))) / requests / 1000 for t, ns in after.items()}
a, b = per_request("a"), per_request("b")
with open(results, "a") as f:
    print(json.dumps({"a": a, "b": b}), file=f)
ta, tb = sum(a.values()), sum(b.values())
print(f"round {round_}: A {ta:.1f} µs/request, B {tb:.1f}, B/A {tb / ta:.3f}")
PY
done
python3 - "$results" <<'PY'
import json, statistics, sys
rounds = [json.loads(line) for line in open(sys.argv[1])]
names = sorted({t for r in rounds for slot in "ab" for t in r[slot]})
median = lambda slot, t: statistics.median(r[slot].get(t, 0.0) for r in rounds)
print(f"µs of CPU per request by thread, medians of {len(rounds)} rounds:")
print(f"  {'thread':<20} {'A':>8} {'B':>8} {'B − A':>8}")
for t in names:
    a, b = median("a", t), median("b", t)
    if a >= 0.01 or b >= 0.01:
        print(f"  {t:<20} {a:8.2f} {b:8.2f} {b - a:+8.2f}")
total = lambda slot: statistics.median(sum(r[slot].values()) for r in rounds)
print(f"  {'all':<20} {total('a'):8.2f} {total('b'):8.2f} {total('b') - total('a'):+8.2f}")
PY
