//! What this process heard since its last batch: the request path only adds to it (one
//! lock, no I/O); the flusher takes it whole and writes it in one transaction.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};
use common::session::OTHER;

use super::{user::Visit, working::NewWorking};

/// Requests held while the database cannot take them (an outage): past this, the
/// oldest are dropped (and counted), so memory stays bounded.
pub const MAX_VISITS: usize = 20_000;
/// Distinct users in one batch before the rest are counted as `other` (the table's own
/// bound, `MAX_USERS`, applies when the batch is written).
const MAX_BATCH_USERS: usize = 1000;

/// A user's counters since the last batch (added to the table's).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub requests: i64,
    pub errors: i64,
    pub writes: i64,
    pub writes_over: [i64; 3],
    pub created: i64,
    pub completed: i64,
    pub web_cpu_us: i64,
    pub db_us: i64,
    pub sqs_requests: i64,
    pub s3_puts: i64,
    pub s3_gets: i64,
    pub last_seen: Option<DateTime<Utc>>,
    pub last_error: Option<DateTime<Utc>>,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.writes += o.writes;
        for (a, b) in self.writes_over.iter_mut().zip(o.writes_over) {
            *a += b;
        }
        self.created += o.created;
        self.completed += o.completed;
        self.web_cpu_us += o.web_cpu_us;
        self.db_us += o.db_us;
        self.sqs_requests += o.sqs_requests;
        self.s3_puts += o.s3_puts;
        self.s3_gets += o.s3_gets;
        self.last_seen = self.last_seen.max(o.last_seen);
        self.last_error = self.last_error.max(o.last_error);
    }
}

#[derive(Default)]
pub struct Pending {
    pub users: HashMap<String, Counts>,
    /// In the order they finished.
    pub visits: VecDeque<(String, Visit)>,
    /// (user, when, seconds from created to completed).
    pub completions: Vec<(String, DateTime<Utc>, f64)>,
    pub working: NewWorking,
    /// Requests dropped past [`MAX_VISITS`] since the last batch that was written.
    pub dropped: u64,
}

impl Pending {
    /// `user`'s counters, made on first sight in this batch (one allocation a user a batch).
    pub fn user(&mut self, user: &str) -> &mut Counts {
        let key = if self.users.contains_key(user) || self.users.len() < MAX_BATCH_USERS {
            user
        } else {
            OTHER
        };
        if !self.users.contains_key(key) {
            self.users.insert(key.to_owned(), Counts::default());
        }
        self.users.get_mut(key).expect("inserted above")
    }

    pub fn visit(&mut self, user: &str, visit: Visit) {
        if self.visits.len() >= MAX_VISITS {
            self.visits.pop_front();
            self.dropped += 1;
        }
        self.visits.push_back((user.to_owned(), visit));
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
            && self.visits.is_empty()
            && self.completions.is_empty()
            && self.working.0.is_empty()
    }

    /// A batch that could not be written goes back in front of what came since.
    pub fn put_back(&mut self, older: Pending) {
        let newer = std::mem::replace(self, older);
        for (user, counts) in newer.users {
            self.users.entry(user).or_default().add(&counts);
        }
        for (user, visit) in newer.visits {
            self.visit(&user, visit);
        }
        self.completions.extend(newer.completions);
        let excess = self.completions.len().saturating_sub(MAX_VISITS);
        self.completions.drain(..excess);
        for (method, route, trace, at) in newer.working.0 {
            self.working.record(&method, &route, trace, at);
        }
        self.dropped += newer.dropped;
    }
}
