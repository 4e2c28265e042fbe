//! The fault catalogue: each deliberate fault, its description, its parameters, and how
//! its switch is written (panel, API, `FAULTS`).
//!
//! Settings live in PostgreSQL ([`store`]), so the panel, the JSON API and `FAULTS` (read
//! by web at start-up) reach the worker too, which is another process (a Lambda). Each
//! process reads them through a [`Faults`] handle ([`registry`]) that keeps a snapshot no
//! older than `FAULTS_TTL_MS`.
//!
//! A fault may be scoped: it then fires only for work whose
//! [`Session`](crate::session::Session) carries that fault scope (the
//! `fault_scope` cookie, or the W3C baggage entry `fault.scope`), and web forwards that
//! baggage with the job, so a presenter can break their own session and nobody else's.

pub mod registry;
pub mod store;

pub use registry::{Faults, Loader};

use opentelemetry::KeyValue;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::spans::Marks;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    WebError,
    SlowDb,
    NPlusOne,
    DbUnavailable,
    QueueUnavailable,
    WorkerError,
    PoisonMessage,
    WorkerTimeout,
    BrokenPropagation,
    LostSpans,
    StorageUnavailable,
}

impl Fault {
    pub const ALL: [Fault; 11] = [
        Fault::WebError,
        Fault::SlowDb,
        Fault::NPlusOne,
        Fault::DbUnavailable,
        Fault::QueueUnavailable,
        Fault::WorkerError,
        Fault::PoisonMessage,
        Fault::WorkerTimeout,
        Fault::BrokenPropagation,
        Fault::LostSpans,
        Fault::StorageUnavailable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::WebError => "web_error",
            Fault::SlowDb => "slow_db",
            Fault::NPlusOne => "n_plus_one",
            Fault::DbUnavailable => "db_unavailable",
            Fault::QueueUnavailable => "queue_unavailable",
            Fault::WorkerError => "worker_error",
            Fault::PoisonMessage => "poison_message",
            Fault::WorkerTimeout => "worker_timeout",
            Fault::BrokenPropagation => "broken_propagation",
            Fault::LostSpans => "lost_spans",
            Fault::StorageUnavailable => "storage_unavailable",
        }
    }

    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }

    /// What the user will see, and what to look for in the trace.
    pub fn description(self) -> &'static str {
        match self {
            Fault::WebError => {
                "Some requests answer 500 with an error page naming the trace id. In the trace: the HTTP span has status Error and a fault event; no DB spans under it."
            }
            Fault::SlowDb => {
                "Pages and jobs get slow. In the trace: every DB span is `latency_ms` longer, marked fault.injected."
            }
            Fault::NPlusOne => {
                "The list still works, a bit slower. In the trace: under GET / a ladder of one SELECT jobs per to-do instead of one join."
            }
            Fault::DbUnavailable => {
                "Every page answers 503 \"database unavailable\"; /readyz fails. In the trace: DB spans fail at once with an exception event."
            }
            Fault::QueueUnavailable => {
                "Adding works, but jobs stay `pending`. In the trace: the send span has status Error; the relay delivers the job (linked to the click) once the fault is off."
            }
            Fault::WorkerError => {
                "Jobs show `failed, retrying`, then `done` on a later attempt. In the traces: one consumer span per attempt, receive count rising, errors until it succeeds."
            }
            Fault::PoisonMessage => {
                "New jobs can never be processed: after 3 attempts they land in the DLQ and show `dead`. In the traces: 3 consumer spans with status Error, same message id."
            }
            Fault::WorkerTimeout => {
                "A job's first `attempts` deliveries take `sleep_ms`, longer than the visibility timeout, so SQS delivers it again. In the traces: two consumer spans for one message; the second finds the job done (outcome duplicate)."
            }
            Fault::BrokenPropagation => {
                "Everything works. In Jaeger: the click's trace ends at the send span, and the worker's spans form a separate trace of their own."
            }
            Fault::LostSpans => {
                "Everything works. In Jaeger: the worker's spans are missing, because the function skips its per-invocation flush (the classic Lambda tracing bug)."
            }
            Fault::StorageUnavailable => {
                "Uploads, downloads and lookups answer 503 with the trace id, and the worker's file jobs fail; no row is left without its object. In the trace: the S3 span has status Error with an exception event."
            }
        }
    }

    pub fn default_params(self) -> Value {
        match self {
            Fault::WebError => json!({ "status": 500 }),
            Fault::SlowDb => json!({ "latency_ms": 500 }),
            Fault::WorkerError => json!({ "fail_first_attempts": 0 }),
            Fault::WorkerTimeout => json!({ "sleep_ms": 35000, "attempts": 1 }),
            _ => json!({}),
        }
    }
}

/// One fault's switch, as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setting {
    pub name: String,
    pub enabled: bool,
    /// 0..=1: a "Schrödinger" fault fires only sometimes.
    pub probability: f64,
    pub params: Value,
    /// Only requests carrying this scope (cookie or baggage) are affected.
    pub scope: Option<String>,
}

impl Setting {
    pub fn off(fault: Fault) -> Self {
        Self {
            name: fault.name().to_owned(),
            enabled: false,
            probability: 1.0,
            params: fault.default_params(),
            scope: None,
        }
    }

