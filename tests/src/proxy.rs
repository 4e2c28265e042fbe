//! A TCP proxy that can cut and restore connections: real network failures between a
//! service under test and PostgreSQL or SQS, not injected ones.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

#[derive(Clone)]
pub struct Proxy {
    pub addr: SocketAddr,
    down: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
}

impl Proxy {
    /// Forwards 127.0.0.1:<random> to `target` (host:port).
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let down = Arc::new(AtomicBool::new(false));
        let (cuts, _) = watch::channel(0u64);
        let proxy = Self { addr, down, cuts };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if p.down.load(Ordering::SeqCst) {
                    // Refused: the peer sees the connection closed at once.
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let mut cut = p.cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut upstream) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let mut client = client;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        proxy
    }

    /// Drops every open connection and refuses new ones until [`Proxy::restore`].
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// A load balancer as the ALB is one for web's tasks, reduced to what a test needs: each
/// new connection goes to the next target in turn (round robin). Clients that want
/// every request balanced open a connection per request (`app::new_visitor`).
#[derive(Clone)]
pub struct RoundRobin {
    pub addr: SocketAddr,
    /// Connections each target received, in target order.
    served: Arc<Vec<std::sync::atomic::AtomicU64>>,
}

impl RoundRobin {
    /// Balances 127.0.0.1:<random> over `targets` (`http://host:port` or `host:port`).
    pub async fn start(targets: &[&str]) -> Self {
        let targets: Vec<String> = targets.iter().map(|t| target(t, 80)).collect();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind balancer");
        let addr = listener.local_addr().expect("balancer address");
        let served: Arc<Vec<_>> = Arc::new(
            targets
                .iter()
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
        );
        let counts = served.clone();
        tokio::spawn(async move {
            let mut next = 0;
            while let Ok((mut client, _)) = listener.accept().await {
                let i = next % targets.len();
                next += 1;
                counts[i].fetch_add(1, Ordering::SeqCst);
                let target = targets[i].clone();
                tokio::spawn(async move {
                    // A target that is down refuses: the client sees the connection close,
                    // as behind an ALB between a task stopping and its deregistration.
                    if let Ok(mut upstream) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        });
        Self { addr, served }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Connections each target got so far.
    pub fn served(&self) -> Vec<u64> {
        self.served
            .iter()
            .map(|n| n.load(Ordering::SeqCst))
            .collect()
    }
}

/// `url` with its host:port replaced by `addr` (for URLs like `scheme://user@host:port/db`).
pub fn through(url: &str, addr: SocketAddr) -> String {
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let userinfo = authority.rfind('@').map(|i| &authority[..=i]).unwrap_or("");
    format!(
        "{}{userinfo}{addr}{}",
        &url[..scheme_end],
        &rest[authority_end..]
    )
}

/// The `host:port` a URL points at (default port when absent).
pub fn target(url: &str, default_port: u16) -> String {
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    let rest = &url[scheme_end..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host_port = host_port.split('?').next().unwrap_or(host_port);
    if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:{default_port}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_are_rewritten_through_the_proxy() {
        let addr = "127.0.0.1:5555".parse().unwrap();
        assert_eq!(
            super::through("postgres://postgres@127.0.0.1:5432/db?x=1", addr),
            "postgres://postgres@127.0.0.1:5555/db?x=1"
        );
        assert_eq!(
            super::through("http://localhost:9324", addr),
            "http://127.0.0.1:5555"
        );
        assert_eq!(
            super::target("postgres://u:p@db.host/x", 5432),
            "db.host:5432"
        );
        assert_eq!(super::target("http://127.0.0.1:9324", 80), "127.0.0.1:9324");
    }
}
