#!/usr/bin/env python3
"""Vertical-slice numbers against a running demo (scripts/dev or docker compose).

1. click → worker done: POST /todos, then poll the JSON API until the row's job is
   `done`; median and p99 over RUNS clicks (default 20). With RECEIVER_URL (a
   trace-console), also click → last span of that click's trace received.
2. web RSS after REQUESTS requests (default 1000: 90 % GET /, 10 % POST /todos), read
   from /proc/<pid>/status of the web process (WEB_PID, else found with pgrep).

Standard library only. Usage: bench/slice.py [base_url]
"""
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
RUNS = int(os.environ.get("RUNS", "20"))
RECEIVER = os.environ.get("RECEIVER_URL")
REQUESTS = int(os.environ.get("REQUESTS", "1000"))
u = urllib.parse.urlparse(BASE)


def conn():
    return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=30)


def request(c, method, path, body=None):
    headers = {"content-type": "application/x-www-form-urlencoded"} if body else {}
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    return r.status, data


def last_span_ms(trace_id, wall0):
    """Wall-clock ms from the click until the receiver got the trace's last span."""
    r = urllib.parse.urlparse(RECEIVER)
    rc = http.client.HTTPConnection(r.hostname, r.port, timeout=10)
    deadline = time.time() + 30
    while time.time() < deadline:
        rc.request("GET", f"/api/traces/{trace_id}")
        summary = json.loads(rc.getresponse().read())
        names = summary["names"]
        if "todo-web:POST /todos" in names and any(n.startswith("todo-worker:process") for n in names):
            return summary["last_received_unix_ms"] - wall0 * 1000
        time.sleep(0.005)
    raise SystemExit(f"trace {trace_id} incomplete after 30 s")


def click_to_done(c):
    title = f"bench {uuid.uuid4().hex[:8]}"
    wall0 = time.time()
    t0 = time.perf_counter()
    c.request("POST", "/todos", body=urllib.parse.urlencode({"title": title}),
              headers={"content-type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    r.read()
    assert r.status == 303, r.status
    trace_id = (r.getheader("traceresponse") or "00-x-x-00").split("-")[1]
    deadline = t0 + 30
    while time.perf_counter() < deadline:
        _, data = request(c, "GET", "/api/todos")
        row = next((t for t in json.loads(data) if t["title"] == title), None)
        if row and row["job_state"] == "done":
            done = (time.perf_counter() - t0) * 1000
            return done, (last_span_ms(trace_id, wall0) if RECEIVER else None)
        time.sleep(0.002)
    raise SystemExit(f"job for {title!r} not done within 30 s")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def web_pid():
    if os.environ.get("WEB_PID"):
        return int(os.environ["WEB_PID"])
    out = subprocess.run(["pgrep", "-f", "debug/web$|release/web$|/web$"], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


def main():
    c = conn()
    request(c, "POST", "/todos/clear-completed", "x=1")
    # Warm-up: the function's first start (cargo lambda watch may still be building it)
    # is not a click's latency.
    global_deadline = time.time() + float(os.environ.get("WARMUP_TIMEOUT", "300"))
    while True:
        try:
            click_to_done(c)
            break
        except SystemExit:
            if time.time() > global_deadline:
                raise
    results = [click_to_done(c) for _ in range(RUNS)]
    for label, values in [("worker done", [d for d, _ in results]),
                          ("last span received", [s for _, s in results if s is not None])]:
        if not values:
            continue
        times = sorted(values)
        p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
        print(f"click → {label} over {RUNS} runs: median {statistics.median(times):.1f} ms, "
              f"p99 {p99:.1f} ms, min {times[0]:.1f} ms, max {times[-1]:.1f} ms")

    pid = web_pid()
    before = rss_kib(pid) if pid else 0
    t0 = time.perf_counter()
    for i in range(REQUESTS):
        if i % 10 == 0:
            request(c, "POST", "/todos", urllib.parse.urlencode({"title": f"load {i}"}))
        else:
            request(c, "GET", "/")
    elapsed = time.perf_counter() - t0
    if pid:
        print(f"web RSS: {before / 1024:.1f} MiB before, {rss_kib(pid) / 1024:.1f} MiB after "
              f"{REQUESTS} requests ({REQUESTS / elapsed:.0f} req/s sequential)")
    else:
        print("web process not found (set WEB_PID) — RSS not measured")


if __name__ == "__main__":
    main()