    /// Checks a setting coming from a user: names, ranges and parameter types.
    pub fn validate(&self) -> Result<Fault, String> {
        let fault = Fault::from_name(&self.name)
            .ok_or_else(|| format!("no fault named {:?}", self.name))?;
        if !(0.0..=1.0).contains(&self.probability) || self.probability.is_nan() {
            return Err("probability must be between 0 and 1".into());
        }
        let Value::Object(params) = &self.params else {
            return Err("params must be a JSON object".into());
        };
        let defaults = fault.default_params();
        for (key, value) in params {
            let Some(default) = defaults.get(key) else {
                return Err(format!("{} has no parameter {key:?}", fault.name()));
            };
            if default.is_u64() && value.as_u64().is_none_or(|v| v > 600_000) {
                return Err(format!("{key} must be a whole number from 0 to 600000"));
            }
        }
        if fault == Fault::WebError
            && let Some(status) = params.get("status").and_then(Value::as_u64)
            && !(400..=599).contains(&status)
        {
            return Err("status must be an HTTP error status (400–599)".into());
        }
        if let Some(scope) = &self.scope
            && (scope.len() > 64
                || !scope
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err("scope must be 1–64 letters, digits, '-' or '_'".into());
        }
        Ok(fault)
    }

    /// A parameter, or the fault's default.
    pub fn param_u64(&self, key: &str) -> u64 {
        self.params
            .get(key)
            .and_then(Value::as_u64)
            .or_else(|| {
                Fault::from_name(&self.name)?
                    .default_params()
                    .get(key)?
                    .as_u64()
            })
            .unwrap_or(0)
    }
}

/// Parses `FAULTS`: comma-separated `name[@probability][:key=value]…`, e.g.
/// `slow_db:latency_ms=300,web_error@0.25`.
pub fn parse_env(spec: &str) -> Result<Vec<Setting>, String> {
    let mut settings = Vec::new();
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let mut parts = entry.split(':');
        let head = parts.next().unwrap_or_default();
        let (name, probability) = match head.split_once('@') {
            Some((n, p)) => (
                n,
                p.parse::<f64>()
                    .map_err(|_| format!("{entry:?}: probability {p:?} is not a number"))?,
            ),
            None => (head, 1.0),
        };
        let fault =
            Fault::from_name(name).ok_or_else(|| format!("{entry:?}: no fault named {name:?}"))?;
        let mut params = Map::new();
        for kv in parts {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("{entry:?}: expected key=value, got {kv:?}"))?;
            let v: u64 = v
                .parse()
                .map_err(|_| format!("{entry:?}: {k}={v:?} is not a whole number"))?;
            params.insert(k.to_owned(), v.into());
        }
        let mut setting = Setting::off(fault);
        setting.enabled = true;
        setting.probability = probability;
        if let Value::Object(defaults) = &mut setting.params {
            defaults.extend(params);
        }
        setting.validate().map_err(|e| format!("{entry:?}: {e}"))?;
        settings.push(setting);
    }
    Ok(settings)
}

/// A fault that fired: mark the spans it touches with [`Active::mark`].
#[derive(Debug, Clone)]
pub struct Active {
    pub fault: Fault,
    pub setting: Setting,
}

impl Active {
    pub fn param(&self, key: &str) -> u64 {
        self.setting.param_u64(key)
    }

    /// `fault.name`, `fault.injected=true` and a `fault injected` event on `span`
    /// (and a log line, so a presenter's terminal shows it too).
    pub fn mark(&self, span: &mut impl Marks) {
        tracing::info!(fault.name = self.fault.name(), "fault injected");
        span.attribute(KeyValue::new("fault.name", self.fault.name()));
        span.attribute(KeyValue::new("fault.injected", true));
        span.event(
            "fault injected",
            vec![
                KeyValue::new("fault.name", self.fault.name()),
                KeyValue::new("fault.description", self.fault.description()),
            ],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_round_trips_its_name_and_has_valid_defaults() {
        for f in Fault::ALL {
            assert_eq!(Fault::from_name(f.name()), Some(f));
            assert!(!f.description().is_empty());
            assert_eq!(Setting::off(f).validate(), Ok(f));
        }
    }

    #[test]
    fn env_spec_parses_probability_and_params() {
        let s = parse_env("slow_db:latency_ms=300, web_error@0.25").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "slow_db");
        assert_eq!(s[0].param_u64("latency_ms"), 300);
        assert!(s[0].enabled && s[0].probability == 1.0);
        assert_eq!(s[1].probability, 0.25);
        assert_eq!(s[1].param_u64("status"), 500);
        assert!(parse_env("").unwrap().is_empty());
    }

    #[test]
    fn env_spec_errors_name_the_entry() {
        for bad in [
            "nope",
            "slow_db@x",
            "slow_db@2",
            "slow_db:latency_ms",
            "slow_db:colour=1",
            "web_error:status=200",
        ] {
            let err = parse_env(bad).expect_err(bad);
            assert!(err.contains(bad.split(',').next().unwrap()), "{bad}: {err}");
        }
    }

    #[test]
    fn user_settings_are_checked() {
        let mut s = Setting::off(Fault::SlowDb);
        s.probability = 1.5;
        assert_eq!(
            s.validate(),
            Err("probability must be between 0 and 1".into())
        );
        s.probability = 0.5;
        s.scope = Some("my session!".into());
        let err = s.validate().unwrap_err();
        assert!(err.starts_with("scope must be"), "{err}");
        s.scope = Some("talk-1".into());
        assert_eq!(s.validate(), Ok(Fault::SlowDb));
        s.params = json!({"latency_ms": -1});
        let err = s.validate().unwrap_err();
        assert!(
            err.starts_with("latency_ms must be a whole number"),
            "{err}"
        );
    }
}
