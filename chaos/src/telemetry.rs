//! Record shapes, written exactly as the real tools emit them, one JSON object
//! per line.
//!
//! | [`Shape`] | tool | time field |
//! |---|---|---|
//! | `FluentBitLog` | Fluent Bit `tail` (CRI parser) + `kubernetes` filter | `time`, RFC 3339 ns |
//! | `VectorLog` | Vector `kubernetes_logs` (JSON codec: keys sorted) | `timestamp`, RFC 3339 ns |
//! | `K8sEvent` | Fluent Bit `kubernetes_events` (a core/v1 Event) | `lastTimestamp`, RFC 3339 s |
//! | `FlatMetric` | a Prometheus sample relayed as flat JSON | `timestamp`, epoch ms |
//! | `VectorMetric` | Vector `prometheus_scrape` → `metric_to_log` | `timestamp`, RFC 3339 µs |
//! | `FluentBitCpu` / `FluentBitMem` | Fluent Bit `cpu` / `mem` inputs (+ `hostname` from `record_modifier`) | `date`, epoch float s (the `json_date_key` of Fluent Bit's JSON outputs) |

use crate::clock::{epoch_ms, push_epoch_float, push_rfc3339, Precision};
use crate::jsonw::ObjectWriter;

/// The input shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Shape {
    /// Fluent Bit container log.
    FluentBitLog,
    /// Vector container log.
    VectorLog,
    /// Kubernetes event from Fluent Bit `kubernetes_events`.
    K8sEvent,
    /// Flat metric sample.
    FlatMetric,
    /// Vector `metric_to_log` sample.
    VectorMetric,
    /// Fluent Bit `cpu` input.
    FluentBitCpu,
    /// Fluent Bit `mem` input.
    FluentBitMem,
}

impl Shape {
    /// Every shape.
    pub const ALL: [Shape; 7] = [
        Shape::FluentBitLog,
        Shape::VectorLog,
        Shape::K8sEvent,
        Shape::FlatMetric,
        Shape::VectorMetric,
        Shape::FluentBitCpu,
        Shape::FluentBitMem,
    ];

    /// snake_case name; also the per-shape file stem with `--split`.
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::FluentBitLog => "fluentbit_logs",
            Shape::VectorLog => "vector_logs",
            Shape::K8sEvent => "k8s_events",
            Shape::FlatMetric => "flat_metrics",
            Shape::VectorMetric => "vector_metrics",
            Shape::FluentBitCpu => "fluentbit_cpu",
            Shape::FluentBitMem => "fluentbit_mem",
        }
    }
}

/// One emitted record: its time, its shape, the pipeline tag it would carry
/// (Fluent Bit tag, or the Vector component for Vector shapes), and the JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Event time, ns since the epoch (equal to the time inside `line`).
    pub ts_ns: i64,
    /// The shape of `line`.
    pub shape: Shape,
    /// Pipeline tag (e.g. `kube.var.log.containers.<pod>_<ns>_<container>-<id>.log`).
    pub tag: String,
    /// The record, one JSON object without a trailing newline.
    pub line: String,
}

/// What the log shippers know about the container a line came from.
#[derive(Debug, Clone, PartialEq)]
pub struct PodMeta {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Pod UID.
    pub uid: String,
    /// Node name.
    pub node: String,
    /// Pod IP.
    pub ip: String,
    /// Container name.
    pub container: String,
    /// Image reference.
    pub image: String,
    /// Current container id (64 hex digits).
    pub container_id: String,
    /// `Kind/name` of the owner (`ReplicaSet/x-7d9c8b6f5`, `StatefulSet/db`, `DaemonSet/agent`).
    pub owner: String,
    /// Pod labels, in a fixed order.
    pub labels: Vec<(String, String)>,
    /// Restarts of the container so far (the `N.log` file under `/var/log/pods`).
    pub restart_count: u32,
}

/// Which output stream of the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// stdout.
    Stdout,
    /// stderr.
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

