//! Metric samples carried as records.
//!
//! Shapes:
//! - flat: `{"metric"|"name": NAME, "value": V, "labels": {...}}` (labels may
//!   also sit at the top level);
//! - Vector `metric_to_log`: `{"name", "namespace", "tags": {...}, "kind",
//!   "gauge": {"value"} | "counter": {"value"}, "timestamp"}`; Vector's
//!   `namespace` is the *metric* namespace (the Prometheus name is
//!   `<namespace>_<name>`), never the Kubernetes one;
//! - Fluent Bit `cpu` input (`cpu_p`, `user_p`, `system_p`, `cpuN.p_cpu`) and
//!   `mem` input (`Mem.total`, `Mem.used`, `Mem.free`, `Swap.*`), both about
//!   the node.
//!
//! Names (Prometheus): `container_cpu_usage_seconds_total` (a counter; the
//! entity state turns it into a rate), `container_memory_working_set_bytes`,
//! `kube_pod_container_resource_limits` / `_requests` with `resource="cpu"`
//! or `"memory"` (and the kube-state-metrics v1 names `..._cpu_cores` /
//! `..._memory_bytes`), `container_spec_cpu_quota` (µs per the default
//! 100 ms CFS period, so cores = quota / 100000; -1 or 0 = no limit),
//! `container_spec_memory_limit_bytes` (0 = no limit),
//! `kube_pod_container_status_restarts_total`, `http_requests_total`.
//!
//! cAdvisor rule: `container_*` series whose `container` label is empty
//! (the pod-level cgroup) or `POD` (the pause container) are classified
//! [`MetricName::Other`]: summing them with the per-container series would
//! count a pod twice, so only per-container series feed the entity state.
//! Vector `incremental` counters are deltas, not totals, and are likewise
//! classified `Other` for the cumulative names.
//!
//! Identity labels: `namespace`, `pod`, `container` (each preferring its
//! `exported_` form, which holds the target's value when the scrape did not
//! honor labels; cAdvisor's old `pod_name` / `container_name` too), node from
//! `node`, else `kubernetes_node`, else `instance` without its port.

use std::borrow::Cow;

use crate::identity::{pod_identity, PodEvidence};
use crate::identity_memo::{IdentityMemo, MemoToken};
use crate::json::{value_of_raw, Object, Record, Value};
use crate::observation::{is_dns1123_subdomain, Identity, MetricName, MetricSignal, WorkloadKind};

/// What a metric record says.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRecord<'a> {
    /// The sample; `None` when the record is a metric but carries no usable value.
    pub signal: Option<MetricSignal>,
    /// Who it is about.
    pub identity: Identity<'a>,
}

/// Which metric shape a record has, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricShape {
    /// `metric`/`name` + `value`, or Vector's `name` + `gauge`/`counter`.
    Sample,
    /// Fluent Bit `cpu` input.
    FluentBitCpu,
    /// Fluent Bit `mem` input.
    FluentBitMem,
}

/// The top-level members [`shape_of`] reads, in the order it takes their
/// raw texts (besides whether the record is a log; see [`shape`]).
pub const SHAPE_KEYS: [&str; 7] = [
    "cpu_p",
    "Mem.total",
    "metric",
    "name",
    "value",
    "gauge",
    "counter",
];

/// Recognizes a metric record (as normalization does: a log's members
/// make no sample; see [`shape_of`]).
pub fn shape(record: &Record<'_>) -> Option<MetricShape> {
    let [kubernetes, log, message, msg] =
        record.get_many_raw(&["kubernetes", "log", "message", "msg"]);
    let line = [log, message, msg]
        .into_iter()
        .flatten()
        .any(|raw| raw.first() == Some(&b'"'));
    shape_of(record.get_many_raw(&SHAPE_KEYS), kubernetes.is_some(), line)
}

