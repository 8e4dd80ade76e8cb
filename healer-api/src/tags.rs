//! The tag contract between the edge and the healer (see ARCHITECTURE.md, "Tags"): the
//! `edgeheal` object every record carries. Defined here, not borrowed from the plugin crate,
//! so the healer depends only on the wire contract. Unknown additional fields are accepted.
//!
//! A record's `entity` is what it is about ([`Scope`]): a workload (`namespace/workload`),
//! which the healer can act on; a node or another cluster-scoped object, which the edge writes
//! as `_/<name>` (no namespace); or nothing (`null`). The last two are well-formed but not
//! actionable: they are stored with their batch and never open an incident.

use std::fmt;

use edgeheal_plugin::observation;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What kind of telemetry a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A log line.
    Log,
    /// A metric sample.
    Metric,
    /// A Kubernetes event.
    Event,
    /// Not recognized at the edge.
    Unknown,
}

/// How bad the edge judged the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Not anomalous.
    None,
    /// Anomalous.
    Warning,
    /// Anomalous and severe.
    Critical,
}

/// The incident class the edge attributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    /// CPU saturation.
    CpuSaturation,
    /// Memory growing without bound.
    MemoryLeak,
    /// Request rate surge.
    TrafficSurge,
    /// Burst of errors.
    ErrorBurst,
    /// Latency spike.
    LatencySpike,
    /// Containers restarting in a loop.
    CrashLoop,
    /// Anomalous but unclassified.
    Unknown,
}

impl IncidentKind {
    /// Every kind, for metrics.
    pub const ALL: [IncidentKind; 7] = [
        IncidentKind::CpuSaturation,
        IncidentKind::MemoryLeak,
        IncidentKind::TrafficSurge,
        IncidentKind::ErrorBurst,
        IncidentKind::LatencySpike,
        IncidentKind::CrashLoop,
        IncidentKind::Unknown,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::CpuSaturation => "cpu_saturation",
            IncidentKind::MemoryLeak => "memory_leak",
            IncidentKind::TrafficSurge => "traffic_surge",
            IncidentKind::ErrorBurst => "error_burst",
            IncidentKind::LatencySpike => "latency_spike",
            IncidentKind::CrashLoop => "crash_loop",
            IncidentKind::Unknown => "unknown",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for IncidentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The action the edge suggested (advisory: the healer's policy decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestedAction {
    /// Scale up.
    ScaleUp,
    /// Rollout restart.
    RolloutRestart,
    /// Delete the pod.
    DeletePod,
    /// Nothing.
    None,
}

/// The kind of workload owning the entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadKind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    Statefulset,
    /// apps/v1 DaemonSet.
    Daemonset,
    /// Argo Rollouts' Rollout (argoproj.io/v1alpha1).
    Rollout,
    /// batch/v1 Job.
    Job,
    /// A node (not a workload).
    Node,
    /// Unknown.
    Unknown,
}

impl WorkloadKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployment",
            WorkloadKind::Statefulset => "statefulset",
            WorkloadKind::Daemonset => "daemonset",
            WorkloadKind::Rollout => "rollout",
            WorkloadKind::Job => "job",
            WorkloadKind::Node => "node",
            WorkloadKind::Unknown => "unknown",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            WorkloadKind::Deployment,
            WorkloadKind::Statefulset,
            WorkloadKind::Daemonset,
            WorkloadKind::Rollout,
            WorkloadKind::Job,
            WorkloadKind::Node,
            WorkloadKind::Unknown,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One feature's contribution to the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Why {
    /// Feature name.
    pub feature: String,
    /// Feature value.
    pub value: f64,
    /// Contribution to the score.
    pub contribution: f64,
}

/// The `edgeheal` object. Fields not listed here are accepted and ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tags {
    /// Record kind.
    pub kind: RecordKind,
    /// `namespace/workload`, or null.
    pub entity: Option<String>,
    /// Pod name, or null.
    pub pod: Option<String>,
    /// When the edge saw it (RFC 3339 UTC).
    pub ts: Timestamp,
    /// Isolation-forest score in 0..1, or null.
    pub score: Option<f64>,
    /// Whether the edge judged it anomalous.
    pub anomaly: bool,
    /// Severity.
    pub severity: Severity,
    /// Incident class.
    pub incident: IncidentKind,
    /// Suggested action (advisory).
    pub action: SuggestedAction,
    /// Top features.
    pub why: Vec<Why>,
    /// `name@sha`.
    pub model: String,
    /// Optional: model family.
    #[serde(default)]
    pub family: Option<String>,
    /// Optional: namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Optional: workload name.
    #[serde(default)]
    pub workload: Option<String>,
    /// Optional: workload kind.
    #[serde(default)]
    pub workload_kind: Option<WorkloadKind>,
    /// Optional: container.
    #[serde(default)]
    pub container: Option<String>,
    /// Optional: node.
    #[serde(default)]
    pub node: Option<String>,
    /// Optional: an error the edge met (e.g. a record lost to the wasm heap limit).
    #[serde(default)]
    pub error: Option<String>,
}