fn image_hash(meta: &PodMeta) -> String {
    // A stable digest-looking string derived from the image name.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in meta.image.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!(
        "{}@sha256:{:016x}{:016x}{:016x}{:016x}",
        meta.image.split(':').next().unwrap_or(""),
        h,
        h.rotate_left(17),
        h.rotate_left(31),
        h.rotate_left(47)
    )
}

/// A container log line as Fluent Bit `tail` + `kubernetes` filter emits it.
pub fn fluent_bit_log(meta: &PodMeta, ts_ns: i64, stream: Stream, text: &str) -> Record {
    let mut line = String::with_capacity(512 + text.len());
    let mut time = String::with_capacity(32);
    push_rfc3339(&mut time, ts_ns, Precision::Nanos);
    let mut w = ObjectWriter::new(&mut line);
    w.str("time", &time)
        .str("stream", stream.as_str())
        .str("_p", "F")
        .str("log", text)
        .open("kubernetes")
        .str("pod_name", &meta.pod)
        .str("namespace_name", &meta.namespace)
        .str("pod_id", &meta.uid)
        .open("labels");
    for (k, v) in &meta.labels {
        w.str(k, v);
    }
    w.end()
        .str("host", &meta.node)
        .str("pod_ip", &meta.ip)
        .str("container_name", &meta.container)
        .str("docker_id", &meta.container_id)
        .str("container_hash", &image_hash(meta))
        .str("container_image", &meta.image);
    w.finish();
    Record {
        ts_ns,
        shape: Shape::FluentBitLog,
        tag: format!(
            "kube.var.log.containers.{}_{}_{}-{}.log",
            meta.pod, meta.namespace, meta.container, meta.container_id
        ),
        line,
    }
}

/// A container log line as Vector `kubernetes_logs` emits it (keys sorted, as
/// Vector's JSON encoder writes them).
pub fn vector_log(meta: &PodMeta, ts_ns: i64, stream: Stream, text: &str) -> Record {
    let mut line = String::with_capacity(640 + text.len());
    let mut time = String::with_capacity(32);
    push_rfc3339(&mut time, ts_ns, Precision::Nanos);
    let file = format!(
        "/var/log/pods/{}_{}_{}/{}/{}.log",
        meta.namespace, meta.pod, meta.uid, meta.container, meta.restart_count
    );
    let mut w = ObjectWriter::new(&mut line);
    w.str("file", &file)
        .open("kubernetes")
        .str(
            "container_id",
            &format!("containerd://{}", meta.container_id),
        )
        .str("container_image", &meta.image)
        .str("container_image_id", &image_hash(meta))
        .str("container_name", &meta.container)
        .open("namespace_labels")
        .str("kubernetes.io/metadata.name", &meta.namespace)
        .end()
        .open("node_labels")
        .str("kubernetes.io/hostname", &meta.node)
        .str("kubernetes.io/os", "linux")
        .end()
        .str("pod_ip", &meta.ip)
        .str_array("pod_ips", &[&meta.ip])
        .open("pod_labels");
    let mut labels: Vec<&(String, String)> = meta.labels.iter().collect();
    labels.sort();
    for (k, v) in labels {
        w.str(k, v);
    }
    w.end()
        .str("pod_name", &meta.pod)
        .str("pod_namespace", &meta.namespace)
        .str("pod_node_name", &meta.node)
        .str("pod_owner", &meta.owner)
        .str("pod_uid", &meta.uid)
        .end()
        .str("message", text)
        .str("source_type", "kubernetes_logs")
        .str("stream", stream.as_str())
        .str("timestamp", &time);
    w.finish();
    Record {
        ts_ns,
        shape: Shape::VectorLog,
        tag: "kubernetes_logs".into(),
        line,
    }
}

