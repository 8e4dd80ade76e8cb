//! Table tests: every record shape the pipelines carry normalizes to the right
//! kind, time, identity and signal. Fixtures follow what the real tools emit
//! (Fluent Bit `tail` + `kubernetes`, Vector `kubernetes_logs` and
//! `metric_to_log`, `kubernetes_events`, Fluent Bit `cpu` / `mem`).

#![allow(clippy::panic)]

use edgeheal_plugin::json::Record;
use edgeheal_plugin::normalize::normalize;
use edgeheal_plugin::observation::{
    EventReason, LogLevel, MetricName, RecordKind, Signal, TimeSource, WorkloadKind,
};
use edgeheal_plugin::timestamp::parse_rfc3339;

/// Pipeline event time used as the fallback.
const EVENT_TIME: i64 = 1_700_000_000_000_000_000;

struct Case {
    name: &'static str,
    /// The pipeline tag the record comes under.
    tag: &'static str,
    record: &'static str,
    kind: RecordKind,
    /// Expected time as RFC 3339, or `None` for the event-time fallback.
    time: Option<&'static str>,
    namespace: Option<&'static str>,
    workload: Option<(&'static str, WorkloadKind)>,
    pod: Option<&'static str>,
    container: Option<&'static str>,
    node: Option<&'static str>,
    signal: fn(&Signal) -> bool,
}

fn log_level(s: &Signal, level: LogLevel) -> bool {
    matches!(s, Signal::Log(l) if l.level == Some(level))
}

fn request(s: &Signal, status: u16, latency_ms: f64) -> bool {
    matches!(s, Signal::Log(l) if l.is_request && l.status == Some(status)
        && l.latency_ms.is_some_and(|v| (v - latency_ms).abs() < 1e-9))
}

fn metric(s: &Signal, name: MetricName, value: f64) -> bool {
    matches!(s, Signal::Metric(m) if m.name == name && (m.value - value).abs() < 1e-9 * value.abs().max(1.0))
}

fn event(s: &Signal, reason: EventReason) -> bool {
    matches!(s, Signal::Event(e) if e.reason == reason)
}

fn cases() -> Vec<Case> {
    use WorkloadKind::*;
    vec![
        Case {
            name: "fluent-bit tail+kubernetes, nginx combined with request_time",
            tag: "kube.var.log",
            record: r#"{"time":"2025-03-03T00:00:00.495325057Z","stream":"stdout","_p":"F","log":"10.41.38.107 - - [03/Mar/2025:00:00:00 +0000] \"GET /static/app.js HTTP/1.1\" 200 11419 \"-\" \"Mozilla/5.0\" 0.010","kubernetes":{"pod_name":"storefront-5k7zrqzgc-5khdf","namespace_name":"shop","pod_id":"36a7","labels":{"app":"storefront","pod-template-hash":"5k7zrqzgc"},"host":"node-1","container_name":"nginx","docker_id":"abc","container_image":"nginx:1.27.3"}}"#,
            kind: RecordKind::Log,
            time: Some("2025-03-03T00:00:00.495325057Z"),
            namespace: Some("shop"),
            workload: Some(("storefront", Deployment)),
            pod: Some("storefront-5k7zrqzgc-5khdf"),
            container: Some("nginx"),
            node: Some("node-1"),
            signal: |s| request(s, 200, 10.0),
        },
        Case {
            name: "vector kubernetes_logs, JSON app line with latency_ms",
            tag: "kube.var.log",
            record: r#"{"file":"/var/log/pods/shop_cart/cart/0.log","kubernetes":{"container_name":"cart","pod_labels":{"app":"cart"},"pod_name":"cart-vxm8jf9wsd-x2x9z","pod_namespace":"shop","pod_node_name":"node-2","pod_owner":"ReplicaSet/cart-vxm8jf9wsd","pod_uid":"u1"},"message":"{\"level\":\"error\",\"msg\":\"request failed\",\"method\":\"POST\",\"path\":\"/api/cart\",\"status\":503,\"latency_ms\":41.2}","source_type":"kubernetes_logs","stream":"stdout","timestamp":"2025-03-03T00:00:01.260057Z"}"#,
            kind: RecordKind::Log,
            time: Some("2025-03-03T00:00:01.260057Z"),
            namespace: Some("shop"),
            workload: Some(("cart", Deployment)),
            pod: Some("cart-vxm8jf9wsd-x2x9z"),
            container: Some("cart"),
            node: Some("node-2"),
            signal: |s| request(s, 503, 41.2),
        },
        Case {
            name: "JSON line with duration as a string in seconds",
            tag: "kube.var.log",
            record: r#"{"log":"{\"level\":\"info\",\"status\":200,\"duration\":\"0.250s\"}","time":"2025-03-03T00:00:02Z","kubernetes":{"pod_name":"api-6d5f7c9b8d-x2x9z","namespace_name":"shop","container_name":"api"}}"#,
            kind: RecordKind::Log,
            time: Some("2025-03-03T00:00:02Z"),
            namespace: Some("shop"),
            workload: Some(("api", Deployment)),
            pod: Some("api-6d5f7c9b8d-x2x9z"),
            container: Some("api"),
            node: None,
            signal: |s| request(s, 200, 250.0),
        },
        Case {
            name: "free text with a level word, StatefulSet pod, epoch ms time",
            tag: "kube.var.log",
            record: r#"{"log":"2025-03-03 00:00:03 ERROR could not serialize access","time":1740960003000,"kubernetes":{"pod_name":"postgres-1","namespace_name":"data","container_name":"postgres"}}"#,
            kind: RecordKind::Log,
            time: Some("2025-03-03T00:00:03Z"),
            namespace: Some("data"),
            workload: Some(("postgres", StatefulSet)),
            pod: Some("postgres-1"),
            container: Some("postgres"),
            node: None,
            signal: |s| log_level(s, LogLevel::Error),
        },
        Case {
            name: "no time in the record: the pipeline's event time",
            tag: "kube.var.log",
            record: r#"{"log":"WARN disk almost full","kubernetes":{"pod_name":"node-agent-9d4tz","namespace_name":"platform","container_name":"agent","labels":{"app.kubernetes.io/name":"node-agent"}}}"#,
            kind: RecordKind::Log,
            time: None,
            namespace: Some("platform"),
            workload: Some(("node-agent", DaemonSet)),
            pod: Some("node-agent-9d4tz"),
            container: Some("agent"),
            node: None,
            signal: |s| log_level(s, LogLevel::Warn),
        },
        Case {
            name: "kubernetes_events core/v1 BackOff",
            tag: "kube.var.log",
            record: r#"{"metadata":{"name":"ledger-2rjg5d6xr-vh7p4.1829243d5d3c6aa9","namespace":"payments","creationTimestamp":"2025-03-03T00:10:00Z"},"involvedObject":{"kind":"Pod","namespace":"payments","name":"ledger-2rjg5d6xr-vh7p4","apiVersion":"v1","fieldPath":"spec.containers{ledger}"},"reason":"BackOff","message":"Back-off restarting failed container","source":{"component":"kubelet","host":"node-3"},"firstTimestamp":"2025-03-03T00:10:00Z","lastTimestamp":"2025-03-03T00:12:00Z","count":3,"type":"Warning"}"#,
            kind: RecordKind::Event,
            time: Some("2025-03-03T00:12:00Z"),
            namespace: Some("payments"),
            workload: Some(("ledger", Deployment)),
            pod: Some("ledger-2rjg5d6xr-vh7p4"),
            container: Some("ledger"),
            node: Some("node-3"),
            signal: |s| event(s, EventReason::BackOff),
        },
        Case {
            name: "events.k8s.io/v1 Unhealthy with regarding and eventTime",
            tag: "kube.var.log",
            record: r#"{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"x","namespace":"shop"},"regarding":{"kind":"Pod","namespace":"shop","name":"cart-vxm8jf9wsd-x2x9z"},"reason":"Unhealthy","note":"Readiness probe failed","type":"Warning","eventTime":"2025-03-03T00:13:00.000000Z","series":{"count":2}}"#,
            kind: RecordKind::Event,
            time: Some("2025-03-03T00:13:00Z"),
            namespace: Some("shop"),
            workload: Some(("cart", Deployment)),
            pod: Some("cart-vxm8jf9wsd-x2x9z"),
            container: None,
            node: None,
            signal: |s| event(s, EventReason::Unhealthy),
        },
        Case {
            name: "flat metric sample: cpu counter with epoch ms",
            tag: "kube.var.log",
            record: r#"{"metric":"container_cpu_usage_seconds_total","value":6241.009341,"labels":{"namespace":"platform","pod":"node-agent-9d4tz","container":"node-agent","node":"node-1"},"timestamp":1740960001473}"#,
            kind: RecordKind::Metric,
            time: Some("2025-03-03T00:00:01.473Z"),
            namespace: Some("platform"),
            workload: Some(("node-agent", DaemonSet)),
            pod: Some("node-agent-9d4tz"),
            container: Some("node-agent"),
            node: Some("node-1"),
            signal: |s| metric(s, MetricName::CpuSecondsTotal, 6241.009341),
        },
        Case {
            name: "vector metric_to_log gauge: memory working set",
            tag: "kube.var.log",
            record: r#"{"gauge":{"value":524288000.0},"kind":"absolute","name":"container_memory_working_set_bytes","tags":{"container":"ledger","namespace":"payments","node":"node-3","pod":"ledger-2rjg5d6xr-vh7p4"},"timestamp":"2025-03-03T00:00:01.260057Z"}"#,
            kind: RecordKind::Metric,
            time: Some("2025-03-03T00:00:01.260057Z"),
            namespace: Some("payments"),
            workload: Some(("ledger", Deployment)),
            pod: Some("ledger-2rjg5d6xr-vh7p4"),
            container: Some("ledger"),
            node: Some("node-3"),
            signal: |s| metric(s, MetricName::MemoryWorkingSetBytes, 524_288_000.0),
        },
        Case {
            name: "kube-state-metrics limit with resource label",
            tag: "kube.var.log",
            record: r#"{"metric":"kube_pod_container_resource_limits","value":2,"labels":{"namespace":"shop","pod":"cart-vxm8jf9wsd-x2x9z","container":"cart","resource":"cpu","unit":"core"},"timestamp":1740960001473}"#,
            kind: RecordKind::Metric,
            time: Some("2025-03-03T00:00:01.473Z"),
            namespace: Some("shop"),
            workload: Some(("cart", Deployment)),
            pod: Some("cart-vxm8jf9wsd-x2x9z"),
            container: Some("cart"),
            node: None,
            signal: |s| metric(s, MetricName::CpuLimitCores, 2.0),
        },
        Case {
            name: "fluent-bit cpu input, tagged node.${NODE_NAME}.cpu",
            tag: "node.node-1.cpu",
            record: r#"{"cpu_p":26.791,"user_p":22.772,"system_p":4.019,"cpu0.p_cpu":23.3,"cpu0.p_user":20.0,"cpu0.p_system":3.3}"#,
            kind: RecordKind::Metric,
            time: None,
            namespace: None,
            workload: Some(("node-1", Node)),
            pod: None,
            container: None,
            node: Some("node-1"),
            signal: |s| metric(s, MetricName::NodeCpuPercent, 26.791),
        },
        Case {
            name: "fluent-bit cpu input under its default tag: no node named",
            tag: "cpu.0",
            record: r#"{"cpu_p":26.791,"user_p":22.772,"system_p":4.019}"#,
            kind: RecordKind::Metric,
            time: None,
            namespace: None,
            workload: None,
            pod: None,
            container: None,
            node: None,
            signal: |s| metric(s, MetricName::NodeCpuPercent, 26.791),
        },
        Case {
            name: "fluent-bit mem input with the hostname record_modifier adds",
            tag: "mem.0",
            record: r#"{"Mem.total":67108864,"Mem.used":16777216,"Mem.free":50331648,"Swap.total":0,"Swap.used":0,"Swap.free":0,"hostname":"node-4"}"#,
            kind: RecordKind::Metric,
            time: None,
            namespace: None,
            workload: Some(("node-4", Node)),
            pod: None,
            container: None,
            node: Some("node-4"),
            signal: |s| metric(s, MetricName::NodeMemoryPercent, 25.0),
        },
        Case {
            name: "anything else is unknown and still timed",
            tag: "kube.var.log",
            record: r#"{"foo":"bar","ts":"2025-03-03T00:00:05+01:00"}"#,
            kind: RecordKind::Unknown,
            time: Some("2025-03-02T23:00:05Z"),
            namespace: None,
            workload: None,
            pod: None,
            container: None,
            node: None,
            signal: |s| matches!(s, Signal::None),
        },
    ]
}

#[test]
fn every_shape_normalizes_to_kind_time_identity_and_signal() {
    for case in cases() {
        let rec =
            Record::parse(case.record.as_bytes()).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let obs = normalize(&rec, case.tag.as_bytes(), EVENT_TIME);
        assert_eq!(obs.kind, case.kind, "{}", case.name);
        match case.time {
            Some(t) => {
                assert_eq!(Some(obs.ts_ns), parse_rfc3339(t), "{}: time", case.name);
                assert_eq!(obs.ts_source, TimeSource::Record, "{}", case.name);
            }
            None => {
                assert_eq!(obs.ts_ns, EVENT_TIME, "{}: time", case.name);
                assert_eq!(obs.ts_source, TimeSource::EventTime, "{}", case.name);
            }
        }
        let id = &obs.identity;
        assert_eq!(
            id.namespace.as_deref(),
            case.namespace,
            "{}: namespace",
            case.name
        );
        assert_eq!(
            (id.workload.as_deref(), id.workload_kind),
            (case.workload.map(|w| w.0), case.workload.map(|w| w.1)),
            "{}: workload",
            case.name
        );
        assert_eq!(id.pod.as_deref(), case.pod, "{}: pod", case.name);
        assert_eq!(
            id.container.as_deref(),
            case.container,
            "{}: container",
            case.name
        );
        assert_eq!(id.node.as_deref(), case.node, "{}: node", case.name);
        assert!(
            (case.signal)(&obs.signal),
            "{}: signal {:?}",
            case.name,
            obs.signal
        );
    }
}

/// Kubernetes names are RFC 1123 labels (namespaces, containers: at most 63
/// bytes) or subdomains (pods, workloads, nodes: at most 253): a name that
/// is not one names no object, and is dropped whatever shape carries it,
/// so a record cannot make the filter's state or tags as large as itself,
/// nor give the heal API tags it refuses.
#[test]
fn names_kubernetes_would_not_accept_are_dropped() {
    let log = |ns: &str, pod: &str, container: &str, node: &str| {
        format!(
            r#"{{"log":"ERROR x","kubernetes":{{"pod_name":"{pod}","namespace_name":"{ns}","container_name":"{container}","host":"{node}"}}}}"#
        )
    };
    let event = |ns: &str, pod: &str| {
        format!(
            r#"{{"involvedObject":{{"kind":"Pod","namespace":"{ns}","name":"{pod}"}},"reason":"BackOff","message":"m"}}"#
        )
    };
    let metric = |ns: &str, pod: &str| {
        format!(
            r#"{{"metric":"container_memory_working_set_bytes","value":1,"labels":{{"namespace":"{ns}","pod":"{pod}"}}}}"#
        )
    };
    let a = |n: usize| "a".repeat(n);
    // A subdomain of `n` bytes: labels of 63 joined by dots.
    let dotted = |n: usize| {
        let mut s = String::new();
        while s.len() < n {
            if !s.is_empty() {
                s.push('.');
            }
            let label = (n - s.len()).min(63);
            s.push_str(&a(label));
        }
        s
    };
    // A pod name of no controller's pattern is its own workload.
    let (pod_at, pod_over) = (dotted(253), dotted(254));
    assert_eq!((pod_at.len(), pod_over.len()), (253, 254));
    let (ns_at, ns_over) = (a(63), a(64));
    let cases = [
        (log(&ns_at, &pod_at, &a(63), &dotted(253)), true),
        (log(&ns_over, &pod_over, &a(64), &dotted(254)), false),
        (
            log(&a(1 << 20), &a(1 << 20), &a(1 << 20), &a(1 << 20)),
            false,
        ),
        (event(&ns_at, &pod_at), true),
        (event(&ns_over, &pod_over), false),
        (metric(&ns_at, &pod_at), true),
        (metric(&ns_over, &pod_over), false),
        (log("Shop", "Web_1", "App", "Node_1"), false),
        (log("shop.eu", "-web", "app-", "node..1"), false),
        (log("shop-", "web.", "a.b", ".node"), false),
        (event("sh op", "web\\u00e9"), false),
        (metric("", "API.Server"), false),
    ];
    for (record, kept) in &cases {
        let rec = Record::parse(record.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let obs = normalize(&rec, b"kube.var.log", EVENT_TIME);
        let id = &obs.identity;
        let head = &record[..40];
        assert_eq!(id.namespace.is_some(), *kept, "{head}: namespace");
        assert_eq!(id.pod.is_some(), *kept, "{head}: pod");
        assert_eq!(id.workload.is_some(), *kept, "{head}: workload");
        assert_eq!(id.workload_kind.is_some(), *kept, "{head}: workload kind");
        if record.starts_with(r#"{"log""#) {
            assert_eq!(id.container.is_some(), *kept, "{head}: container");
            assert_eq!(id.node.is_some(), *kept, "{head}: node");
        }
        if *kept {
            assert_eq!(id.pod.as_deref(), Some(pod_at.as_str()), "{head}");
        }
    }
}
