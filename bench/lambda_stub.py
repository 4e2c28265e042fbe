#!/usr/bin/env python3
"""Cold start of the worker function: time from process start to its first finished
invocation, under a minimal Lambda Runtime API (standard library only).

Usage: bench/lambda_stub.py WORKER_BINARY [RUNS]   (environment: DATABASE_URL…)
Prints init (start → first GET /next) and first invocation (start → response posted).
"""
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid

BINARY = sys.argv[1]
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 10

EVENT = json.dumps({"Records": [{
    "messageId": "bench-1", "receiptHandle": "rh", "body": '{"v":1,"job_id":"%s","kind":"meow"}' % uuid.uuid4(),
    "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
    "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs", "awsRegion": "us-east-1",
}]}).encode()


def one_run():
    marks = {}
    served = threading.Event()

    class Api(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            if self.path.endswith("/invocation/next"):
                if served.is_set():
                    time.sleep(5)  # the benchmark ends before a second event
                    return
                marks.setdefault("next", time.perf_counter())
                served.set()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:todo-worker")
                self.send_header("Content-Length", str(len(EVENT)))
                self.end_headers()
                self.wfile.write(EVENT)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            self.rfile.read(length)
            marks.setdefault("done", time.perf_counter())
            self.send_response(202)
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ,
               AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
               AWS_LAMBDA_FUNCTION_NAME="todo-worker", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
               AWS_LAMBDA_FUNCTION_VERSION="$LATEST", RUST_LOG="off")
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    start = time.perf_counter()
    proc = subprocess.Popen([BINARY], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = start + 30
    while "done" not in marks and time.perf_counter() < deadline:
        time.sleep(0.001)
    proc.kill()
    proc.wait()
    server.shutdown()
    if "done" not in marks:
        raise SystemExit("the function never answered")
    return (marks["next"] - start) * 1000, (marks["done"] - start) * 1000


inits, firsts = zip(*(one_run() for _ in range(RUNS)))
print(f"worker cold start over {RUNS} runs: init (start → first /next) median {statistics.median(inits):.1f} ms; "
      f"start → first invocation answered median {statistics.median(firsts):.1f} ms, max {max(firsts):.1f} ms")