/// A core/v1 Event as the Fluent Bit `kubernetes_events` input emits it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventObject {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.resourceVersion`.
    pub resource_version: u64,
    /// `involvedObject.kind` (`Pod`, `Node`, ...).
    pub involved_kind: &'static str,
    /// `involvedObject.name`.
    pub involved_name: String,
    /// `involvedObject.namespace` (empty for cluster-scoped objects).
    pub involved_namespace: String,
    /// `involvedObject.uid`.
    pub involved_uid: String,
    /// `involvedObject.fieldPath` (`spec.containers{app}`), if any.
    pub field_path: Option<String>,
    /// `reason`.
    pub reason: &'static str,
    /// `message`.
    pub message: String,
    /// `type`: `Normal` or `Warning`.
    pub warning: bool,
    /// `count`.
    pub count: u32,
    /// `firstTimestamp`, ns.
    pub first_ns: i64,
    /// `lastTimestamp`, ns (the record's time).
    pub last_ns: i64,
    /// `source.component` (`kubelet`, `default-scheduler`, `kernel-monitor`, ...).
    pub component: &'static str,
    /// `source.host`, if any.
    pub host: Option<String>,
}

/// Renders an Event.
pub fn k8s_event(ev: &EventObject) -> Record {
    let mut line = String::with_capacity(768);
    let mut first = String::new();
    push_rfc3339(&mut first, ev.first_ns, Precision::Seconds);
    let mut last = String::new();
    push_rfc3339(&mut last, ev.last_ns, Precision::Seconds);
    let mut w = ObjectWriter::new(&mut line);
    w.open("metadata")
        .str("name", &ev.name)
        .str("namespace", &ev.namespace)
        .str("uid", &ev.uid)
        .str("resourceVersion", &ev.resource_version.to_string())
        .str("creationTimestamp", &first)
        .end()
        .open("involvedObject")
        .str("kind", ev.involved_kind);
    if !ev.involved_namespace.is_empty() {
        w.str("namespace", &ev.involved_namespace);
    }
    w.str("name", &ev.involved_name)
        .str("uid", &ev.involved_uid);
    match ev.involved_kind {
        "Pod" => {
            w.str("apiVersion", "v1");
        }
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => {
            w.str("apiVersion", "apps/v1");
        }
        _ => {}
    }
    if let Some(fp) = &ev.field_path {
        w.str("fieldPath", fp);
    }
    w.end()
        .str("reason", ev.reason)
        .str("message", &ev.message)
        .open("source")
        .str("component", ev.component);
    if let Some(h) = &ev.host {
        w.str("host", h);
    }
    w.end()
        .str("firstTimestamp", &first)
        .str("lastTimestamp", &last)
        .int("count", i64::from(ev.count))
        .str("type", if ev.warning { "Warning" } else { "Normal" })
        .raw("eventTime", "null")
        .str("reportingComponent", ev.component)
        .str("reportingInstance", ev.host.as_deref().unwrap_or(""));
    w.finish();
    Record {
        // The record's time as written (whole seconds), so merged order matches the text.
        ts_ns: ev.last_ns - ev.last_ns.rem_euclid(1_000_000_000),
        shape: Shape::K8sEvent,
        tag: "kube_events".into(),
        line,
    }
}

/// One metric sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricSample<'a> {
    /// Prometheus metric name.
    pub name: &'a str,
    /// Value.
    pub value: f64,
    /// A counter (`true`) or a gauge.
    pub counter: bool,
    /// Labels in the order the exporter writes them.
    pub labels: &'a [(&'a str, &'a str)],
    /// Scrape time, ns.
    pub ts_ns: i64,
}

/// A flat `{"metric","value","labels","timestamp"}` sample (timestamp in epoch ms).
pub fn flat_metric(s: &MetricSample<'_>) -> Record {
    let mut line = String::with_capacity(256);
    let mut w = ObjectWriter::new(&mut line);
    w.str("metric", s.name)
        .float_exact("value", s.value)
        .open("labels");
    for (k, v) in s.labels {
        w.str(k, v);
    }
    w.end().int("timestamp", epoch_ms(s.ts_ns));
    w.finish();
    Record {
        ts_ns: s.ts_ns,
        shape: Shape::FlatMetric,
        tag: "metrics".into(),
        line,
    }
}

