//! What the worker's per-invocation flush costs (bench/run.sh (f)): the function's
//! telemetry, as `worker::run_function` sets it up, exporting to the OTLP endpoint of
//! the environment; each "invocation" ends the spans a job makes (the invocation, the
//! consumer span, three queries) and records its metrics, then the flush is timed, as
//! lambda_runtime's layer calls it. Prints milliseconds per flush: median, p90, p99, max.
//!
//! Usage: OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 flush-cost [INVOCATIONS]

// mimalloc: fewer instructions a request than glibc's malloc (README, "Measurements").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use common::{metrics::Metrics, telemetry::Telemetry};
use opentelemetry::{
    KeyValue,
    trace::{Span as _, SpanKind, TraceContextExt as _, Tracer as _, TracerProvider as _},
};

fn main() -> std::process::ExitCode {
    let invocations: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(500);
    let telemetry = match Telemetry::init("todo-worker", Some(worker::config::EXPORT_TIMEOUT)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("flush-cost: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let tracer = opentelemetry::global::tracer_provider().tracer("flush-cost");
    let metrics = Metrics::on(telemetry.meter_provider());
    let flusher = telemetry.flusher();
    let mut flushes = Vec::with_capacity(invocations);
    for i in 0..invocations {
        let invocation = tracer
            .span_builder("todo-worker")
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("faas.trigger", "pubsub"),
                KeyValue::new("faas.invocation_id", format!("bench-{i}")),
                KeyValue::new("faas.coldstart", i == 0),
            ])
            .start(&tracer);
        let cx = opentelemetry::Context::current_with_span(invocation);
        let consumer = tracer
            .span_builder("process jobs")
            .with_kind(SpanKind::Consumer)
            .with_attributes([
                KeyValue::new("messaging.system", "aws_sqs"),
                KeyValue::new("messaging.operation.type", "process"),
                KeyValue::new("messaging.destination.name", "jobs"),
                KeyValue::new("messaging.message.id", format!("message-{i}")),
            ])
            .start_with_context(&tracer, &cx);
        let consumer_cx = cx.with_span(consumer);
        for (name, sql) in [
            (
                "UPDATE jobs",
                "UPDATE jobs SET state = 'running' WHERE id = $1",
            ),
            (
                "UPDATE todos",
                "UPDATE todos SET enriched_at = now() WHERE id = $1",
            ),
            (
                "UPDATE jobs",
                "UPDATE jobs SET state = 'done' WHERE id = $1",
            ),
        ] {
            let mut query = tracer
                .span_builder(name)
                .with_kind(SpanKind::Client)
                .with_attributes([
                    KeyValue::new("db.system.name", "postgresql"),
                    KeyValue::new("db.query.text", sql),
                    KeyValue::new("enduser.id", "guest"),
                ])
                .start_with_context(&tracer, &consumer_cx);
            query.end();
            metrics.db_operation(Some("guest"), "UPDATE", Duration::from_micros(300), true);
        }
        metrics.job("enrich_todo", "done");
        consumer_cx.span().end();
        cx.span().end();

        let started = Instant::now();
        flusher.flush();
        flushes.push(started.elapsed());
    }
    flushes.sort_unstable();
    let at = |q: f64| flushes[((flushes.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "flush per invocation ({invocations} invocations, 5 spans + metrics each): \
         median {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms (bounded by the export timeout, {} ms)",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(0.99)),
        ms(at(1.0)),
        worker::config::EXPORT_TIMEOUT.as_millis()
    );
    drop(telemetry);
    std::process::ExitCode::SUCCESS
}