/// Why a record's tags are rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TagError {
    /// The record is not a JSON object.
    #[error("record is not an object")]
    NotAnObject,
    /// The record has no `edgeheal` object.
    #[error("record has no `edgeheal` tags")]
    Missing,
    /// The tags do not match the contract.
    #[error("invalid `edgeheal` tags: {0}")]
    Invalid(String),
}

/// A Kubernetes namespace/workload pair, validated as DNS-1123 names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entity {
    /// Namespace.
    pub namespace: String,
    /// Workload name.
    pub workload: String,
}

impl Entity {
    /// Parses `namespace/workload`.
    pub fn parse(s: &str) -> Option<Self> {
        let (ns, wl) = s.split_once('/')?;
        (is_dns1123_label(ns) && is_dns1123_subdomain(wl)).then(|| Entity {
            namespace: ns.to_string(),
            workload: wl.to_string(),
        })
    }
}

/// What a record is about, as its `entity` tag says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A namespaced workload: actionable.
    Workload(Entity),
    /// A cluster-scoped object (a node): `_/<name>`. Not actionable.
    ClusterScoped(String),
    /// `entity` is null. Not actionable.
    Unscoped,
}

impl Scope {
    /// The namespace the edge writes for records without one.
    pub const NO_NAMESPACE: &'static str = "_";

    /// Parses an `entity` tag: `namespace/workload` or `_/<name>`, with Kubernetes names.
    pub fn parse(entity: Option<&str>) -> Option<Self> {
        let Some(s) = entity else {
            return Some(Scope::Unscoped);
        };
        if let Some(name) = s
            .strip_prefix(Self::NO_NAMESPACE)
            .and_then(|r| r.strip_prefix('/'))
        {
            return is_dns1123_subdomain(name).then(|| Scope::ClusterScoped(name.to_string()));
        }
        Entity::parse(s).map(Scope::Workload)
    }

    /// The scope of a stored or received `entity` tag: one that does not parse is about no
    /// workload ([`Scope::Unscoped`]).
    pub fn of(entity: Option<&str>) -> Self {
        Self::parse(entity).unwrap_or(Scope::Unscoped)
    }

    /// The scope of a record's `entity` and `workload_kind` tags: a Node is no workload,
    /// whatever namespace its record names. The Event objects about a Node live in `default`,
    /// and the edge names their entity after that namespace (`default/<node>`, `workload_kind:
    /// node`); taken for a workload, every node OOM kill opened an incident the guards then
    /// handed to a human.
    /// `workload_kind` is the tag's wire name, as the store keeps it.
    pub fn of_record(entity: Option<&str>, workload_kind: Option<&str>) -> Self {
        match Self::of(entity) {
            Scope::Workload(e) if workload_kind == Some(WorkloadKind::Node.as_str()) => {
                Scope::ClusterScoped(e.workload)
            }
            scope => scope,
        }
    }

    /// The workload, when the record is about one.
    pub fn workload(&self) -> Option<&Entity> {
        match self {
            Scope::Workload(e) => Some(e),
            Scope::ClusterScoped(_) | Scope::Unscoped => None,
        }
    }

    /// The metric label for it: `workload`, `cluster_scoped` or `unscoped`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::Workload(_) => "workload",
            Scope::ClusterScoped(_) => "cluster_scoped",
            Scope::Unscoped => "unscoped",
        }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.workload)
    }
}

/// RFC 1123 label: lowercase alphanumerics and '-', 1..=63, alphanumeric at
/// both ends. The edge's own rule, so the heal API refuses exactly the names
/// the filter drops.
pub fn is_dns1123_label(s: &str) -> bool {
    observation::is_dns1123_label(s.as_bytes())
}

/// RFC 1123 subdomain: dot-separated labels, at most 253 characters (the
/// edge's rule, as [`is_dns1123_label`]).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    observation::is_dns1123_subdomain(s.as_bytes())
}

impl Tags {
    /// Extracts and validates the tags of one record.
    pub fn from_record(record: &serde_json::Value) -> Result<Self, TagError> {
        let obj = record.as_object().ok_or(TagError::NotAnObject)?;
        let raw = obj.get("edgeheal").ok_or(TagError::Missing)?;
        let tags: Tags = Tags::deserialize(raw).map_err(|e| TagError::Invalid(e.to_string()))?;
        tags.validate()?;
        Ok(tags)
    }

    fn validate(&self) -> Result<(), TagError> {
        if let Some(score) = self.score {
            if !(0.0..=1.0).contains(&score) {
                return Err(TagError::Invalid(format!("score {score} is outside 0..1")));
            }
        }
        if let Some(e) = &self.entity {
            if Scope::parse(Some(e)).is_none() {
                return Err(TagError::Invalid(format!(
                    "entity {e:?} is not `namespace/workload` or `_/<name>` with Kubernetes names"
                )));
            }
        }
        if let Some(p) = &self.pod {
            if !is_dns1123_subdomain(p) {
                return Err(TagError::Invalid(format!(
                    "pod {p:?} is not a Kubernetes name"
                )));
            }
        }
        if self.anomaly && self.severity == Severity::None {
            return Err(TagError::Invalid(
                "anomaly is true but severity is none".into(),
            ));
        }
        Ok(())
    }

