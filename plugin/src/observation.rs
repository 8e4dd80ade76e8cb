//! What normalization extracts from one record: its kind, its time, who it is
//! about, and the one signal it carries.
//!
//! An [`Observation`] borrows from the record text wherever it can (strings
//! without escapes), so normalizing a record allocates only for escaped
//! strings and derived names.

use std::borrow::Cow;

/// The kind of a record, as written to the `edgeheal.kind` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// A container log line (Fluent Bit `tail`, Vector `kubernetes_logs`, ...).
    Log,
    /// A metric sample carried as a record.
    Metric,
    /// A Kubernetes event.
    Event,
    /// Anything else, including records that could not be read.
    Unknown,
}

impl RecordKind {
    /// The tag value (`log`, `metric`, `event`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Log => "log",
            RecordKind::Metric => "metric",
            RecordKind::Event => "event",
            RecordKind::Unknown => "unknown",
        }
    }
}

/// Where the timestamp of an observation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// A field of the record (`time`, `timestamp`, `@timestamp`, `ts`, ...).
    Record,
    /// The event time the pipeline passed with the record.
    EventTime,
}

/// The controller kind a workload name was derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkloadKind {
    /// A Deployment (pod name `<workload>-<rs hash>-<pod hash>`, or labels).
    Deployment,
    /// A StatefulSet (pod name `<workload>-<ordinal>`).
    StatefulSet,
    /// A DaemonSet (pod name `<workload>-<5 char hash>`).
    DaemonSet,
    /// An Argo Rollout (`argoproj.io/v1alpha1`; its pods carry
    /// `rollouts-pod-template-hash`, and are named as a Deployment's).
    Rollout,
    /// A Job or CronJob pod.
    Job,
    /// A node (node-level metrics such as Fluent Bit `cpu` / `mem`).
    Node,
    /// The workload could not be determined more precisely than the pod.
    Unknown,
}

impl WorkloadKind {
    /// Lower-case name, as used in tags and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployment",
            WorkloadKind::StatefulSet => "statefulset",
            WorkloadKind::DaemonSet => "daemonset",
            WorkloadKind::Rollout => "rollout",
            WorkloadKind::Job => "job",
            WorkloadKind::Node => "node",
            WorkloadKind::Unknown => "unknown",
        }
    }
}

/// Who a record is about. Every field is optional: records carry what they carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity<'a> {
    /// Kubernetes namespace.
    pub namespace: Option<Cow<'a, str>>,
    /// Workload name (Deployment, StatefulSet, DaemonSet, Job, or node name).
    pub workload: Option<Cow<'a, str>>,
    /// What kind of controller `workload` names.
    pub workload_kind: Option<WorkloadKind>,
    /// Pod name.
    pub pod: Option<Cow<'a, str>>,
    /// Container name.
    pub container: Option<Cow<'a, str>>,
    /// Node (host) name.
    pub node: Option<Cow<'a, str>>,
}

/// The longest namespace or container name Kubernetes accepts (an RFC 1123
/// label).
pub const MAX_LABEL_NAME: usize = 63;

/// The longest pod, workload or node name Kubernetes accepts (an RFC 1123
/// subdomain).
pub const MAX_OBJECT_NAME: usize = 253;

/// Whether `s` is an RFC 1123 label, as Kubernetes names namespaces and
/// containers: 1 to 63 lower-case letters, digits and `-`, a letter or
/// digit at each end.
pub fn is_dns1123_label(s: &[u8]) -> bool {
    let ends = |c: Option<&u8>| c.is_some_and(|&c| c != b'-');
    s.len() <= MAX_LABEL_NAME
        && ends(s.first())
        && ends(s.last())
        && s.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// Whether `s` is an RFC 1123 subdomain, as Kubernetes names pods,
/// workloads and nodes: labels joined by `.`, at most 253 bytes in all.
pub fn is_dns1123_subdomain(s: &[u8]) -> bool {
    s.len() <= MAX_OBJECT_NAME && s.split(|&c| c == b'.').all(is_dns1123_label)
}

impl Identity<'_> {
    /// Drops every name Kubernetes would not accept for it (see
    /// [`is_dns1123_label`], [`is_dns1123_subdomain`]): such a name is no
    /// object's, the heal API refuses tags that carry one (and the batch
    /// with them), and keeping one of any length would let a record's text
    /// size the filter's state and tags. A workload that goes takes its
    /// kind along.
    pub fn drop_invalid_names(&mut self) {
        fn keep_if(name: &mut Option<Cow<'_, str>>, valid: fn(&[u8]) -> bool) {
            if name.as_ref().is_some_and(|n| !valid(n.as_bytes())) {
                *name = None;
            }
        }
        keep_if(&mut self.namespace, is_dns1123_label);
        keep_if(&mut self.container, is_dns1123_label);
        keep_if(&mut self.pod, is_dns1123_subdomain);
        keep_if(&mut self.node, is_dns1123_subdomain);
        keep_if(&mut self.workload, is_dns1123_subdomain);
        if self.workload.is_none() {
            self.workload_kind = None;
        }
    }

    /// Whether every name is one Kubernetes would accept for it: what
    /// [`Identity::drop_invalid_names`] leaves as it is (for checks; it
    /// clones the identity).
    pub fn has_only_valid_names(&self) -> bool {
        let mut checked = self.clone();
        checked.drop_invalid_names();
        checked == *self
    }
}

