//! `trace-console`: an OTLP/HTTP endpoint (default 127.0.0.1:4318, Jaeger's port) that
//! prints each trace as one tree once it has been quiet for a moment, so the native
//! demo shows one click as one trace across web and worker without Jaeger.
//!
//! `TRACE_CONSOLE_ADDR` (127.0.0.1:4318), `TRACE_CONSOLE_QUIET_MS` (1500),
//! `TRACE_CONSOLE_PRINT` (true; false only counts, for benchmarks: `GET /api/stats`).

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use trace_console::{receiver::Receiver, tree};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let addr = std::env::var("TRACE_CONSOLE_ADDR").unwrap_or_else(|_| "127.0.0.1:4318".into());
    let quiet = std::env::var("TRACE_CONSOLE_QUIET_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_millis(1500));
    let Ok(addr) = addr.parse() else {
        eprintln!(
            "trace-console: TRACE_CONSOLE_ADDR={addr:?} is not an address like 127.0.0.1:4318"
        );
        return std::process::ExitCode::FAILURE;
    };
    let receiver = match Receiver::start_on(addr).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("trace-console: cannot listen on {addr}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("trace-console listening on http://{addr} (OTLP/HTTP)");
    if std::env::var("TRACE_CONSOLE_PRINT").is_ok_and(|v| v == "false") {
        let _ = tokio::signal::ctrl_c().await;
        return std::process::ExitCode::SUCCESS;
    }
    // Per trace: how many spans were printed; a trace is printed again if more arrive.
    let mut printed: HashMap<String, usize> = HashMap::new();
    let mut seen = 0;
    let mut last_change: HashMap<String, tokio::time::Instant> = HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = ticker.tick() => {},
            _ = tokio::signal::ctrl_c() => return std::process::ExitCode::SUCCESS,
        }
        let spans = receiver.spans();
        let now = tokio::time::Instant::now();
        for s in &spans[seen..] {
            last_change.insert(s.trace_id.clone(), now);
        }
        seen = spans.len();
        let ready: HashSet<String> = last_change
            .iter()
            .filter(|(_, t)| now.duration_since(**t) >= quiet)
            .map(|(id, _)| id.clone())
            .collect();
        for trace_id in ready {
            last_change.remove(&trace_id);
            let trace: Vec<_> = spans
                .iter()
                .filter(|s| s.trace_id == trace_id)
                .cloned()
                .collect();
            let before = printed.insert(trace_id.clone(), trace.len());
            let note = if before.is_some() {
                " (more spans arrived)"
            } else {
                ""
            };
            println!("{}{note}", tree::render(&trace).trim_end());
        }
    }
}
