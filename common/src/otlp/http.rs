//! The span exporter: OTLP/HTTP with a protobuf body ([`super::encode`]), configured by
//! the standard variables as opentelemetry-otlp reads them (endpoint, headers, timeout,
//! compression), retried as the OTLP specification says (429, 502, 503, 504 and network
//! errors, with back-off, `Retry-After` honoured) until the export's timeout.

use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use super::SpanCounts;
use crate::config;

/// The SDK's default export timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_RETRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// How the spans go out, from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportConfig {
    pub endpoint: reqwest::Url,
    pub headers: HeaderMap,
    pub timeout: Duration,
    pub gzip: bool,
}

impl ExportConfig {
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is, else `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// with `/v1/traces` appended; the signal's own `…_HEADERS`/`…_TIMEOUT`/`…_COMPRESSION`/
    /// `…_PROTOCOL` before the general ones. `default_timeout` applies when neither
    /// timeout variable is set. `None` when no endpoint is set.
    pub fn from_env(default_timeout: Option<Duration>) -> Result<Option<Self>, String> {
        let endpoint = match signal_var("TRACES", "ENDPOINT") {
            Some((name, value)) if name.contains("TRACES") => parse_url(&name, &value)?,
            Some((name, value)) => {
                let base = value.trim_end_matches('/');
                parse_url(&name, &format!("{base}/v1/traces"))?
            }
            None => return Ok(None),
        };
        let headers = match signal_var("TRACES", "HEADERS") {
            Some((name, value)) => parse_headers(&name, &value)?,
            None => HeaderMap::new(),
        };
        let timeout = timeout_from_env("TRACES", default_timeout)?;
        let gzip = match signal_var("TRACES", "COMPRESSION") {
            Some((_, value)) if value == "gzip" => true,
            Some((_, value)) if value == "none" => false,
            Some((name, value)) => {
                return Err(format!(
                    "{name}={value:?} is invalid: gzip or none expected"
                ));
            }
            None => false,
        };
        if let Some((name, value)) = signal_var("TRACES", "PROTOCOL")
            && value != "http/protobuf"
        {
            return Err(format!(
                "{name}={value:?} is not supported: spans are exported as http/protobuf"
            ));
        }
        Ok(Some(Self {
            endpoint,
            headers,
            timeout,
            gzip,
        }))
    }
}

/// `OTEL_EXPORTER_OTLP_{signal}_{suffix}`, else `OTEL_EXPORTER_OTLP_{suffix}`: the name
/// and value of the one that is set.
fn signal_var(signal: &str, suffix: &str) -> Option<(String, String)> {
    [
        format!("OTEL_EXPORTER_OTLP_{signal}_{suffix}"),
        format!("OTEL_EXPORTER_OTLP_{suffix}"),
    ]
    .into_iter()
    .find_map(|name| config::var(&name).map(|value| (name, value.trim().to_owned())))
}

/// One export's timeout for `signal` (`TRACES`, `METRICS`): its own `…_TIMEOUT`, else
/// `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds), else `default`, else the SDK's 10 s.
pub fn timeout_from_env(signal: &str, default: Option<Duration>) -> Result<Duration, String> {
    match signal_var(signal, "TIMEOUT") {
        Some((name, value)) => value
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("{name}={value:?} is invalid: milliseconds expected")),
        None => Ok(default.unwrap_or(DEFAULT_TIMEOUT)),
    }
}

fn parse_url(name: &str, value: &str) -> Result<reqwest::Url, String> {
    let url =
        reqwest::Url::parse(value).map_err(|e| format!("{name}={value:?} is invalid: {e}"))?;
    match url.scheme() {
        "http" => Ok(url),
        // Refused here rather than failing every export: the HTTP client is built
        // without a TLS stack (none of the deployments needs one: the collector beside
        // the service forwards over TLS).
        "https" => Err(format!(
            "{name}={value:?}: https is not supported (the exporter has no TLS); send to a \
             collector over http, e.g. the ADOT sidecar that infra/ deploys, which forwards over TLS"
        )),
        other => Err(format!(
            "{name}={value:?} is invalid: http expected, not {other}"
        )),
    }
}

/// `key=value,key2=value2`, values percent-decoded (the OTLP exporter specification).
fn parse_headers(name: &str, value: &str) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let invalid = |why: &str| format!("{name} is invalid at {pair:?}: {why}");
        let (key, raw) = pair
            .split_once('=')
            .ok_or_else(|| invalid("key=value expected"))?;
        let decoded = percent_encoding::percent_decode_str(raw.trim())
            .decode_utf8()
            .map_err(|_| invalid("the value is not UTF-8 once decoded"))?;
        let key = HeaderName::from_bytes(key.trim().as_bytes())
            .map_err(|_| invalid("not a header name"))?;
        let value = HeaderValue::from_str(&decoded).map_err(|_| invalid("not a header value"))?;
        headers.insert(key, value);
    }
    Ok(headers)
}

#[derive(Debug)]
pub struct HttpSpanExporter {
    client: reqwest::blocking::Client,
    config: ExportConfig,
    counts: Arc<SpanCounts>,
}

