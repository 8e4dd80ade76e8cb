//! The in-memory object store: one table per kind, a global resourceVersion
//! bumped by every write, UIDs and names from a seeded [`IdSource`], and the
//! clock. Writes here are the world's and the controllers' (no validation);
//! API requests go through the API server's `ops` module, which validates
//! first.

use super::config::{ClockMode, ClusterConfig};
use super::ids::IdSource;
use super::kinds::Kind;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::BTreeMap;

/// The objects of one kind, by (namespace, name).
#[derive(Debug, Clone)]
pub struct Table<K> {
    objects: BTreeMap<(String, String), K>,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Self {
            objects: BTreeMap::new(),
        }
    }
}

impl<K> Table<K> {
    /// The object `ns/name`.
    pub fn get(&self, ns: &str, name: &str) -> Option<&K> {
        self.objects.get(&(ns.to_owned(), name.to_owned()))
    }

    /// Objects in `ns` (all namespaces for `None`), ordered by namespace and name.
    pub fn iter_ns(&self, ns: Option<&str>) -> impl Iterator<Item = &K> + '_ {
        let ns = ns.map(str::to_owned);
        self.objects
            .iter()
            .filter(move |((n, _), _)| ns.as_deref().is_none_or(|want| n == want))
            .map(|(_, v)| v)
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    pub(crate) fn insert(&mut self, ns: &str, name: &str, obj: K) -> Option<K> {
        self.objects.insert((ns.to_owned(), name.to_owned()), obj)
    }

    pub(crate) fn remove(&mut self, ns: &str, name: &str) -> Option<K> {
        self.objects.remove(&(ns.to_owned(), name.to_owned()))
    }
}

/// The state of the simulated cluster.
#[derive(Debug)]
pub struct Store {
    rv: u64,
    pub(crate) ids: IdSource,
    clock: ClockMode,
    pub(crate) nodes: Vec<String>,
    pub(crate) next_node: usize,
    pub(crate) deployments: Table<Deployment>,
    pub(crate) replica_sets: Table<ReplicaSet>,
    pub(crate) pods: Table<Pod>,
    pub(crate) hpas: Table<HorizontalPodAutoscaler>,
    pub(crate) events: Table<Event>,
    pub(crate) leases: Table<Lease>,
    /// Per Deployment UID: the template hash the world was last told to roll out.
    pub(crate) rolled_out: BTreeMap<String, String>,
}

impl Store {
    /// An empty store set up by `config`.
    pub fn new(config: &ClusterConfig) -> Self {
        Self {
            rv: 1,
            ids: IdSource::new(config.seed),
            clock: config.clock,
            nodes: if config.nodes.is_empty() {
                vec!["sim-node-0".to_owned()]
            } else {
                config.nodes.clone()
            },
            next_node: 0,
            deployments: Table::default(),
            replica_sets: Table::default(),
            pods: Table::default(),
            hpas: Table::default(),
            events: Table::default(),
            leases: Table::default(),
            rolled_out: BTreeMap::new(),
        }
    }

    /// The current global resourceVersion (of the last write).
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Bumps the global resourceVersion and returns it, as a string.
    pub(crate) fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    /// Now, by the store's clock.
    pub fn now(&self) -> Timestamp {
        match self.clock {
            ClockMode::Wall => Timestamp::now(),
            ClockMode::Manual(t) => t,
        }
    }

    /// Now, to the second, as a `metav1.Time` (what `creationTimestamp` holds).
    pub fn now_time(&self) -> Time {
        let t = self.now();
        Time(Timestamp::from_second(t.as_second()).unwrap_or(t))
    }

    /// Moves a manual clock to `t` (switching a wall clock to manual).
    pub fn set_now(&mut self, t: Timestamp) {
        self.clock = ClockMode::Manual(t);
    }

    /// A fresh UID.
    pub fn new_uid(&mut self) -> String {
        self.ids.uid()
    }

    /// The next node, round robin.
    pub(crate) fn pick_node(&mut self) -> String {
        let n = self
            .nodes
            .get(self.next_node % self.nodes.len().max(1))
            .cloned()
            .unwrap_or_default();
        self.next_node = self.next_node.wrapping_add(1);
        n
    }

    /// The object `ns/name` of kind `K`.
    pub fn get<K: Kind>(&self, ns: &str, name: &str) -> Option<&K> {
        K::table(self).get(ns, name)
    }

    /// Objects of kind `K` in `ns` (all namespaces for `None`).
    pub fn list<K: Kind>(&self, ns: Option<&str>) -> Vec<&K> {
        K::table(self).iter_ns(ns).collect()
    }

