//! `loadgen`: see the library. Stops by itself after `LOADGEN_DURATION_S`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = match loadgen::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!(
        "loadgen: {} users, {} clicks/s, {:?} against {}",
        config.users,
        config.rate,
        config.duration(),
        config.base_url
    );
    if let Err(e) = loadgen::wait_until_ready(&config.base_url, loadgen::READY_DEADLINE).await {
        eprintln!("loadgen: {e:#}");
        return std::process::ExitCode::FAILURE;
    }
    let started = std::time::Instant::now();
    match loadgen::run(&config).await {
        Ok(report) => {
            loadgen::print(&report, started.elapsed());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
