//! Who and what the work in progress is for: the signed-in user (`enduser.id`) and the
//! session's fault scope. A task-local set by web's middleware per request and by the
//! worker per record (from W3C baggage), read wherever spans and faults need it.

use opentelemetry::{Context, KeyValue, baggage::BaggageExt};

use crate::faults::SCOPE_BAGGAGE_KEY;

/// Baggage key carrying the user from web to worker.
pub const USER_BAGGAGE_KEY: &str = "enduser.id";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    pub user: Option<String>,
    pub fault_scope: Option<String>,
}

tokio::task_local! {
    static CURRENT: RequestContext;
}

/// Runs `fut` with `ctx` as the context of the work in progress.
pub async fn scope<F: Future>(ctx: RequestContext, fut: F) -> F::Output {
    CURRENT.scope(ctx, fut).await
}

/// The context of the work in progress (empty outside one).
pub fn current() -> RequestContext {
    CURRENT.try_with(Clone::clone).unwrap_or_default()
}

pub fn user() -> Option<String> {
    CURRENT.try_with(|c| c.user.clone()).ok().flatten()
}

pub fn fault_scope() -> Option<String> {
    CURRENT.try_with(|c| c.fault_scope.clone()).ok().flatten()
}

/// The context carried in `cx`'s baggage (what a consumer received).
pub fn from_baggage(cx: &Context) -> RequestContext {
    let get = |key: &str| {
        cx.baggage()
            .get(key)
            .map(|v| v.as_str().to_owned())
            .filter(|v| !v.is_empty() && v.len() <= 64)
    };
    RequestContext {
        user: get(USER_BAGGAGE_KEY),
        fault_scope: get(SCOPE_BAGGAGE_KEY),
    }
}

/// `cx` with the current user and fault scope added to its baggage (other entries kept),
/// so they travel with the job into the worker.
pub fn with_baggage(cx: Context) -> Context {
    let ctx = current();
    if ctx.user.is_none() && ctx.fault_scope.is_none() {
        return cx;
    }
    let mut entries: Vec<KeyValue> = cx
        .baggage()
        .iter()
        .filter(|(k, _)| k.as_str() != USER_BAGGAGE_KEY && k.as_str() != SCOPE_BAGGAGE_KEY)
        .map(|(k, (v, _))| KeyValue::new(k.clone(), v.clone()))
        .collect();
    if let Some(user) = ctx.user {
        entries.push(KeyValue::new(USER_BAGGAGE_KEY, user));
    }
    if let Some(scope) = ctx.fault_scope {
        entries.push(KeyValue::new(SCOPE_BAGGAGE_KEY, scope));
    }
    cx.with_baggage(entries)
}

/// A user name as accepted at sign-in: 1–32 letters, digits, `.`, `_` or `-`.
pub fn valid_user(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn context_round_trips_through_baggage() {
        let ctx = RequestContext {
            user: Some("ada".into()),
            fault_scope: Some("talk-1".into()),
        };
        let cx = scope(ctx.clone(), async {
            with_baggage(Context::new().with_baggage([KeyValue::new("other", "kept")]))
        })
        .await;
        assert_eq!(from_baggage(&cx), ctx);
        assert_eq!(
            cx.baggage().get("other").map(|v| v.as_str().to_owned()),
            Some("kept".into())
        );
        assert_eq!(
            current(),
            RequestContext::default(),
            "nothing outside a scope"
        );
    }

    #[test]
    fn user_names_are_plain() {
        assert!(valid_user("ada.lovelace-1"));
        assert!(!valid_user(""));
        assert!(!valid_user("a b"));
        assert!(!valid_user("ada;evil=1"));
        assert!(!valid_user(&"x".repeat(33)));
    }
}
