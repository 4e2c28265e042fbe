#!/usr/bin/env python3
"""A model on paper of the AWS deployment at 100, 1,000 and 10,000 clicks a second.

Reads the measured inputs (a JSON file that bench/scale.sh writes) and prints the
Markdown block of docs/scale.md: the inputs with the command that measured each, the
assumptions below, the model per level, what breaks first at the template's defaults,
what to deploy, the monthly cost, and the app's own per-user estimate against it.

    python3 bench/scale-model.py [inputs.json]            # prints the block
    python3 bench/scale-model.py [inputs.json] --update docs/scale.md
                                                          # replaces the block in place

Standard library only (runs under `python3 -I`). Every assumption is a constant below,
with where it comes from; docs/scale.md explains them. Prices are AWS us-east-1
on-demand list prices as known in 2025: check them before relying on them.
"""
import json
import math
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_INPUTS = "bench/scale-inputs.json"
BEGIN = "<!-- generated: python3 bench/scale-model.py {path} -->"
END = "<!-- end generated -->"

LEVELS = (100, 1_000, 10_000)  # clicks per second, sustained
HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
GB = 1e9  # transfer, logs and storage volumes: decimal GB
MIB = 1024 * 1024

# ---------------------------------------------------------------- the template's defaults
# infra/template.yaml (Parameters, WebService, TraceSamplerTaskDefinition) and
# deploy/otel-sampler.yaml; check_repo() warns on stderr when one of these has moved.
WEB_CPU_TARGET_PERCENT = 60  # WebCpuTargetPercent
WEB_MIN_TASKS = 2  # WebMinTasks (also its MinValue: one task per availability zone)
WEB_MAX_TASKS = 4  # WebMaxTasks
WEB_MAX_TASKS_LIMIT = 100  # WebMaxTasks's MaxValue
DEPLOYMENT_MAXIMUM_PERCENT = 200  # WebService DeploymentConfiguration MaximumPercent
WEB_DATABASE_POOL_SIZE = 5  # WebDatabasePoolSize
WORKER_DATABASE_POOL_SIZE = 2  # WorkerDatabasePoolSize
WORKER_MAX_CONCURRENCY = 2  # WorkerMaxConcurrency (also its MinValue)
WORKER_BATCH_SIZE = 10  # WorkerBatchSize
DB_MAX_CONNECTIONS = 75  # DbMaxConnections
DB_RESERVED_CONNECTIONS = 10  # DbReservedConnections
DB_INSTANCE_CLASS = "db.t4g.micro"  # DbInstanceClass
DB_ALLOWED_CLASSES = ("db.t4g.micro", "db.t4g.small", "db.t4g.medium", "db.t4g.large",
                      "db.m7g.large", "db.m7g.xlarge", "db.r7g.large")  # its AllowedValues
DB_STORAGE_GB = 20  # Db AllocatedStorage (gp3; no MaxAllocatedStorage: no storage autoscaling)
TRACE_SAMPLING_PERCENTAGE = 10  # TraceSamplingPercentage
TRACE_DECISION_WAIT_S = 10  # TraceSamplingDecisionWaitSeconds
TRACE_SAMPLER_COUNT = 1  # TraceSamplerCount
TRACE_SAMPLER_COUNT_LIMIT = 10  # TraceSamplerCount's MaxValue
SAMPLER_TASK = (0.25, 0.5)  # TraceSamplerTaskDefinition: Cpu 256, Memory 512 (vCPU, GB)
NUM_TRACES = 50_000  # deploy/otel-sampler.yaml tail_sampling num_traces
VISIBILITY_TIMEOUT_S = 30  # JobsQueue VisibilityTimeout: a retry comes this late
ALB_RULES = 1  # the HTTP listener's default action, no other rule

