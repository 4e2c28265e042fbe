#!/usr/bin/env bash
# What telemetry costs web, counted in instructions: web under callgrind (valgrind), GET /
# listing 20 to-dos, in each mode of BENCH_MODES (default `off on sampled`: see
# bench/lib.sh's tracing_env). Deterministic where CPU time is not (±5-15 % between
# rounds on a shared 2-core machine): it tells a 1 % change.
#
# Per request = (count after N2 requests − count after N1) ÷ (N2 − N1), each a fresh
# process on one kept-alive connection, so start-up and shutdown cancel out. Also the
# misses of callgrind's simulated first-level caches, and "estimated cycles"
# (instructions + 10 × L1 misses). Prints each mode, and its ratio to `off`.
#   BENCH_N1 (default 200), BENCH_N2 (default 1200); CALLGRIND_KEEP=dir keeps the
#   profiles (callgrind_annotate them).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
command -v valgrind >/dev/null || { log "installing valgrind"; apt-get install -y -q valgrind >/dev/null; }
ensure_venv

N1="${BENCH_N1:-200}"
N2="${BENCH_N2:-1200}"
WEB_PORT=3106
RECEIVER=127.0.0.1:4394
OUT="${CALLGRIND_KEEP:-$(mktemp -d)}"
mkdir -p "$OUT"

bench_tracing_setup instructions "$RECEIVER"

run() { # mode requests → the counts of callgrind's summary line
  local file="$OUT/callgrind.$1.$2" pid
  tracing_env "$1" "$RECEIVER"
  env RUST_LOG=off FAULTS_ENABLED=false "${MODE_ENV[@]}" PORT=$WEB_PORT \
    valgrind --tool=callgrind --cache-sim=yes --callgrind-out-file="$file" "$BIN/web" >/dev/null 2>&1 &
  pid=$!
  wait_for_port 127.0.0.1 $WEB_PORT "web under callgrind" 120
  # One kept-alive connection, as wrk's clients have.
  python3 - "$WEB_PORT" "$2" <<'PY'
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
for _ in range(int(sys.argv[2])):
    conn.request("GET", "/")
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
PY
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  # Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
  awk '/^summary:/ {$1 = ""; print}' "$file"
}

seed_todos $WEB_PORT

MODES=(${BENCH_MODES:-off on sampled})
counts=()
for mode in "${MODES[@]}"; do
  counts+=("$(run "$mode" "$N1")" "$(run "$mode" "$N2")")
done
python3 - "$N1" "$N2" "${MODES[*]}" "${counts[@]}" <<'PY'
import sys
n1, n2, modes = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split()
runs = [list(map(int, s.split())) for s in sys.argv[4:]]
per = {}
for i, mode in enumerate(modes):
    a, b = runs[2 * i], runs[2 * i + 1]
    d = [(y - x) / (n2 - n1) for x, y in zip(a, b)]
    ir, i1, d1 = d[0], d[3], d[4] + d[5]
    per[mode] = (ir, ir + 10 * (i1 + d1))
    print(f"tracing {mode:<7}: {ir:9.0f} instructions/request, L1 misses: "
          f"instruction {i1:6.0f}, data {d1:6.0f}; estimated cycles {per[mode][1]:9.0f}")
for mode in modes:
    if mode != "off" and "off" in per:
        print(f"ratio {mode}/off: instructions {per[mode][0] / per['off'][0]:.3f}, "
              f"estimated cycles {per[mode][1] / per['off'][1]:.3f}")
PY