/// Recognizes a metric record from the raw texts of its [`SHAPE_KEYS`]
/// members. `kubernetes`: the record has a `kubernetes` member; `line`: it
/// has a `log` / `message` / `msg` string.
///
/// A container log that Fluent Bit's `Merge_Log` merged a JSON line into
/// can carry `name` (pino's, bunyan's logger name) and `value` members: a
/// record with a `kubernetes` object (which no metric sample carries), or
/// named by `name` beside a line, is a log, not a sample.
pub fn shape_of(raw: [Option<&[u8]>; 7], kubernetes: bool, line: bool) -> Option<MetricShape> {
    let [cpu, mem, metric, name, value, gauge, counter] = raw;
    // A member is present when its raw text decodes (as `get` would find it).
    let is_str = |raw: Option<&[u8]>| matches!(raw.and_then(value_of_raw), Some(Value::Str(_)));
    let present = |raw: Option<&[u8]>| raw.and_then(value_of_raw).is_some();
    if present(cpu) {
        return Some(MetricShape::FluentBitCpu);
    }
    if present(mem) {
        return Some(MetricShape::FluentBitMem);
    }
    let by_metric = is_str(metric);
    let named = by_metric || is_str(name);
    let valued = present(value) || present(gauge) || present(counter);
    let in_a_log = kubernetes || (line && !by_metric);
    (named && valued && !in_a_log).then_some(MetricShape::Sample)
}

/// A sample's labels, read through the parse's member index when they are
/// a top-level object (or the record itself) and by scanning otherwise.
enum Labels<'r, 'a> {
    /// A top-level object, with the members the parse indexed in it.
    Object(Object<'r, 'a>),
    /// The record's own top-level members.
    Record(&'r Record<'a>),
    /// Any other value (an object's members are found by scanning its text).
    Value(Value<'a>),
}

impl<'a> Labels<'_, 'a> {
    fn get_many<const N: usize>(&self, keys: &[&str; N]) -> [Option<Value<'a>>; N] {
        match self {
            Labels::Object(o) => o.get_many(keys),
            Labels::Record(r) => r.get_many(keys),
            Labels::Value(v) => v.get_many(keys),
        }
    }
}

fn label<'a>(labels: &Labels<'_, 'a>, keys: &[&str]) -> Option<Cow<'a, str>> {
    keys.iter().find_map(|k| {
        let [v] = labels.get_many(&[k]);
        v.and_then(Value::into_str).filter(|s| !s.is_empty())
    })
}

/// What classifying a sample reads from its labels, which depends on their
/// text alone (so it is kept with the identity resolved from that text).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct LabelFacts {
    /// A `container` (else `container_name`) label, not empty and not the
    /// pause container `POD`: a cAdvisor series of a container.
    container: bool,
    /// The `resource` label of kube-state-metrics' limits and requests.
    resource: Resource,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Resource {
    /// Another resource, or no `resource` label.
    #[default]
    Other,
    Cpu,
    Memory,
}

impl LabelFacts {
    fn read(labels: &Labels<'_, '_>) -> LabelFacts {
        let container = label(labels, &["container", "container_name"]);
        LabelFacts {
            container: container.is_some_and(|c| c != "POD"),
            resource: match label(labels, &["resource"]).as_deref() {
                Some("cpu") => Resource::Cpu,
                Some("memory") => Resource::Memory,
                _ => Resource::Other,
            },
        }
    }

    /// As one byte, for the identity memo.
    fn to_byte(self) -> u8 {
        u8::from(self.container) | (self.resource as u8) << 1
    }

    fn from_byte(b: u8) -> LabelFacts {
        LabelFacts {
            container: b & 1 != 0,
            resource: match b >> 1 {
                1 => Resource::Cpu,
                2 => Resource::Memory,
                _ => Resource::Other,
            },
        }
    }
}

/// Classifies a Prometheus metric name with its labels and raw value,
/// returning the canonical name and value. `incremental` marks a Vector
/// incremental (delta) counter.
pub fn classify(name: &str, labels: &Value<'_>, value: f64, incremental: bool) -> MetricSignal {
    let labels = Labels::Value(labels.clone());
    classify_labels(name, || LabelFacts::read(&labels), value, incremental)
}

