//! What the console prints: each trace as one tree once it has been quiet for a moment,
//! and again, whole, if spans arrive late. Memory stays bounded however long it runs.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::Duration,
};

use tokio::time::Instant;

use crate::{receiver::Span, tree};

/// Spans the receiver keeps between two looks (every 250 ms): 5 s at 1,000 spans/s.
/// The console's memory is bounded by it, by [`PENDING_TRACES`] and by [`PRINTED_TRACES`].
pub const RETAINED_SPANS: usize = 5_000;
/// Traces waiting to be quiet; beyond it the oldest is printed early.
pub const PENDING_TRACES: usize = 10_000;
/// Printed traces kept, so that a late span reprints its whole tree.
pub const PRINTED_TRACES: usize = 200;

/// Traces being assembled until they are quiet, and the last ones printed.
pub struct Console {
    quiet: Duration,
    /// trace id → (its spans so far, when the last one arrived). The spans are the
    /// receiver's own (shared, not copied).
    pending: HashMap<String, (Vec<Arc<Span>>, Instant)>,
    printed: HashMap<String, Vec<Arc<Span>>>,
    /// Printed trace ids, oldest first (to forget the oldest).
    printed_order: VecDeque<String>,
}

impl Console {
    pub fn new(quiet: Duration) -> Self {
        Self {
            quiet,
            pending: HashMap::new(),
            printed: HashMap::new(),
            printed_order: VecDeque::new(),
        }
    }

    pub fn add(&mut self, spans: Vec<Arc<Span>>, now: Instant) {
        for span in spans {
            let entry = self
                .pending
                .entry(span.trace_id.clone())
                .or_insert_with(|| (Vec::new(), now));
            entry.0.push(span);
            entry.1 = now;
        }
    }

    /// The trees of the traces quiet since `quiet` (or pushed out by newer ones).
    pub fn ready(&mut self, now: Instant) -> Vec<String> {
        let mut ready: Vec<(String, Instant)> = self
            .pending
            .iter()
            .map(|(id, (_, last))| (id.clone(), *last))
            .collect();
        ready.sort_by_key(|(_, last)| *last);
        let overflow = self.pending.len().saturating_sub(PENDING_TRACES);
        let mut trees = Vec::new();
        for (i, (trace_id, last)) in ready.into_iter().enumerate() {
            if i >= overflow && now.duration_since(last) < self.quiet {
                break;
            }
            let Some((spans, _)) = self.pending.remove(&trace_id) else {
                continue;
            };
            trees.push(self.print(trace_id, spans));
        }
        trees
    }

    fn print(&mut self, trace_id: String, spans: Vec<Arc<Span>>) -> String {
        let (trace, note) = match self.printed.remove(&trace_id) {
            Some(mut earlier) => {
                // Printed before: it moves to the back of the order (newest).
                self.printed_order.retain(|id| id != &trace_id);
                earlier.extend(spans);
                (earlier, " (more spans arrived)")
            }
            None => (spans, ""),
        };
        let tree = format!("{}{note}", tree::render(&trace).trim_end());
        self.printed_order.push_back(trace_id.clone());
        self.printed.insert(trace_id, trace);
        while self.printed_order.len() > PRINTED_TRACES {
            if let Some(old) = self.printed_order.pop_front() {
                self.printed.remove(&old);
            }
        }
        tree
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(trace: &str, id: &str, name: &str) -> Arc<Span> {
        Arc::new(Span {
            service: "web".into(),
            name: name.into(),
            kind: opentelemetry_proto::tonic::trace::v1::span::SpanKind::Internal,
            trace_id: trace.into(),
            span_id: id.into(),
            parent_span_id: String::new(),
            attributes: HashMap::new(),
            status_code: 0,
            events: Vec::new(),
            links: Vec::new(),
            start_unix_nanos: 0,
            end_unix_nanos: 1_000_000,
            received_unix_ms: 0,
        })
    }

    #[test]
    fn traces_print_once_quiet_and_again_with_late_spans() {
        let quiet = Duration::from_millis(100);
        let t0 = Instant::now();
        let mut console = Console::new(quiet);
        console.add(
            vec![span("a", "1", "GET /"), span("b", "2", "POST /todos")],
            t0,
        );
        assert!(console.ready(t0 + quiet / 2).is_empty(), "not quiet yet");
        let trees = console.ready(t0 + quiet);
        assert_eq!(trees.len(), 2);
        assert!(console.pending.is_empty());

        console.add(vec![span("a", "3", "late one")], t0 + quiet * 2);
        let trees = console.ready(t0 + quiet * 3);
        assert_eq!(trees.len(), 1);
        assert!(trees[0].contains("GET /") && trees[0].contains("late one"));
        assert!(trees[0].contains("(more spans arrived)"));
    }

    #[test]
    fn printed_traces_are_bounded() {
        let t0 = Instant::now();
        let mut console = Console::new(Duration::ZERO);
        for i in 0..PRINTED_TRACES + 10 {
            console.add(vec![span(&i.to_string(), "1", "GET /")], t0);
            console.ready(t0);
        }
        assert_eq!(console.printed.len(), PRINTED_TRACES);
        assert_eq!(console.printed_order.len(), PRINTED_TRACES);
    }
}
