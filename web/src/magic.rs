//! Words typed into the to-do box that do something instead of adding a to-do (from
//! the talk this demo grew out of). Whatever they do is marked on the request's span as
//! `fault.name=magic_word_*`, so the trace says a magic word, not a bug, did it.

use axum::http::StatusCode;
use common::spans::Marks as _;
use opentelemetry::KeyValue;

pub enum MagicWord {
    /// `httpstat 418`: answer this request with that status.
    HttpStat(StatusCode),
    /// `meow`: send an extra message to the queue.
    Meow,
    /// `cat`: show buttons that each fire a request with a different status.
    Cat,
}

impl MagicWord {
    pub fn parse(title: &str) -> Option<Self> {
        let lower = title.trim().to_ascii_lowercase();
        match lower.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["meow"] => Some(MagicWord::Meow),
            ["cat"] => Some(MagicWord::Cat),
            ["httpstat", code] => status(code).map(MagicWord::HttpStat),
            _ => None,
        }
    }
}

/// A status `httpstat` answers with: 200–599.
pub fn status(code: &str) -> Option<StatusCode> {
    code.parse::<u16>()
        .ok()
        .filter(|c| (200..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
}

/// Marks the current span with the magic word that acted.
pub fn mark(word: &str) {
    let mut span = opentelemetry::Context::current();
    let name = format!("magic_word_{word}");
    span.attribute(KeyValue::new("fault.name", name.clone()));
    span.attribute(KeyValue::new("fault.injected", true));
    span.event("fault injected", vec![KeyValue::new("fault.name", name)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_words_are_recognised_and_bounded() {
        assert!(matches!(MagicWord::parse(" Meow "), Some(MagicWord::Meow)));
        assert!(matches!(MagicWord::parse("cat"), Some(MagicWord::Cat)));
        assert!(matches!(
            MagicWord::parse("httpstat 418"),
            Some(MagicWord::HttpStat(s)) if s.as_u16() == 418
        ));
        assert!(MagicWord::parse("httpstat 99").is_none());
        assert!(MagicWord::parse("httpstat 600").is_none());
        assert!(MagicWord::parse("buy cat food").is_none());
    }
}
