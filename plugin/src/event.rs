//! Kubernetes events: core/v1 `Event` (what Fluent Bit's `kubernetes_events`
//! input emits) and `events.k8s.io/v1` `Event`.
//!
//! - Subject: `involvedObject` (core/v1) or `regarding` (events.k8s.io/v1),
//!   `{kind, name, namespace, fieldPath}`. A Pod gives the pod and its
//!   workload by pod-name pattern (a static pod's with the node below); a Deployment, ReplicaSet, StatefulSet,
//!   DaemonSet or Job gives the workload; a Node gives the node.
//! - Time, the first that reads as one: `lastTimestamp`, `series.lastObservedTime`,
//!   `eventTime`, `deprecatedLastTimestamp`, `firstTimestamp`,
//!   `deprecatedFirstTimestamp`, `metadata.creationTimestamp`.
//! - Count: `count`, `series.count`, `deprecatedCount`, else 1.
//! - Node: `source.host`, `deprecatedSource.host`; never `reportingInstance`,
//!   which names the reporting controller's instance (the kubelet's equals
//!   its `source.host`; the events.k8s.io recorder's is
//!   `<controller>-<hostname>`).
//! - Version: `metadata.uid` and `metadata.resourceVersion`, which tell a
//!   replayed copy of an event from a new occurrence (see
//!   [`crate::entity::EntityState::add_event`]).
//! - Container: the one `fieldPath` names (`spec.containers{web}`), and
//!   whether it is an init container (`spec.initContainers{istio-init}`; see
//!   [`crate::entity::EntityState::add_event`]).
//! - `BackOff` whose message is about pulling an image is not a crash loop:
//!   it is classified [`EventReason::Other`].

use std::borrow::Cow;

use crate::identity::{pod_identity, workload_from_owner, PodEvidence};
use crate::json::{Object, Record, Value};
use crate::observation::{EventReason, EventSignal, Identity, WorkloadKind};
use crate::text_table::hash;
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

/// Whether a `fieldPath` names an init container (`spec.initContainers{x}`).
fn is_init_container_path(path: &str) -> bool {
    path.starts_with("spec.initContainers{")
}

/// The top-level members an event is read from, in the order
/// [`read_event`] takes them.
const EVENT_KEYS: [&str; 13] = [
    "involvedObject",
    "regarding",
    "reason",
    "message",
    "note",
    "count",
    "deprecatedCount",
    "type",
    "lastTimestamp",
    "eventTime",
    "deprecatedLastTimestamp",
    "firstTimestamp",
    "deprecatedFirstTimestamp",
];

/// The first members named by `keys` of a top-level `object` (all `None`
/// when there is none), read through the parse's index of it.
fn members_of<'a, const N: usize>(
    object: Option<Object<'_, 'a>>,
    keys: &[&str; N],
) -> [Option<Value<'a>>; N] {
    match object {
        Some(object) => object.get_many(keys),
        None => std::array::from_fn(|_| None),
    }
}