# ------------------------------------------------------------------------- assumptions
# A Fargate vCPU (a hyperthread of a Xeon or EPYC core) does this many times the work of
# one core of the machine the inputs were measured on (a KVM vCPU, also a hyperthread).
FARGATE_VCPU_PER_MEASURED_CORE = 1.0
# CPU the router (the ADOT sidecar in each web task, which shares its 0.25 vCPU) spends
# per span: NOT MEASURED here. Placeholder from collector-contrib's testbed
# (Trace10kSPS/OTLP: 6-13 % of a core at 10,000 spans/s, i.e. 6-13 us a span, small
# spans), rounded up for the loadbalancing exporter's split by trace ID. The collector's
# docs/performance.md (v0.1.3, 2019, 20 attributes a span) recommends 10,000 spans/s per
# CPU: 100 us, shown as the pessimistic case. Measure it in AWS (the task's CPU with and
# without spans).
ROUTER_CPU_MS_PER_SPAN = 0.015
ROUTER_CPU_MS_PER_SPAN_PESSIMISTIC = 0.100
# The tail sampler's CPU per span: NOT MEASURED. Placeholder twice the router's (it
# groups spans by trace, holds them, evaluates three policies, exports a tenth);
# docs/performance.md (v0.1.3) recommends 8,000 spans/s per CPU with tail sampling (125 us).
SAMPLER_CPU_MS_PER_SPAN = 0.030
SAMPLER_CPU_TARGET = 0.60  # like the web tasks' target; the sampler does not autoscale
# In-memory size of a held span over its OTLP protobuf size (Go structs, maps, pointers).
SAMPLER_MEMORY_OVERHEAD = 3.0
SAMPLER_BASE_MIB = 80  # the collector's own heap (testbed at 10k spans/s: 55-100 MiB)
# Spans a sampler task may hold: memory_limiter's soft limit (limit - spike) less the
# base. deploy/otel-sampler.yaml: 512 MiB task, limit 400 (task - 112), spike 100 (1/4).
SAMPLER_LIMIT_BELOW_TASK_MIB = 112
SAMPLER_SPIKE_SHARE = 0.25
# Fargate sizes (vCPU, GB) a sampler may take: each CPU with its smallest memory.
FARGATE_SIZES = ((0.25, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (4.0, 8.0))
SPAN_BYTES_IF_UNMEASURED = 1000  # OTLP protobuf bytes a span, when the input is null
SPAN_GZIP_RATIO = 0.2  # router -> sampler is OTLP/gRPC, gzip by default: bytes on the wire
CROSS_AZ_SHARE = 0.5  # tasks in two AZs: half the traffic to one place crosses a zone
TRACES_PER_REQUEST = 1  # the browser sends no traceparent: each request starts a trace
ERROR_OR_SLOW_SHARE = 0.01  # traces kept as errors or slow (> 1 s): faults off
NON_QUERY_SPANS_PER_CLICK = 4  # 2 SERVER spans, the send, the job's CONSUMER span
QUERY_RTT_MS_AWS = 0.3  # a query's network round trip in the VPC (same or other AZ)
DB_CPU_TARGET = 0.50  # the database's CPU kept under half: vacuum, checkpoints, batches
DB_BYTES_PER_CLICK_IF_UNMEASURED = 1000  # a to-do + a job row, their indexes, dead tuples
PAGE_BYTES = 35_000  # GET / response (bench/README.md: the list page is 33 KB, 20 to-dos)
HEADER_BYTES_PER_REQUEST = 600  # request + response headers, the form body
RESPONSE_HEADER_BYTES = 300  # of which goes out to the browser, per request
CLICKS_PER_NEW_CONNECTION = 5  # browsers keep connections alive
CONNECTION_SECONDS = 60  # a connection lives until the ALB's 60 s idle timeout
LOG_BYTES_PER_CLICK = 500  # the worker's "record processed" line + Lambda's REPORT lines
WEB_MAX_TASKS_HEADROOM = 1.5  # WebMaxTasks over the tasks a level needs: bursts, a lost AZ
WORKER_CONCURRENCY_HEADROOM = 2.0  # WorkerMaxConcurrency over the mean (Little's law)
DB_CONNECTIONS_HEADROOM = 1.1  # DbMaxConnections over the budget
WEB_POOL_HEADROOM = 3.0  # WebDatabasePoolSize over a task's mean queries in progress
WORKER_OVERLAP = 2  # scripts/check-connection-budget.py: old environments keep theirs
DB_CLASS_MEMORY_SHARE = 0.70  # the same script's DBInstanceClassMemory estimate
LAMBDA_MB_PER_VCPU = 1769  # Lambda gives a whole vCPU at 1,769 MB
LAMBDA_NEW_ACCOUNT_CONCURRENCY = 10  # a new account's quota (the usual one is 1,000)

# ------------------------------------------------------- AWS list prices not in PRICES
# us-east-1, on-demand, as known in 2025: check before relying on them.
# RDS for PostgreSQL, Single-AZ: (class, vCPUs, RAM GiB, USD/hour, burstable baseline
# share of each vCPU or None). Burstable classes are sized on their baseline.
RDS_CLASSES = (
    ("db.t4g.micro", 2, 1, 0.016, 0.10),
    ("db.t4g.small", 2, 2, 0.032, 0.20),
    ("db.t4g.medium", 2, 4, 0.065, 0.20),
    ("db.t4g.large", 2, 8, 0.129, 0.30),
    ("db.m7g.large", 2, 8, 0.168, None),
    ("db.m7g.xlarge", 4, 16, 0.336, None),
    ("db.m7g.2xlarge", 8, 32, 0.672, None),
    ("db.m7g.4xlarge", 16, 64, 1.344, None),
    ("db.m7g.8xlarge", 32, 128, 2.688, None),
    ("db.m7g.12xlarge", 48, 192, 4.032, None),
    ("db.m7g.16xlarge", 64, 256, 5.376, None),
)
RDS_GP3_GB_MONTH = 0.115
RDS_PROXY_VCPU_HOUR = 0.015  # per vCPU of the database, 2 vCPUs at least
ALB_HOUR = 0.0225
ALB_LCU_HOUR = 0.008
LCU_NEW_CONNECTIONS_PER_S = 25
LCU_ACTIVE_CONNECTIONS = 3000  # per minute
LCU_GB_PER_HOUR = 1.0  # processed bytes, EC2 and IP targets
LCU_RULE_EVALUATIONS_PER_S = 1000  # the first 10 rules are free
ALB_FREE_RULES = 10
PUBLIC_IPV4_HOUR = 0.005
ALB_PUBLIC_IPS = 2  # one per AZ; more if the ALB scales out its nodes
# Data transfer out to the internet, per GB: the first 10 TB a month, the next 40, the
# next 100, the rest (the free 100 GB a month left out). Each tier up to its ceiling.
EGRESS_TIERS = ((10_000, 0.09), (50_000, 0.085), (150_000, 0.07), (math.inf, 0.05))
CROSS_AZ_GB = 0.02  # $0.01 out of one zone + $0.01 into the other
CLOUDWATCH_LOGS_GB = 0.50  # ingestion (storage for 14 days left out)
SECRETS_MONTH = 2 * 0.40  # Secrets Manager: the DB secret and DATABASE_URL
CLOUD_MAP_NAMESPACE_MONTH = 0.50  # the private DNS namespace (a Route 53 hosted zone)
CLOUD_MAP_INSTANCE_MONTH = 0.10  # per registered task (web and sampler)
ALARMS_MONTH = 2 * 0.10  # the target tracking's two CloudWatch alarms
SQS_IDLE_REQUESTS_MONTH = 1.4e6  # infra/README.md: the ESM's long polls, /readyz probes
S3_UPLOAD_PUTS, S3_UPLOAD_GETS = 1, 1  # an upload: web's PutObject, the worker's GetObject

# ------------------------------------------------------------------------------ inputs
INPUTS = (  # key, unit, what
    ("clicks", "clicks", "clicks measured; a click is POST /todos (303) + the GET / after it"),
    ("requests_per_click", "requests", "HTTP requests a click makes"),
    ("web_cpu_ms_per_click", "ms", "web's CPU (utime+stime, all threads, OTLP export included), every span exported"),
    ("web_cpu_ms_per_click_handlers", "ms", "of which inside the request handlers, per poll (what the app prices)"),
    ("db_ms_per_click", "ms", "time queries took, web's and the worker's (wall time, not server CPU)"),
    ("jobs_per_click", "jobs", "SQS messages, each a Lambda record"),
    ("worker_billed_ms_per_job", "ms", "the worker's billed duration per record, rounded up per record"),
    ("worker_memory_mb", "MB", "the function's memory (template: MemorySize)"),
    ("sqs_requests_per_click", "requests", "SendMessage + the ESM's receive and delete, one per message (upper bound)"),
    ("spans_per_click", "spans", "spans exported, web's and the worker's"),
    ("span_bytes", "bytes", "OTLP protobuf bytes per span"),
    ("metric_points_per_export_per_task", "points", "metric data points a web task exports each time (series)"),
    ("metric_export_interval_s", "s", "OTEL_METRIC_EXPORT_INTERVAL"),
    ("web_rss_mib", "MiB", "web's resident memory under the run"),
)
OPTIONAL = (  # measured if present; else the assumption named
    ("queries_per_click", "queries", "queries a click makes", "spans_per_click - NON_QUERY_SPANS_PER_CLICK"),
    ("db_cpu_ms_per_click", "ms", "PostgreSQL's own CPU (its processes' utime+stime)",
     "db_ms_per_click: query time as an upper bound"),
    ("db_bytes_per_click", "bytes", "database growth (pg_database_size) per click",
     "DB_BYTES_PER_CLICK_IF_UNMEASURED"),
)
PRICE_KEYS = ("fargate_vcpu_hour", "fargate_gb_hour", "web_task_vcpu", "web_task_gb",
              "db_instance_hour", "db_vcpus", "lambda_gb_second", "lambda_request",
              "sqs_request", "s3_put", "s3_get", "s3_gb_month")
PRICE_WHAT = {
    "fargate_vcpu_hour": "Fargate, per vCPU-hour (default: Linux/x86)",
    "fargate_gb_hour": "Fargate, per GB-hour",
    "web_task_vcpu": "a web task's vCPUs (template: Cpu 256); the model's task size too",
    "web_task_gb": "a web task's GB (template: Memory 512); the model's task size too",
    "db_instance_hour": "RDS PostgreSQL, the instance per hour (default: db.t4g.micro, Single-AZ)",
    "db_vcpus": "that instance's vCPUs",
    "lambda_gb_second": "Lambda arm64, per GB-second",
    "lambda_request": "Lambda, per request",
    "sqs_request": "SQS standard, per request",
    "s3_put": "S3 Standard, per PUT",
    "s3_get": "S3 Standard, per GET or HEAD",
    "s3_gb_month": "S3 Standard, per GB-month",
}


def fail(message):
    sys.exit(f"scale-model: {message}")


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{path}: {e}")
    for key, _, _ in INPUTS:
        if key not in data:
            fail(f"{path}: no {key!r}")
        value = data[key]
        if key == "span_bytes" and value is None:
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            fail(f"{path}: {key} must be a number >= 0, not {value!r}")
    for key in ("clicks", "requests_per_click", "web_cpu_ms_per_click", "worker_memory_mb",
                "metric_export_interval_s"):
        if data[key] <= 0:
            fail(f"{path}: {key} must be above 0")
    for key, _, _, _ in OPTIONAL:
        value = data.get(key)
        if value is not None and (not isinstance(value, (int, float)) or value < 0):
            fail(f"{path}: {key} must be a number >= 0 or absent, not {value!r}")
    if not isinstance(data.get("cpu"), str):
        fail(f"{path}: 'cpu' must name the CPU the inputs were measured on")
    prices = data.get("prices")
    if not isinstance(prices, dict):
        fail(f"{path}: no 'prices' object (the one /api/insights returns)")
    for key in PRICE_KEYS:
        if not isinstance(prices.get(key), (int, float)):
            fail(f"{path}: prices.{key} missing or not a number")
    if prices["web_task_vcpu"] <= 0 or prices["db_vcpus"] <= 0:
        fail(f"{path}: prices.web_task_vcpu and prices.db_vcpus must be above 0")
    if not isinstance(data.get("measured_by", {}), dict):
        fail(f"{path}: 'measured_by' must map each input to the command that measured it")
    return data


# ------------------------------------------------------------------------------ format
def sig(x, digits=3):
    """x with `digits` significant digits, thousands separated, no exponent."""
    if math.isinf(x):
        return "no limit"
    if x == 0:
        return "0"
    if abs(x) >= 10 ** (digits - 1):
        return f"{round(x):,}"
    decimals = digits - 1 - math.floor(math.log10(abs(x)))
    text = f"{x:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def usd(x):
    return "$" + sig(x)


def whole(n):
    return f"{round(n):,}"


def big(n):
    """Large counts in words: 788 million, 34.4 billion."""
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if n >= size:
            return f"{sig(n / size)} {word}"
    return whole(n)


def pct(x):
    return f"{x * 100:.0f} %" if x >= 0.1 else f"{sig(x * 100, 2)} %"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------- model
def task_month(prices, vcpu, gb):
    return (vcpu * prices["fargate_vcpu_hour"] + gb * prices["fargate_gb_hour"]) * HOURS_PER_MONTH


def rds_max_connections(ram_gib):
    """RDS's default max_connections, as scripts/check-connection-budget.py estimates it."""
    return min(math.floor(ram_gib * 1024 ** 3 * DB_CLASS_MEMORY_SHARE / 9531392), 5000)


def usable_vcpu(cls):
    _, vcpus, _, _, baseline = cls
    return vcpus * (baseline if baseline else 1.0)


def pick_class(vcpu_needed, connections_needed):
    """The cheapest class with the vCPUs (the target already applied) and the connections,
    or the largest."""
    for cls in sorted(RDS_CLASSES, key=lambda c: c[3]):
        if usable_vcpu(cls) >= vcpu_needed - 1e-9 and rds_max_connections(cls[2]) >= connections_needed:
            return cls
    return max(RDS_CLASSES, key=lambda c: c[1])


def sampler_usable_mib(gb):
    limit = gb * 1024 - SAMPLER_LIMIT_BELOW_TASK_MIB
    return limit * (1 - SAMPLER_SPIKE_SHARE) - SAMPLER_BASE_MIB


def sampler_count(size, cpu_needed, mem_needed_mib):
    vcpu, gb = size
    return max(1, math.ceil(cpu_needed / (vcpu * SAMPLER_CPU_TARGET) - 1e-9),
               math.ceil(mem_needed_mib / sampler_usable_mib(gb) - 1e-9))


def pick_sampler(prices, cpu_needed, mem_needed_mib):
    """The template's size if TraceSamplerCount can reach it, else the cheapest larger one."""
    count = sampler_count(SAMPLER_TASK, cpu_needed, mem_needed_mib)
    if count <= TRACE_SAMPLER_COUNT_LIMIT:
        return SAMPLER_TASK, count
    options = []
    for size in FARGATE_SIZES:
        n = sampler_count(size, cpu_needed, mem_needed_mib)
        if n <= TRACE_SAMPLER_COUNT_LIMIT:
            cost = n * (task_month(prices, *size) + PUBLIC_IPV4_HOUR * HOURS_PER_MONTH)
            options.append((cost, n, size))
    if not options:
        size = FARGATE_SIZES[-1]
        return size, sampler_count(size, cpu_needed, mem_needed_mib)
    _, n, size = min(options)
    return size, n


def egress_cost(gb):
    cost, floor = 0.0, 0.0
    for ceiling, price in EGRESS_TIERS:
        if gb > floor:
            cost += (min(gb, ceiling) - floor) * price
        floor = ceiling
    return cost


def per_click_app(inp):
    """What the app's own estimate (common/src/cost.rs) counts for one click, by part."""
    p = inp["prices"]
    web_cpu_second = (p["fargate_vcpu_hour"] * p["web_task_vcpu"] + p["fargate_gb_hour"] * p["web_task_gb"]) \
        / 3600 / p["web_task_vcpu"]
    db_second = p["db_instance_hour"] / 3600 / p["db_vcpus"]
    jobs = inp["jobs_per_click"]
    return {
        "web": inp["web_cpu_ms_per_click_handlers"] / 1000 * web_cpu_second,
        "database": inp["db_ms_per_click"] / 1000 * db_second,
        "worker": jobs * (inp["worker_billed_ms_per_job"] * inp["worker_memory_mb"] / 1024 / 1000
                          * p["lambda_gb_second"] + p["lambda_request"]),
        "sqs": inp["sqs_requests_per_click"] * p["sqs_request"],
    }


def derived(inp):
    """Figures that do not depend on the level."""
    d = {}
    p = inp["prices"]
    d["vcpu"], d["gb"] = p["web_task_vcpu"], p["web_task_gb"]
    d["span_bytes"] = inp["span_bytes"] if inp["span_bytes"] is not None else SPAN_BYTES_IF_UNMEASURED
    d["queries"] = inp.get("queries_per_click")
    if d["queries"] is None:
        d["queries"] = max(inp["spans_per_click"] - NON_QUERY_SPANS_PER_CLICK, 1)
    d["db_cpu_ms"] = inp.get("db_cpu_ms_per_click")
    d["db_cpu_measured"] = d["db_cpu_ms"] is not None
    if not d["db_cpu_measured"]:
        d["db_cpu_ms"] = inp["db_ms_per_click"]
    d["db_bytes"] = inp.get("db_bytes_per_click") or DB_BYTES_PER_CLICK_IF_UNMEASURED
    d["web_ms"] = inp["web_cpu_ms_per_click"] / FARGATE_VCPU_PER_MEASURED_CORE
    d["router_ms"] = inp["spans_per_click"] * ROUTER_CPU_MS_PER_SPAN
    budget = d["vcpu"] * WEB_CPU_TARGET_PERCENT / 100 * 1000  # CPU-ms a task may use a second

    def capacity(router_ms_per_span):
        return budget / (d["web_ms"] + inp["spans_per_click"] * router_ms_per_span)

    d["task_clicks"] = capacity(ROUTER_CPU_MS_PER_SPAN)
    d["task_clicks_web_alone"] = capacity(0)
    d["task_clicks_pessimistic"] = capacity(ROUTER_CPU_MS_PER_SPAN_PESSIMISTIC)
    d["traces_per_click"] = inp["requests_per_click"] * TRACES_PER_REQUEST
    d["kept_share"] = ERROR_OR_SLOW_SHARE + (1 - ERROR_OR_SLOW_SHARE) * TRACE_SAMPLING_PERCENTAGE / 100
    d["held_bytes_per_click_s"] = inp["spans_per_click"] * TRACE_DECISION_WAIT_S * d["span_bytes"] \
        * SAMPLER_MEMORY_OVERHEAD
    d["app"] = per_click_app(inp)
    return d


def level(inp, d, clicks):
    """The model at `clicks` per second."""
    p = inp["prices"]
    m = {"clicks": clicks}
    # Web: CPU sets the task count (the task's 512 MiB hold web's RSS and the router's 200).
    m["tasks_needed"] = clicks / d["task_clicks"]
    m["tasks"] = max(WEB_MIN_TASKS, math.ceil(m["tasks_needed"] - 1e-9))
    m["web_cpu_use"] = clicks * (d["web_ms"] + d["router_ms"]) / 1000 / (m["tasks"] * d["vcpu"])
    m["web_max_tasks"] = max(WEB_MAX_TASKS, math.ceil(m["tasks_needed"] * WEB_MAX_TASKS_HEADROOM - 1e-9))
    # Worker: Little's law on the billed duration (records run one after another).
    m["records"] = clicks * inp["jobs_per_click"]
    m["worker_concurrency"] = m["records"] * inp["worker_billed_ms_per_job"] / 1000
    m["worker_max"] = max(WORKER_MAX_CONCURRENCY,
                          math.ceil(m["worker_concurrency"] * WORKER_CONCURRENCY_HEADROOM - 1e-9))
    # Database.
    m["db_busy"] = clicks * inp["db_ms_per_click"] / 1000
    m["db_busy_aws"] = clicks * (inp["db_ms_per_click"] + d["queries"] * QUERY_RTT_MS_AWS) / 1000
    m["db_busy_per_task"] = m["db_busy_aws"] / m["tasks"]
    m["web_pool"] = max(WEB_DATABASE_POOL_SIZE, math.ceil(m["db_busy_per_task"] * WEB_POOL_HEADROOM - 1e-9))
    m["db_vcpu"] = clicks * d["db_cpu_ms"] / 1000
    m["db_vcpu_needed"] = m["db_vcpu"] / DB_CPU_TARGET
    m["budget_web"] = m["web_max_tasks"] * DEPLOYMENT_MAXIMUM_PERCENT // 100 * m["web_pool"]
    m["budget_worker"] = m["worker_max"] * WORKER_OVERLAP * WORKER_DATABASE_POOL_SIZE
    m["budget"] = m["budget_web"] + m["budget_worker"] + DB_RESERVED_CONNECTIONS
    m["db_class"] = pick_class(m["db_vcpu_needed"], m["budget"])
    m["db_class_cpu_only"] = pick_class(m["db_vcpu_needed"], 0)
    m["db_max_connections"] = min(rds_max_connections(m["db_class"][2]),
                                  max(DB_MAX_CONNECTIONS, 5 * math.ceil(m["budget"] * DB_CONNECTIONS_HEADROOM / 5)))
    m["db_growth_gb_month"] = clicks * d["db_bytes"] * SECONDS_PER_MONTH / GB
    m["db_days_to_fill"] = ratio(DB_STORAGE_GB * GB, clicks * d["db_bytes"] * 86400)
    m["db_proxy_month"] = max(2, m["db_class"][1]) * RDS_PROXY_VCPU_HOUR * HOURS_PER_MONTH
    # SQS.
    m["sqs_per_s"] = clicks * inp["sqs_requests_per_click"]
    m["sqs_batched_per_s"] = m["records"] * (1 + 2 / WORKER_BATCH_SIZE)
    # Telemetry.
    m["spans"] = clicks * inp["spans_per_click"]
    m["span_bytes_s"] = m["spans"] * d["span_bytes"]
    m["traces"] = clicks * d["traces_per_click"]
    m["kept_spans"] = m["spans"] * d["kept_share"]
    m["kept_gb_month"] = m["kept_spans"] * d["span_bytes"] * SECONDS_PER_MONTH / GB
    m["sampler_cpu"] = m["spans"] * SAMPLER_CPU_MS_PER_SPAN / 1000
    m["sampler_mib"] = clicks * d["held_bytes_per_click_s"] / MIB
    m["sampler_size"], m["samplers"] = pick_sampler(p, m["sampler_cpu"], m["sampler_mib"])
    m["traces_in_flight"] = m["traces"] * TRACE_DECISION_WAIT_S
    m["traces_per_sampler_s"] = m["traces"] / m["samplers"]
    m["remembered_s"] = NUM_TRACES / m["traces_per_sampler_s"]
    m["num_traces"] = max(NUM_TRACES, math.ceil(
        m["traces_per_sampler_s"] * (TRACE_DECISION_WAIT_S + VISIBILITY_TIMEOUT_S) / 10_000) * 10_000)
    m["metric_points"] = m["tasks"] * inp["metric_points_per_export_per_task"] / inp["metric_export_interval_s"]
    # The load balancer.
    click_bytes = PAGE_BYTES + inp["requests_per_click"] * HEADER_BYTES_PER_REQUEST
    m["new_connections"] = clicks / CLICKS_PER_NEW_CONNECTION
    m["active_connections"] = m["new_connections"] * CONNECTION_SECONDS
    m["alb_gb_hour"] = clicks * click_bytes * 3600 / GB
    m["rule_evaluations"] = clicks * inp["requests_per_click"] * max(0, ALB_RULES - ALB_FREE_RULES)
    m["lcu_parts"] = {
        "new connections": m["new_connections"] / LCU_NEW_CONNECTIONS_PER_S,
        "active connections": m["active_connections"] / LCU_ACTIVE_CONNECTIONS,
        "processed bytes": m["alb_gb_hour"] / LCU_GB_PER_HOUR,
        "rule evaluations": m["rule_evaluations"] / LCU_RULE_EVALUATIONS_PER_S,
    }
    m["lcu"] = max(m["lcu_parts"].values())
    m["lcu_by"] = max(m["lcu_parts"], key=m["lcu_parts"].get)
    m["egress_gb_month"] = clicks * (PAGE_BYTES + inp["requests_per_click"] * RESPONSE_HEADER_BYTES) \
        * SECONDS_PER_MONTH / GB

    # Monthly cost.
    clicks_month = clicks * SECONDS_PER_MONTH
    samplers_ips = m["samplers"]
    c = {}
    c["web tasks (Fargate)"] = m["tasks"] * task_month(p, d["vcpu"], d["gb"])
    c["tail samplers (Fargate)"] = m["samplers"] * task_month(p, *m["sampler_size"])
    c["RDS instance"] = m["db_class"][3] * HOURS_PER_MONTH
    c["RDS storage (gp3), a month of rows"] = max(DB_STORAGE_GB, m["db_growth_gb_month"]) * RDS_GP3_GB_MONTH
    c["Lambda (GB-s + requests)"] = m["records"] * SECONDS_PER_MONTH * (
        inp["worker_billed_ms_per_job"] / 1000 * inp["worker_memory_mb"] / 1024 * p["lambda_gb_second"]
        + p["lambda_request"])
    c["SQS"] = (m["sqs_per_s"] * SECONDS_PER_MONTH + SQS_IDLE_REQUESTS_MONTH) * p["sqs_request"]
    c["ALB (hours + LCUs)"] = (ALB_HOUR + m["lcu"] * ALB_LCU_HOUR) * HOURS_PER_MONTH
    c["public IPv4 addresses"] = (ALB_PUBLIC_IPS + m["tasks"] + samplers_ips) * PUBLIC_IPV4_HOUR * HOURS_PER_MONTH
    c["data transfer out (pages)"] = egress_cost(m["egress_gb_month"])
    c["cross-AZ transfer (spans)"] = m["span_bytes_s"] * SPAN_GZIP_RATIO * CROSS_AZ_SHARE \
        * SECONDS_PER_MONTH / GB * CROSS_AZ_GB
    c["CloudWatch Logs ingestion"] = clicks_month * LOG_BYTES_PER_CLICK / GB * CLOUDWATCH_LOGS_GB
    c["Secrets Manager, Cloud Map, alarms"] = SECRETS_MONTH + CLOUD_MAP_NAMESPACE_MONTH \
        + CLOUD_MAP_INSTANCE_MONTH * (m["tasks"] + m["samplers"]) + ALARMS_MONTH
    m["cost"] = c
    m["total"] = sum(c.values())
    m["clicks_month"] = clicks_month
    m["lambda_requests_batched_saving"] = m["records"] * SECONDS_PER_MONTH * p["lambda_request"] \
        * (1 - 1 / WORKER_BATCH_SIZE)
    m["sqs_batched_saving"] = (m["sqs_per_s"] - m["sqs_batched_per_s"]) * SECONDS_PER_MONTH * p["sqs_request"]
    return m


def ratio(a, b):
    return a / b if b else math.inf


def limits_at_defaults(inp, d):
    """Clicks/s each part takes at the template's defaults, lowest first."""
    default_class = next(c for c in RDS_CLASSES if c[0] == DB_INSTANCE_CLASS)
    sampler_vcpu, sampler_gb = SAMPLER_TASK
    full = d["task_clicks"] * WEB_MAX_TASKS * 100 / WEB_CPU_TARGET_PERCENT
    rows = [
        (d["task_clicks"] * WEB_MAX_TASKS,
         f"web: {WEB_MAX_TASKS} tasks (WebMaxTasks) at {WEB_CPU_TARGET_PERCENT} % CPU",
         f"no task is added: they run hotter, full at {sig(full)} clicks/s, then requests queue",
         "WebMaxTasks (and DbMaxConnections with it)"),
        (ratio(WORKER_MAX_CONCURRENCY, inp["jobs_per_click"] * inp["worker_billed_ms_per_job"] / 1000),
         f"worker: {WORKER_MAX_CONCURRENCY} invocations at once (WorkerMaxConcurrency)",
         "jobs wait in the queue, longer and longer (rows stay `queued`)",
         "WorkerMaxConcurrency (and DbMaxConnections with it)"),
        (ratio(usable_vcpu(default_class), d["db_cpu_ms"] / 1000),
         f"database CPU: {DB_INSTANCE_CLASS}'s baseline ({usable_vcpu(default_class):.1f} vCPU)"
         + ("" if d["db_cpu_measured"] else ", query time as CPU"),
         "above the baseline it spends CPU credits, then bills surplus ones (RDS runs T4g in Unlimited mode)",
         "DbInstanceClass"),
        (ratio(DB_STORAGE_GB * GB, d["db_bytes"] * 30 * 86400),
         f"database disk: {DB_STORAGE_GB} GB full within 30 days (no storage autoscaling, no row ever deleted)",
         "the instance goes to storage-full: no more writes, no more clicks",
         "the template's AllocatedStorage, MaxAllocatedStorage; a retention for to-dos and jobs"),
        (ratio(sampler_vcpu * SAMPLER_CPU_TARGET * TRACE_SAMPLER_COUNT, inp["spans_per_click"] * SAMPLER_CPU_MS_PER_SPAN / 1000),
         f"tail sampler CPU: {TRACE_SAMPLER_COUNT} task of {sampler_vcpu} vCPU at {pct(SAMPLER_CPU_TARGET)}",
         "the routers' queues fill, then spans are dropped",
         "TraceSamplerCount"),
        (ratio(sampler_usable_mib(sampler_gb) * TRACE_SAMPLER_COUNT * MIB, d["held_bytes_per_click_s"]),
         f"tail sampler memory: {sig(sampler_usable_mib(sampler_gb))} MiB of spans in {whole(sampler_gb * 1024)} MiB",
         "memory_limiter refuses spans; the routers retry, then drop them",
         "TraceSamplerCount"),
        (NUM_TRACES * TRACE_SAMPLER_COUNT / (d["traces_per_click"] * (TRACE_DECISION_WAIT_S + VISIBILITY_TIMEOUT_S)),
         f"num_traces {whole(NUM_TRACES)}: a retry {VISIBILITY_TIMEOUT_S} s late no longer finds its trace",
         "a failed first attempt's retries are judged alone",
         "num_traces in deploy/otel-sampler.yaml, or TraceSamplerCount"),
        (NUM_TRACES * TRACE_SAMPLER_COUNT / (d["traces_per_click"] * TRACE_DECISION_WAIT_S),
         f"num_traces {whole(NUM_TRACES)}: traces evicted before their {TRACE_DECISION_WAIT_S} s decision",
         "traces are dropped undecided, errors included",
         "num_traces in deploy/otel-sampler.yaml, or TraceSamplerCount"),
    ]
    return sorted(rows, key=lambda r: r[0])


# ------------------------------------------------------------------------------ render
def assumptions_table():
    """Every assumption above, with its value and why (the doc explains them)."""
    rows = [
        ("FARGATE_VCPU_PER_MEASURED_CORE", sig(FARGATE_VCPU_PER_MEASURED_CORE),
         "a Fargate vCPU (a hyperthread) does the work of one measured core (a KVM vCPU, also a hyperthread)"),
        ("ROUTER_CPU_MS_PER_SPAN", f"{sig(ROUTER_CPU_MS_PER_SPAN * 1000)} µs",
         "**not measured**: the router sidecar's CPU a span, from collector-contrib's testbed "
         "(Trace10kSPS/OTLP: 6–13 % of a core at 10,000 spans/s), rounded up"),
        ("ROUTER_CPU_MS_PER_SPAN_PESSIMISTIC", f"{sig(ROUTER_CPU_MS_PER_SPAN_PESSIMISTIC * 1000)} µs",
         "the collector's docs/performance.md (v0.1.3): 10,000 spans/s per CPU recommended"),
        ("SAMPLER_CPU_MS_PER_SPAN", f"{sig(SAMPLER_CPU_MS_PER_SPAN * 1000)} µs",
         "**not measured**: twice the router's (docs/performance.md v0.1.3 with tail sampling: 125 µs)"),
        ("SAMPLER_CPU_TARGET", pct(SAMPLER_CPU_TARGET), "the samplers' CPU kept under it (no autoscaling)"),
        ("SAMPLER_MEMORY_OVERHEAD", f"{sig(SAMPLER_MEMORY_OVERHEAD)} ×",
         "a held span's memory over its protobuf bytes (Go structs and maps)"),
        ("SAMPLER_BASE_MIB", f"{SAMPLER_BASE_MIB} MiB", "the collector's own heap (testbed: 55–100 MiB)"),
        ("sampler's room for spans", f"{sig(sampler_usable_mib(SAMPLER_TASK[1]))} MiB of {whole(SAMPLER_TASK[1] * 1024)}",
         "memory_limiter's soft limit (limit_mib − spike_limit_mib: 400 − 100) less the base; "
         "larger tasks scale the same way"),
        ("SPAN_BYTES_IF_UNMEASURED", f"{whole(SPAN_BYTES_IF_UNMEASURED)} bytes", "used when `span_bytes` is null"),
        ("SPAN_GZIP_RATIO", sig(SPAN_GZIP_RATIO),
         "routers → samplers is OTLP/gRPC, gzip by default: bytes on the wire over protobuf bytes"),
        ("CROSS_AZ_SHARE", pct(CROSS_AZ_SHARE), "tasks in two zones: half of what goes to one place crosses one"),
        ("TRACES_PER_REQUEST", sig(TRACES_PER_REQUEST),
         "the browser sends no `traceparent`: each request starts a trace; the job joins its click's"),
        ("ERROR_OR_SLOW_SHARE", pct(ERROR_OR_SLOW_SHARE), "traces kept as errors or slower than 1 s, faults off"),
        ("NON_QUERY_SPANS_PER_CLICK", sig(NON_QUERY_SPANS_PER_CLICK),
         "two SERVER spans, the send, the job's CONSUMER span: the other spans are queries"),
        ("QUERY_RTT_MS_AWS", f"{sig(QUERY_RTT_MS_AWS)} ms",
         "a query's round trip in the VPC, which holds a connection but uses no database CPU"),
        ("DB_CPU_TARGET", pct(DB_CPU_TARGET),
         "the database's CPU kept under half: autovacuum, checkpoints, the insights batches come on top"),
        ("DB_BYTES_PER_CLICK_IF_UNMEASURED", f"{whole(DB_BYTES_PER_CLICK_IF_UNMEASURED)} bytes",
         "a to-do and a job row with their indexes and dead tuples; nothing is ever deleted"),
        ("PAGE_BYTES", f"{whole(PAGE_BYTES)} bytes",
         "GET /, uncompressed (bench/README.md: 33 KB with 20 to-dos); the list is not paginated"),
        ("HEADER_BYTES_PER_REQUEST", f"{whole(HEADER_BYTES_PER_REQUEST)} bytes",
         "request and response headers and the form, through the ALB"),
        ("RESPONSE_HEADER_BYTES", f"{whole(RESPONSE_HEADER_BYTES)} bytes", "of those, out to the browser"),
        ("CLICKS_PER_NEW_CONNECTION", sig(CLICKS_PER_NEW_CONNECTION), "browsers keep connections alive"),
        ("CONNECTION_SECONDS", f"{CONNECTION_SECONDS} s", "a connection lasts until the ALB's idle timeout (60 s)"),
        ("LOG_BYTES_PER_CLICK", f"{whole(LOG_BYTES_PER_CLICK)} bytes",
         "web logs nothing per request at `info`; the worker's `record processed` line and Lambda's "
         "START/END/REPORT lines"),
        ("WEB_MAX_TASKS_HEADROOM", f"{sig(WEB_MAX_TASKS_HEADROOM)} ×",
         "WebMaxTasks over the level's tasks: bursts (a task takes a minute to start), a lost zone"),
        ("WORKER_CONCURRENCY_HEADROOM", f"{sig(WORKER_CONCURRENCY_HEADROOM)} ×",
         "WorkerMaxConcurrency over the mean concurrency: bursts"),
        ("DB_CONNECTIONS_HEADROOM", f"{sig(DB_CONNECTIONS_HEADROOM)} ×", "DbMaxConnections over the budget"),
        ("WEB_POOL_HEADROOM", f"{sig(WEB_POOL_HEADROOM)} ×",
         "WebDatabasePoolSize over a task's mean queries in progress (Little's law gives the mean)"),
        ("WORKER_OVERLAP, DB_CLASS_MEMORY_SHARE", f"{WORKER_OVERLAP}, {pct(DB_CLASS_MEMORY_SHARE)}",
         "scripts/check-connection-budget.py's: old Lambda environments, RDS's DBInstanceClassMemory"),
    ]
    return table(["assumption", "value", "why"], [[", ".join(f"`{n}`" for n in a.split(", ")) if "_" in a else a, v, w]
                                                 for a, v, w in rows])


def aws_prices_table():
    rows = [
        ["RDS gp3 storage", f"{usd(RDS_GP3_GB_MONTH)}/GB-month"],
        ["RDS Proxy", f"{usd(RDS_PROXY_VCPU_HOUR)}/vCPU-hour of the database, 2 vCPUs at least"],
        ["Application Load Balancer", f"{usd(ALB_HOUR)}/hour + {usd(ALB_LCU_HOUR)}/LCU-hour; an LCU is "
         f"{LCU_NEW_CONNECTIONS_PER_S} new connections/s, {whole(LCU_ACTIVE_CONNECTIONS)} active connections, "
         f"{sig(LCU_GB_PER_HOUR)} GB processed an hour or {whole(LCU_RULE_EVALUATIONS_PER_S)} rule "
         f"evaluations/s (the first {ALB_FREE_RULES} rules free), whichever is largest"],
        ["public IPv4 address", f"{usd(PUBLIC_IPV4_HOUR)}/hour (the ALB's {ALB_PUBLIC_IPS}, every web and "
         "sampler task: `AssignPublicIp: ENABLED`)"],
        ["data transfer out to the internet", ", ".join(
            f"{usd(price)}/GB" + (f" up to {whole(ceiling / 1000)} TB" if ceiling != math.inf else " beyond")
            for ceiling, price in EGRESS_TIERS) + " (tiers of a month's total)"],
        ["data transfer between zones", f"{usd(CROSS_AZ_GB)}/GB ({usd(CROSS_AZ_GB / 2)} each way)"],
        ["CloudWatch Logs", f"{usd(CLOUDWATCH_LOGS_GB)}/GB ingested (storage for 14 days left out)"],
        ["Secrets Manager, Cloud Map, alarms", f"{usd(SECRETS_MONTH)} + {usd(CLOUD_MAP_NAMESPACE_MONTH)} + "
         f"{usd(CLOUD_MAP_INSTANCE_MONTH)} a task + {usd(ALARMS_MONTH)} a month"],
        ["SQS at idle", f"{big(SQS_IDLE_REQUESTS_MONTH)} requests a month (infra/README.md: the event "
         "source mapping's long polls, the `/readyz` probes)"],
    ]
    classes = [[name, str(vcpus), str(ram), f"{usd(hour)}/hour",
                f"{pct(baseline)} a vCPU" if baseline else "-",
                whole(rds_max_connections(ram)),
                "yes" if name in DB_ALLOWED_CLASSES else "no: add it there and to check-connection-budget.py"]
               for name, vcpus, ram, hour, baseline in RDS_CLASSES]
    return (table(["what", "price"], rows) + "\n\n"
            + table(["RDS for PostgreSQL, Single-AZ", "vCPUs", "GiB", "price", "burstable baseline",
                     "max_connections (estimated)", "in DbInstanceClass's AllowedValues"], classes))


def render(inp, path):
    d = derived(inp)
    ms = [level(inp, d, clicks) for clicks in LEVELS]
    p = inp["prices"]
    heads = [f"{whole(m['clicks'])} clicks/s" for m in ms]
    out = [BEGIN.format(path=path), ""]
    if inp.get("note"):
        out += [f"**{inp['note']}**", ""]

    # Inputs.
    measured_by = inp.get("measured_by", {})

    def by(key):
        return f"`{measured_by[key]}`" if measured_by.get(key) else "-"

    rows = []
    for key, unit, what in INPUTS:
        value = inp[key]
        shown = sig(value) if value is not None else f"null: {whole(SPAN_BYTES_IF_UNMEASURED)} assumed"
        rows.append([f"`{key}`", shown, unit, what, by(key)])
    for key, unit, what, instead in OPTIONAL:
        if inp.get(key) is not None:
            rows.append([f"`{key}`", sig(inp[key]), unit, what, by(key)])
        else:
            rows.append([f"`{key}`", "not measured", unit, what, f"assumed: {instead}"])
    rows.append(["`cpu`", inp["cpu"], "", "the machine the inputs were measured on", by("cpu")])
    out += [f"### Measured inputs ({sig(inp['clicks'])} clicks)", "",
            table(["input", "value", "unit", "what", "measured by"], rows), ""]

    as_of = inp.get("prices_as_of") or p.get("prices_as_of") or "?"
    rows = [[f"`{k}`", sig(p[k]), PRICE_WHAT[k]] for k in PRICE_KEYS]
    out += [f"The app's price table, as `/api/insights` returns it (`PRICES`; defaults: us-east-1, "
            f"{as_of}); `PRICES=name=value,…` sets any of them:", "",
            table(["price", "USD", "what"], rows), "",
            "### Assumptions", "",
            "Constants at the top of `bench/scale-model.py`; the template's defaults are there too.", "",
            assumptions_table(), "",
            "AWS list prices the model adds (us-east-1, on-demand, as known in 2025: check them before "
            "relying on them):", "",
            aws_prices_table(), ""]

    # Per click and per task.
    click_bytes = PAGE_BYTES + inp["requests_per_click"] * HEADER_BYTES_PER_REQUEST
    rows = [
        ["web CPU a click (all threads)", f"{sig(d['web_ms'])} ms",
         "`web_cpu_ms_per_click` ÷ `FARGATE_VCPU_PER_MEASURED_CORE`"],
        ["… outside the handlers (runtime, HTTP, the span export thread)",
         pct(1 - inp["web_cpu_ms_per_click_handlers"] / inp["web_cpu_ms_per_click"]) if inp["web_cpu_ms_per_click"] else "-",
         "1 − `web_cpu_ms_per_click_handlers` ÷ `web_cpu_ms_per_click`"],
        ["router CPU a click, in the same task", f"{sig(d['router_ms'])} ms",
         "`spans_per_click` × `ROUTER_CPU_MS_PER_SPAN`"],
        [f"**requests/s a web task serves** at {WEB_CPU_TARGET_PERCENT} % of {sig(d['vcpu'])} vCPU",
         f"**{whole(d['task_clicks'] * inp['requests_per_click'])}** ({sig(d['task_clicks'])} clicks/s)",
         "vCPU × target ÷ (web + router CPU a click) × `requests_per_click`"],
        ["… web alone, no router", whole(d["task_clicks_web_alone"] * inp["requests_per_click"]), "the same, router 0"],
        [f"… if the router took {sig(ROUTER_CPU_MS_PER_SPAN_PESSIMISTIC * 1000)} µs a span",
         whole(d["task_clicks_pessimistic"] * inp["requests_per_click"]), "`ROUTER_CPU_MS_PER_SPAN_PESSIMISTIC`"],
        ["a task's memory", f"{sig(inp['web_rss_mib'])} MiB web + ≤ 200 MiB router of {whole(d['gb'] * 1024)} MiB",
         "`web_rss_mib`; the router's memory_limiter (deploy/otel-router.yaml): CPU, not memory, sets the tasks"],
        ["queries a click", sig(d["queries"]), "`queries_per_click`, else spans − `NON_QUERY_SPANS_PER_CLICK`"],
        ["database CPU a click", f"{sig(d['db_cpu_ms'])} ms",
         "`db_cpu_ms_per_click`" if d["db_cpu_measured"] else "`db_ms_per_click`: query time, an upper bound"],
        ["a Lambda record's CPU share in AWS", pct(inp["worker_memory_mb"] / LAMBDA_MB_PER_VCPU) + " of a vCPU",
         f"`worker_memory_mb` ÷ {LAMBDA_MB_PER_VCPU} MB (Lambda's vCPU per memory); measured on a whole core"],
        ["traces a click", sig(d["traces_per_click"]), "`requests_per_click` × `TRACES_PER_REQUEST`"],
        ["share of spans the tail sampler keeps", pct(d["kept_share"]),
         f"`ERROR_OR_SLOW_SHARE` + the rest × TraceSamplingPercentage {TRACE_SAMPLING_PERCENTAGE} %"],
        ["bytes through the ALB a click", whole(click_bytes),
         "`PAGE_BYTES` + `requests_per_click` × `HEADER_BYTES_PER_REQUEST`"],
    ]
    out += ["### Per click and per task", "", table(["figure", "value", "from"], rows), ""]

    # The model per level.
    worker_note = lambda n: f" (over a new account's {LAMBDA_NEW_ACCOUNT_CONCURRENCY})" \
        if n > LAMBDA_NEW_ACCOUNT_CONCURRENCY else ""
    web = [
        ["tasks needed at the target", *[sig(m["tasks_needed"]) for m in ms]],
        [f"web tasks (at least WebMinTasks {WEB_MIN_TASKS})", *[whole(m["tasks"]) for m in ms]],
        [f"their CPU use (of {sig(d['vcpu'])} vCPU each)", *[pct(m["web_cpu_use"]) for m in ms]],
        ["metric points/s they export", *[sig(m["metric_points"]) for m in ms]],
    ]
    worker = [
        ["records/s", *[whole(m["records"]) for m in ms]],
        ["concurrent invocations (Little's law)", *[sig(m["worker_concurrency"]) for m in ms]],
        [f"WorkerMaxConcurrency to set (× {sig(WORKER_CONCURRENCY_HEADROOM)})",
         *[whole(m["worker_max"]) + worker_note(m["worker_max"]) for m in ms]],
    ]
    db_basis = "measured server CPU" if d["db_cpu_measured"] else "query time, an upper bound"
    database = [
        ["queries in progress (Little's law, as measured)", *[sig(m["db_busy"]) for m in ms]],
        [f"… with {sig(QUERY_RTT_MS_AWS)} ms more per query (AWS round trips)", *[sig(m["db_busy_aws"]) for m in ms]],
        [f"… per web task (web's and the worker's: an upper bound), against its pool of {WEB_DATABASE_POOL_SIZE}",
         *[sig(m["db_busy_per_task"]) for m in ms]],
        [f"database vCPUs busy ({db_basis})", *[sig(m["db_vcpu"]) for m in ms]],
        [f"vCPUs to provide (busy ÷ {pct(DB_CPU_TARGET)})", *[sig(m["db_vcpu_needed"]) for m in ms]],
        ["connection budget: web peak + worker × 2 + reserve",
         *[f"{whole(m['budget_web'])} + {whole(m['budget_worker'])} + {DB_RESERVED_CONNECTIONS} = {whole(m['budget'])}"
           for m in ms]],
        ["instance class: the cheapest with both",
         *[f"{m['db_class'][0]}" + ("" if m["db_class"][0] in DB_ALLOWED_CLASSES else " (not allowed yet)")
           for m in ms]],
        ["… picked by", *[f"connections ({m['db_class_cpu_only'][0]} has the CPU)"
                          if m["db_class"] != m["db_class_cpu_only"] else "CPU" for m in ms]],
        ["an RDS Proxy in front of it, a month", *[usd(m["db_proxy_month"]) for m in ms]],
        [f"growth ({whole(d['db_bytes'])} bytes a click)", *[f"{sig(m['db_growth_gb_month'])} GB a month" for m in ms]],
        [f"days until the {DB_STORAGE_GB} GB disk is full", *[sig(m["db_days_to_fill"]) for m in ms]],
    ]
    queue = [
        ["SQS requests/s (one per message: upper bound)", *[whole(m["sqs_per_s"]) for m in ms]],
        [f"… with full batches of {WORKER_BATCH_SIZE}", *[whole(m["sqs_batched_per_s"]) for m in ms]],
        ["SQS requests a month (upper bound)", *[big(m["sqs_per_s"] * SECONDS_PER_MONTH) for m in ms]],
        ["S3 requests (a click makes none)", *["0"] * 3],
    ]
    telemetry = [
        ["spans/s (every span exported)", *[whole(m["spans"]) for m in ms]],
        ["… in OTLP bytes", *[f"{sig(m['span_bytes_s'] / 1e6)} MB/s" for m in ms]],
        ["traces/s", *[whole(m["traces"]) for m in ms]],
        ["spans/s the samplers keep", *[whole(m["kept_spans"]) for m in ms]],
        ["to the trace backend a month", *[f"{sig(m['kept_gb_month'])} GB, {big(m['kept_spans'] * SECONDS_PER_MONTH)} spans"
                                           for m in ms]],
        [f"spans held ({TRACE_DECISION_WAIT_S} s decision wait × bytes × {sig(SAMPLER_MEMORY_OVERHEAD)})",
         *[f"{sig(m['sampler_mib'])} MiB" for m in ms]],
        ["sampler CPU", *[f"{sig(m['sampler_cpu'])} vCPU" for m in ms]],
        ["sampler tasks × size",
         *[f"{m['samplers']} × {sig(m['sampler_size'][0])} vCPU, {sig(m['sampler_size'][1])} GB"
           + ("" if m["sampler_size"] == SAMPLER_TASK else " (not the template's size)") for m in ms]],
        [f"traces in flight per sampler (num_traces: {whole(NUM_TRACES)})",
         *[whole(m["traces_in_flight"] / m["samplers"]) for m in ms]],
        [f"seconds a sampler remembers a trace (a retry comes ≥ {VISIBILITY_TIMEOUT_S} s late)",
         *[sig(m["remembered_s"]) for m in ms]],
    ]
    alb = [
        ["new connections/s, active connections",
         *[f"{whole(m['new_connections'])}, {whole(m['active_connections'])}" for m in ms]],
        ["processed GB an hour", *[sig(m["alb_gb_hour"]) for m in ms]],
        ["LCUs (the largest dimension)", *[f"{sig(m['lcu'])} ({m['lcu_by']})" for m in ms]],
        ["data transfer out, GB a month", *[sig(m["egress_gb_month"]) for m in ms]],
    ]
    out += ["### At 100, 1,000 and 10,000 clicks a second", ""]
    for title, rows in (("web (ECS Fargate)", web), ("worker (Lambda)", worker), ("database (RDS)", database),
                        ("SQS and S3", queue), ("telemetry", telemetry), ("load balancer", alb)):
        out += [table([title, *heads], rows), ""]
    out += [f"S3, per upload rather than per click: {S3_UPLOAD_PUTS} PUT (web) + {S3_UPLOAD_GETS} GET (the "
            f"worker) = {usd((S3_UPLOAD_PUTS * p['s3_put'] + S3_UPLOAD_GETS * p['s3_get']) * 1e6)} a million "
            f"uploads, plus {usd(p['s3_gb_month'])} a GB-month stored; the upload's job costs what a click's does.", ""]

    # What breaks first.
    rows = [[sig(clicks), what, effect, change] for clicks, what, effect, change in limits_at_defaults(inp, d)]
    out += ["### What breaks first at the template's defaults", "",
            table(["clicks/s", "limit", "then", "change"], rows), ""]

    # What to deploy.
    def same(default):
        return [str(default)] * 3

    rows = [
        ["WebMinTasks", str(WEB_MIN_TASKS), *same(WEB_MIN_TASKS)],
        ["WebMaxTasks", str(WEB_MAX_TASKS),
         *[whole(m["web_max_tasks"]) + ("" if m["web_max_tasks"] <= WEB_MAX_TASKS_LIMIT
                                        else f" (over its MaxValue {WEB_MAX_TASKS_LIMIT})") for m in ms]],
        ["WebCpuTargetPercent", str(WEB_CPU_TARGET_PERCENT), *same(WEB_CPU_TARGET_PERCENT)],
        ["WebDatabasePoolSize", str(WEB_DATABASE_POOL_SIZE), *[whole(m["web_pool"]) for m in ms]],
        ["WorkerMaxConcurrency", str(WORKER_MAX_CONCURRENCY), *[whole(m["worker_max"]) for m in ms]],
        ["WorkerDatabasePoolSize", str(WORKER_DATABASE_POOL_SIZE), *same(WORKER_DATABASE_POOL_SIZE)],
        ["DbInstanceClass", DB_INSTANCE_CLASS, *[m["db_class"][0] for m in ms]],
        ["DbMaxConnections", str(DB_MAX_CONNECTIONS), *[whole(m["db_max_connections"]) for m in ms]],
        ["DbReservedConnections", str(DB_RESERVED_CONNECTIONS), *same(DB_RESERVED_CONNECTIONS)],
        ["TraceSamplerCount", str(TRACE_SAMPLER_COUNT), *[whole(m["samplers"]) for m in ms]],
        ["TraceSamplingPercentage", str(TRACE_SAMPLING_PERCENTAGE), *same(TRACE_SAMPLING_PERCENTAGE)],
        ["the sampler's size (fixed in the template)", f"{sig(SAMPLER_TASK[0])} vCPU, {sig(SAMPLER_TASK[1])} GB",
         *[f"{sig(m['sampler_size'][0])} vCPU, {sig(m['sampler_size'][1])} GB" for m in ms]],
        ["num_traces (deploy/otel-sampler.yaml)", whole(NUM_TRACES), *[whole(m["num_traces"]) for m in ms]],
        ["`PRICES`, so the app prices that class", "(unset)",
         *[f"`db_instance_hour={m['db_class'][3]},db_vcpus={m['db_class'][1]}`" for m in ms]],
    ]
    out += ["### What to deploy at each level", "",
            table(["parameter", "default", *heads], rows), ""]

    # Monthly cost.
    names = list(ms[0]["cost"])
    rows = [[name, *[usd(m["cost"][name]) for m in ms]] for name in names]
    rows.append(["**total a month**", *[f"**{usd(m['total'])}**" for m in ms]])
    rows.append(["per 1,000 clicks", *[usd(m["total"] / m["clicks_month"] * 1000) for m in ms]])
    rows.append(["per click", *[usd(m["total"] / m["clicks_month"]) for m in ms]])
    rows.append([f"total with full batches of {WORKER_BATCH_SIZE} (Lambda and SQS requests)",
                 *[usd(m["total"] - m["lambda_requests_batched_saving"] - m["sqs_batched_saving"]) for m in ms]])
    rows.append(["trace backend: left out (the vendor's price), its volume",
                 *[f"{sig(m['kept_gb_month'])} GB" for m in ms]])
    out += [f"### Monthly cost ({HOURS_PER_MONTH} hours)", "", table(["what", *heads], rows), ""]

    # The app's estimate against the model.
    app = d["app"]
    app_click = sum(app.values())
    model_parts = (
        ("web", "web: handlers' CPU, a task priced as fully used", ("web tasks (Fargate)",)),
        ("database", "database: query time at `db_instance_hour` ÷ `db_vcpus` a second",
         ("RDS instance", "RDS storage (gp3), a month of rows")),
        ("worker", "worker: billed duration × memory, a request per record", ("Lambda (GB-s + requests)",)),
        ("sqs", "SQS: one request per message", ("SQS",)),
    )
    rows = []
    for part, what, parts in model_parts:
        rows.append([what, *[c for m in ms for c in (usd(app[part] * m["clicks_month"]),
                                                       usd(sum(m["cost"][n] for n in parts)))]])
    counted = {n for _, _, parts in model_parts for n in parts}
    rest = [n for n in names if n not in counted]
    rows.append(["everything else in the cost table", *[c for m in ms for c in (
        "$0", usd(sum(m["cost"][n] for n in rest)))]])
    rows.append(["**total a month**", *[c for m in ms for c in (f"**{usd(app_click * m['clicks_month'])}**",
                                                                  f"**{usd(m['total'])}**")]])
    rows.append(["per 1,000 clicks", *[c for m in ms for c in (
        usd(app_click * 1000), usd(m["total"] / m["clicks_month"] * 1000))]])
    header = ["part"] + [f"{whole(m['clicks'])}/s: {who}" for m in ms for who in ("app", "model")]
    out += ["### The app's per-user estimate against the model", "",
            f"At the default `PRICES` the app counts {usd(app_click * 1e6)} a million clicks: web "
            f"{usd(app['web'] * 1e6)}, database {usd(app['database'] * 1e6)}, worker "
            f"{usd(app['worker'] * 1e6)}, SQS {usd(app['sqs'] * 1e6)}.", "",
            table(header, rows), "", END]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------- repo checks
def check_repo():
    """Warn (stderr) where the constants above no longer match the template's defaults."""
    try:
        with open(os.path.join(ROOT, "infra", "template.yaml"), encoding="utf-8") as f:
            template = f.read()
        with open(os.path.join(ROOT, "deploy", "otel-sampler.yaml"), encoding="utf-8") as f:
            sampler = f.read()
    except OSError:
        return
    params = template.split("\nParameters:\n", 1)[-1].split("\nConditions:\n", 1)[0]
    defaults = dict(re.findall(r"^  (\w+):\n(?:    .*\n|      .*\n)*?    Default: \"?([^\"\n]+)\"?$", params, re.M))
    expected = {
        "WebCpuTargetPercent": WEB_CPU_TARGET_PERCENT, "WebMinTasks": WEB_MIN_TASKS,
        "WebMaxTasks": WEB_MAX_TASKS, "WebDatabasePoolSize": WEB_DATABASE_POOL_SIZE,
        "WorkerDatabasePoolSize": WORKER_DATABASE_POOL_SIZE, "WorkerMaxConcurrency": WORKER_MAX_CONCURRENCY,
        "WorkerBatchSize": WORKER_BATCH_SIZE, "DbMaxConnections": DB_MAX_CONNECTIONS,
        "DbReservedConnections": DB_RESERVED_CONNECTIONS, "DbInstanceClass": DB_INSTANCE_CLASS,
        "TraceSamplingPercentage": TRACE_SAMPLING_PERCENTAGE,
        "TraceSamplingDecisionWaitSeconds": TRACE_DECISION_WAIT_S, "TraceSamplerCount": TRACE_SAMPLER_COUNT,
    }
    for name, value in expected.items():
        if name in defaults and str(defaults[name]).strip() != str(value):
            print(f"scale-model: infra/template.yaml's {name} default is {defaults[name]}, "
                  f"the model assumes {value}", file=sys.stderr)
    found = re.search(r"^\s*num_traces:\s*(\d+)", sampler, re.M)
    if found and int(found.group(1)) != NUM_TRACES:
        print(f"scale-model: deploy/otel-sampler.yaml's num_traces is {found.group(1)}, "
              f"the model assumes {NUM_TRACES}", file=sys.stderr)
    allowed = re.search(r"^  DbInstanceClass:\n(?:    .*\n)*?    AllowedValues:\n((?:      - .*\n)+)", params, re.M)
    if allowed and tuple(re.findall(r"- (\S+)", allowed.group(1))) != DB_ALLOWED_CLASSES:
        print(f"scale-model: DbInstanceClass's AllowedValues changed; the model assumes {DB_ALLOWED_CLASSES}",
              file=sys.stderr)
    sampler_task = re.search(r"^  TraceSamplerTaskDefinition:\n(?:    .*\n|\s*#.*\n)*?      Cpu: \"(\d+)\"\n"
                             r"(?:\s*#.*\n)*      Memory: \"(\d+)\"", template, re.M)
    if sampler_task and (int(sampler_task.group(1)) / 1024, int(sampler_task.group(2)) / 1024) != SAMPLER_TASK:
        print(f"scale-model: the sampler task is {sampler_task.group(1)} CPU units / {sampler_task.group(2)} MiB, "
              f"the model assumes {SAMPLER_TASK}", file=sys.stderr)
    for name, value in (("VisibilityTimeout", VISIBILITY_TIMEOUT_S), ("MaximumPercent", DEPLOYMENT_MAXIMUM_PERCENT)):
        found = re.search(rf"^\s+{name}: (\d+)", template, re.M)
        if found and int(found.group(1)) != value:
            print(f"scale-model: the template's {name} is {found.group(1)}, the model assumes {value}", file=sys.stderr)
    storage = re.search(r'AllocatedStorage: "?(\d+)"?', template)
    if storage and int(storage.group(1)) != DB_STORAGE_GB:
        print(f"scale-model: the template allocates {storage.group(1)} GB, the model assumes {DB_STORAGE_GB}",
              file=sys.stderr)


def main(argv):
    args = list(argv)
    update = None
    if "--update" in args:
        i = args.index("--update")
        if i + 1 >= len(args):
            fail("--update needs the Markdown file whose generated block to replace")
        update = args[i + 1]
        del args[i:i + 2]
    if len(args) > 1 or (args and args[0].startswith("-")):
        fail("usage: bench/scale-model.py [inputs.json] [--update docs/scale.md]")
    path = args[0] if args else DEFAULT_INPUTS
    resolved = path if os.path.isabs(path) or os.path.exists(path) else os.path.join(ROOT, path)
    block = render(load(resolved), path)
    check_repo()
    if update is None:
        sys.stdout.write(block)
        return 0
    with open(update, encoding="utf-8") as f:
        text = f.read()
    start = re.search(r"^<!-- generated: python3 bench/scale-model\.py .*-->$", text, re.M)
    end = text.find(END, start.end()) if start else -1
    if not start or end < 0:
        fail(f"{update}: no '<!-- generated: python3 bench/scale-model.py … -->' … '{END}' block")
    with open(update, "w", encoding="utf-8") as f:
        f.write(text[:start.start()] + block.rstrip("\n") + text[end + len(END):])
    print(f"scale-model: {update} updated from {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
