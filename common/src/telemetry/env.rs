//! The `OTEL_*` variables, checked at start-up. The SDK and the exporter read them
//! themselves, but they skip a value they cannot use (a misspelt sampler, `grpc` in a
//! build without gRPC, a timeout of `5s`) with at most a warning and carry on with the
//! default: a process that traces differently from what its configuration says. Here
//! such a value stops the binary with the variable named.

/// What the checked variables decide here (the rest is the SDK's to read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `OTEL_SDK_DISABLED=true`: no spans, no metrics, no exports.
    pub disabled: bool,
    /// `OTEL_TRACES_EXPORTER` is `otlp` (the default), not `none`.
    pub export_traces: bool,
    /// `OTEL_METRICS_EXPORTER` is `otlp` (the default), not `none`.
    pub export_metrics: bool,
}

/// What a variable may hold.
enum Kind {
    OneOf(&'static [&'static str]),
    /// A whole number (milliseconds, counts).
    Count,
    Ratio,
    Url,
    /// Not supported by this build: the reason, and what to do instead.
    Unsupported(&'static str),
}

const TLS_FILES: Kind = Kind::Unsupported(
    "opentelemetry-otlp's HTTP exporter reads no certificate files; add a private CA to \
     the system's trust (SSL_CERT_FILE or SSL_CERT_DIR)",
);

/// Each variable, and for a group (`OTEL_EXPORTER_OTLP_TIMEOUT` and its per-signal
/// forms) every name it has.
const RULES: &[(&[&str], Kind)] = &[
    (&["OTEL_SDK_DISABLED"], Kind::OneOf(&["true", "false"])),
    (
        &["OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER"],
        Kind::OneOf(&["otlp", "none"]),
    ),
    (
        &["OTEL_TRACES_SAMPLER"],
        Kind::OneOf(&[
            "always_on",
            "always_off",
            "traceidratio",
            "parentbased_always_on",
            "parentbased_always_off",
            "parentbased_traceidratio",
        ]),
    ),
    (&["OTEL_TRACES_SAMPLER_ARG"], Kind::Ratio),
    (
        &[
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        ],
        Kind::Url,
    ),
    (
        &[
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        ],
        Kind::OneOf(&["http/protobuf"]),
    ),
    (
        &[
            "OTEL_EXPORTER_OTLP_COMPRESSION",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
        ],
        Kind::OneOf(&["gzip", "none"]),
    ),
    (
        &[
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
            "OTEL_BSP_SCHEDULE_DELAY",
            "OTEL_BSP_EXPORT_TIMEOUT",
            "OTEL_BSP_MAX_QUEUE_SIZE",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
            "OTEL_BSP_MAX_CONCURRENT_EXPORTS",
            "OTEL_METRIC_EXPORT_INTERVAL",
            "OTEL_METRIC_EXPORT_TIMEOUT",
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
            "OTEL_SPAN_EVENT_COUNT_LIMIT",
            "OTEL_SPAN_LINK_COUNT_LIMIT",
        ],
        Kind::Count,
    ),
    (
        &[
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_CLIENT_KEY",
        ],
        TLS_FILES,
    ),
];

/// Checks every variable above that is set and says what they decide.
pub fn check() -> Result<Settings, String> {
    check_with(var)
}

/// A variable's value, trimmed; a blank one counts as unset, as the SDK reads it.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// [`check`], reading variables through `var` (tests).
pub fn check_with(var: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
    for (names, kind) in RULES {
        for name in *names {
            if let Some(value) = var(name) {
                valid(kind, &value).map_err(|why| format!("{name}={value:?} is invalid: {why}"))?;
            }
        }
    }
    let is = |name: &str, value: &str| var(name).is_some_and(|v| v.eq_ignore_ascii_case(value));
    Ok(Settings {
        disabled: is("OTEL_SDK_DISABLED", "true"),
        export_traces: !is("OTEL_TRACES_EXPORTER", "none"),
        export_metrics: !is("OTEL_METRICS_EXPORTER", "none"),
    })
}

fn valid(kind: &Kind, value: &str) -> Result<(), String> {
    match kind {
        Kind::OneOf(allowed) if allowed.iter().any(|a| a.eq_ignore_ascii_case(value)) => Ok(()),
        Kind::OneOf(allowed) => Err(format!("expected {}", allowed.join(", "))),
        Kind::Count => value
            .parse::<u64>()
            .map(|_| ())
            .map_err(|_| "expected a whole number".to_owned()),
        Kind::Ratio => match value.parse::<f64>() {
            Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(()),
            _ => Err("expected a ratio from 0 to 1".to_owned()),
        },
        Kind::Url if value.starts_with("http://") || value.starts_with("https://") => Ok(()),
        Kind::Url => Err("expected an http:// or https:// URL".to_owned()),
        Kind::Unsupported(why) => Err((*why).to_owned()),
    }
}

/// Whether an export timeout is configured for `signal` (`TRACES`, `METRICS`).
pub fn timeout_set(signal: &str) -> bool {
    var("OTEL_EXPORTER_OTLP_TIMEOUT").is_some()
        || var(&format!("OTEL_EXPORTER_OTLP_{signal}_TIMEOUT")).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(vars: &[(&str, &str)]) -> Result<Settings, String> {
        check_with(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_specifications_values_pass() {
        let settings = check(&[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "https://collector.example.com",
            ),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_BSP_SCHEDULE_DELAY", "1000"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ])
        .expect("valid");
        assert_eq!(
            settings,
            Settings {
                disabled: false,
                export_traces: true,
                export_metrics: false
            }
        );
        assert!(
            check(&[("OTEL_SDK_DISABLED", "true")])
                .expect("valid")
                .disabled
        );
    }

    #[test]
    fn a_value_the_sdk_would_skip_names_its_variable() {
        for (name, value, says) in [
            ("OTEL_TRACES_SAMPLER", "xray", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "2", "ratio"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "collector:4318",
                "http://",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", "gzip"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "5s", "whole number"),
            ("OTEL_TRACES_EXPORTER", "zipkin", "otlp"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/ca.pem", "SSL_CERT_FILE"),
        ] {
            let error = check(&[(name, value)]).expect_err(name);
            assert!(
                error.starts_with(&format!("{name}={value:?} is invalid")) && error.contains(says),
                "{error}"
            );
        }
    }
}
