#!/usr/bin/env bash
# What tracing costs web, counted in instructions: web under callgrind (valgrind), GET /
# listing 20 to-dos, tracing off and on, as in bench/cost.sh. Deterministic where CPU
# time is not (±15 % between rounds on a shared 2-core machine): it tells a 1 % change.
#
# Instructions per request = (Ir after N2 requests − Ir after N1) ÷ (N2 − N1), each a
# fresh process, so start-up and shutdown cancel out. Prints per mode and the ratio.
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

run() { # mode requests → total instructions
  local file="$OUT/callgrind.$1.$2" pid
  tracing_env "$1" "$RECEIVER"
  env RUST_LOG=off FAULTS_ENABLED=false "${MODE_ENV[@]}" PORT=$WEB_PORT \
    valgrind --tool=callgrind --callgrind-out-file="$file" "$BIN/web" >/dev/null 2>&1 &
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
  awk '/^summary:/ {print $2}' "$file"
}

seed_todos $WEB_PORT

declare -A per
for mode in off on; do
  a=$(run $mode "$N1"); b=$(run $mode "$N2")
  per[$mode]=$(( (b - a) / (N2 - N1) ))
  printf 'tracing %-3s: %8d instructions/request\n' "$mode" "${per[$mode]}"
done
python3 -c "print(f'ratio on/off: {${per[on]} / ${per[off]}:.3f}')"
