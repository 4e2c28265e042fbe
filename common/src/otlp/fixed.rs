//! Attributes a call site sets to the same values on every span it starts (a query's
//! `db.system.name`, `db.operation.name`, `db.collection.name` and `db.query.text`; a
//! route's method, route, scheme and protocol version, and `url.path` when the path is
//! the route itself), encoded once per process instead of once per span; and, for a
//! route, its SERVER spans' name, made once instead of formatted per request.
//!
//! Built per span, each was a `KeyValue` made, encoded (OTLP writes the key string
//! every time) and dropped: once they were not, callgrind counted tracing's own
//! instructions in a traced `GET /` down from 9.5 k to 6.3 k (README, "Attributes
//! encoded once"). A span started with [`FixedAttributes`] keeps a reference to them
//! and its encoding copies their bytes.

use std::{
    cell::RefCell,
    collections::HashMap,
    sync::{LazyLock, Mutex},
};

use opentelemetry::KeyValue;
use rustc_hash::FxHashMap;

use super::encode;

/// See the module's documentation. Made once per call site and kept for the life of the
/// process ([`FixedAttributes::interned`]).
#[derive(Debug)]
pub struct FixedAttributes {
    /// The name the site's spans take, when the site makes it (a route's SERVER span:
    /// `GET /todos`); empty otherwise.
    name: String,
    attributes: Vec<KeyValue>,
    /// Each attribute as a `Span.attributes` field, as the span's own are encoded.
    encoded: Vec<u8>,
}

/// No fixed attributes (a span with only its own).
pub static NONE: FixedAttributes = FixedAttributes {
    name: String::new(),
    attributes: Vec::new(),
    encoded: Vec::new(),
};

/// Identifies a call site's attributes: the addresses and lengths of the `&'static str`s
/// they are made of (a query's name and SQL), so a look-up neither hashes nor compares
/// the text. Two sites with the same text get two entries, which is harmless.
pub type SiteKey = [usize; 4];

/// Every call site's attributes, made once per process (so at most one per site is ever
/// allocated, whatever threads come and go) …
static SITES: LazyLock<Mutex<HashMap<SiteKey, &'static FixedAttributes>>> =
    LazyLock::new(Mutex::default);

thread_local! {
    /// … and each thread's own look-up in front of it: no lock, no shared cache line on a
    /// span's path.
    static LOCAL: RefCell<FxHashMap<SiteKey, &'static FixedAttributes>> =
        RefCell::new(FxHashMap::default());
}

impl FixedAttributes {
    fn new(name: String, attributes: Vec<KeyValue>) -> Self {
        let mut encoded = Vec::new();
        encode::attributes(&mut encoded, &attributes);
        Self {
            name,
            attributes,
            encoded,
        }
    }

    /// The attributes of the call site `key`, made by `make` the first time the process
    /// asks for them.
    pub fn interned(
        key: SiteKey,
        make: impl FnOnce() -> Vec<KeyValue>,
    ) -> &'static FixedAttributes {
        Self::interned_named(key, || (String::new(), make()))
    }

    /// [`FixedAttributes::interned`] with the span name the site's spans take, made once
    /// too ([`FixedAttributes::name`]).
    pub fn interned_named(
        key: SiteKey,
        make: impl FnOnce() -> (String, Vec<KeyValue>),
    ) -> &'static FixedAttributes {
        let local = LOCAL.try_with(|local| local.borrow().get(&key).copied());
        if let Ok(Some(fixed)) = local {
            return fixed;
        }
        let fixed = *SITES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            // Leaked on purpose: one per call site, for the life of the process.
            .or_insert_with(|| {
                let (name, attributes) = make();
                Box::leak(Box::new(Self::new(name, attributes)))
            });
        let _ = LOCAL.try_with(|local| local.borrow_mut().insert(key, fixed));
        fixed
    }

    /// The span name made with them (empty when the site names its spans itself).
    pub fn name(&'static self) -> &'static str {
        &self.name
    }

    pub fn attributes(&self) -> &[KeyValue] {
        &self.attributes
    }

    pub fn len(&self) -> usize {
        self.attributes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty()
    }

    /// What [`encode`] writes for them.
    pub(super) fn encoded(&self) -> &[u8] {
        &self.encoded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_is_made_once_and_found_again_from_any_thread() {
        let key = [1, 2, 3, 4];
        let made = std::sync::atomic::AtomicUsize::new(0);
        let make = || {
            made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            vec![KeyValue::new("db.system.name", "postgresql")]
        };
        let first = FixedAttributes::interned(key, make);
        let again = FixedAttributes::interned(key, make);
        let elsewhere = std::thread::scope(|s| {
            s.spawn(|| FixedAttributes::interned(key, make) as *const _ as usize)
                .join()
                .unwrap()
        });
        assert!(std::ptr::eq(first, again));
        assert_eq!(elsewhere, first as *const _ as usize);
        assert_eq!(made.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(
            first.attributes(),
            [KeyValue::new("db.system.name", "postgresql")]
        );
        let mut expected = Vec::new();
        encode::attributes(&mut expected, first.attributes());
        assert_eq!(first.encoded(), expected);
    }
}
