#!/usr/bin/env bash
# What a newcomer meets with `scripts/dev`: the time until it says "ready", then the
# first click (POST /todos) until that to-do's job reads `done`.
#
#   bench/first-click.sh          this checkout, its build cache as it is
#   bench/first-click.sh --fresh  a fresh clone of HEAD with an empty build cache (and a
#                                 fresh .venv), as after `git clone`: the full first build
#
# Needs the ports scripts/dev uses (3000, 9000, 4318, 9324) free, and PostgreSQL.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"

dir=$ROOT
if [ "${1:-}" = "--fresh" ]; then
  dir=$(mktemp -d /tmp/first-click.XXXXXX)
  git clone --quiet "$ROOT" "$dir"
  export CARGO_TARGET_DIR="$dir/target"
  log "fresh clone in $dir, empty CARGO_TARGET_DIR"
fi
out=$(mktemp)
started=$(date +%s.%N)
(cd "$dir" && exec scripts/dev) >"$out" 2>&1 &
dev=$!
cleanup() { kill -INT "$dev" 2>/dev/null || true; wait "$dev" 2>/dev/null || true; rm -f "$out"; }
trap cleanup EXIT

until grep -q "ready:" "$out"; do
  if ! kill -0 "$dev" 2>/dev/null; then cat "$out"; log "scripts/dev stopped"; exit 1; fi
  sleep 0.2
done
ready=$(date +%s.%N)
PORT=$(effective web PORT)
title="first click $(date +%s%N)"
curl -sf -o /dev/null -X POST --data-urlencode "title=$title" "http://127.0.0.1:${PORT}/todos"
clicked=$(date +%s.%N)
until curl -sf "http://127.0.0.1:${PORT}/api/todos" | python3 -c '
import json, sys
title = sys.argv[1]
sys.exit(0 if any(t["title"] == title and t["job_state"] == "done" for t in json.load(sys.stdin)) else 1)' "$title"; do
  sleep 0.05
  if python3 -c "import sys; sys.exit(0 if $(date +%s.%N) - $clicked > 120 else 1)"; then
    log "the first job was not done within 120 s"; tail -30 "$dir/.dev/worker.log"; exit 1
  fi
done
done_at=$(date +%s.%N)
python3 - "$started" "$ready" "$clicked" "$done_at" <<'EOF'
import sys
started, ready, clicked, done = map(float, sys.argv[1:])
print(f"scripts/dev start → ready: {ready - started:.1f} s")
print(f"first click → job done:    {(done - clicked) * 1000:.0f} ms")
EOF
if grep -q "duplicate" "$dir/.dev/worker.log"; then
  log "the first job was delivered twice (outcome duplicate in .dev/worker.log)"
  exit 1
fi