/// A sample as Vector `metric_to_log` emits it (keys sorted).
pub fn vector_metric(s: &MetricSample<'_>) -> Record {
    let mut line = String::with_capacity(256);
    let mut time = String::with_capacity(32);
    push_rfc3339(&mut time, s.ts_ns, Precision::Micros);
    let mut w = ObjectWriter::new(&mut line);
    w.open(if s.counter { "counter" } else { "gauge" })
        .float_exact("value", s.value)
        .end()
        .str("kind", "absolute")
        .str("name", s.name)
        .open("tags");
    let mut tags: Vec<&(&str, &str)> = s.labels.iter().collect();
    tags.sort();
    for (k, v) in tags {
        w.str(k, v);
    }
    w.end().str("timestamp", &time);
    w.finish();
    Record {
        ts_ns: s.ts_ns,
        shape: Shape::VectorMetric,
        tag: "metric_to_log".into(),
        line,
    }
}

/// A Fluent Bit `cpu` input record for a node: overall and per-CPU percentages.
pub fn fluent_bit_cpu(node: &str, ts_ns: i64, per_cpu: &[(f64, f64)]) -> Record {
    let n = per_cpu.len().max(1) as f64;
    let user: f64 = per_cpu.iter().map(|c| c.0).sum::<f64>() / n;
    let system: f64 = per_cpu.iter().map(|c| c.1).sum::<f64>() / n;
    let mut line = String::with_capacity(128 + per_cpu.len() * 80);
    let mut date = String::new();
    push_epoch_float(&mut date, ts_ns);
    let mut w = ObjectWriter::new(&mut line);
    w.raw("date", &date)
        .float("cpu_p", user + system, 3)
        .float("user_p", user, 3)
        .float("system_p", system, 3);
    for (i, (u, s)) in per_cpu.iter().enumerate() {
        w.float(&format!("cpu{i}.p_cpu"), u + s, 1)
            .float(&format!("cpu{i}.p_user"), *u, 1)
            .float(&format!("cpu{i}.p_system"), *s, 1);
    }
    w.str("hostname", node);
    w.finish();
    Record {
        ts_ns,
        shape: Shape::FluentBitCpu,
        tag: "cpu.local".into(),
        line,
    }
}

