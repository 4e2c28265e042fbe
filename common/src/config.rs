//! Configuration from environment variables: one typed struct per binary (clap, each
//! field with its `env` name and its default, stated once), shared parts here
//! ([`DatabaseArgs`], [`FaultArgs`]). Every binary loads it with [`load`], which
//!
//! * turns a bad value into an error naming the variable (`PORT="eighty" is invalid: …`);
//! * answers `--print-env` with each variable it reads and its default, and
//!   `--print-env=json` with the same as JSON (scripts/check-env-drift.py compares that
//!   with docker-compose.yml and infra/), then exits. The variables its libraries read
//!   ([`LibraryVars`]: OpenTelemetry, the AWS SDK, the Lambda runtime) are listed too.

use std::fmt::Write as _;

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// The local PostgreSQL the native scripts use.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/traced_todo";
/// moto's SQS on :9324 (scripts/dev), account 123456789012 as everywhere.
pub const DEFAULT_JOBS_QUEUE_URL: &str = "http://localhost:9324/123456789012/jobs";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name} is required ({hint})")]
    Missing {
        name: &'static str,
        hint: &'static str,
    },
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        name: String,
        value: String,
        reason: String,
    },
    #[error("{0}")]
    Other(String),
}

/// PostgreSQL (web and worker).
#[derive(clap::Args, Debug, Clone)]
pub struct DatabaseArgs {
    /// PostgreSQL connection URL; web creates the database if it is missing
    #[arg(long = "database-url", env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

/// The price table a user's cost is estimated with (web and worker).
#[derive(clap::Args, Debug, Clone)]
pub struct PriceArgs {
    /// A user's cost: list prices as `name=value` pairs replacing defaults (AWS us-east-1, 2025-06; names in docs/scale.md)
    #[arg(long = "prices", env = "PRICES", default_value = "")]
    pub prices: crate::cost::Prices,
}

/// The fault switches (web and worker).
#[derive(clap::Args, Debug, Clone)]
pub struct FaultArgs {
    /// How stale a process's view of the fault switches may be, in ms
    #[arg(long = "faults-ttl-ms", env = "FAULTS_TTL_MS", default_value_t = 1000)]
    pub faults_ttl_ms: u64,
    /// Makes probabilistic ("Schrödinger") faults repeatable (default: random)
    #[arg(long = "faults-seed", env = "FAULTS_SEED")]
    pub faults_seed: Option<u64>,
}

impl FaultArgs {
    pub fn ttl(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.faults_ttl_ms)
    }
}

/// The variables a library reads (not the binary's own code), listed by `--print-env`:
/// the library's name, then one variable a line, `NAME | default | meaning` (the
/// default in words: what applies when it is unset).
#[derive(Debug, Clone, Copy)]
pub struct LibraryVars(pub &'static str, pub &'static str);

impl LibraryVars {
    /// Each variable: (name, default, meaning).
    fn vars(self) -> impl Iterator<Item = [&'static str; 3]> {
        self.1.lines().filter(|l| !l.trim().is_empty()).map(|line| {
            let mut fields = line.split('|').map(str::trim);
            [(); 3].map(|()| fields.next().unwrap_or_default())
        })
    }
}