/// As [`classify`], with what it reads from the labels given by `facts`
/// (called only for the names that read labels).
fn classify_labels(
    name: &str,
    facts: impl Fn() -> LabelFacts,
    value: f64,
    incremental: bool,
) -> MetricSignal {
    let other = MetricSignal {
        name: MetricName::Other,
        value,
    };
    let is_cadvisor = name.starts_with("container_");
    if is_cadvisor && !facts().container {
        return other;
    }
    let metric = |name| MetricSignal { name, value };
    match name {
        "container_cpu_usage_seconds_total" if !incremental => metric(MetricName::CpuSecondsTotal),
        "container_memory_working_set_bytes" => metric(MetricName::MemoryWorkingSetBytes),
        "container_cpu_usage_cores" | "cpu_usage_cores" => metric(MetricName::CpuCores),
        "container_spec_cpu_quota" if value > 0.0 => MetricSignal {
            name: MetricName::CpuLimitCores,
            value: value / 100_000.0,
        },
        "container_spec_memory_limit_bytes" if value > 0.0 => metric(MetricName::MemoryLimitBytes),
        "kube_pod_container_resource_limits" => match facts().resource {
            Resource::Cpu => metric(MetricName::CpuLimitCores),
            Resource::Memory => metric(MetricName::MemoryLimitBytes),
            Resource::Other => other,
        },
        "kube_pod_container_resource_requests" => match facts().resource {
            Resource::Cpu => metric(MetricName::CpuRequestCores),
            Resource::Memory => metric(MetricName::MemoryRequestBytes),
            Resource::Other => other,
        },
        "kube_pod_container_resource_limits_cpu_cores" => metric(MetricName::CpuLimitCores),
        "kube_pod_container_resource_limits_memory_bytes" => metric(MetricName::MemoryLimitBytes),
        "kube_pod_container_resource_requests_cpu_cores" => metric(MetricName::CpuRequestCores),
        "kube_pod_container_resource_requests_memory_bytes" => {
            metric(MetricName::MemoryRequestBytes)
        }
        "kube_pod_container_status_restarts_total" if !incremental => {
            metric(MetricName::RestartsTotal)
        }
        "http_requests_total" | "http_server_requests_total" if !incremental => {
            metric(MetricName::RequestsTotal)
        }
        _ => other,
    }
}

/// A node name from a pipeline tag: the segment after a `node` segment
/// (`node.worker-1.cpu`, `metrics.node.worker-1`, as a Fluent Bit `cpu` or
/// `mem` input tagged `node.${NODE_NAME}.cpu` gives it). Any other tag names
/// no node: Fluent Bit's default tags (`cpu.0`) name the input, not the host.
pub fn node_from_tag(tag: &[u8]) -> Option<Cow<'static, str>> {
    let mut parts = tag.split(|&b| b == b'.');
    while let Some(p) = parts.next() {
        if p == b"node" {
            if let Some(n) = parts.next().filter(|n| !n.is_empty()) {
                return Some(Cow::Owned(String::from_utf8_lossy(n).into_owned()));
            }
        }
    }
    None
}

fn node_identity<'a>(record: &Record<'a>, tag: &[u8]) -> Identity<'a> {
    let node = ["hostname", "host", "node", "nodename", "node_name"]
        .iter()
        .find_map(|k| {
            record
                .get(k)
                .and_then(Value::into_str)
                .filter(|s| !s.is_empty())
        })
        .or_else(|| node_from_tag(tag))
        .filter(|n| is_dns1123_subdomain(n.as_bytes()));
    Identity {
        workload: node.clone(),
        workload_kind: node.as_ref().map(|_| WorkloadKind::Node),
        node,
        ..Identity::default()
    }
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite())
}

/// Reads a metric record of the given shape. `tag` names the node for
/// Fluent Bit `cpu` / `mem` records that carry no host field.
pub fn read_metric<'a>(record: &Record<'a>, shape: MetricShape, tag: &[u8]) -> MetricRecord<'a> {
    read_metric_in(record, shape, tag, None).0
}

/// As [`read_metric`], resolving a sample's identity through `memo`, when
/// given, if its labels object has a token (see [`crate::identity_memo`]);
/// with that token, which names the identity.
pub(crate) fn read_metric_in<'a>(
    record: &Record<'a>,
    shape: MetricShape,
    tag: &[u8],
    memo: Option<&mut IdentityMemo>,
) -> (MetricRecord<'a>, Option<MemoToken>) {
    let record = match shape {
        MetricShape::FluentBitCpu => MetricRecord {
            signal: finite(record.get("cpu_p").and_then(|v| v.to_f64_lenient())).map(|value| {
                MetricSignal {
                    name: MetricName::NodeCpuPercent,
                    value,
                }
            }),
            identity: node_identity(record, tag),
        },
        MetricShape::FluentBitMem => {
            let total = finite(record.get("Mem.total").and_then(|v| v.to_f64_lenient()));
            let used = finite(record.get("Mem.used").and_then(|v| v.to_f64_lenient()));
            // `Mem.used` is total minus free RAM, page cache included: a
            // busy node reads near full. `Mem.free` is `MemAvailable` (what
            // can be had without swapping) on Linux 3.14 and later, and
            // free RAM before, where total minus it is `Mem.used` again.
            let free = finite(record.get("Mem.free").and_then(|v| v.to_f64_lenient()));
            let used = match (total, free) {
                (Some(t), Some(f)) if (0.0..=t).contains(&f) => Some(t - f),
                _ => used,
            };
            let signal = match (total, used) {
                (Some(t), Some(u)) if t > 0.0 => Some(MetricSignal {
                    name: MetricName::NodeMemoryPercent,
                    value: (u / t * 100.0).clamp(0.0, 100.0),
                }),
                _ => None,
            };
            MetricRecord {
                signal,
                identity: node_identity(record, tag),
            }
        }
        MetricShape::Sample => return read_sample(record, memo),
    };
    (record, None)
}

