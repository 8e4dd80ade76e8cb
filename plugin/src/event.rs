//! Kubernetes events: core/v1 `Event` (what Fluent Bit's `kubernetes_events`
//! input emits) and `events.k8s.io/v1` `Event`.
//!
//! - Subject: `involvedObject` (core/v1) or `regarding` (events.k8s.io/v1),
//!   `{kind, name, namespace, fieldPath}`. A Pod gives the pod and its
//!   workload by pod-name pattern; a Deployment, ReplicaSet, StatefulSet,
//!   DaemonSet or Job gives the workload; a Node gives the node.
//! - Time, first present: `lastTimestamp`, `series.lastObservedTime`,
//!   `eventTime`, `deprecatedLastTimestamp`, `firstTimestamp`,
//!   `deprecatedFirstTimestamp`, `metadata.creationTimestamp`.
//! - Count: `count`, `series.count`, `deprecatedCount`, else 1.
//! - Node: `source.host`, `deprecatedSource.host`, `reportingInstance`.
//! - `BackOff` whose message is about pulling an image is not a crash loop:
//!   it is classified [`EventReason::Other`].

use std::borrow::Cow;

use crate::identity::{resolve_workload, workload_from_owner, PodEvidence};
use crate::json::{Record, Value};
use crate::observation::{EventReason, EventSignal, Identity, WorkloadKind};
use crate::timestamp;

/// Is this record a Kubernetes event?
pub fn is_event(record: &Record<'_>) -> bool {
    (record.get("involvedObject").is_some() || record.get("regarding").is_some())
        && record.get("reason").is_some()
}

/// Classifies an event `reason`; `message` separates image-pull back-offs.
pub fn classify_reason(reason: &str, message: &str) -> EventReason {
    match reason {
        "BackOff" | "CrashLoopBackOff" => {
            if message.contains("pulling image") || message.contains("ImagePull") {
                EventReason::Other
            } else {
                EventReason::BackOff
            }
        }
        "OOMKilling" | "OOMKilled" | "OOMKill" => EventReason::OomKilled,
        "Unhealthy" => EventReason::Unhealthy,
        "Killing" => EventReason::Killing,
        "Evicted" | "Evicting" => EventReason::Evicted,
        "FailedScheduling" => EventReason::FailedScheduling,
        "Started" => EventReason::Started,
        _ => EventReason::Other,
    }
}

/// What an event record says.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord<'a> {
    /// Reason, count, warning.
    pub signal: EventSignal,
    /// Who it is about.
    pub identity: Identity<'a>,
    /// Its time, when it carries one.
    pub ts_ns: Option<i64>,
}

fn str_of<'a>(v: Option<Value<'a>>) -> Option<Cow<'a, str>> {
    v.and_then(Value::into_str).filter(|s| !s.is_empty())
}

fn count_of(v: Option<Value<'_>>) -> Option<u32> {
    let n = v?.as_f64()?;
    (n.is_finite() && n >= 1.0).then(|| n.min(f64::from(u32::MAX)) as u32)
}

/// The container named by a `fieldPath` such as `spec.containers{web}`.
fn container_of_field_path(path: &str) -> Option<&str> {
    let start = path.find('{')? + 1;
    let end = path.rfind('}')?;
    path.get(start..end).filter(|s| !s.is_empty())
}

