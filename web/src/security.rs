//! Browser-facing protections: cross-site request refusal (CSRF) and security headers.
//!
//! CSRF: every state-changing request (anything but GET/HEAD/OPTIONS) from a browser
//! must be same-origin. Browsers say where a request comes from in `Sec-Fetch-Site`
//! (all current ones) and `Origin` (on every cross-site POST); a request that names
//! another site is refused with 403. Clients that send neither (curl, scripts) cannot
//! be tricked by a web page into acting, so they pass. The same rule as Go's
//! `http.CrossOriginProtection`; no token to thread through every form.

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::{
    CookieJar,
    cookie::{Cookie, SameSite},
};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::AppError;

pub async fn refuse_cross_site(request: Request, next: Next) -> Response {
    if !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) && is_cross_site(request.headers())
    {
        tracing::warn!("cross-site request refused");
        return AppError::Status {
            status: StatusCode::FORBIDDEN,
            message: "This request came from another site and was refused (cross-site request protection)."
                .into(),
        }
        .into_response();
    }
    next.run(request).await
}

pub fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (origin.to_str().ok(), host) {
        (Some(origin), Some(host)) => {
            origin
                .split_once("://")
                .map(|(_, authority)| authority.trim_end_matches('/'))
                != Some(host)
        }
        // "null" origins, non-ASCII values, no Host: refuse.
        _ => true,
    }
}

/// Cookie that carries the admin token after `/faults?token=…`.
pub const ADMIN_COOKIE: &str = "admin_token";

/// Guards the fault switches when only `FAULTS_ADMIN_TOKEN` opens them: the token as
/// a bearer header, a `token` query parameter (sets a cookie, then redirects), or
/// that cookie. Anything else is a 404, as if the panel did not exist.
pub async fn require_admin(
    State(token): State<String>,
    jar: CookieJar,
    request: Request,
    next: Next,
) -> Response {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let cookie = jar.get(ADMIN_COOKIE).map(|c| c.value().to_owned());
    if bearer.is_some_and(|b| constant_time_eq(b, &token))
        || cookie.is_some_and(|c| constant_time_eq(&c, &token))
    {
        return next.run(request).await;
    }
    let query_token = request
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")));
    if query_token.is_some_and(|t| constant_time_eq(t, &token)) {
        let cookie = Cookie::build((ADMIN_COOKIE, token))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Strict);
        return (jar.add(cookie), Redirect::to(request.uri().path())).into_response();
    }
    not_found()
}

/// The 404 of an address that serves nothing (the router's fallback too).
pub fn not_found() -> Response {
    AppError::Status {
        status: StatusCode::NOT_FOUND,
        message: "There is no page at this address.".into(),
    }
    .into_response()
}

/// Compares secrets without an early exit that would leak their prefix by timing.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Content-Security-Policy: everything from this origin only; no inline scripts or
/// styles (htmx's inline indicator styles are switched off in base.html).
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// The security headers every response gets unless it sets its own, as layers.
pub fn headers() -> [SetResponseHeaderLayer<HeaderValue>; 4] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
    ]
    .map(|(name, value)| SetResponseHeaderLayer::if_not_present(name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    header::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn same_origin_and_non_browser_requests_pass() {
        assert!(!is_cross_site(&headers(&[])));
        assert!(!is_cross_site(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
        assert!(!is_cross_site(&headers(&[("sec-fetch-site", "none")])));
        assert!(!is_cross_site(&headers(&[
            ("origin", "http://localhost:3000"),
            ("host", "localhost:3000")
        ])));
    }

    #[test]
    fn other_sites_are_refused() {
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(is_cross_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "localhost:3000")
        ])));
        assert!(is_cross_site(&headers(&[
            ("origin", "null"),
            ("host", "localhost:3000")
        ])));
    }
}
