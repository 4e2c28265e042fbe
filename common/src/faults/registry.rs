//! [`Faults`]: a process's handle on the fault switches. Cheap to clone; web keeps one in
//! its state, the worker in its `Worker`, and both pass it to what injects faults.
//!
//! It keeps a snapshot of the settings no older than its TTL, refreshed at the start of
//! a request, an invocation or a relay round ([`Faults::refresh_if_stale`]); deciding
//! whether a fault fires ([`Faults::active`]) never waits on the database.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use rand::{Rng, SeedableRng, rngs::StdRng};

use super::{Active, Fault, Setting};
use crate::session::Session;

/// Where settings come from (the web's and worker's database, see [`super::store`]).
pub type Loader = Arc<
    dyn Fn() -> futures_util::future::BoxFuture<'static, Result<Vec<Setting>, String>>
        + Send
        + Sync,
>;

struct Snapshot {
    loaded: Instant,
    settings: HashMap<Fault, Setting>,
}

struct Registry {
    snapshot: RwLock<Arc<Snapshot>>,
    ttl: Duration,
    loader: Loader,
    refreshing: tokio::sync::Mutex<()>,
    rng: Mutex<StdRng>,
}

#[derive(Clone)]
pub struct Faults(Arc<Registry>);

impl Faults {
    /// Settings from `loader`, at most `ttl` stale. `seed` makes probabilistic faults
    /// repeatable.
    pub fn new(loader: Loader, ttl: Duration, seed: Option<u64>) -> Self {
        let rng = seed.map_or_else(StdRng::from_os_rng, StdRng::seed_from_u64);
        Self(Arc::new(Registry {
            snapshot: RwLock::new(Arc::new(Snapshot {
                loaded: stale(ttl),
                settings: HashMap::new(),
            })),
            ttl,
            loader,
            refreshing: tokio::sync::Mutex::new(()),
            rng: Mutex::new(rng),
        }))
    }

    /// No fault ever fires (tests of the happy path, tools).
    pub fn off() -> Self {
        Self::new(
            Arc::new(|| Box::pin(async { Ok(Vec::new()) })),
            Duration::from_secs(3600),
            Some(0),
        )
    }

    fn current(&self) -> Arc<Snapshot> {
        self.0
            .snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reloads the settings if the snapshot is older than the TTL. A failed load keeps
    /// the old snapshot (a database outage must not switch faults off or on).
    pub async fn refresh_if_stale(&self) {
        let registry = &self.0;
        if self.current().loaded.elapsed() < registry.ttl {
            return;
        }
        let _guard = registry.refreshing.lock().await;
        if self.current().loaded.elapsed() < registry.ttl {
            return;
        }
        match (registry.loader)().await {
            Ok(list) => {
                let settings = list
                    .into_iter()
                    .filter_map(|s| Fault::from_name(&s.name).map(|f| (f, s)))
                    .collect();
                *registry.snapshot.write().unwrap_or_else(|e| e.into_inner()) =
                    Arc::new(Snapshot {
                        loaded: Instant::now(),
                        settings,
                    });
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not load fault settings; keeping the last ones")
            }
        }
    }

    /// Forces the next [`Faults::refresh_if_stale`] to reload (after this process
    /// changed a setting).
    pub fn invalidate(&self) {
        let mut snapshot = self.0.snapshot.write().unwrap_or_else(|e| e.into_inner());
        let settings = snapshot.settings.clone();
        *snapshot = Arc::new(Snapshot {
            loaded: stale(self.0.ttl),
            settings,
        });
    }

    /// Names of the faults switched on (whatever their scope), for a banner.
    pub fn enabled_names(&self) -> Vec<String> {
        let snapshot = self.current();
        Fault::ALL
            .into_iter()
            .filter(|f| snapshot.settings.get(f).is_some_and(|s| s.enabled))
            .map(|f| f.name().to_owned())
            .collect()
    }

    /// Whether `fault` fires now for the work of `session`: enabled, in scope, and the dice
    /// say so.
    pub fn active(&self, fault: Fault, session: &Session) -> Option<Active> {
        let snapshot = self.current();
        let setting = snapshot.settings.get(&fault)?;
        if !setting.enabled {
            return None;
        }
        if let Some(scope) = &setting.scope
            && session.fault_scope.as_deref() != Some(scope.as_str())
        {
            return None;
        }
        let fires = setting.probability >= 1.0
            || (setting.probability > 0.0
                && self
                    .0
                    .rng
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .random::<f64>()
                    < setting.probability);
        fires.then(|| Active {
            fault,
            setting: setting.clone(),
        })
    }
}

/// An instant old enough that the next refresh reloads.
fn stale(ttl: Duration) -> Instant {
    let back = ttl + Duration::from_secs(1);
    Instant::now()
        .checked_sub(back)
        .unwrap_or_else(Instant::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(settings: Vec<Setting>) -> Faults {
        Faults::new(
            Arc::new(move || {
                let settings = settings.clone();
                Box::pin(async move { Ok(settings) })
            }),
            Duration::ZERO,
            Some(7),
        )
    }

    #[tokio::test]
    async fn a_scoped_fault_fires_only_for_its_scope() {
        let mut setting = Setting::off(Fault::SlowDb);
        setting.enabled = true;
        setting.scope = Some("talk-1".into());
        let faults = with(vec![setting]);
        faults.refresh_if_stale().await;
        let mine = Session {
            fault_scope: Some("talk-1".into()),
            ..Default::default()
        };
        assert!(faults.active(Fault::SlowDb, &mine).is_some());
        assert!(faults.active(Fault::SlowDb, &Session::default()).is_none());
        assert!(faults.active(Fault::WebError, &mine).is_none());
        assert_eq!(faults.enabled_names(), vec!["slow_db"]);
        assert!(Faults::off().active(Fault::SlowDb, &mine).is_none());
    }
}
