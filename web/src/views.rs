//! Page templates (askama, in `templates/`) and the helpers they call.

use askama::Template;
use askama_web::WebTemplate;

use crate::{
    db::todos::{CompletionStats, TodoRow},
    routes::faults::FaultView,
};

#[derive(Template, WebTemplate)]
#[template(path = "index.html")]
pub struct IndexPage {
    pub todos: Vec<TodoRow>,
    pub stats: CompletionStats,
    /// The add form's value, kept when validation fails.
    pub new_title: String,
    pub error: Option<String>,
    pub jaeger_ui_url: String,
    /// The magic word `cat`: show buttons that answer with various statuses.
    pub cat: bool,
    /// Which faults are on, for the banner.
    pub faults_on: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "insights.html")]
pub struct InsightsPage {
    pub users: Vec<crate::insights::UserInsights>,
    pub jaeger_ui_url: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "signin.html")]
pub struct SignInPage {
    pub error: Option<String>,
    pub jaeger_ui_url: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "dead_letters.html")]
pub struct DeadLettersPage {
    pub jobs: Vec<crate::db::jobs::DeadJob>,
    /// Messages in the DLQ, if SQS answered.
    pub dlq_depth: Option<u64>,
    pub jaeger_ui_url: String,
}

impl DeadLettersPage {
    pub fn trace_url(&self, trace_id: &Option<String>) -> Option<String> {
        trace_url(&self.jaeger_ui_url, trace_id)
    }
}

/// `JAEGER_UI_URL/trace/{id}` for a real trace id.
fn trace_url(jaeger_ui_url: &str, trace_id: &Option<String>) -> Option<String> {
    trace_id
        .as_deref()
        .filter(|id| !id.is_empty() && id.bytes().any(|b| b != b'0'))
        .map(|id| format!("{jaeger_ui_url}/trace/{id}"))
}

#[derive(Template, WebTemplate)]
#[template(path = "faults.html")]
pub struct FaultsPage {
    pub faults: Vec<FaultView>,
    /// This browser's scope cookie, if it has one.
    pub my_scope: Option<String>,
    pub jaeger_ui_url: String,
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

    pub fn trace_url(&self, trace_id: &Option<String>) -> Option<String> {
        trace_url(&self.jaeger_ui_url, trace_id)
    }
}

impl TodoRow {
    /// What the job column says, e.g. "enriching… (queued)".
    pub fn job_label(&self) -> String {
        let (Some(kind), Some(state)) = (&self.job_kind, &self.job_state) else {
            return String::new();
        };
        let what = match kind.as_str() {
            "enrich_todo" => "enrich",
            "todo_completed" => "stats",
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
    fn durations_read_naturally() {
        assert_eq!(super::human_duration(4.4), "4s");
        assert_eq!(super::human_duration(125.0), "2m 5s");
        assert_eq!(super::human_duration(7300.0), "2h 1m");
        assert_eq!(super::human_duration(90000.0), "1d 1h");
    }
}
