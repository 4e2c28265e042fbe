//! A collector that hangs: accepts connections, reads what is sent, never answers.
//! What a slow or wedged OTLP endpoint looks like to an exporter.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::io::AsyncReadExt;

pub struct Stalled {
    pub addr: SocketAddr,
    connections: Arc<AtomicU64>,
}

impl Stalled {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stalled endpoint");
        let addr = listener.local_addr().expect("stalled endpoint address");
        let connections = Arc::new(AtomicU64::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 8192];
                    // Read until the client gives up; answer nothing.
                    while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
                });
            }
        });
        Self { addr, connections }
    }

    /// `OTEL_EXPORTER_OTLP_ENDPOINT` pointing here.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections the exporters opened so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
}