fn read_sample<'a>(
    record: &Record<'a>,
    memo: Option<&mut IdentityMemo>,
) -> (MetricRecord<'a>, Option<MemoToken>) {
    // The first member of each name, in one pass (as `get` would find each).
    let [metric, name, labels, tags, value, gauge, counter, kind, namespace] = record.get_many(&[
        "metric",
        "name",
        "labels",
        "tags",
        "value",
        "gauge",
        "counter",
        "kind",
        "namespace",
    ]);
    let name = metric
        .and_then(Value::into_str)
        .or_else(|| name.and_then(Value::into_str))
        .unwrap_or(Cow::Borrowed(""));
    // As `labels.or(tags)`, else the record itself.
    // An object value is read as the record's object, with its token and
    // the members the parse indexed in it.
    let labels = match labels.or(tags) {
        Some(v) => record
            .object_of(&v)
            .map_or(Labels::Value(v), Labels::Object),
        None => Labels::Record(record),
    };
    // As `gauge.get("value")`: the first `gauge` member, when an object.
    let inner_value = |v: Option<Value<'a>>| {
        v.and_then(|v| match record.object_of(&v) {
            Some(o) => o.get("value"),
            None => v.get("value"),
        })
        .and_then(|v| v.as_f64())
    };
    let value = finite(
        value
            .and_then(|v| v.to_f64_lenient())
            .or_else(|| inner_value(gauge))
            .or_else(|| inner_value(counter)),
    );
    let incremental = kind.and_then(Value::into_str).as_deref() == Some("incremental");
    // A labels object with a token: its identity and facts as kept for it.
    let (identity, token, facts) = match (&labels, memo) {
        (Labels::Object(o), Some(memo)) => {
            let token = o.token();
            let (identity, facts) = memo.get_or_resolve_with(token, o.raw(), || {
                (
                    labels_identity(&labels),
                    LabelFacts::read(&labels).to_byte(),
                )
            });
            (identity, token, Some(LabelFacts::from_byte(facts)))
        }
        _ => {
            let mut id = labels_identity(&labels);
            id.drop_invalid_names();
            (id, None, None)
        }
    };
    let facts = || facts.unwrap_or_else(|| LabelFacts::read(&labels));
    let signal = value.map(|v| {
        let s = classify_labels(&name, facts, v, incremental);
        match (s.name, namespace.and_then(Value::into_str)) {
            // Vector splits Prometheus names into `namespace` + `name`.
            (MetricName::Other, Some(ns)) if !ns.is_empty() => {
                let full = [ns.as_ref(), "_", name.as_ref()].concat();
                classify_labels(&full, facts, v, incremental)
            }
            _ => s,
        }
    });
    (MetricRecord { signal, identity }, token)
}