/// Severity of a log line, from a level field or level words in free text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// trace / debug.
    Debug,
    /// info / notice.
    Info,
    /// warn / warning.
    Warn,
    /// error / err.
    Error,
    /// fatal / critical / panic / emerg / alert.
    Fatal,
}

/// What a log line says about the service that wrote it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LogSignal {
    /// Level from a level field or level words; `None` when the line has none.
    pub level: Option<LogLevel>,
    /// HTTP status when the line is a request log.
    pub status: Option<u16>,
    /// Request latency in milliseconds, whatever unit the line used.
    pub latency_ms: Option<f64>,
    /// The line describes one served request (access log, JSON request log).
    pub is_request: bool,
}

impl LogSignal {
    /// A line counts as an error when its status is 5xx or its level is error or worse.
    pub fn is_error(&self) -> bool {
        matches!(self.status, Some(s) if s >= 500)
            || matches!(self.level, Some(LogLevel::Error | LogLevel::Fatal))
    }
}

/// The `reason` of a Kubernetes event, where edgeheal cares about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventReason {
    /// `BackOff` / `CrashLoopBackOff`: a container keeps failing to start.
    BackOff,
    /// `OOMKilling` (node) or `OOMKilled`: a container was killed for memory.
    OomKilled,
    /// `Unhealthy`: a probe failed.
    Unhealthy,
    /// `Killing`: the kubelet stops a container.
    Killing,
    /// `Evicted`.
    Evicted,
    /// `FailedScheduling`.
    FailedScheduling,
    /// `Started` (a container (re)started).
    Started,
    /// Any other reason.
    Other,
}

/// What a Kubernetes event says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventSignal {
    /// The reason, classified.
    pub reason: EventReason,
    /// `count` / `series.count` when present, else 1.
    pub count: u32,
    /// `type: Warning`.
    pub warning: bool,
    /// Which version of which Event object this is: hashes of
    /// `metadata.uid` and `metadata.resourceVersion`, when it has both.
    pub version: Option<(u64, u64)>,
    /// The subject's `fieldPath` names an init container
    /// (`spec.initContainers{istio-init}`), not one of the pod's regular
    /// containers.
    pub init_container: bool,
}

/// The metrics edgeheal understands, in canonical units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricName {
    /// Cumulative CPU seconds (`container_cpu_usage_seconds_total`): a counter, turned into a rate by the entity state.
    CpuSecondsTotal,
    /// CPU usage in cores (a gauge, already a rate).
    CpuCores,
    /// CPU limit in cores.
    CpuLimitCores,
    /// CPU request in cores.
    CpuRequestCores,
    /// Memory working set in bytes (`container_memory_working_set_bytes`).
    MemoryWorkingSetBytes,
    /// Memory limit in bytes.
    MemoryLimitBytes,
    /// Memory request in bytes.
    MemoryRequestBytes,
    /// Node CPU utilisation in percent of all cores (Fluent Bit `cpu` input `cpu_p`).
    NodeCpuPercent,
    /// Node memory in use (total minus available, `Mem.free`) in percent of
    /// total (Fluent Bit `mem` input).
    NodeMemoryPercent,
    /// Container restarts (`kube_pod_container_status_restarts_total`): a counter.
    RestartsTotal,
    /// Requests served (`http_requests_total` and friends): a counter.
    RequestsTotal,
    /// Any other metric: kept as a metric record, not used for features.
    Other,
}

/// One metric sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricSignal {
    /// Which metric, classified.
    pub name: MetricName,
    /// Its value in the canonical unit of `name`.
    pub value: f64,
}

/// The signal a record carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// A log line.
    Log(LogSignal),
    /// A Kubernetes event.
    Event(EventSignal),
    /// A metric sample.
    Metric(MetricSignal),
    /// Nothing usable: a record that could not be read as a signal, or a
    /// log line that only continues a stack trace (its frames, `Caused by:`;
    /// see [`crate::logline::stack_trace`]), which belongs to the line that
    /// started the trace, or a blank log line.
    None,
}

/// Everything normalization extracts from one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation<'a> {
    /// Record kind.
    pub kind: RecordKind,
    /// Time in nanoseconds since the Unix epoch, UTC.
    pub ts_ns: i64,
    /// Where `ts_ns` came from.
    pub ts_source: TimeSource,
    /// Who the record is about.
    pub identity: Identity<'a>,
    /// The signal it carries.
    pub signal: Signal,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_names() {
        let long_label = "a".repeat(63);
        let too_long_label = "a".repeat(64);
        let long_name = [long_label.as_str(); 3].join(".") + "." + &"a".repeat(61);
        let too_long_name = long_name.clone() + "a";
        assert_eq!(long_name.len(), 253);
        // (name, label, subdomain)
        let cases: &[(&str, bool, bool)] = &[
            ("web", true, true),
            ("0web-1", true, true),
            ("a", true, true),
            (&long_label, true, true),
            (&too_long_label, false, false),
            ("web.example", false, true),
            (&long_name, false, true),
            (&too_long_name, false, false),
            ("", false, false),
            ("-web", false, false),
            ("web-", false, false),
            ("Web", false, false),
            ("web_1", false, false),
            ("web..1", false, false),
            (".web", false, false),
            ("web.", false, false),
            ("wéb", false, false),
            ("web 1", false, false),
        ];
        for (name, label, subdomain) in cases {
            assert_eq!(is_dns1123_label(name.as_bytes()), *label, "{name}");
            assert_eq!(is_dns1123_subdomain(name.as_bytes()), *subdomain, "{name}");
        }
    }
}