/// What the OpenTelemetry SDK and its exporter read in every binary that exports.
pub const TELEMETRY_VARS: LibraryVars = LibraryVars(
    "opentelemetry",
    "
OTEL_EXPORTER_OTLP_ENDPOINT | http://localhost:4318 | OTLP/HTTP base URL for traces and metrics (http:// or https://)
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT | | traces only, a full /v1/traces URL
OTEL_EXPORTER_OTLP_METRICS_ENDPOINT | | metrics only, a full URL (compose: Prometheus's OTLP receiver)
OTEL_EXPORTER_OTLP_HEADERS | | headers on every export
OTEL_EXPORTER_OTLP_TIMEOUT | 10000 (worker: 1000) | each export's timeout, ms
OTEL_EXPORTER_OTLP_TRACES_TIMEOUT | | the traces export's
OTEL_EXPORTER_OTLP_METRICS_TIMEOUT | | the metrics export's
OTEL_EXPORTER_OTLP_COMPRESSION | none | gzip or none
OTEL_EXPORTER_OTLP_PROTOCOL | http/protobuf | the only one supported
OTEL_SERVICE_NAME | todo-web, todo-worker | service.name
OTEL_RESOURCE_ATTRIBUTES | | more resource attributes
OTEL_SDK_DISABLED | false | true: no spans, no metrics
OTEL_TRACES_EXPORTER | otlp | none: no spans exported
OTEL_METRICS_EXPORTER | otlp | none: no metrics exported
OTEL_TRACES_SAMPLER | parentbased_always_on | always_on, always_off, traceidratio, parentbased_*; others refused
OTEL_TRACES_SAMPLER_ARG | | a ratio sampler's ratio, 0 to 1 (unset: 1)
OTEL_BSP_SCHEDULE_DELAY | 5000 | batch export interval, ms
OTEL_BSP_MAX_QUEUE_SIZE | 2048 | spans buffered before dropping
OTEL_BSP_MAX_EXPORT_BATCH_SIZE | 512 | spans per export
OTEL_METRIC_EXPORT_INTERVAL | 60000 | metrics export interval, ms
OTEL_METRIC_EXPORT_TIMEOUT | 30000 | ms
OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT | 128 |
OTEL_SPAN_EVENT_COUNT_LIMIT | 128 |
OTEL_SPAN_LINK_COUNT_LIMIT | 128 |
",
);

/// What the log lines read in every binary (`tracing`'s filter, and the format).
pub const LOG_VARS: LibraryVars = LibraryVars(
    "tracing",
    "
RUST_LOG | info (chatty libraries at warn) | what is printed (not what is exported)
LOG_FORMAT | text | json: one JSON object per line (ECS, Lambda); either way with trace_id and span_id
",
);

/// What the AWS SDK reads (web and esm talk to SQS).
pub const AWS_SDK_VARS: LibraryVars = LibraryVars(
    "aws-sdk",
    "
AWS_REGION | us-east-1 | the region
AWS_DEFAULT_REGION | | the region, older name
AWS_ENDPOINT_URL | | every service's endpoint
AWS_ENDPOINT_URL_SQS | unset: AWS | SQS's endpoint: moto, ElasticMQ, LocalStack
AWS_ENDPOINT_URL_S3 | unset: AWS | S3's endpoint: moto (buckets in the path)
AWS_ACCESS_KEY_ID | | credentials (AWS: the task role instead)
AWS_SECRET_ACCESS_KEY | |
AWS_SESSION_TOKEN | |
AWS_PROFILE | |
AWS_CONTAINER_CREDENTIALS_RELATIVE_URI | | set by ECS
AWS_CONTAINER_CREDENTIALS_FULL_URI | |
AWS_CONTAINER_AUTHORIZATION_TOKEN | |
AWS_EC2_METADATA_DISABLED | |
",
);

/// What the Lambda runtime (AWS, the emulator, `cargo lambda watch`) sets for the worker.
pub const LAMBDA_VARS: LibraryVars = LibraryVars(
    "lambda_runtime",
    "
AWS_LAMBDA_RUNTIME_API | required | the Runtime API's address
AWS_LAMBDA_FUNCTION_NAME | required | the invocation span's name
AWS_LAMBDA_FUNCTION_MEMORY_SIZE | required |
AWS_LAMBDA_FUNCTION_VERSION | required |
AWS_LAMBDA_LOG_STREAM_NAME | |
AWS_LAMBDA_LOG_GROUP_NAME | |
AWS_LAMBDA_MAX_CONCURRENCY | |
AWS_LAMBDA_FUNCTION_TIMEOUT | | the emulator's timeout, s
_HANDLER | |
_X_AMZN_TRACE_ID | | X-Ray header (set by the runtime each invocation)
",
);

/// The binary's configuration from its environment (and flags, clap's), or, for
/// `--print-env[=json]`, its variables printed and the process ended.
pub fn load<C: clap::Parser>(
    binary: &'static str,
    library: &[LibraryVars],
) -> Result<C, ConfigError> {
    let mut command = C::command().name(binary);
    // A variable set to nothing (`PORT=` in a compose file or a template) means "not
    // set": its default applies, as for every variable here.
    let blank: Vec<clap::Id> = command
        .get_arguments()
        .filter(|a| {
            a.get_env()
                .and_then(std::env::var_os)
                .is_some_and(|v| v.to_string_lossy().trim().is_empty())
        })
        .map(|a| a.get_id().clone())
        .collect();
    for id in blank {
        command = command.mut_arg(id, |a| a.env(None::<&str>));
    }
    if let Some(format) = std::env::args().skip(1).find_map(|a| {
        a.strip_prefix("--print-env")
            .map(|rest| rest.trim_start_matches('=').to_owned())
    }) {
        print!("{}", describe(&command, binary, library, format == "json"));
        std::process::exit(0);
    }
    let matches = command
        .clone()
        .try_get_matches()
        .map_err(|e| explain(&command, e))?;
    C::from_arg_matches(&matches).map_err(|e| explain(&command, e))
}

/// The variables a binary reads: its own (name, default, help) and its libraries'.
pub fn describe(
    command: &clap::Command,
    binary: &str,
    library: &[LibraryVars],
    json: bool,
) -> String {
    let own: Vec<(String, Option<String>, String)> = command
        .get_arguments()
        .filter_map(|a| {
            let name = a.get_env()?.to_string_lossy().into_owned();
            let default = a
                .get_default_values()
                .first()
                .map(|v| v.to_string_lossy().into_owned());
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            Some((name, default, help))
        })
        .collect();
    // A variable the binary declares itself (esm's AWS_REGION) is listed once, as its own.
    let libs: Vec<(&str, [&str; 3])> = library
        .iter()
        .flat_map(|l| l.vars().map(|v| (l.0, v)))
        .filter(|(_, [name, ..])| own.iter().all(|(own, _, _)| own != name))
        .collect();
    if json {
        let mut vars: Vec<serde_json::Value> = own
            .iter()
            .map(|(name, default, help)| {
                serde_json::json!({ "name": name, "default": default, "help": help, "source": binary })
            })
            .collect();
        vars.extend(libs.iter().map(|(library, [name, default, meaning])| {
            serde_json::json!({ "name": name, "default": (!default.is_empty()).then_some(default),
                "help": meaning, "source": library })
        }));
        return format!(
            "{}\n",
            serde_json::json!({ "binary": binary, "variables": vars })
        );
    }
    let mut out = format!("# {binary}: the environment variables it reads, with their defaults\n");
    let width = own
        .iter()
        .map(|(n, d, _)| n.len() + d.as_deref().map_or(0, str::len))
        .max()
        .unwrap_or(0)
        + 2;
    for (name, default, help) in &own {
        let assignment = format!("{name}={}", default.as_deref().unwrap_or(""));
        let _ = writeln!(out, "{assignment:<width$} # {help}");
    }
    if !libs.is_empty() {
        out.push_str("# read by its libraries (OpenTelemetry, the AWS SDK, the Lambda runtime):\n");
        for (_, [name, default, meaning]) in libs {
            let default = match default {
                "" => String::new(),
                d => format!(" [{d}]"),
            };
            let _ = writeln!(out, "#   {name:<40} {meaning}{default}");
        }
    }
    out
}

/// A clap error as one line that names the environment variable.
fn explain(command: &clap::Command, error: clap::Error) -> ConfigError {
    let context = |kind| match error.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    if matches!(
        error.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) && let (Some(arg), Some(value)) = (
        context(ContextKind::InvalidArg),
        context(ContextKind::InvalidValue),
    ) {
        let env = command
            .get_arguments()
            .find(|a| {
                a.get_long().is_some_and(|long| {
                    arg.starts_with(&format!("--{long} ")) || arg == format!("--{long}")
                })
            })
            .and_then(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned());
        let reason = match error.kind() {
            ErrorKind::InvalidValue => match error.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(valid)) => {
                    format!("expected one of {}", valid.join(", "))
                }
                _ => "not an accepted value".to_owned(),
            },
            _ => std::error::Error::source(&error)
                .map(ToString::to_string)
                .unwrap_or_else(|| "not a valid value".to_owned()),
        };
        return ConfigError::Invalid {
            name: env.unwrap_or(arg),
            value,
            reason,
        };
    }
    ConfigError::Other(error.render().to_string().trim().to_owned())
}