/// A sample's identity, from its labels alone.
fn labels_identity<'a>(labels: &Labels<'_, 'a>) -> Identity<'a> {
    let [exported_namespace, namespace, pod_namespace, exported_pod, pod, pod_name, exported_container, container, container_name, node, kubernetes_node, instance] =
        labels.get_many(&[
            "exported_namespace",
            "namespace",
            "pod_namespace",
            "exported_pod",
            "pod",
            "pod_name",
            "exported_container",
            "container",
            "container_name",
            "node",
            "kubernetes_node",
            "instance",
        ]);
    let text = |vs: [Option<Value<'a>>; 3]| {
        vs.into_iter()
            .flatten()
            .find_map(|v| v.into_str().filter(|s| !s.is_empty()))
    };
    let namespace = text([exported_namespace, namespace, pod_namespace]);
    let pod = text([exported_pod, pod, pod_name]);
    let container = text([exported_container, container, container_name]).filter(|c| c != "POD");
    let node = text([node, kubernetes_node, None]).or_else(|| {
        text([instance, None, None]).map(|i| match i.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|c| c.is_ascii_digit()) => {
                Cow::Owned(host.to_owned())
            }
            _ => i,
        })
    });
    let ev = PodEvidence {
        pod,
        node,
        ..PodEvidence::default()
    };
    pod_identity(namespace, container, ev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use MetricName::*;

    /// Fluent Bit's `mem` input: `Mem.used` is total minus free RAM (page
    /// cache counted as used), `Mem.free` is `MemAvailable`; the node's
    /// memory is total minus available. Records of Fluent Bit before
    /// `MemAvailable` (used + free = total) read as before.
    #[test]
    fn fluent_bit_mem_leaves_page_cache_out() {
        let cases: &[(&str, Option<f64>)] = &[
            // 16 GiB node, 4 GiB free RAM, 12 GiB available (8 GiB cache).
            (
                r#"{"Mem.total":16777216,"Mem.used":12582912,"Mem.free":12582912}"#,
                Some(25.0),
            ),
            (
                r#"{"Mem.total":100,"Mem.used":75,"Mem.free":25}"#,
                Some(75.0),
            ),
            (r#"{"Mem.total":100,"Mem.used":75}"#, Some(75.0)),
            (
                r#"{"Mem.total":"100","Mem.used":"75","Mem.free":"40"}"#,
                Some(60.0),
            ),
            // A free above the total, or negative, is not read.
            (
                r#"{"Mem.total":100,"Mem.used":75,"Mem.free":250}"#,
                Some(75.0),
            ),
            (
                r#"{"Mem.total":100,"Mem.used":75,"Mem.free":-1}"#,
                Some(75.0),
            ),
            (r#"{"Mem.total":100,"Mem.free":10}"#, Some(90.0)),
            (r#"{"Mem.total":0,"Mem.used":0,"Mem.free":0}"#, None),
        ];
        for (text, want) in cases {
            let rec = Record::parse(text.as_bytes()).unwrap();
            let (m, _) = read_metric_in(&rec, MetricShape::FluentBitMem, b"mem", None);
            let got = m.signal.map(|s| (s.name, s.value));
            assert_eq!(got, want.map(|v| (NodeMemoryPercent, v)), "{text}");
        }
    }

    /// The shapes normalization tells apart, including the container logs
    /// (Fluent Bit `Merge_Log`) whose `name` and `value` members make no
    /// sample.
    #[test]
    fn shapes() {
        let cases: &[(&str, Option<MetricShape>)] = &[
            (r#"{"metric":"x","value":1}"#, Some(MetricShape::Sample)),
            (
                r#"{"name":"x","gauge":{"value":1},"tags":{}}"#,
                Some(MetricShape::Sample),
            ),
            (r#"{"cpu_p":1.5}"#, Some(MetricShape::FluentBitCpu)),
            (r#"{"Mem.total":100}"#, Some(MetricShape::FluentBitMem)),
            (
                r#"{"metric":"x","value":1,"log":"a line"}"#,
                Some(MetricShape::Sample),
            ),
            (r#"{"name":"checkout","value":42,"msg":"mismatch"}"#, None),
            (
                r#"{"metric":"x","value":1,"kubernetes":{"pod_name":"p"}}"#,
                None,
            ),
            (
                r#"{"name":"x","value":1,"log":7}"#,
                Some(MetricShape::Sample),
            ),
            (r#"{"name":"x"}"#, None),
        ];
        for (text, want) in cases {
            let rec = Record::parse(text.as_bytes()).unwrap();
            assert_eq!(shape(&rec), *want, "{text}");
        }
    }

    #[test]
    fn names() {
        // (name, labels, value, incremental, expected name, expected value)
        let cases: &[(&str, &str, f64, bool, MetricName, f64)] = &[
            (
                "container_cpu_usage_seconds_total",
                r#"{"container":"web"}"#,
                12.5,
                false,
                CpuSecondsTotal,
                12.5,
            ),
            (
                "container_cpu_usage_seconds_total",
                r#"{"container":"web"}"#,
                0.5,
                true,
                Other,
                0.5,
            ),
            (
                "container_cpu_usage_seconds_total",
                r#"{"container":""}"#,
                12.5,
                false,
                Other,
                12.5,
            ),
            (
                "container_cpu_usage_seconds_total",
                r#"{"container":"POD"}"#,
                1.0,
                false,
                Other,
                1.0,
            ),
            (
                "container_cpu_usage_seconds_total",
                r#"{"pod":"x"}"#,
                1.0,
                false,
                Other,
                1.0,
            ),
            (
                "container_cpu_usage_seconds_total",
                r#"{"container_name":"web"}"#,
                1.0,
                false,
                CpuSecondsTotal,
                1.0,
            ),
            (
                "container_memory_working_set_bytes",
                r#"{"container":"web"}"#,
                1e8,
                false,
                MemoryWorkingSetBytes,
                1e8,
            ),
            (
                "container_spec_cpu_quota",
                r#"{"container":"web"}"#,
                50_000.0,
                false,
                CpuLimitCores,
                0.5,
            ),
            (
                "container_spec_cpu_quota",
                r#"{"container":"web"}"#,
                -1.0,
                false,
                Other,
                -1.0,
            ),
            (
                "container_spec_memory_limit_bytes",
                r#"{"container":"web"}"#,
                2e8,
                false,
                MemoryLimitBytes,
                2e8,
            ),
            (
                "container_spec_memory_limit_bytes",
                r#"{"container":"web"}"#,
                0.0,
                false,
                Other,
                0.0,
            ),
            (
                "kube_pod_container_resource_limits",
                r#"{"resource":"cpu","unit":"core"}"#,
                2.0,
                false,
                CpuLimitCores,
                2.0,
            ),
            (
                "kube_pod_container_resource_limits",
                r#"{"resource":"memory"}"#,
                1e9,
                false,
                MemoryLimitBytes,
                1e9,
            ),
            (
                "kube_pod_container_resource_limits",
                r#"{"resource":"nvidia.com/gpu"}"#,
                1.0,
                false,
                Other,
                1.0,
            ),
            (
                "kube_pod_container_resource_requests",
                r#"{"resource":"cpu"}"#,
                0.1,
                false,
                CpuRequestCores,
                0.1,
            ),
            (
                "kube_pod_container_resource_requests",
                r#"{"resource":"memory"}"#,
                1e6,
                false,
                MemoryRequestBytes,
                1e6,
            ),
            (
                "kube_pod_container_status_restarts_total",
                "{}",
                3.0,
                false,
                RestartsTotal,
                3.0,
            ),
            (
                "http_requests_total",
                "{}",
                100.0,
                false,
                RequestsTotal,
                100.0,
            ),
            ("node_load1", "{}", 1.0, false, Other, 1.0),
        ];
        for (name, labels, value, inc, want, want_v) in cases {
            let rec = Record::parse(labels.as_bytes()).unwrap();
            let got = classify(name, &rec.as_value(), *value, *inc);
            assert_eq!(
                got,
                MetricSignal {
                    name: *want,
                    value: *want_v
                },
                "{name} {labels}"
            );
        }
    }

    #[test]
    fn labels_are_found_where_the_record_keeps_them() {
        // (record, name (`None`: no usable value), pod, container): `labels`, else `tags`,
        // else the record itself; the first member of a name decides, and a
        // `labels` that is no object hides `tags`.
        let cpu = "container_cpu_usage_seconds_total";
        type Case = (
            String,
            Option<MetricName>,
            Option<&'static str>,
            Option<&'static str>,
        );
        let cases: &[Case] = &[
            (
                format!(
                    r#"{{"metric":"{cpu}","value":1,"labels":{{"pod":"a-1","container":"c"}}}}"#
                ),
                Some(CpuSecondsTotal),
                Some("a-1"),
                Some("c"),
            ),
            (
                format!(
                    r#"{{"name":"{cpu}","counter":{{"value":2}},"kind":"absolute","tags":{{"pod":"b-2","container":"c"}}}}"#
                ),
                Some(CpuSecondsTotal),
                Some("b-2"),
                Some("c"),
            ),
            (
                format!(r#"{{"metric":"{cpu}","value":1,"pod":"t-3","container":"c"}}"#),
                Some(CpuSecondsTotal),
                Some("t-3"),
                Some("c"),
            ),
            (
                format!(
                    r#"{{"metric":"{cpu}","value":1,"labels":"x","tags":{{"pod":"d-4","container":"c"}}}}"#
                ),
                Some(Other),
                None,
                None,
            ),
            (
                format!(
                    r#"{{"metric":"{cpu}","value":1,"labels":{{"pod":"e-5","container":"POD"}},"labels":{{"container":"c"}}}}"#
                ),
                Some(Other),
                Some("e-5"),
                None,
            ),
            (
                format!(
                    r#"{{"name":"{cpu}","gauge":3,"gauge":{{"value":4}},"tags":{{"container":"c"}}}}"#
                ),
                None,
                None,
                Some("c"),
            ),
            (
                format!(
                    r#"{{"name":"{cpu}","gauge":{{"value":5}},"tags":{{"p\u006fd":"f-6","container":"c"}}}}"#
                ),
                Some(CpuSecondsTotal),
                Some("f-6"),
                Some("c"),
            ),
        ];
        for (text, name, pod, container) in cases {
            let rec = Record::parse(text.as_bytes()).unwrap();
            let m = read_metric(&rec, MetricShape::Sample, b"");
            assert_eq!(m.signal.map(|s| s.name), *name, "{text}");
            assert_eq!(m.identity.pod.as_deref(), *pod, "{text}");
            assert_eq!(m.identity.container.as_deref(), *container, "{text}");
        }
    }

    /// Samples whose labels the filter's index remembers read the same on
    /// their first record (resolved, then kept) and every later one (their
    /// identity and what classifying reads from the labels as kept), for
    /// every label that decides a name.
    #[test]
    fn remembered_labels_read_as_fresh_ones() {
        use crate::json::RecordIndex;
        use crate::normalize::IDENTITY_OBJECTS;
        let names = [
            "container_cpu_usage_seconds_total",
            "container_memory_working_set_bytes",
            "kube_pod_container_resource_limits",
            "kube_pod_container_resource_requests",
            "kube_pod_container_status_restarts_total",
            "http_requests_total",
        ];
        let labels = [
            r#""container":"app""#,
            r#""container":"POD""#,
            r#""container":"""#,
            r#""container_name":"app""#,
            r#""resource":"cpu""#,
            r#""resource":"memory""#,
            r#""resource":"gpu""#,
            r#""container":"app","resource":"memory""#,
            r#""exported_container":"x","container":"POD","resource":"cpu""#,
        ];
        let mut index = RecordIndex::remembering(IDENTITY_OBJECTS);
        let mut memo = IdentityMemo::default();
        for round in 0..2 {
            for name in names {
                for (i, l) in labels.iter().enumerate() {
                    for key in ["labels", "tags"] {
                        let text = format!(
                            r#"{{"metric":"{name}","value":2,"{key}":{{"namespace":"n","pod":"p-{i}",{l}}}}}"#
                        );
                        let fresh = Record::parse(text.as_bytes()).unwrap();
                        let want = read_metric(&fresh, MetricShape::Sample, b"");
                        let rec = Record::parse_in(text.as_bytes(), &mut index).unwrap();
                        let (got, token) =
                            read_metric_in(&rec, MetricShape::Sample, b"", Some(&mut memo));
                        assert_eq!(got, want, "{round}: {text}");
                        assert!(token.is_some(), "{text}");
                    }
                }
            }
        }
        for facts in [
            LabelFacts::default(),
            LabelFacts {
                container: true,
                resource: Resource::Other,
            },
            LabelFacts {
                container: false,
                resource: Resource::Memory,
            },
            LabelFacts {
                container: true,
                resource: Resource::Cpu,
            },
        ] {
            assert_eq!(LabelFacts::from_byte(facts.to_byte()), facts);
        }
    }

    #[test]
    fn tags() {
        let cases: &[(&str, Option<&str>)] = &[
            ("node.worker-1.cpu", Some("worker-1")),
            ("metrics.node.worker-2", Some("worker-2")),
            ("kube.node.a.node.b", Some("a")),
            ("cpu.local", None),
            ("cpu.0", None),
            ("node", None),
            ("node.", None),
            ("node..cpu", None),
            ("", None),
        ];
        for (tag, want) in cases {
            assert_eq!(node_from_tag(tag.as_bytes()).as_deref(), *want, "{tag}");
        }
    }
}
