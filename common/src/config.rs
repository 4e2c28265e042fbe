//! Environment configuration helpers: every error names the variable and what it expected.

use std::{fmt::Display, str::FromStr};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name} is required ({hint})")]
    Missing {
        name: &'static str,
        hint: &'static str,
    },
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// The variable's value, if it is set and not blank.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The variable's value, or `default` when unset or blank.
pub fn var_or(name: &str, default: &str) -> String {
    var(name).unwrap_or_else(|| default.to_owned())
}

/// A required variable.
pub fn required(name: &'static str, hint: &'static str) -> Result<String, ConfigError> {
    var(name).ok_or(ConfigError::Missing { name, hint })
}

/// The variable parsed as `T`, or `default` when unset or blank.
pub fn parse_or<T>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    match var(name) {
        None => Ok(default),
        Some(value) => value.parse().map_err(|e: T::Err| ConfigError::Invalid {
            name,
            reason: e.to_string(),
            value,
        }),
    }
}

/// A URL-ish variable: must start with `http://` or `https://`.
pub fn http_url_or(name: &'static str, default: &str) -> Result<String, ConfigError> {
    let value = var_or(name, default);
    check_http_url(name, value)
}

pub fn check_http_url(name: &'static str, value: String) -> Result<String, ConfigError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value)
    } else {
        Err(ConfigError::Invalid {
            name,
            value,
            reason: "expected an http:// or https:// URL".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_number_names_the_variable() {
        let err = "abc".parse::<u16>().map_err(|e| ConfigError::Invalid {
            name: "PORT",
            value: "abc".into(),
            reason: e.to_string(),
        });
        let text = err.unwrap_err().to_string();
        assert!(text.contains("PORT=\"abc\""), "{text}");
    }

    #[test]
    fn url_check_rejects_missing_scheme() {
        assert!(check_http_url("JOBS_QUEUE_URL", "localhost:9324/q".into()).is_err());
        assert!(check_http_url("JOBS_QUEUE_URL", "http://localhost:9324/q".into()).is_ok());
    }
}