    /// Writes `obj` as the world or a controller does (no validation): fills
    /// in the namespace (`default`), UID and `creationTimestamp` when absent,
    /// keeps the existing ones, sets `generation` on first write, bumps the
    /// resourceVersion, and returns the stored object.
    pub fn upsert<K: Kind>(&mut self, mut obj: K) -> K {
        let ns = obj
            .metadata()
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let name = obj.metadata().name.clone().unwrap_or_default();
        let existing = K::table(self).get(&ns, &name).map(|o| o.metadata().clone());
        let uid = match existing
            .as_ref()
            .and_then(|m| m.uid.clone())
            .or_else(|| obj.metadata().uid.clone())
        {
            Some(u) => u,
            None => self.new_uid(),
        };
        let created = existing
            .as_ref()
            .and_then(|m| m.creation_timestamp.clone())
            .or_else(|| obj.metadata().creation_timestamp.clone())
            .unwrap_or_else(|| self.now_time());
        let generation = existing
            .as_ref()
            .and_then(|m| m.generation)
            .or(obj.metadata().generation);
        let rv = self.next_rv();
        let meta = obj.metadata_mut();
        meta.namespace = Some(ns.clone());
        meta.uid = Some(uid);
        meta.creation_timestamp = Some(created);
        meta.resource_version = Some(rv);
        if K::HAS_GENERATION && meta.generation.is_none() {
            meta.generation = Some(generation.unwrap_or(1));
        }
        K::table_mut(self).insert(&ns, &name, obj.clone());
        obj
    }

    /// Stores `obj` exactly as given but with a new resourceVersion (the
    /// validated write path of API requests and controller status updates).
    pub(crate) fn put<K: Kind>(&mut self, mut obj: K) -> K {
        let rv = self.next_rv();
        obj.metadata_mut().resource_version = Some(rv);
        let ns = obj.metadata().namespace.clone().unwrap_or_default();
        let name = obj.metadata().name.clone().unwrap_or_default();
        K::table_mut(self).insert(&ns, &name, obj.clone());
        obj
    }

    /// Removes `ns/name` of kind `K` (no garbage collection), bumping the resourceVersion.
    pub fn remove<K: Kind>(&mut self, ns: &str, name: &str) -> Option<K> {
        let out = K::table_mut(self).remove(ns, name);
        if out.is_some() {
            self.rv += 1;
        }
        out
    }

    /// Removes every object whose `ownerReferences` name `uid`, and theirs in
    /// turn (background cascading deletion).
    pub fn collect_garbage(&mut self, uid: &str) {
        let owned_by = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            m.owner_references.iter().flatten().any(|r| r.uid == uid)
        };
        let rs: Vec<(String, String, String)> = self
            .replica_sets
            .iter_ns(None)
            .filter(|r| owned_by(&r.metadata))
            .map(|r| key_uid(&r.metadata))
            .collect();
        let pods: Vec<(String, String, String)> = self
            .pods
            .iter_ns(None)
            .filter(|p| owned_by(&p.metadata))
            .map(|p| key_uid(&p.metadata))
            .collect();
        for (ns, name, _) in &pods {
            self.remove::<Pod>(ns, name);
        }
        for (ns, name, child) in rs {
            self.remove::<ReplicaSet>(&ns, &name);
            self.collect_garbage(&child);
        }
    }
}

fn key_uid(
    m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> (String, String, String) {
    (
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
        m.uid.clone().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn lease(name: &str) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            spec: None,
        }
    }

    #[test]
    fn upsert_assigns_identity_and_keeps_it() {
        let mut s = Store::new(&ClusterConfig {
            clock: ClockMode::Manual(Timestamp::UNIX_EPOCH),
            ..ClusterConfig::default()
        });
        let first = s.upsert(lease("a"));
        let second = s.upsert(lease("a"));
        let cases: &[(&str, bool)] = &[
            (
                "namespace defaulted",
                first.metadata.namespace.as_deref() == Some("default"),
            ),
            ("uid assigned", first.metadata.uid.is_some()),
            ("uid kept", first.metadata.uid == second.metadata.uid),
            (
                "rv bumped",
                first.metadata.resource_version != second.metadata.resource_version,
            ),
            (
                "rv is global",
                second.metadata.resource_version == Some(s.resource_version().to_string()),
            ),
            ("listed once", s.list::<Lease>(Some("default")).len() == 1),
            ("not in other ns", s.list::<Lease>(Some("other")).is_empty()),
        ];
        for (name, ok) in cases {
            assert!(ok, "{name}");
        }
        assert!(s.remove::<Lease>("default", "a").is_some());
        assert!(s.get::<Lease>("default", "a").is_none());
    }
}