/// Reads an event record: its top-level members in one pass, and those of
/// its subject, `series`, `metadata` and sources through the parse's index.
pub fn read_event<'a>(record: &Record<'a>) -> EventRecord<'a> {
    let [involved, regarding, reason, message, note, count, deprecated_count, event_type, last, event_time, deprecated_last, first, deprecated_first] =
        record.get_many(&EVENT_KEYS);
    let subject = involved.or(regarding);
    let [series_count, series_last] =
        members_of(record.object("series"), &["count", "lastObservedTime"]);
    let [meta_namespace, meta_created, meta_uid, meta_version] = members_of(
        record.object("metadata"),
        &["namespace", "creationTimestamp", "uid", "resourceVersion"],
    );

    let reason = str_of(reason);
    let message = str_of(message).or_else(|| str_of(note));
    let count = count_of(count)
        .or_else(|| count_of(series_count))
        .or_else(|| count_of(deprecated_count))
        .unwrap_or(1);
    let warning = event_type.and_then(Value::into_str).as_deref() == Some("Warning");
    let mut signal = EventSignal {
        reason: classify_reason(
            reason.as_deref().unwrap_or(""),
            message.as_deref().unwrap_or(""),
        ),
        count,
        warning,
        version: str_of(meta_uid)
            .zip(str_of(meta_version))
            .map(|(uid, v)| (hash(uid.as_bytes()), hash(v.as_bytes()))),
        init_container: false,
    };

    let ts_ns = [
        last,
        series_last,
        event_time,
        deprecated_last,
        first,
        deprecated_first,
        meta_created,
    ]
    .into_iter()
    .find_map(|t| t.as_ref().and_then(timestamp::parse_value));

    // The node the event's source names, which also names a static pod.
    let source_node = || {
        let [host] = members_of(record.object("source"), &["host"]);
        str_of(host).or_else(|| {
            let [host] = members_of(record.object("deprecatedSource"), &["host"]);
            str_of(host)
        })
    };
    let mut identity = Identity::default();
    if let Some(subject) = &subject {
        let [kind, name, namespace, field_path] = members_of(
            record.object_of(subject),
            &["kind", "name", "namespace", "fieldPath"],
        );
        let (kind, name) = (str_of(kind), str_of(name));
        identity.namespace = str_of(namespace).or_else(|| str_of(meta_namespace));
        let field_path = field_path.and_then(Value::into_str);
        if let Some(p) = &field_path {
            identity.container = container_of_field_path(p).map(|c| Cow::Owned(c.to_owned()));
            signal.init_container = is_init_container_path(p);
        }
        match (kind.as_deref(), name) {
            (Some("Pod"), Some(pod)) => {
                let ev = PodEvidence {
                    pod: Some(pod),
                    node: source_node(),
                    ..PodEvidence::default()
                };
                identity = pod_identity(identity.namespace.take(), identity.container.take(), ev);
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
        identity.node = source_node();
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

    /// Each documented rule: which member wins when several are present.
    #[test]
    fn members_are_taken_in_the_documented_order() {
        let ts = |s: &str| timestamp::parse_value(&Value::Str(s.into()));
        let t = |n: u32| format!("2025-03-03T00:00:{n:02}Z");
        let all_times = [
            format!(r#""lastTimestamp":"{}""#, t(1)),
            format!(r#""series":{{"lastObservedTime":"{}","count":7}}"#, t(2)),
            format!(r#""eventTime":"{}""#, t(3)),
            format!(r#""deprecatedLastTimestamp":"{}""#, t(4)),
            format!(r#""firstTimestamp":"{}""#, t(5)),
            format!(r#""deprecatedFirstTimestamp":"{}""#, t(6)),
            format!(
                r#""metadata":{{"creationTimestamp":"{}","namespace":"meta-ns"}}"#,
                t(7)
            ),
        ];
        // Drop the earlier ones one by one: the first left is the time.
        for first in 0..all_times.len() {
            let members = all_times.get(first..).unwrap().join(",");
            let text = format!(
                r#"{{"involvedObject":{{"kind":"Pod","name":"web-7d4b9c8f6-x2x9z"}},"reason":"BackOff",{members}}}"#
            );
            let rec = Record::parse(text.as_bytes()).unwrap();
            let ev = read_event(&rec);
            assert_eq!(ev.ts_ns, ts(&t(first as u32 + 1)), "{text}");
        }
        // An unreadable time is passed over for the next one.
        let rec = Record::parse(
            br#"{"regarding":{"kind":"Node","name":"n1"},"reason":"x","lastTimestamp":"soon","eventTime":"2025-03-03T00:00:09Z"}"#,
        )
        .unwrap();
        assert_eq!(read_event(&rec).ts_ns, ts("2025-03-03T00:00:09Z"));

        // (record, count, namespace, node, pod)
        type Case<'a> = (
            &'a str,
            u32,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
        );
        let cases: &[Case<'_>] = &[
            (
                r#"{"involvedObject":{"kind":"Pod","name":"a-7d4b9c8f6-x2x9z","namespace":"ns1"},"regarding":{"kind":"Pod","name":"b-7d4b9c8f6-x2x9z"},"reason":"x","count":3,"series":{"count":4},"deprecatedCount":5,"source":{"host":"n1"},"deprecatedSource":{"host":"n2"},"reportingInstance":"n3","metadata":{"namespace":"ns2"}}"#,
                3,
                Some("ns1"),
                Some("n1"),
                Some("a-7d4b9c8f6-x2x9z"),
            ),
            (
                r#"{"regarding":{"kind":"Pod","name":"b-7d4b9c8f6-x2x9z"},"reason":"x","count":0,"series":{"count":4},"deprecatedCount":5,"deprecatedSource":{"host":"n2"},"reportingInstance":"n3","metadata":{"namespace":"ns2"}}"#,
                4,
                Some("ns2"),
                Some("n2"),
                Some("b-7d4b9c8f6-x2x9z"),
            ),
            (
                // `reportingInstance` names no node.
                r#"{"involvedObject":{"kind":"Pod","name":"c-7d4b9c8f6-x2x9z"},"reason":"x","deprecatedCount":5,"source":{"component":"kubelet"},"reportingInstance":"n3"}"#,
                5,
                None,
                None,
                Some("c-7d4b9c8f6-x2x9z"),
            ),
            // A Node subject names the node, whatever the sources say.
            (
                r#"{"involvedObject":{"kind":"Node","name":"n9"},"reason":"x","source":{"host":"n1"}}"#,
                1,
                None,
                Some("n9"),
                None,
            ),
            // `involvedObject` that is not an object: no subject, and
            // `regarding` is not read in its place.
            (
                r#"{"involvedObject":"web","regarding":{"kind":"Pod","name":"d-7d4b9c8f6-x2x9z"},"reason":"x"}"#,
                1,
                None,
                None,
                None,
            ),
            // A repeated member: the first one counts.
            (
                r#"{"involvedObject":{"kind":"Pod","name":"e-7d4b9c8f6-x2x9z"},"involvedObject":{"kind":"Pod","name":"f-7d4b9c8f6-x2x9z"},"reason":"x","count":2,"count":9,"source":{"host":"n1"},"source":{"host":"n2"}}"#,
                2,
                None,
                Some("n1"),
                Some("e-7d4b9c8f6-x2x9z"),
            ),
        ];
        for (text, count, namespace, node, pod) in cases {
            let rec = Record::parse(text.as_bytes()).unwrap();
            let ev = read_event(&rec);
            assert_eq!(ev.signal.count, *count, "{text}");
            assert_eq!(ev.identity.namespace.as_deref(), *namespace, "{text}");
            assert_eq!(ev.identity.node.as_deref(), *node, "{text}");
            assert_eq!(ev.identity.pod.as_deref(), *pod, "{text}");
        }
    }

    /// The scheduler records with client-go's events.k8s.io recorder,
    /// whose `reportingInstance` is `<reportingController>-<hostname>`
    /// (client-go tools/events/event_broadcaster.go, `NewRecorder`), and no
    /// source host: read through core/v1 (as Fluent Bit's
    /// `kubernetes_events` lists `/api/v1/events`), a `FailedScheduling`
    /// has `source: {}`. Its node was `default-scheduler-kind-control-plane`,
    /// which is no node; a pending pod has none.
    #[test]
    fn a_reporting_instance_is_no_node() {
        let text = r#"{"metadata":{"name":"web-7d4b9c8f6-x2x9z.17c9a1b2c3d4e5f6","namespace":"shop","uid":"8d0c","resourceVersion":"20417","creationTimestamp":"2024-05-01T10:00:00Z"},"involvedObject":{"kind":"Pod","namespace":"shop","name":"web-7d4b9c8f6-x2x9z","uid":"p1","apiVersion":"v1","resourceVersion":"9"},"reason":"FailedScheduling","message":"0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.","source":{},"firstTimestamp":null,"lastTimestamp":null,"type":"Warning","eventTime":"2024-05-01T10:00:00.123456Z","action":"Scheduling","reportingComponent":"default-scheduler","reportingInstance":"default-scheduler-kind-control-plane"}"#;
        let rec = Record::parse(text.as_bytes()).unwrap();
        let ev = read_event(&rec);
        assert_eq!(ev.signal.reason, EventReason::FailedScheduling);
        assert_eq!(ev.identity.pod.as_deref(), Some("web-7d4b9c8f6-x2x9z"));
        assert_eq!(ev.identity.node, None);
    }

    #[test]
    fn field_paths() {
        // (fieldPath, container, init container)
        let cases: &[(&str, Option<&str>, bool)] = &[
            ("spec.containers{web}", Some("web"), false),
            ("spec.initContainers{init-db}", Some("init-db"), true),
            (
                "spec.ephemeralContainers{debugger}",
                Some("debugger"),
                false,
            ),
            ("spec.containers{}", None, false),
            ("", None, false),
            ("}{", None, false),
        ];
        for (p, want, init) in cases {
            assert_eq!(container_of_field_path(p), *want, "{p}");
            assert_eq!(is_init_container_path(p), *init, "{p}");
        }
    }
}
