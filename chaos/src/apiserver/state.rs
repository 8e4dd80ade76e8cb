//! [`ApiState`]: the shared handle on a simulated cluster — the store, the
//! world it is bridged to, the controller mode, the bearer token and the
//! request log — used by the HTTP handlers, by the simulation, and by tests.

use super::config::{ClusterConfig, ControllerMode};
use super::controller::reconcile;
use super::kinds::Kind;
use super::requestlog::{RequestLog, RequestRecord};
use super::store::Store;
use super::world::{NoWorld, World};
use jiff::Timestamp;
use std::sync::{Arc, Mutex, MutexGuard};

/// What the lock guards.
pub(crate) struct Inner {
    /// The objects.
    pub store: Store,
    /// The simulated world.
    pub world: Box<dyn World>,
    /// Who manages ReplicaSets and Pods.
    pub mode: ControllerMode,
}

/// A cheaply cloneable handle on one simulated cluster.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Mutex<Inner>>,
    log: Arc<Mutex<RequestLog>>,
    token: Option<Arc<str>>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("resource_version", &self.resource_version())
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// A cluster with no world attached (the built-in controller alone, in
    /// [`ControllerMode::BuiltIn`]).
    pub fn new(config: ClusterConfig) -> Self {
        Self::with_world(config, NoWorld)
    }

    /// A cluster bridged to `world`.
    pub fn with_world(config: ClusterConfig, world: impl World) -> Self {
        let inner = Inner {
            store: Store::new(&config),
            world: Box::new(world),
            mode: config.controller,
        };
        Self {
            inner: Arc::new(Mutex::new(inner)),
            log: Arc::new(Mutex::new(RequestLog::new(config.max_logged_requests))),
            token: config.token.map(Arc::from),
        }
    }

    /// Replaces the world.
    pub fn set_world(&self, world: impl World) {
        self.lock().world = Box::new(world);
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The bearer token requests must carry, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Every request served so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .records()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    pub(crate) fn record(&self, rec: RequestRecord) {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(rec);
    }

    /// Runs `f` on the store (as the world does between ticks), then the controllers.
    pub fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let out = f(&mut inner.store);
        reconcile(&mut inner.store, inner.world.as_mut(), inner.mode);
        out
    }

    /// Runs the controllers.
    pub fn reconcile(&self) {
        self.with_store(|_| ());
    }

    /// The object `ns/name` of kind `K`.
    pub fn get<K: Kind>(&self, ns: &str, name: &str) -> Option<K> {
        self.lock().store.get::<K>(ns, name).cloned()
    }

    /// Objects of kind `K` in `ns` (all namespaces for `None`).
    pub fn list<K: Kind>(&self, ns: Option<&str>) -> Vec<K> {
        self.lock()
            .store
            .list::<K>(ns)
            .into_iter()
            .cloned()
            .collect()
    }

    /// Creates or overwrites an object as the world does (no validation; see
    /// [`Store::upsert`]), then runs the controllers.
    pub fn upsert<K: Kind>(&self, obj: K) -> K {
        self.with_store(|s| s.upsert(obj))
    }

    /// Removes an object as the world does (no garbage collection), then runs the controllers.
    pub fn remove<K: Kind>(&self, ns: &str, name: &str) -> Option<K> {
        self.with_store(|s| s.remove::<K>(ns, name))
    }

    /// Moves the clock to simulated time `t`.
    pub fn set_now(&self, t: Timestamp) {
        self.lock().store.set_now(t);
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().store.resource_version()
    }
}
