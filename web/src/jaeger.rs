//! Links into the Jaeger UI (`JAEGER_UI_URL`): one trace, two traces side by side, one
//! user's traces. The forms are jaeger-ui's own routes (`packages/jaeger-ui/src/
//! components/TracePage/url`, `TraceDiff/url.tsx`, `SearchTracePage/SearchForm.tsx`).

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// A trace id worth linking to: 32 characters, not all zero (the invalid id an untraced
/// request has). The ids are ours (from the SDK, stored by us), so no full hex check:
/// this runs for every row of every list page.
pub fn real_trace(id: &str) -> bool {
    id.len() == 32 && id.bytes().any(|b| b != b'0')
}

/// `{base}/trace/{id}`.
pub fn trace_url(base: &str, id: &str) -> Option<String> {
    real_trace(id).then(|| format!("{base}/trace/{id}"))
}

/// Jaeger's trace comparison (TraceDiff): `/trace/{a}...{b}?cohort={a}&cohort={b}`, the
/// working trace as A (left), the broken one as B.
pub fn compare_url(base: &str, working: &str, broken: &str) -> Option<String> {
    (real_trace(working) && real_trace(broken) && working != broken)
        .then(|| format!("{base}/trace/{working}...{broken}?cohort={working}&cohort={broken}"))
}

/// The search page for `service`'s traces.
pub fn service_search_url(base: &str, service: &str) -> String {
    format!(
        "{base}/search?service={}",
        utf8_percent_encode(service, NON_ALPHANUMERIC)
    )
}

/// The search for `service`'s traces of one user (`enduser.id`, on every SERVER span
/// of a signed-in request) in the last `lookback` (e.g. `1h`). Tags are JSON in the URL.
pub fn user_search_url(base: &str, service: &str, user: &str, lookback: &str) -> String {
    let tags = serde_json::json!({ "enduser.id": user }).to_string();
    format!(
        "{}&tags={}&lookback={lookback}&limit=100",
        service_search_url(base, service),
        utf8_percent_encode(&tags, NON_ALPHANUMERIC),
    )
}

#[cfg(test)]
mod tests {
    const A: &str = "0af7651916cd43dd8448eb211c80319c";
    const B: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    #[test]
    fn compare_puts_the_working_trace_left() {
        assert_eq!(
            super::compare_url("http://j", A, B).unwrap(),
            format!("http://j/trace/{A}...{B}?cohort={A}&cohort={B}")
        );
    }

    #[test]
    fn a_trace_url_is_the_base_and_the_id() {
        assert_eq!(
            super::trace_url("http://j:16686", A).unwrap(),
            format!("http://j:16686/trace/{A}")
        );
    }

    #[test]
    fn no_links_to_invalid_or_identical_traces() {
        let zero = "0".repeat(32);
        assert_eq!(super::trace_url("http://j", &zero), None);
        assert_eq!(super::trace_url("http://j", "xyz"), None);
        assert_eq!(super::compare_url("http://j", &zero, B), None);
        assert_eq!(super::compare_url("http://j", A, A), None);
    }

    #[test]
    fn user_search_encodes_the_tags_json() {
        assert_eq!(
            super::user_search_url("http://j", "todo-web", "ada.l", "1h"),
            "http://j/search?service=todo%2Dweb&tags=%7B%22enduser%2Eid%22%3A%22ada%2El%22%7D&lookback=1h&limit=100"
        );
    }
}