/// The variable's value, if it is set and not blank: for the standard variables that
/// libraries define (telemetry's `OTEL_*`), not for a binary's own configuration.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A value parser for URLs that must be `http://` or `https://`.
pub fn http_url(value: &str) -> Result<String, String> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value.trim_end_matches('/').to_owned())
    } else {
        Err("expected an http:// or https:// URL".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    /// Example settings, as a binary declares them.
    #[derive(Parser, Debug)]
    struct Example {
        /// The port
        #[arg(long, env = "EXAMPLE_PORT", default_value_t = 3000)]
        port: u16,
        /// Where
        #[arg(long, env = "EXAMPLE_URL", default_value = "http://x", value_parser = http_url)]
        url: String,
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let command = Example::command();
        let err = command
            .clone()
            .try_get_matches_from(["example", "--port", "eighty"])
            .unwrap_err();
        let text = explain(&command, err).to_string();
        assert!(
            text.contains("EXAMPLE_PORT=\"eighty\" is invalid: invalid digit"),
            "{text}"
        );
        let err = command
            .clone()
            .try_get_matches_from(["example", "--url", "localhost/q"])
            .unwrap_err();
        let text = explain(&command, err).to_string();
        assert!(
            text.contains("EXAMPLE_URL=\"localhost/q\"") && text.contains("http://"),
            "{text}"
        );
    }

    #[test]
    fn every_variable_is_printed_with_its_default() {
        let text = describe(&Example::command(), "example", &[TELEMETRY_VARS], false);
        assert!(text.contains("EXAMPLE_PORT=3000"), "{text}");
        assert!(text.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{text}");
        let json: serde_json::Value =
            serde_json::from_str(&describe(&Example::command(), "example", &[], true)).unwrap();
        assert_eq!(json["variables"][1]["name"], "EXAMPLE_URL");
        assert_eq!(json["variables"][1]["default"], "http://x");
    }
}
