//! `trace-console`: an OTLP/HTTP endpoint (default 127.0.0.1:4318, Jaeger's port) that
//! prints each trace as one tree once it has been quiet for a moment, so the native
//! demo shows one click as one trace across web and worker without Jaeger.
//! `trace-console --print-env` lists its variables.

use std::{net::SocketAddr, time::Duration};

use tokio::time::Instant;
use trace_console::{
    console::{Console, RETAINED_SPANS},
    receiver::{Paths, Receiver},
};

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
    // Counting only: keep nothing.
    let retained = if config.print { RETAINED_SPANS } else { 0 };
    let receiver = match Receiver::start_bounded(addr, Paths::COLLECTOR, retained).await {
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
    let mut console = Console::new(Duration::from_millis(config.quiet_ms));
    let mut seq = 0;
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = ticker.tick() => {},
            _ = tokio::signal::ctrl_c() => return std::process::ExitCode::SUCCESS,
        }
        // Only what arrived since the last look, shared with the receiver, not copied.
        let new = receiver.shared_spans_since(seq);
        seq = new.next;
        if new.missed > 0 {
            println!(
                "({} spans arrived faster than they could be printed)",
                new.missed
            );
        }
        console.add(new.items, Instant::now());
        for tree in console.ready(Instant::now()) {
            println!("{tree}");
        }
    }
}
