# Sourced by the benchmarks after scripts/lib.sh (and ensure_venv, ensure_sqs): the
# database and queues of one benchmark, on the server and SQS API the app would use.
bench_services() { # name
  local server_url
  server_url=$(effective web DATABASE_URL)
  check_postgres "$server_url"
  export DATABASE_URL="${server_url%/*}/traced_todo_$1"
  export JOBS_QUEUE_URL="${AWS_ENDPOINT_URL_SQS%/}/123456789012/$1-jobs"
  export JOBS_DLQ_URL="${AWS_ENDPOINT_URL_SQS%/}/123456789012/$1-jobs-dlq"
  "$VENV/bin/python" scripts/create-queues.py "$JOBS_QUEUE_URL" "$JOBS_DLQ_URL" 3 >/dev/null
}