/// A Fluent Bit `mem` input record for a node (kB).
pub fn fluent_bit_mem(node: &str, ts_ns: i64, total_kb: u64, used_kb: u64) -> Record {
    let mut line = String::with_capacity(192);
    let mut date = String::new();
    push_epoch_float(&mut date, ts_ns);
    let mut w = ObjectWriter::new(&mut line);
    w.raw("date", &date)
        .int("Mem.total", total_kb as i64)
        .int("Mem.used", used_kb as i64)
        .int("Mem.free", total_kb.saturating_sub(used_kb) as i64)
        .int("Swap.total", 0)
        .int("Swap.used", 0)
        .int("Swap.free", 0)
        .str("hostname", node);
    w.finish();
    Record {
        ts_ns,
        shape: Shape::FluentBitMem,
        tag: "mem.local".into(),
        line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn meta() -> PodMeta {
        PodMeta {
            namespace: "shop".into(),
            pod: "cart-7d9c8b6f5-x2x4k".into(),
            uid: "0b8e2f6c-1a2b-4c3d-8e9f-0123456789ab".into(),
            node: "node-1".into(),
            ip: "10.40.1.7".into(),
            container: "cart".into(),
            image: "registry.example.com/shop/cart:1.0.0".into(),
            container_id: "ab".repeat(32),
            owner: "ReplicaSet/cart-7d9c8b6f5".into(),
            labels: vec![
                ("app".into(), "cart".into()),
                ("pod-template-hash".into(), "7d9c8b6f5".into()),
            ],
            restart_count: 0,
        }
    }

    const T: i64 = 1_741_003_200_123_456_789;

    #[test]
    fn shapes_have_the_fields_the_tools_write() {
        let m = meta();
        let labels = [("namespace", "shop"), ("pod", "cart-7d9c8b6f5-x2x4k")];
        let sample = MetricSample {
            name: "container_memory_working_set_bytes",
            value: 1.5e8,
            counter: false,
            labels: &labels,
            ts_ns: T,
        };
        let ev = EventObject {
            name: "cart-7d9c8b6f5-x2x4k.1".into(),
            namespace: "shop".into(),
            uid: "u".into(),
            resource_version: 7,
            involved_kind: "Pod",
            involved_name: "cart-7d9c8b6f5-x2x4k".into(),
            involved_namespace: "shop".into(),
            involved_uid: "pu".into(),
            field_path: Some("spec.containers{cart}".into()),
            reason: "BackOff",
            message: "Back-off restarting failed container".into(),
            warning: true,
            count: 3,
            first_ns: T - 60_000_000_000,
            last_ns: T,
            component: "kubelet",
            host: Some("node-1".into()),
        };
        // (record, JSON pointer, expected value)
        let cases: Vec<(Record, &str, Value)> = vec![
            (
                fluent_bit_log(&m, T, Stream::Stdout, "hi"),
                "/log",
                "hi".into(),
            ),
            (
                fluent_bit_log(&m, T, Stream::Stdout, "hi"),
                "/time",
                "2025-03-03T12:00:00.123456789Z".into(),
            ),
            (
                fluent_bit_log(&m, T, Stream::Stdout, "hi"),
                "/kubernetes/namespace_name",
                "shop".into(),
            ),
            (
                fluent_bit_log(&m, T, Stream::Stdout, "hi"),
                "/kubernetes/labels/pod-template-hash",
                "7d9c8b6f5".into(),
            ),
            (
                vector_log(&m, T, Stream::Stderr, "hi"),
                "/message",
                "hi".into(),
            ),
            (
                vector_log(&m, T, Stream::Stderr, "hi"),
                "/stream",
                "stderr".into(),
            ),
            (
                vector_log(&m, T, Stream::Stderr, "hi"),
                "/kubernetes/pod_owner",
                "ReplicaSet/cart-7d9c8b6f5".into(),
            ),
            (
                vector_log(&m, T, Stream::Stderr, "hi"),
                "/source_type",
                "kubernetes_logs".into(),
            ),
            (k8s_event(&ev), "/involvedObject/kind", "Pod".into()),
            (k8s_event(&ev), "/count", 3.into()),
            (
                k8s_event(&ev),
                "/lastTimestamp",
                "2025-03-03T12:00:00Z".into(),
            ),
            (k8s_event(&ev), "/source/component", "kubelet".into()),
            (
                flat_metric(&sample),
                "/timestamp",
                1_741_003_200_123i64.into(),
            ),
            (
                flat_metric(&sample),
                "/labels/pod",
                "cart-7d9c8b6f5-x2x4k".into(),
            ),
            (vector_metric(&sample), "/gauge/value", 1.5e8.into()),
            (vector_metric(&sample), "/kind", "absolute".into()),
            (
                vector_metric(&sample),
                "/timestamp",
                "2025-03-03T12:00:00.123456Z".into(),
            ),
            (
                fluent_bit_cpu("node-1", T, &[(10.0, 2.0), (20.0, 4.0)]),
                "/cpu_p",
                18.0.into(),
            ),
            (
                fluent_bit_cpu("node-1", T, &[(10.0, 2.0), (20.0, 4.0)]),
                "/cpu1.p_user",
                20.0.into(),
            ),
            (
                fluent_bit_mem("node-1", T, 1000, 250),
                "/Mem.free",
                750.into(),
            ),
            (
                fluent_bit_mem("node-1", T, 1000, 250),
                "/date",
                1_741_003_200.123456.into(),
            ),
        ];
        for (rec, ptr, want) in cases {
            let v: Value = serde_json::from_str(&rec.line).unwrap();
            assert_eq!(
                v.pointer(ptr),
                Some(&want),
                "{:?} {ptr}: {}",
                rec.shape,
                rec.line
            );
        }
    }
}