/// The blocking HTTP client both exporters share (one connection pool, one runtime
/// thread). `timeout` is for requests that set none: opentelemetry-otlp's metric
/// exporter relies on its client's; span exports set their own, per attempt. reqwest's
/// blocking client runs its own runtime on a thread of its own; made inside a Tokio
/// runtime (web's main) it would panic, so it is made on another.
pub fn blocking_client(timeout: Duration) -> Result<reqwest::blocking::Client, String> {
    std::thread::spawn(move || {
        reqwest::blocking::Client::builder()
            .timeout(timeout)
            .build()
    })
    .join()
    .map_err(|_| "the OTLP HTTP client's thread panicked".to_owned())?
    .map_err(|e| format!("OTLP HTTP client: {e}"))
}

impl HttpSpanExporter {
    pub fn new(
        client: reqwest::blocking::Client,
        config: ExportConfig,
        counts: Arc<SpanCounts>,
    ) -> Self {
        Self {
            client,
            config,
            counts,
        }
    }

    /// Each export's timeout, retries included.
    pub fn timeout(&self) -> Duration {
        self.config.timeout
    }

    /// Sends one encoded `ExportTraceServiceRequest` holding `spans` spans (compressed if
    /// so configured) and counts them exported or failed.
    pub fn export_encoded(&self, request: bytes::Bytes, spans: u64) -> Result<(), String> {
        let result = self.compress(request).and_then(|body| self.send(&body));
        let count = match result {
            Ok(()) => &self.counts.exported,
            Err(_) => &self.counts.failed,
        };
        count.fetch_add(spans, Ordering::Relaxed);
        result
    }

    fn compress(&self, request: bytes::Bytes) -> Result<bytes::Bytes, String> {
        if !self.config.gzip {
            return Ok(request);
        }
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(request.len() / 4),
            flate2::Compression::fast(),
        );
        gz.write_all(&request)
            .and_then(|()| gz.finish())
            .map(bytes::Bytes::from)
            .map_err(|e| format!("gzip: {e}"))
    }

    /// One POST, within `left`.
    fn post(&self, body: &bytes::Bytes, left: Duration) -> Result<(), Attempt> {
        let mut request = self
            .client
            .post(self.config.endpoint.clone())
            .headers(self.config.headers.clone())
            .header(CONTENT_TYPE, "application/x-protobuf")
            .timeout(left)
            // A Bytes clone shares the buffer: retries do not copy the batch.
            .body(body.clone());
        if self.config.gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        let response = request.send().map_err(|e| Attempt::Retry {
            error: format!("OTLP export to {}: {e}", self.config.endpoint),
            after: None,
        })?;
        let status = response.status();
        if status.is_success() {
            warn_on_partial_success(&response.bytes().unwrap_or_default());
            return Ok(());
        }
        let error = format!("OTLP export to {}: HTTP {status}", self.config.endpoint);
        match status.as_u16() {
            429 | 502 | 503 | 504 => Err(Attempt::Retry {
                error,
                after: response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs),
            }),
            _ => Err(Attempt::Fail(error)),
        }
    }

    /// POSTs `body`, retrying what may succeed later, until the export's timeout.
    fn send(&self, body: &bytes::Bytes) -> Result<(), String> {
        let deadline = Instant::now() + self.config.timeout;
        let mut backoff = FIRST_BACKOFF;
        for attempt in 0.. {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.post(body, left) {
                Ok(()) => return Ok(()),
                Err(Attempt::Fail(error)) => return Err(error),
                Err(Attempt::Retry { error, after }) => {
                    // Jitter, so that many processes do not retry in step.
                    let jitter = Duration::from_millis(rand::random_range(
                        0..=backoff.as_millis() as u64 / 2,
                    ));
                    let wait = after.unwrap_or(backoff + jitter);
                    let left = deadline.saturating_duration_since(Instant::now());
                    if attempt >= MAX_RETRIES || wait >= left {
                        return Err(error);
                    }
                    std::thread::sleep(wait);
                    backoff *= 2;
                }
            }
        }
        unreachable!("the loop returns")
    }
}

enum Attempt {
    Retry {
        error: String,
        after: Option<Duration>,
    },
    Fail(String),
}

/// A collector may accept part of a batch: it says how many spans it rejected and why.
fn warn_on_partial_success(body: &[u8]) {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
    use prost::Message as _;
    if let Ok(response) = ExportTraceServiceResponse::decode(body)
        && let Some(partial) = response.partial_success
        && (partial.rejected_spans > 0 || !partial.error_message.is_empty())
    {
        tracing::warn!(
            rejected_spans = partial.rejected_spans,
            message = partial.error_message,
            "the OTLP receiver rejected spans"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_decoded_and_checked() {
        let headers = parse_headers("H", "api-key=a%20b, x-team = core ,").expect("valid");
        assert_eq!(headers["api-key"], "a b");
        assert_eq!(headers["x-team"], "core");
        let error = parse_headers("OTEL_EXPORTER_OTLP_HEADERS", "novalue").expect_err("invalid");
        assert!(error.contains("OTEL_EXPORTER_OTLP_HEADERS") && error.contains("key=value"));
        assert!(parse_headers("H", "bad key=1").is_err());
    }

    #[test]
    fn urls_must_be_http() {
        assert!(parse_url("E", "http://collector:4318/v1/traces").is_ok());
        let error = parse_url("OTEL_EXPORTER_OTLP_ENDPOINT", "https://api.example.com")
            .expect_err("no TLS");
        assert!(error.contains("https is not supported"), "{error}");
        let error =
            parse_url("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318").expect_err("no scheme");
        assert!(error.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{error}");
    }
}
