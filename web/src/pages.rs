//! The page templates (askama, in `templates/`), the helpers they call, and
//! [`render_errors`]: the middleware that turns every error response into the error page.
//! Every page carries a [`Page`] (what the header shows).

use askama::Template;
use askama_web::WebTemplate;
use std::collections::HashMap;

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::{Html, IntoResponse, Response},
};
use common::{faults::Setting, session::Session, spans::current_trace_id};
use serde::Serialize;

use crate::{
    error::ErrorReport,
    insights::{Overview, VisitView},
    outbox::DeadJob,
    request::Page,
    state::AppState,
    todos::{CompletionStats, TodoRow},
};

pub use crate::attachments::Attachment;

/// Which request stored the object at a key: `/files/lookup`.
#[derive(Template, WebTemplate)]
#[template(path = "lookup.html")]
pub struct LookupPage {
    pub page: Page,
    /// The key asked about, if any.
    pub key: String,
    pub found: Option<common::files::StoredBy>,
}

impl Attachment {
    /// `12.3 KiB`, as a person reads a size.
    pub fn size_label(&self) -> String {
        match self.size {
            n if n < 1024 => format!("{n} B"),
            n if n < 1024 * 1024 => format!("{:.1} KiB", n as f64 / 1024.0),
            n => format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0)),
        }
    }

    /// The first 12 digits of the checksum, once the worker has it.
    pub fn short_sha256(&self) -> Option<&str> {
        self.sha256.as_deref().map(|s| &s[..s.len().min(12)])
    }

    /// `/files/lookup?key=…` for this file's object.
    pub fn lookup_href(&self) -> String {
        format!(
            "/files/lookup?key={}",
            percent_encoding::utf8_percent_encode(&self.key, percent_encoding::NON_ALPHANUMERIC)
        )
    }
}

/// The list: the page every visit starts on.
#[derive(Template)]
#[template(path = "index.html")]
pub struct IndexPage {
    pub page: Page,
    pub todos: Vec<TodoRow>,
    pub stats: CompletionStats,
    /// The add form's value, kept when validation fails.
    pub new_title: String,
    pub error: Option<String>,
    /// The magic word `cat`: show buttons that answer with various statuses.
    pub cat: bool,
    /// Which faults are on, for the banner.
    pub faults_on: Vec<String>,
    /// Job kind → the trace of its latest job that was done, for the rows whose job
    /// failed (looked up only when one did).
    pub working_jobs: HashMap<String, String>,
    /// The listed to-dos' attachments, oldest first.
    pub attachments: Vec<Attachment>,
}

impl IntoResponse for IndexPage {
    /// Rendered into a buffer the size of a page of twenty rows (~33 KB), which grown
    /// from askama's size hint (the template's text) is copied over six reallocations:
    /// 8 % of a request's instructions (bench/README.md).
    fn into_response(self) -> Response {
        let mut html = String::with_capacity(40 * 1024);
        match self.render_into(&mut html) {
            Ok(()) => Html(html).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "the list's template failed");
                (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "the page could not be rendered",
                )
                    .into_response()
            }
        }
    }
}

impl IndexPage {
    pub fn open_count(&self) -> usize {
        self.todos.iter().filter(|t| !t.completed).count()
    }

    pub fn completed_count(&self) -> usize {
        self.todos.len() - self.open_count()
    }

    pub fn average_done_in(&self) -> String {
        if self.stats.completed_count == 0 {
            return "–".into();
        }
        human_duration(self.stats.total_seconds / self.stats.completed_count as f64)
    }

    /// "Compare with a working one" for a row whose job failed or died.
    pub fn compare_url(&self, todo: &TodoRow) -> Option<String> {
        if !matches!(todo.job_state.as_deref(), Some("failed" | "dead")) {
            return None;
        }
        let working = self.working_jobs.get(todo.job_kind.as_deref()?).cloned();
        self.page.compare_url(&working, &todo.job_trace_id)
    }

    /// `todo`'s attachments.
    pub fn files_of<'a>(&'a self, todo: &'a TodoRow) -> impl Iterator<Item = &'a Attachment> {
        self.attachments
            .iter()
            .filter(move |a| a.todo_id == todo.id)
    }

    /// The trace of the request that last changed `todo`, when the job's link does not
    /// lead there already (reopening a to-do causes no job).
    pub fn last_change_url(&self, todo: &TodoRow) -> Option<String> {
        if todo.updated_trace_id == todo.job_trace_id {
            return None;
        }
        self.page.trace_url(&todo.updated_trace_id)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "insights.html")]
pub struct InsightsPage {
    pub page: Page,
    pub overview: Overview,
    /// `INSIGHTS_RETENTION_DAYS`.
    pub retention_days: i32,
}

impl InsightsPage {
    /// Dollars to three significant digits, at least four decimals: `$0.0650`,
    /// `$0.00000123`.
    pub fn usd(&self, usd: &f64) -> String {
        usd_text(*usd)
    }

    pub fn time_to_done(&self, user: &crate::insights::UserInsights) -> String {
        user.median_time_to_done_s
            .map_or_else(|| "–".to_owned(), human_duration)
    }
}

