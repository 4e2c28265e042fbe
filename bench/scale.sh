#!/usr/bin/env bash
# The measured inputs of docs/scale.md's model, into bench/scale-inputs.json (then
# `python3 bench/scale-model.py bench/scale-inputs.json` prints the model's tables).
# Release build, native, traced (every span and the metrics to a counting receiver):
# web, the worker under `cargo lambda watch` (128 MB, as infra/), esm. CLICKS clicks
# (default 1000) by USERS signed-in users (default 20), each a POST /todos and the GET /
# the browser loads after its redirect; then until every job is done. Measured:
#   web's CPU (utime + stime of /proc/PID/stat, all its threads) per click;
#   from web's own /api/insights: CPU inside the handlers, the queries' time (web's and
#   the worker's), the worker's billed milliseconds per record, SQS requests per click;
#   the receiver's counts: spans per click, metric points per web export;
#   web's peak RSS.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_venv
ensure_sqs
CLICKS="${CLICKS:-1000}"
USERS="${USERS:-20}"
OUT="${SCALE_INPUTS:-bench/scale-inputs.json}"
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${MOTO_PID:-}" ] && kill "$MOTO_PID" 2>/dev/null || true' EXIT
log "building release binaries"
cargo build --release --quiet -p web -p worker -p esm -p trace-console \
  --bin web --bin worker --bin esm --bin trace-console
cargo build --quiet --bins # `effective` asks the debug binaries for their defaults
BIN="$CARGO_TARGET_DIR/release"
bench_services scale
"$VENV/bin/python" scripts/purge-queue.py "$JOBS_QUEUE_URL"
psql "${DATABASE_URL%/*}/postgres" -qc "DROP DATABASE IF EXISTS traced_todo_scale WITH (FORCE)" >/dev/null
WEB_PORT=3107
RECEIVER=127.0.0.1:4402
TRACE_CONSOLE_ADDR=$RECEIVER TRACE_CONSOLE_PRINT=false "$BIN/trace-console" >/dev/null &
wait_for_port 127.0.0.1 4402 trace-console
# Metrics every 5 s (60 s by default): points per export, sooner.
OTEL_EXPORTER_OTLP_ENDPOINT=http://$RECEIVER OTEL_METRIC_EXPORT_INTERVAL=5000 RUST_LOG=warn \
  FAULTS_ENABLED=false PORT=$WEB_PORT "$BIN/web" >/dev/null 2>&1 &
WEB_PID=$!
wait_for_port 127.0.0.1 $WEB_PORT web
start_function 9101 http://$RECEIVER
ESM_FUNCTION_URL=http://127.0.0.1:9101/2015-03-31/functions/_/invocations "$BIN/esm" >/dev/null 2>&1 &

log "$CLICKS clicks by $USERS users"
WEB_PID=$WEB_PID CLICKS=$CLICKS USERS=$USERS RECEIVER=$RECEIVER DATABASE_URL=$DATABASE_URL \
  CPU="$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores" \
  python3 - "http://127.0.0.1:$WEB_PORT" "$OUT" <<'PY'
import http.client, json, os, subprocess, sys, time, urllib.parse

base, out = sys.argv[1], sys.argv[2]
u = urllib.parse.urlparse(base)
clicks, users, pid = int(os.environ["CLICKS"]), int(os.environ["USERS"]), os.environ["WEB_PID"]
tick = os.sysconf("SC_CLK_TCK")

def conn():
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)

def call(c, method, path, body=None, cookie=None):
    headers = {"content-type": "application/x-www-form-urlencoded"} if body else {}
    if cookie:
        headers["cookie"] = cookie
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    return r.status, data, r

def cpu_s():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick

def receiver(path):
    h, p = os.environ["RECEIVER"].split(":")
    c = http.client.HTTPConnection(h, int(p), timeout=10)
    c.request("GET", path)
    return json.loads(c.getresponse().read())

def sql(query):
    return subprocess.run(["psql", os.environ["DATABASE_URL"], "-Atqc", query],
                          capture_output=True, text=True, check=True).stdout.strip()

c = conn()
cookies = []
for i in range(users):
    status, _, r = call(c, "POST", "/signin", urllib.parse.urlencode({"name": f"user{i}"}))
    assert status == 303, status
    cookies.append(r.getheader("set-cookie").split(";")[0])
# Warm-up: the function's first start is not a click's cost.
call(c, "POST", "/todos", urllib.parse.urlencode({"title": "warm-up"}), cookies[0])
deadline = time.time() + 300
while sql("SELECT count(*) FROM jobs WHERE state <> 'done'") != "0":
    assert time.time() < deadline, "warm-up job not done"
    time.sleep(0.05)
insights0 = json.loads(call(c, "GET", "/api/insights")[1])
spans0, cpu0, t0 = receiver("/api/stats")["spans"], cpu_s(), time.time()
for i in range(clicks):
    cookie = cookies[i % users]
    status, _, _ = call(c, "POST", "/todos", urllib.parse.urlencode({"title": f"click {i} #bench"}), cookie)
    assert status == 303, status
    status, _, _ = call(c, "GET", "/", cookie=cookie)
    assert status == 200, status
cpu1, t1 = cpu_s(), time.time()
deadline = time.time() + 300
while sql("SELECT count(*) FROM jobs WHERE state <> 'done'") != "0":
    assert time.time() < deadline, "jobs not done within 300 s"
    time.sleep(0.1)
# The worker adds its usage after each invocation; web writes its batch within a second.
time.sleep(2)
insights1 = json.loads(call(c, "GET", "/api/insights")[1])
spans1 = receiver("/api/stats")["spans"]

def total(overview, key):
    return sum(u["usage"][key] for u in overview["users"] if u["user"].startswith("user"))

d = lambda key: total(insights1, key) - total(insights0, key)
records = d("worker_records")
# Metric points per export: the receiver's count over whole export intervals.
m0 = receiver("/api/stats/metrics")["metric_points"]
time.sleep(10.5)
m1 = receiver("/api/stats/metrics")["metric_points"]
rss = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM:")) / 1024
by = "bench/scale.sh"
inputs = {
    "clicks": clicks,
    "requests_per_click": 2,
    "web_cpu_ms_per_click": (cpu1 - cpu0) * 1000 / clicks,
    "web_cpu_ms_per_click_handlers": d("web_cpu_s") * 1000 / clicks,
    "db_ms_per_click": d("db_s") * 1000 / clicks,
    "jobs_per_click": records / clicks,
    "worker_billed_ms_per_job": d("worker_mb_ms") / 128 / records,
    "worker_memory_mb": 128,
    "sqs_requests_per_click": d("sqs_requests") / clicks,
    "spans_per_click": (spans1 - spans0) / clicks,
    "span_bytes": None,
    "metric_points_per_export_per_task": (m1 - m0) / 2,
    "metric_export_interval_s": 60,
    "web_rss_mib": round(rss, 1),
    "sequential_clicks_per_s": clicks / (t1 - t0),
    "cpu": os.environ["CPU"],
    "measured_by": {k: by for k in ["web_cpu_ms_per_click", "web_cpu_ms_per_click_handlers",
        "db_ms_per_click", "jobs_per_click", "worker_billed_ms_per_job", "sqs_requests_per_click",
        "spans_per_click", "metric_points_per_export_per_task", "web_rss_mib"]},
    "prices": insights1["prices"],
    "prices_as_of": insights1["prices_as_of"],
}
json.dump(inputs, open(out, "w"), indent=2)
print(json.dumps({k: v for k, v in inputs.items() if k not in ("prices", "measured_by")}, indent=2))
PY
log "wrote $OUT"
