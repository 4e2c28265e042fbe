//! An OTLP/HTTP receiver behind TLS, with a certificate authority of its own: where a
//! vendor's `https://` endpoint or a TLS collector would be. The services trust the
//! authority through `SSL_CERT_FILE`, as a service trusts a private CA.

use std::path::PathBuf;

use axum_server::tls_rustls::RustlsConfig;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

use crate::otlp::{Paths, Receiver};

pub struct TlsReceiver {
    pub receiver: Receiver,
    /// `https://localhost:{port}`, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub endpoint: String,
    /// The authority's certificate (PEM), for `SSL_CERT_FILE`.
    pub ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsReceiver {
    pub async fn start() -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().expect("server key");
        let cert = CertificateParams::new(vec!["localhost".to_owned()])
            .expect("server params")
            .signed_by(&key, &issuer)
            .expect("server certificate");

        let dir = tempfile::tempdir().expect("a temporary directory");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).expect("write the CA certificate");
        let config =
            RustlsConfig::from_pem(cert.pem().into_bytes(), key.serialize_pem().into_bytes())
                .await
                .expect("TLS configuration");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let (receiver, app) = Receiver::new(Paths::COLLECTOR, usize::MAX);
        let server = axum_server::from_tcp_rustls(listener, config).expect("TLS server");
        tokio::spawn(server.serve(app.into_make_service()));
        Self {
            receiver,
            endpoint: format!("https://localhost:{port}"),
            ca_file,
            _dir: dir,
        }
    }
}
