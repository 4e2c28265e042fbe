//! Spans reach an `https://` OTLP endpoint (a vendor's, a TLS collector): the receiver
//! here has a certificate authority of its own, which the services trust through
//! `SSL_CERT_FILE`, as they would a private CA.

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tests::{TestApp, app::Options, binaries, eventually, tls::TlsReceiver, traces::find};

use crate::DEADLINE;

#[tokio::test]
async fn a_click_reaches_an_https_collector_from_web_and_worker() {
    // Fake at the edge under test: the collector, behind TLS.
    let collector = TlsReceiver::start().await;
    let ca_file = collector.ca_file.display().to_string();
    let env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint.clone()),
        ("SSL_CERT_FILE", ca_file),
    ];
    let app = TestApp::spawn_with(
        binaries!(),
        Options {
            env: env.clone(),
            worker_env: env,
            ..Default::default()
        },
    )
    .await;

    let response = app
        .post_form("/todos", &[("title", "renew the certificate")])
        .await;
    assert_eq!(response.status(), 303);
    let spans = eventually("the click's spans over TLS", DEADLINE, || async {
        let spans = collector.receiver.spans();
        let server = find(&spans, "todo-web", SpanKind::Server, "POST /todos")?;
        let trace = collector.receiver.trace(&server.trace_id);
        trace
            .iter()
            .any(|s| s.service == "todo-worker" && s.kind == SpanKind::Consumer)
            .then_some(trace)
    })
    .await;
    assert!(
        find(&spans, "todo-web", SpanKind::Client, "INSERT todos").is_some(),
        "{:?}",
        tests::traces::names(&spans)
    );
    assert!(
        app.otlp.spans().is_empty(),
        "nothing went to the plain-HTTP receiver"
    );
}