/// Reads an event record.
pub fn read_event<'a>(record: &Record<'a>) -> EventRecord<'a> {
    let subject = record
        .get("involvedObject")
        .or_else(|| record.get("regarding"));
    let reason = str_of(record.get("reason"));
    let message = str_of(record.get("message")).or_else(|| str_of(record.get("note")));
    let series = record.get("series");
    let count = count_of(record.get("count"))
        .or_else(|| count_of(series.as_ref().and_then(|s| s.get("count"))))
        .or_else(|| count_of(record.get("deprecatedCount")))
        .unwrap_or(1);
    let warning = record.get("type").and_then(Value::into_str).as_deref() == Some("Warning");
    let signal = EventSignal {
        reason: classify_reason(
            reason.as_deref().unwrap_or(""),
            message.as_deref().unwrap_or(""),
        ),
        count,
        warning,
    };

    let mut ts_ns = None;
    for path in [
        &["lastTimestamp"][..],
        &["series", "lastObservedTime"],
        &["eventTime"],
        &["deprecatedLastTimestamp"],
        &["firstTimestamp"],
        &["deprecatedFirstTimestamp"],
        &["metadata", "creationTimestamp"],
    ] {
        if let Some(t) = record
            .get_path(path)
            .as_ref()
            .and_then(timestamp::parse_value)
        {
            ts_ns = Some(t);
            break;
        }
    }

    let mut identity = Identity::default();
    if let Some(subject) = &subject {
        let kind = str_of(subject.get("kind"));
        let name = str_of(subject.get("name"));
        identity.namespace = str_of(subject.get("namespace"))
            .or_else(|| str_of(record.get_path(&["metadata", "namespace"])));
        identity.container = subject
            .get("fieldPath")
            .and_then(Value::into_str)
            .and_then(|p| container_of_field_path(&p).map(str::to_owned))
            .map(Cow::Owned);
        match (kind.as_deref(), name) {
            (Some("Pod"), Some(pod)) => {
                let ev = PodEvidence {
                    pod: Some(pod),
                    ..PodEvidence::default()
                };
                if let Some((w, k)) = resolve_workload(&ev) {
                    identity.workload = Some(w);
                    identity.workload_kind = Some(k);
                }
                identity.pod = ev.pod;
            }
            (Some("Node"), Some(node)) => {
                identity.workload = Some(node.clone());
                identity.workload_kind = Some(WorkloadKind::Node);
                identity.node = Some(node);
            }
            (Some(kind), Some(name)) => {
                if let Some((w, k)) = workload_from_owner(kind, &name) {
                    identity.workload = Some(Cow::Owned(w.to_owned()));
                    identity.workload_kind = Some(k);
                }
            }
            _ => {}
        }
    }
    if identity.node.is_none() {
        identity.node = str_of(record.get_path(&["source", "host"]))
            .or_else(|| str_of(record.get_path(&["deprecatedSource", "host"])))
            .or_else(|| str_of(record.get("reportingInstance")));
    }
    EventRecord {
        signal,
        identity,
        ts_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons() {
        let cases: &[(&str, &str, EventReason)] = &[
            (
                "BackOff",
                "Back-off restarting failed container",
                EventReason::BackOff,
            ),
            (
                "BackOff",
                "Back-off pulling image \"x\"",
                EventReason::Other,
            ),
            ("CrashLoopBackOff", "", EventReason::BackOff),
            (
                "OOMKilling",
                "Memory cgroup out of memory",
                EventReason::OomKilled,
            ),
            ("OOMKilled", "", EventReason::OomKilled),
            (
                "Unhealthy",
                "Readiness probe failed",
                EventReason::Unhealthy,
            ),
            ("Killing", "Stopping container web", EventReason::Killing),
            (
                "Evicted",
                "The node was low on resource: memory.",
                EventReason::Evicted,
            ),
            (
                "FailedScheduling",
                "0/3 nodes are available",
                EventReason::FailedScheduling,
            ),
            ("Started", "Started container web", EventReason::Started),
            ("Pulled", "", EventReason::Other),
            ("", "", EventReason::Other),
        ];
        for (reason, message, want) in cases {
            assert_eq!(classify_reason(reason, message), *want, "{reason}");
        }
    }

    #[test]
    fn field_paths() {
        let cases: &[(&str, Option<&str>)] = &[
            ("spec.containers{web}", Some("web")),
            ("spec.initContainers{init-db}", Some("init-db")),
            ("spec.containers{}", None),
            ("", None),
            ("}{", None),
        ];
        for (p, want) in cases {
            assert_eq!(container_of_field_path(p), *want, "{p}");
        }
    }
}
