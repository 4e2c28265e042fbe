#!/usr/bin/env bash
# Two webs side by side, A and B, each under its own wrk at the same time: CPU per request
# of each over the same seconds, so that whatever the machine does meanwhile (other
# tenants, clock changes) weighs on both alike. The ratio B ÷ A per round, and its median.
#   BENCH_A / BENCH_B: tracing modes (off|on), default off / on;
#   BENCH_A_ENV / BENCH_B_ENV: more variables for each; BENCH_ROUNDS (15), BENCH_SECONDS (10);
#   BENCH_A_BIN / BENCH_B_BIN: another web binary for a slot (two builds compared, e.g.
#   both with BENCH_A=on BENCH_B=on), default the one just built.
# Rounds spread ±5 % on a shared 2-core machine: fewer than ~15 cannot tell 1.05 from 1.07.
# The slots trade places every other round (a slot bias of ~1 % was seen on one machine).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_wrk
ensure_venv
ROUNDS="${BENCH_ROUNDS:-15}"
SECONDS_PER_ROUND="${BENCH_SECONDS:-10}"
RECEIVER=127.0.0.1:4397
PORT_A=3111
PORT_B=3112
CLK_TCK=$(getconf CLK_TCK)
bench_tracing_setup together "$RECEIVER"
seed_todos $PORT_A
results=$(mktemp)
# Every other round the two slots trade places (which starts first, which port, which
# wrk runs in the foreground): on one machine the second slot measured ~1 % dearer with
# the same web in both, a bias that alternating cancels out of the median.
declare -A port
first=a
start_slot() { # a|b → its pid in A or B
  if [[ $1 == a ]]; then
    start_slot_web "${BENCH_A:-off}" "${port[a]}" "${BENCH_A_ENV:-}" "${BENCH_A_BIN:-$BIN/web}"; A=$STARTED
  else
    start_slot_web "${BENCH_B:-on}" "${port[b]}" "${BENCH_B_ENV:-}" "${BENCH_B_BIN:-$BIN/web}"; B=$STARTED
  fi
}
load() { # seconds → each slot's wrk output in $results.a / $results.b
  local second=b
  [[ $first == b ]] && second=a
  wrk -t1 -c8 -d"$1s" "http://127.0.0.1:${port[$first]}/" >"$results.$first" &
  wrk -t1 -c8 -d"$1s" "http://127.0.0.1:${port[$second]}/" >"$results.$second"
  wait %%
}
for round in $(seq 1 "$ROUNDS"); do
  if ((round % 2)); then
    first=a; port=([a]=$PORT_A [b]=$PORT_B)
    start_slot a; start_slot b
  else
    first=b; port=([a]=$PORT_B [b]=$PORT_A)
    start_slot b; start_slot a
  fi
  load 3
  a0=$(cpu_split $A); b0=$(cpu_split $B)
  load "$SECONDS_PER_ROUND"
  a1=$(cpu_split $A); b1=$(cpu_split $B)
  ra=$(awk '/requests in/ {print $1}' "$results.a"); rb=$(awk '/requests in/ {print $1}' "$results.b")
  kill -TERM $A $B; wait $A $B 2>/dev/null || true
  python3 - "$round" "$a0" "$a1" "$ra" "$b0" "$b1" "$rb" "$CLK_TCK" <<'PY' | tee -a "$results"
import sys
r, a0, a1, ra, b0, b1, rb, tck = sys.argv[1:]
def per(t0, t1, n):  # (user, system) µs per request
    return [(int(y) - int(x)) / int(tck) / int(n) * 1e6 for x, y in zip(t0.split(","), t1.split(","))]
(a_user, a_sys), (b_user, b_sys) = per(a0, a1, ra), per(b0, b1, rb)
ua, ub = a_user + a_sys, b_user + b_sys
print(f"round {r}: A {ua:6.1f} µs/request ({a_user:.1f} user + {a_sys:.1f} system, {ra} requests)  "
      f"B {ub:6.1f} µs/request ({b_user:.1f} + {b_sys:.1f}, {rb} requests)  B/A {ub / ua:.3f}")
PY
done
python3 - "$results" <<'PY'
import random, re, statistics, sys
rounds = [re.search(r"A +([\d.]+) µs/request \(([\d.]+) user \+ ([\d.]+) system.*"
                    r"B +([\d.]+) µs/request \(([\d.]+) \+ ([\d.]+).*B/A ([\d.]+)", line)
          for line in open(sys.argv[1])]
a, a_user, a_sys, b, b_user, b_sys, ratios = zip(*([float(x) for x in m.groups()] for m in rounds))
ratios = sorted(ratios)
median = statistics.median
quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
# How far the median itself can be trusted: the middle 95 % of the medians of rounds
# drawn again at random (a bootstrap; fixed seed, so a run prints the same figures).
draw = random.Random(1)
medians = sorted(median(draw.choices(ratios, k=len(ratios))) for _ in range(2000))
print(f"A: {min(a):.1f}–{max(a):.1f} µs/request (medians: user {median(a_user):.1f} + system {median(a_sys):.1f}); "
      f"B: {min(b):.1f}–{max(b):.1f} (user {median(b_user):.1f} + system {median(b_sys):.1f})")
print(f"B/A: median {median(ratios):.3f} (quartiles {quartiles[0]:.3f}–{quartiles[2]:.3f}, "
      f"range {ratios[0]:.3f}–{ratios[-1]:.3f}, {len(ratios)} rounds; "
      f"the median's 95 % bootstrap interval {medians[50]:.3f}–{medians[1949]:.3f})")
PY
