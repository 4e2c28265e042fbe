//! A binary under test as a child process: its stdout and stderr kept line by line (and
//! printed if the test fails), its "listening on" line reported.

use std::{
    collections::HashMap,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::oneshot,
};

pub struct Process {
    pub name: &'static str,
    pub child: Child,
    pub log: Arc<Mutex<Vec<String>>>,
    /// The tasks copying stdout and stderr into `log`: done at the pipes' end.
    readers: Vec<tokio::task::JoinHandle<()>>,
}

/// Which environment a process starts with.
pub enum Env<'a> {
    /// The test's own, minus the variables that would redirect telemetry, plus these.
    Inherit(&'a HashMap<&'a str, String>, &'a [(&'a str, String)]),
    /// Only these (and `PATH`): exactly what a container would get.
    Only(&'a [(String, String)]),
}

impl Process {
    /// Starts `path`; the receiver yields the first stdout line containing "listening on".
    pub fn start(
        name: &'static str,
        path: &str,
        env: Env<'_>,
    ) -> (Self, oneshot::Receiver<String>) {
        let mut command = Command::new(path);
        match env {
            Env::Inherit(env, extra) => {
                command
                    .env_remove("OTEL_SERVICE_NAME")
                    .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                    .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                    .envs(extra.iter().map(|(k, v)| (*k, v.as_str())));
            }
            Env::Only(vars) => {
                command.env_clear();
                if let Ok(path) = std::env::var("PATH") {
                    command.env("PATH", path);
                }
                command.envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            }
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {name} ({path}): {e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = oneshot::channel();
        let mut tx = Some(tx);
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let out_log = log.clone();
        let out = tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("listening on")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(line.clone());
                }
                out_log.lock().expect("log lock").push(line);
            }
        });
        let err_log = log.clone();
        let err = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                err_log.lock().expect("log lock").push(line);
            }
        });
        let readers = vec![out, err];
        (
            Self {
                name,
                child,
                log,
                readers,
            },
            rx,
        )
    }

    /// Waits for the process to exit and for its last lines to reach the log (the
    /// copying tasks read on after the exit, until the pipes end).
    pub async fn exited(&mut self) -> std::io::Result<std::process::ExitStatus> {
        let status = self.child.wait().await?;
        for reader in self.readers.drain(..) {
            let _ = reader.await;
        }
        Ok(status)
    }

    /// Waits until the process logged a line containing `needle`; returns that line.
    pub async fn wait_for_log(&self, needle: &str, deadline: Duration) -> String {
        let log = self.log.clone();
        crate::eventually(
            &format!("{} to log {needle:?}", self.name),
            deadline,
            || {
                let found = log
                    .lock()
                    .expect("log lock")
                    .iter()
                    .find(|l| l.contains(needle))
                    .cloned();
                async move { found }
            },
        )
        .await
    }

    /// The log so far.
    pub fn lines(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }
}

/// Prints the last 300 lines of each process's log (called when a test fails).
pub fn dump(processes: &[Process]) {
    for p in processes {
        let log = p.log.lock().expect("log lock");
        let skip = log.len().saturating_sub(300);
        eprintln!("----- {} (last {} lines) -----", p.name, log.len() - skip);
        for line in &log[skip..] {
            eprintln!("{line}");
        }
    }
}
