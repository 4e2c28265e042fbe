//! The session a piece of work comes from: the signed-in user (`enduser.id`) and the
//! browser's fault scope. A plain value: web builds one per request (from its cookies
//! and baggage), the worker one per record (from the message's W3C baggage), and both
//! hand it to whatever needs it (spans, faults, metrics, the outbox).

use opentelemetry::{Context, KeyValue, baggage::BaggageExt};

/// Baggage key carrying the user from web to worker.
pub const USER_BAGGAGE_KEY: &str = "enduser.id";
/// Baggage key and cookie name that carry a session's fault scope.
pub const SCOPE_BAGGAGE_KEY: &str = "fault.scope";
pub const SCOPE_COOKIE: &str = "fault_scope";
/// Whose work it is when nobody signed in: to-dos belong to `guest` then.
pub const GUEST: &str = "guest";
/// The name everyone past the first users is counted under where cardinality is bounded
/// (metrics, insights). Like [`GUEST`], nobody can sign in as it.
pub const OTHER: &str = "other";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    pub user: Option<String>,
    pub fault_scope: Option<String>,
}

impl Session {
    /// The signed-in user, or `guest`.
    pub fn owner(&self) -> &str {
        self.user.as_deref().unwrap_or(GUEST)
    }

    /// The context carried in `cx`'s baggage (what a consumer received).
    pub fn from_baggage(cx: &Context) -> Self {
        let get = |key: &str| {
            cx.baggage()
                .get(key)
                .map(|v| v.as_str().to_owned())
                .filter(|v| !v.is_empty() && v.len() <= 64)
        };
        Self {
            user: get(USER_BAGGAGE_KEY),
            fault_scope: get(SCOPE_BAGGAGE_KEY),
        }
    }

    /// `cx` with this user and fault scope in its baggage (other entries kept), so they
    /// travel with a job into the worker. A caller's own entries for them are replaced
    /// or dropped: a guest must not reach the worker as whoever their baggage names.
    pub fn into_baggage(&self, cx: Context) -> Context {
        let mut entries: Vec<KeyValue> = cx
            .baggage()
            .iter()
            .filter(|(k, _)| k.as_str() != USER_BAGGAGE_KEY && k.as_str() != SCOPE_BAGGAGE_KEY)
            .map(|(k, (v, _))| KeyValue::new(k.clone(), v.clone()))
            .collect();
        if let Some(user) = &self.user {
            entries.push(KeyValue::new(USER_BAGGAGE_KEY, user.clone()));
        }
        if let Some(scope) = &self.fault_scope {
            entries.push(KeyValue::new(SCOPE_BAGGAGE_KEY, scope.clone()));
        }
        cx.with_baggage(entries)
    }
}

/// A user name as accepted at sign-in: 1–32 letters, digits, `.`, `_` or `-`.
pub fn valid_user(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A name someone can sign in as: valid, and not one of the shared buckets ([`GUEST`]:
/// everyone not signed in; [`OTHER`]: everyone past the counted users).
pub fn can_sign_in_as(name: &str) -> bool {
    valid_user(name) && name != GUEST && name != OTHER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_round_trips_through_baggage() {
        let session = Session {
            user: Some("ada".into()),
            fault_scope: Some("talk-1".into()),
        };
        let cx =
            session.into_baggage(Context::new().with_baggage([KeyValue::new("other", "kept")]));
        assert_eq!(Session::from_baggage(&cx), session);
        assert_eq!(
            cx.baggage().get("other").map(|v| v.as_str().to_owned()),
            Some("kept".into())
        );
        assert_eq!(Session::default().owner(), GUEST);
        assert_eq!(session.owner(), "ada");
    }

    #[test]
    fn a_guests_baggage_names_nobody() {
        let forged = Context::new().with_baggage([
            KeyValue::new(USER_BAGGAGE_KEY, "ada"),
            KeyValue::new("other", "kept"),
        ]);
        let cx = Session::default().into_baggage(forged);
        assert_eq!(Session::from_baggage(&cx).user, None);
        assert!(cx.baggage().get("other").is_some());
    }

    #[test]
    fn user_names_are_plain() {
        assert!(valid_user("ada.lovelace-1"));
        assert!(!valid_user(""));
        assert!(!valid_user("a b"));
        assert!(!valid_user("ada;evil=1"));
        assert!(!valid_user(&"x".repeat(33)));
        assert!(can_sign_in_as("ada") && !can_sign_in_as(GUEST) && !can_sign_in_as(OTHER));
    }
}
