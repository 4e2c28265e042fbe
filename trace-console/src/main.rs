//! `trace-console`: an OTLP/HTTP endpoint (default 127.0.0.1:4318, Jaeger's port) that
//! prints each trace as one tree once it has been quiet for a moment, so the native
//! demo shows one click as one trace across web and worker without Jaeger.
//! `trace-console --print-env` lists its variables.

// The allocator: cheaper than glibc's for the many small, short-lived allocations of a
// request and of its spans (freed on the exporter's thread). A zero-sized handle, no state.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    time::Duration,
};

use trace_console::{receiver::Receiver, tree};

#[derive(clap::Parser, Debug)]
#[command(about = "OTLP/HTTP receiver that prints each trace as a tree")]
struct Config {
    /// Where to listen
    #[arg(long, env = "TRACE_CONSOLE_ADDR", default_value = "127.0.0.1:4318")]
    addr: SocketAddr,
    /// How long a trace must be quiet before it is printed, ms
    #[arg(long, env = "TRACE_CONSOLE_QUIET_MS", default_value_t = 1500)]
    quiet_ms: u64,
    /// false: only count spans (`GET /api/stats`), for benchmarks
    #[arg(long, env = "TRACE_CONSOLE_PRINT", default_value_t = true, action = clap::ArgAction::Set)]
    print: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config: Config = match common::config::load("trace-console", &[]) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("trace-console: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let addr = config.addr;
    let quiet = Duration::from_millis(config.quiet_ms);
    let receiver = match Receiver::start_on(addr).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("trace-console: cannot listen on {addr}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("trace-console listening on http://{addr} (OTLP/HTTP)");
    if !config.print {
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