    /// The bytes its strings and lists take on the heap, beside the struct itself.
    pub fn heap_bytes(&self) -> usize {
        let strings = [
            &self.entity,
            &self.pod,
            &self.family,
            &self.namespace,
            &self.workload,
            &self.container,
            &self.node,
            &self.error,
        ]
        .into_iter()
        .flatten()
        .map(String::capacity)
        .sum::<usize>();
        strings
            + self.model.capacity()
            + self.why.capacity() * std::mem::size_of::<Why>()
            + self.why.iter().map(|w| w.feature.capacity()).sum::<usize>()
    }

    /// The validated entity, if the record is about a workload ([`Tags::scope`]).
    pub fn entity(&self) -> Option<Entity> {
        self.scope().workload().cloned()
    }

    /// What the record is about (validated tags always have one).
    pub fn scope(&self) -> Scope {
        Scope::of_record(
            self.entity.as_deref(),
            self.workload_kind.map(WorkloadKind::as_str),
        )
    }

    /// Whether the healer could act on the record's entity (a workload).
    pub fn is_actionable(&self) -> bool {
        self.scope().workload().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(tags: serde_json::Value) -> serde_json::Value {
        json!({"log": "boom", "edgeheal": tags})
    }

    fn good() -> serde_json::Value {
        json!({
            "kind": "log", "entity": "shop/cart", "pod": "cart-7d9f-abcde",
            "ts": "2026-11-21T10:00:00Z", "score": 0.91, "anomaly": true,
            "severity": "critical", "incident": "error_burst", "action": "rollout_restart",
            "why": [{"feature": "err_rate", "value": 0.4, "contribution": 0.3}],
            "model": "default@abc123", "workload_kind": "deployment", "future_field": {"x": 1}
        })
    }

    #[test]
    fn accepts_the_contract_with_unknown_additions() {
        let t = Tags::from_record(&record(good())).unwrap();
        assert_eq!(t.incident, IncidentKind::ErrorBurst);
        assert_eq!(t.entity().unwrap().to_string(), "shop/cart");
        assert_eq!(t.workload_kind, Some(WorkloadKind::Deployment));
    }

    #[test]
    fn rejects_broken_tags_with_a_reason() {
        let mutate = |k: &str, v: serde_json::Value| {
            let mut t = good();
            t[k] = v;
            record(t)
        };
        let cases = vec![
            (json!([1]), "not an object"),
            (json!({"log": "x"}), "no `edgeheal`"),
            (mutate("score", json!(1.5)), "outside"),
            (mutate("entity", json!("no-slash")), "entity"),
            (mutate("entity", json!("Shop/cart")), "entity"),
            (mutate("entity", json!("_/")), "entity"),
            (mutate("entity", json!("_/Node_1")), "entity"),
            (mutate("entity", json!("_/a/b")), "entity"),
            (mutate("entity", json!(7)), "invalid"),
            (mutate("pod", json!("../etc")), "pod"),
            (mutate("ts", json!("yesterday")), "invalid"),
            (mutate("incident", json!("meteor")), "meteor"),
            (mutate("severity", json!("none")), "severity is none"),
            (mutate("anomaly", json!("yes")), "invalid"),
        ];
        for (rec, want) in cases {
            let err = Tags::from_record(&rec).unwrap_err().to_string();
            assert!(err.contains(want), "{rec}: {err}");
        }
    }

    #[test]
    fn node_level_and_null_entities_are_valid_but_not_actionable() {
        let cases = [
            (json!("shop/cart"), "workload", true),
            (json!("_/ip-10-0-1-5.ec2.internal"), "cluster_scoped", false),
            (json!("_/node-1"), "cluster_scoped", false),
            (json!(null), "unscoped", false),
        ];
        for (entity, scope, actionable) in cases {
            let mut t = good();
            t["entity"] = entity.clone();
            let tags = Tags::from_record(&record(t)).unwrap_or_else(|e| panic!("{entity}: {e}"));
            assert_eq!(tags.scope().as_str(), scope, "{entity}");
            assert_eq!(tags.is_actionable(), actionable, "{entity}");
            assert_eq!(tags.entity().is_some(), actionable, "{entity}");
        }
        assert_eq!(
            Scope::parse(Some("_/node-1")),
            Some(Scope::ClusterScoped("node-1".into()))
        );
    }

    #[test]
    fn dns_names() {
        for (s, ok) in [
            ("a", true),
            ("a-b", true),
            ("-a", false),
            ("A", false),
            ("", false),
            ("a.b", false),
        ] {
            assert_eq!(is_dns1123_label(s), ok, "{s}");
        }
        assert!(is_dns1123_subdomain("a.b-c"));
        assert!(Entity::parse("ns/web.v2").is_some());
        assert!(Entity::parse("ns/a/b").is_none());
    }
}