fn usd_text(usd: f64) -> String {
    if usd <= 0.0 || !usd.is_finite() {
        return "$0".to_owned();
    }
    let decimals = (2 - usd.log10().floor() as i32).max(4) as usize;
    format!("${usd:.decimals$}")
}

impl Page {
    /// The "compare with a working one" link of a failed or slow request.
    pub fn compare_visit(&self, visit: &VisitView) -> Option<String> {
        self.compare_url(&visit.compare_with, &visit.trace_id)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "signin.html")]
pub struct SignInPage {
    pub page: Page,
    pub error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "dead_letters.html")]
pub struct DeadLettersPage {
    pub page: Page,
    pub jobs: Vec<DeadJob>,
    /// Messages in the DLQ, if SQS answered.
    pub dlq_depth: Option<u64>,
    /// Job kind → the trace of its latest job that was done.
    pub working_jobs: HashMap<String, String>,
}

impl DeadLettersPage {
    pub fn compare_url(&self, job: &DeadJob) -> Option<String> {
        let working = self.working_jobs.get(&job.kind).cloned();
        self.page.compare_url(&working, &job.trace_id)
    }
}

/// One fault's switch with what it does, as the panel and the API show it.
#[derive(Serialize)]
pub struct FaultView {
    #[serde(flatten)]
    pub setting: Setting,
    pub description: &'static str,
}

impl FaultView {
    /// `(key, value)` of each parameter, for the form.
    pub fn params(&self) -> Vec<(String, String)> {
        self.setting
            .params
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.to_string())).collect())
            .unwrap_or_default()
    }

    pub fn scoped_to_me(&self, my_scope: &Option<String>) -> bool {
        self.setting.scope.is_some() && self.setting.scope == *my_scope
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "faults.html")]
pub struct FaultsPage {
    pub page: Page,
    pub faults: Vec<FaultView>,
    /// This browser's scope cookie, if it has one.
    pub my_scope: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub page: Page,
    pub status: u16,
    pub reason: String,
    pub message: String,
    pub trace_id: String,
    /// The latest trace of the same route that worked.
    pub working_trace_id: Option<String>,
    /// Whose journey this request is part of (`guest` when nobody signed in).
    pub owner: String,
}

impl ErrorPage {
    pub fn compare_url(&self) -> Option<String> {
        self.page
            .compare_url(&self.working_trace_id, &Some(self.trace_id.clone()))
    }
}

/// Renders the error page for every response that carries an [`ErrorReport`], naming
/// the current trace so the user can open it. Runs inside the SERVER span and after
/// `request::context`, so it knows both.
pub async fn render_errors(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let session = request
        .extensions()
        .get::<Session>()
        .cloned()
        .unwrap_or_default();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    let response = next.run(request).await;
    let Some(report) = response.extensions().get::<ErrorReport>().cloned() else {
        return response;
    };
    let status = response.status();
    let working_trace_id = route
        .and_then(|route| app.insights.working_trace(method.as_str(), route.as_str()))
        .map(|trace| trace.to_string());
    let mut page = ErrorPage {
        page: Page::new(&app, &session),
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("Error").to_owned(),
        message: report.message,
        trace_id: current_trace_id(),
        working_trace_id,
        owner: session.owner().to_owned(),
    }
    .into_response();
    *page.status_mut() = status;
    let (mut parts, body) = page.into_parts();
    let failed = response.into_parts().0;
    // Headers the failing code set (e.g. a cookie) stay, and so do its extensions (e.g.
    // `server_span::ErrorTyped`, for the layers outside).
    for (name, value) in &failed.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            parts.headers.insert(name.clone(), value.clone());
        }
    }
    parts.extensions.extend(failed.extensions);
    Response::from_parts(parts, body)
}

impl TodoRow {
    /// What the job column says, e.g. "enrich: queued".
    pub fn job_label(&self) -> String {
        let (Some(kind), Some(state)) = (&self.job_kind, &self.job_state) else {
            return String::new();
        };
        let what = match kind.as_str() {
            "enrich_todo" => "enrich",
            "todo_completed" => "stats",
            "process_attachment" => "file",
            other => other,
        };
        match (state.as_str(), self.job_attempts.unwrap_or(0)) {
            ("failed", n) => format!("{what}: failed (attempt {n}), retrying"),
            (state, _) => format!("{what}: {state}"),
        }
    }

    pub fn job_state_class(&self) -> &str {
        self.job_state.as_deref().unwrap_or("none")
    }

    pub fn done_in(&self) -> Option<String> {
        self.done_in_seconds.map(human_duration)
    }

    pub fn priority_label(&self) -> &str {
        self.priority.as_deref().unwrap_or("")
    }
}

pub fn human_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86400, (s % 86400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dollars_keep_three_significant_digits() {
        assert_eq!(super::usd_text(0.065), "$0.0650");
        assert_eq!(super::usd_text(0.000_001_234), "$0.00000123");
        assert_eq!(super::usd_text(12.5), "$12.5000");
        assert_eq!(super::usd_text(0.0), "$0");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(super::human_duration(4.4), "4s");
        assert_eq!(super::human_duration(125.0), "2m 5s");
        assert_eq!(super::human_duration(7300.0), "2h 1m");
        assert_eq!(super::human_duration(90000.0), "1d 1h");
    }
}
