//! Normalization: from the record shapes real pipelines carry to an
//! [`Observation`].
//!
//! Detection, first match wins:
//! 1. **event**: `involvedObject` or `regarding`, and `reason` ([`crate::event`]);
//! 2. **metric**: Fluent Bit `cpu` / `mem` records, or a named sample with a
//!    value ([`crate::metric`]) — but never a record with a `kubernetes`
//!    object (no metric sample carries one), nor one named by `name` beside a
//!    `log` / `message` / `msg` string: with Fluent Bit's `Merge_Log`, a
//!    pino / bunyan line's `name` (the logger's) and any `value` member land
//!    at the top level of a container log;
//! 3. **log**: a `log` / `message` / `msg` line or a `kubernetes` object
//!    (Fluent Bit `tail` + `kubernetes` filter, CRI parser output, Vector
//!    `kubernetes_logs`); the line is read by [`crate::logline`], and the
//!    record's own top-level fields (Fluent Bit's `Merge_Log` puts a JSON
//!    line's fields there, and with `Keep_Log Off` its `msg` is the line) are
//!    read the same way and fill, field by field, what the line left empty; a
//!    level from those fields wins over a level word of the line's free text
//!    (`{"level":"info","msg":"retrying after error: timeout"}` is info). A
//!    line that only continues a stack trace printed one line a record (a
//!    frame such as `\tat com.x.Y.f(Y.java:12)`; see
//!    [`crate::logline::stack_trace`]), or a blank one, is still a log, with
//!    its identity and time, but carries no signal ([`Signal::None`]) unless
//!    the record's fields give one: it is not a line, request or error of
//!    its own;
//! 4. **unknown**: anything else (still timed).
//!
//! Time: the record's `time`, `timestamp`, `@timestamp`, `ts` (events: see
//! [`crate::event`]); for logs then the line's own time field; else
//! `event_time_ns` with [`TimeSource::EventTime`].
//!
//! Identity for logs comes from the `kubernetes` object: Fluent Bit's
//! `pod_name`, `namespace_name`, `container_name`, `host`, `labels`,
//! `ownerReferences`; Vector's `pod_name`, `pod_namespace`, `container_name`,
//! `pod_node_name`, `pod_labels`, `pod_owner`. The workload is resolved as
//! [`crate::identity`] documents.

use std::borrow::Cow;

use crate::event;
use crate::identity::{
    container_log_path_names, container_log_tag_names, owner_from_references, pod_identity,
    split_owner, PodEvidence,
};
use crate::identity_memo::{IdentityMemo, MemoToken};
use crate::json::{length_classes, value_of_raw, Record, Value};
use crate::logline::{self, LineBuffers};
use crate::metric;
use crate::observation::{Identity, Observation, RecordKind, Signal, TimeSource};
use crate::timestamp;

fn first_time(values: &[Option<Value<'_>>]) -> Option<i64> {
    values.iter().flatten().find_map(timestamp::parse_value)
}

fn timed(ts: Option<i64>, event_time_ns: i64) -> (i64, TimeSource) {
    match ts {
        Some(t) => (t, TimeSource::Record),
        None => (event_time_ns, TimeSource::EventTime),
    }
}

/// The top-level keys normalization looks at, read in one pass.
const TOP_KEYS: [&str; 18] = joined(
    [
        // 0..4: time, in order of preference
        "time",
        "timestamp",
        "@timestamp",
        "ts",
        // 4..7: line
        "log",
        "message",
        "msg",
        // 7
        "kubernetes",
        // 8..10: event
        "involvedObject",
        "regarding",
        // 10
        "reason",
    ],
    // 11..18: metric
    metric::SHAPE_KEYS,
);

/// [`TOP_KEYS`] by length, computed once (see [`length_classes`]).
static TOP_KEY_CLASSES: [u64; 32] = length_classes(&TOP_KEYS);

/// `a` then `b`, as one array. Only for constants: evaluated at compile
/// time, lengths that do not add up fail the build.
#[allow(clippy::indexing_slicing)]
const fn joined<const A: usize, const B: usize, const N: usize>(
    a: [&'static str; A],
    b: [&'static str; B],
) -> [&'static str; N] {
    assert!(A + B == N);
    let mut out = [""; N];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

/// The top-level objects identities are read from, which records repeat
/// byte for byte: a container log's `kubernetes` object, a metric sample's
/// `labels` (Vector: `tags`). A record index that remembers them
/// ([`crate::json::RecordIndex::remembering`]) gives normalization their
/// tokens.
pub const IDENTITY_OBJECTS: &[&str] = &["kubernetes", "labels", "tags"];

/// The top-level keys a log line is read from, the first that is a string
/// (in this order). A record index that decodes them
/// ([`crate::json::RecordIndex::decoding`]) decodes the line while it
/// validates the record.
pub const LINE_KEYS: &[&str] = &["log", "message", "msg"];

/// What normalization keeps from record to record: buffers for reading log
/// lines, and the identities of recent [`IDENTITY_OBJECTS`], kept by the
/// token of the object text they were resolved from. Keeping it changes no
/// result, only the work.
#[derive(Debug, Clone, Default)]
pub struct NormalizeCache {
    line: LineBuffers,
    identities: IdentityMemo,
    /// The token of the object the last record's identity came from.
    token: Option<MemoToken>,
}

impl NormalizeCache {
    /// An empty cache.
    pub fn new() -> NormalizeCache {
        NormalizeCache::default()
    }

    /// For the last record normalized, when its identity came from one of
    /// the [`IDENTITY_OBJECTS`] its record index remembers (see
    /// [`crate::json::RecordIndex::remembering`]): the token naming that
    /// object's key and text. Records with equal tokens have equal
    /// identities.
    pub(crate) fn identity_token(&self) -> Option<MemoToken> {
        self.token
    }
}

/// Normalizes one record. `tag` is the pipeline tag; `event_time_ns` is the time
/// the pipeline attached to the record, used when the record has none.
pub fn normalize<'a>(record: &Record<'a>, tag: &[u8], event_time_ns: i64) -> Observation<'a> {
    normalize_in(
        record,
        tag,
        event_time_ns,
        MERGE_LOG_KEY,
        &mut NormalizeCache::new(),
    )
}

/// As [`normalize`], with `cache` kept by the caller (who then allocates
/// nothing per record once its buffers have grown, and resolves each pod's
/// identity once), and the key a merged log line sits under
/// ([`crate::FilterConfig::merge_log_key`]).
///
/// A name Kubernetes would not accept (too long, or with other bytes than
/// its names have) is dropped from the identity (see
/// [`Identity::drop_invalid_names`]), so what a record names is bounded
/// whatever its size, and the heal API accepts the tags.
pub fn normalize_in<'a>(
    record: &Record<'a>,
    tag: &[u8],
    event_time_ns: i64,
    merge_log_key: &str,
    cache: &mut NormalizeCache,
) -> Observation<'a> {
    let obs = normalize_shape(record, tag, event_time_ns, merge_log_key, cache);
    debug_assert!(obs.identity.has_only_valid_names(), "{:?}", obs.identity);
    obs
}

/// [`normalize_in`]'s work. Every identity it returns has its invalid names
/// dropped: those resolved through the cache's memo by the memo (once per
/// object text), the others where they are read.
fn normalize_shape<'a>(
    record: &Record<'a>,
    tag: &[u8],
    event_time_ns: i64,
    merge_log_key: &str,
    cache: &mut NormalizeCache,
) -> Observation<'a> {
    cache.token = None;
    // Raw texts: only the values used below are decoded.
    // Filled in place: returned, the array (144 bytes in the `.wasm`) was
    // copied with a `memory.copy`, a call into wasmtime's runtime.
    let mut top = [None; TOP_KEYS.len()];
    record.get_many_raw_classed(&TOP_KEYS, &TOP_KEY_CLASSES, &mut top);
    let has = |i: usize| top.get(i).is_some_and(Option::is_some);
    let times = || {
        let [a, b, c, d, ..] = top;
        first_time(&[a, b, c, d].map(|raw| raw.and_then(value_of_raw)))
    };
    if (has(8) || has(9)) && has(10) {
        let mut ev = event::read_event(record);
        ev.identity.drop_invalid_names();
        let (ts_ns, ts_source) = timed(ev.ts_ns.or_else(times), event_time_ns);
        return Observation {
            kind: RecordKind::Event,
            ts_ns,
            ts_source,
            identity: ev.identity,
            signal: Signal::Event(ev.signal),
        };
    }
    // The first of `log`, `message`, `msg` that is a string, as its body.
    let line = top
        .get(4..7)
        .unwrap_or(&[])
        .iter()
        .flatten()
        .find_map(|raw| raw.strip_prefix(b"\"")?.strip_suffix(b"\""));
    let maybe_metric =
        has(11) || has(12) || ((has(13) || has(14)) && (has(15) || has(16) || has(17)));
    let shape_raw = || {
        let [.., a, b, c, d, e, f, g] = top;
        [a, b, c, d, e, f, g]
    };
    if let Some(shape) = maybe_metric
        .then(|| metric::shape_of(shape_raw(), has(7), line.is_some()))
        .flatten()
    {
        let (m, token) = metric::read_metric_in(record, shape, tag, Some(&mut cache.identities));
        cache.token = token;
        let (ts_ns, ts_source) = timed(times(), event_time_ns);
        return Observation {
            kind: RecordKind::Metric,
            ts_ns,
            ts_source,
            identity: m.identity,
            signal: m.signal.map_or(Signal::None, Signal::Metric),
        };
    }
    if line.is_none() && !has(7) {
        let (ts_ns, ts_source) = timed(times(), event_time_ns);
        return Observation {
            kind: RecordKind::Unknown,
            ts_ns,
            ts_source,
            identity: Identity::default(),
            signal: Signal::None,
        };
    }
    let mut info = line
        .map(|raw| {
            let line = record.unescaped_in(raw, &mut cache.line.text);
            logline::read_line_in(&line, &mut cache.line.index)
        })
        .unwrap_or_default();
    // Fluent Bit's `Merge_Log` puts a JSON line's members at the top level
    // (and with `Keep_Log Off` its `msg` is the line): they fill, field by
    // field, what the line leaves empty.
    let has_signal_key = record
        .members_raw()
        .any(|(k, _)| logline::may_be_signal_key(k) && logline::is_signal_key(&k.text()));
    if has_signal_key {
        info = info.filled_from(logline::read_record_fields(record));
    }
    // With `Merge_Log_Key` they are under that key instead, and with
    // `Keep_Log Off` there is no line.
    if line.is_none() {
        if let Some(merged @ Value::Object(_)) = record.get(merge_log_key) {
            info = info.filled_from(logline::read_fields(&merged));
        }
    }
    let (ts_ns, ts_source) = timed(times().or(info.ts_ns), event_time_ns);
    let identity = match top
        .get(7)
        .copied()
        .flatten()
        .and_then(|raw| record.object_at(raw))
    {
        Some(k) => {
            cache.token = k.token();
            cache.identities.get_or_resolve(cache.token, k.raw(), || {
                identity_of(k.get_many_raw(&KUBERNETES_KEYS))
            })
        }
        None => identity_from_log_source(record, tag),
    };
    // A line that only continues a stack trace is no line, request or
    // error of its own: it carries no signal (its trace's first line does).
    let signal = if info.continuation {
        Signal::None
    } else {
        Signal::Log(info.signal)
    };
    Observation {
        kind: RecordKind::Log,
        ts_ns,
        ts_source,
        identity,
        signal,
    }
}

/// Identity of a container log without a `kubernetes` object, from the
/// file it was read from: Fluent Bit's pipeline tag
/// ([`container_log_tag_names`]), else Vector's `file`
/// ([`container_log_path_names`]). Namespace, pod, container and the
/// workload the pod name suggests, as for an event about that pod; none
/// when neither names a container log file.
fn identity_from_log_source<'a>(record: &Record<'_>, tag: &[u8]) -> Identity<'a> {
    let path;
    let names = match container_log_tag_names(tag) {
        Some(names) => names,
        None => {
            path = record.get("file").and_then(Value::into_str);
            match path.as_deref().and_then(container_log_path_names) {
                Some(names) => names,
                None => return Identity::default(),
            }
        }
    };
    let owned = |name: &str| Some(Cow::Owned(name.to_owned()));
    let ev = PodEvidence {
        pod: owned(names.pod),
        ..PodEvidence::default()
    };
    let mut id = pod_identity(owned(names.namespace), owned(names.container), ev);
    id.drop_invalid_names();
    id
}

/// The key Fluent Bit's `kubernetes` filter puts a merged JSON line under
/// when `Merge_Log_Key` is set, as its documentation names it: the default
/// of [`crate::FilterConfig::merge_log_key`], and the key Vector's
/// normalizer reads.
pub const MERGE_LOG_KEY: &str = "log_processed";

/// The members of a `kubernetes` object identity is read from (Fluent Bit's
/// and Vector's names), in the order [`identity_of`] takes them.
const KUBERNETES_KEYS: [&str; 11] = [
    "pod_name",
    "namespace_name",
    "pod_namespace",
    "container_name",
    "host",
    "pod_node_name",
    "labels",
    "pod_labels",
    "pod_owner",
    "ownerReferences",
    "owner_references",
];

/// Identity from a Fluent Bit or Vector `kubernetes` object, in one pass.
pub fn kubernetes_identity<'a>(k: &Value<'a>) -> Identity<'a> {
    identity_of(k.get_many_raw(&KUBERNETES_KEYS))
}

/// Identity from the raw values of [`KUBERNETES_KEYS`] (each decoded only
/// when it is used).
fn identity_of<'a>(raw: [Option<&'a [u8]>; 11]) -> Identity<'a> {
    let [pod, namespace, pod_namespace, container, host, pod_node_name, labels, pod_labels, pod_owner, owner_refs, owner_refs_snake] =
        raw;
    let text = |raw: Option<&'a [u8]>| {
        raw.and_then(value_of_raw)
            .and_then(Value::into_str)
            .filter(|s| !s.is_empty())
    };
    let owner = text(pod_owner).and_then(|o| owned_pair(&o)).or_else(|| {
        owner_refs
            .or(owner_refs_snake)
            .and_then(value_of_raw)
            .and_then(|r| owner_from_references(&r))
    });
    let ev = PodEvidence {
        pod: text(pod),
        owner,
        labels: labels.or(pod_labels).and_then(value_of_raw),
        node: text(host).or_else(|| text(pod_node_name)),
    };
    pod_identity(
        text(namespace).or_else(|| text(pod_namespace)),
        text(container),
        ev,
    )
}

/// Splits `Kind/name`, borrowing from the record when `owner` does.
fn owned_pair<'a>(owner: &Cow<'a, str>) -> Option<(Cow<'a, str>, Cow<'a, str>)> {
    match owner {
        Cow::Borrowed(s) => split_owner(s).map(|(k, n)| (Cow::Borrowed(k), Cow::Borrowed(n))),
        Cow::Owned(s) => {
            split_owner(s).map(|(k, n)| (Cow::Owned(k.to_owned()), Cow::Owned(n.to_owned())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::{LogLevel, LogSignal, WorkloadKind};

    const EVENT_NS: i64 = 1_000_000_000_000_000_000;

    /// Fluent Bit's `kubernetes` filter adds nothing when it gets no
    /// metadata (seen in Fluent Bit 4.2.8 with the API server unreachable):
    /// the tag still names the container log's pod, namespace and container.
    #[test]
    fn a_container_log_without_metadata_is_named_by_its_tag() {
        let id = "4f2a".repeat(16);
        let tag = format!("kube.var.log.containers.cart-7d4b9c8f6-x2x9z_shop_app-{id}.log");
        let text = r#"{"time":"2026-11-23T15:11:49.453669339Z","stream":"stdout","_p":"F","log":"{\"level\":\"error\",\"status\":503}"}"#;
        let rec = Record::parse(text.as_bytes()).unwrap();
        let obs = normalize(&rec, tag.as_bytes(), EVENT_NS);
        assert_eq!(obs.kind, RecordKind::Log);
        let id_of = &obs.identity;
        assert_eq!(id_of.namespace.as_deref(), Some("shop"));
        assert_eq!(id_of.pod.as_deref(), Some("cart-7d4b9c8f6-x2x9z"));
        assert_eq!(id_of.container.as_deref(), Some("app"));
        assert_eq!(id_of.workload.as_deref(), Some("cart"));
        assert_eq!(id_of.workload_kind, Some(WorkloadKind::Deployment));
        assert_eq!(id_of.node, None);
        match obs.signal {
            Signal::Log(s) => assert_eq!(s.status, Some(503)),
            ref other => panic!("{other:?}"),
        }

        // A `kubernetes` object, however sparse, is what the record is about.
        let with = r#"{"log":"x","kubernetes":{"pod_name":"web-0","namespace_name":"db"}}"#;
        let rec = Record::parse(with.as_bytes()).unwrap();
        let obs = normalize(&rec, tag.as_bytes(), EVENT_NS);
        assert_eq!(obs.identity.namespace.as_deref(), Some("db"));
        assert_eq!(obs.identity.pod.as_deref(), Some("web-0"));

        // Names Kubernetes would refuse are dropped, as from any source.
        let bad = format!("kube.var.log.containers.cart-7d4b9c8f6-x2x9z_Shop_side_car-{id}.log");
        let rec = Record::parse(br#"{"log":"x"}"#).unwrap();
        let obs = normalize(&rec, bad.as_bytes(), EVENT_NS);
        assert!(obs.identity.has_only_valid_names());
        assert_eq!(obs.identity.namespace, None);
        assert_eq!(obs.identity.container, None);
        assert_eq!(obs.identity.workload.as_deref(), Some("cart"));

        // Other tags name nothing.
        let rec = Record::parse(br#"{"log":"x"}"#).unwrap();
        assert_eq!(
            normalize(&rec, b"kube.x", EVENT_NS).identity,
            Identity::default()
        );

        // Vector's `kubernetes_logs` without pod metadata still writes the
        // file it read: the kubelet's pod log path names the same.
        let vector = r#"{"file":"/var/log/pods/shop_cart-7d4b9c8f6-x2x9z_5b1f0a0e-6f35-4a8e-9c3e-2f0c7d3a1b2c/app/0.log","message":"{\"level\":\"error\",\"status\":503}","source_type":"kubernetes_logs","stream":"stdout","timestamp":"2026-11-23T15:11:49.453669339Z"}"#;
        let rec = Record::parse(vector.as_bytes()).unwrap();
        let obs = normalize(&rec, b"kube.vector", EVENT_NS);
        assert_eq!(obs.identity.namespace.as_deref(), Some("shop"));
        assert_eq!(obs.identity.pod.as_deref(), Some("cart-7d4b9c8f6-x2x9z"));
        assert_eq!(obs.identity.container.as_deref(), Some("app"));
        assert_eq!(obs.identity.workload.as_deref(), Some("cart"));
        match obs.signal {
            Signal::Log(s) => assert_eq!(s.status, Some(503)),
            ref other => panic!("{other:?}"),
        }
        // The tag, when it names a file, comes first.
        let other_tag = format!("kube.var.log.containers.web-0_db_pg-{id}.log");
        let obs = normalize(&rec, other_tag.as_bytes(), EVENT_NS);
        assert_eq!(obs.identity.workload.as_deref(), Some("web"));
        assert_eq!(obs.identity.namespace.as_deref(), Some("db"));
    }

    /// A stack trace's frame, and a blank line, is still a container log of
    /// its pod, at its time, but says nothing: not a line, request or error
    /// of its own. Fields of the record that say something make it a line.
    #[test]
    fn a_stack_trace_continuation_is_a_log_with_no_signal() {
        let k8s = r#""kubernetes":{"pod_name":"shopapi-7d4b9c8f6-x2x9z","namespace_name":"shop","container_name":"api","labels":{"app":"shopapi","pod-template-hash":"7d4b9c8f6"}}"#;
        // (line under `log`, extra members, a continuation)
        let cases: &[(&str, &str, bool)] = &[
            (r"\tat com.example.Layer3.call(Layer3.java:3)", "", true),
            (r"\t... 58 more\n", "", true),
            (r#"  File \"/app/w.py\", line 3, in f"#, "", true),
            ("    raise PaymentException(reply)", "", true),
            ("goroutine 7 [running]:", "", true),
            ("", "", true),
            (r"\n", "", true),
            (r" \t\r\n", "", true),
            ("", r#","level":"error""#, false),
            (
                r"\tat com.example.Layer3.call(Layer3.java:3)",
                r#","level":"error""#,
                false,
            ),
            (
                r"\tat com.example.Layer3.call(Layer3.java:3)",
                r#","level":"bogus""#,
                true,
            ),
            ("org.x.DataAccessException: db down", "", true),
            ("Traceback (most recent call last):", "", true),
            (
                r#"Exception in thread \"main\" org.x.DataAccessException: db down"#,
                "",
                false,
            ),
            ("    INFO worker started", "", false),
        ];
        for (line, extra, continuation) in cases {
            let text = format!(
                r#"{{"time":"2024-05-01T10:00:00.5Z","stream":"stderr","log":"{line}"{extra},{k8s}}}"#
            );
            let rec = Record::parse(text.as_bytes()).unwrap();
            let obs = normalize(&rec, b"kube.var.log", EVENT_NS);
            assert_eq!(obs.kind, RecordKind::Log, "{text}");
            assert_eq!(obs.ts_source, TimeSource::Record, "{text}");
            assert_eq!(obs.identity.workload.as_deref(), Some("shopapi"), "{text}");
            assert_eq!(
                obs.identity.pod.as_deref(),
                Some("shopapi-7d4b9c8f6-x2x9z"),
                "{text}"
            );
            assert_eq!(
                matches!(obs.signal, Signal::None),
                *continuation,
                "{text}: {:?}",
                obs.signal
            );
        }
    }

    #[test]
    fn kinds_and_fallbacks() {
        // (record, tag, kind, ts, source)
        let cases: &[(&str, &str, RecordKind, i64, TimeSource)] = &[
            (
                "{}",
                "x",
                RecordKind::Unknown,
                EVENT_NS,
                TimeSource::EventTime,
            ),
            (
                r#"{"a":1,"ts":1714557600}"#,
                "x",
                RecordKind::Unknown,
                1_714_557_600_000_000_000,
                TimeSource::Record,
            ),
            (
                r#"{"log":"hi","time":"garbage"}"#,
                "x",
                RecordKind::Log,
                EVENT_NS,
                TimeSource::EventTime,
            ),
            (
                r#"{"log":"hi","time":-5}"#,
                "x",
                RecordKind::Log,
                EVENT_NS,
                TimeSource::EventTime,
            ),
            (
                r#"{"log":"{\"ts\":1714557600.5}"}"#,
                "x",
                RecordKind::Log,
                1_714_557_600_500_000_000,
                TimeSource::Record,
            ),
            // MongoDB's line time, `t.$date` (Extended JSON).
            (
                r#"{"log":"{\"t\":{\"$date\":\"2024-05-01T10:00:00.250+00:00\"},\"s\":\"I\",\"msg\":\"m\"}"}"#,
                "x",
                RecordKind::Log,
                1_714_557_600_250_000_000,
                TimeSource::Record,
            ),
            (
                r#"{"@timestamp":"2024-05-01T10:00:00Z","message":"m"}"#,
                "x",
                RecordKind::Log,
                1_714_557_600_000_000_000,
                TimeSource::Record,
            ),
            (
                r#"{"metric":"x","value":"NaN"}"#,
                "x",
                RecordKind::Metric,
                EVENT_NS,
                TimeSource::EventTime,
            ),
        ];
        for (text, tag, kind, ts, source) in cases {
            let rec = Record::parse(text.as_bytes()).unwrap();
            let obs = normalize(&rec, tag.as_bytes(), EVENT_NS);
            assert_eq!(
                (obs.kind, obs.ts_ns, obs.ts_source),
                (*kind, *ts, *source),
                "{text}"
            );
        }
    }

    #[test]
    fn merged_fields_are_read() {
        let text = r#"{"log":"request done","level":"error","status":503,"method":"GET"}"#;
        let s = log_signal(text);
        assert_eq!(
            (s.level, s.status, s.is_request),
            (Some(LogLevel::Error), Some(503), true)
        );
    }

    /// Static (mirror) pods, `<name>-<node>`: a log with
    /// `kubernetes.host` read `kube-apiserver-node-1` as a StatefulSet
    /// `kube-apiserver-node`, and with a `Node` owner reference as the node.
    /// Logs, events and samples now name `kube-apiserver`, kind Unknown.
    #[test]
    fn static_pods_are_named_without_their_node() {
        let pod = "kube-apiserver-node-1";
        let want = Some(("kube-apiserver".to_owned(), WorkloadKind::Unknown));
        let labels = r#"{"component":"kube-apiserver","tier":"control-plane"}"#;
        assert_eq!(workload_of(&pod_log(pod, labels)), want, "log");
        let owned = r#"{"log":"x","kubernetes":{"pod_name":"kube-apiserver-node-1","namespace_name":"kube-system","ownerReferences":[{"kind":"Node","name":"node-1","controller":true}]}}"#;
        assert_eq!(workload_of(owned), want, "log with a Node owner");
        let vector = r#"{"message":"x","kubernetes":{"pod_name":"kube-apiserver-node-1","pod_namespace":"kube-system","pod_node_name":"node-1","pod_owner":"Node/node-1"}}"#;
        assert_eq!(workload_of(vector), want, "Vector log");
        assert_eq!(workload_of(&pod_event(pod)), want, "event");
        assert_eq!(workload_of(&pod_sample(pod)), want, "metric");
    }

    /// Fluent Bit `Merge_Log On` (the Helm chart's default) with a pino
    /// line: its `name` (the logger's) and a `value` member made the
    /// container log a metric sample, without its identity and level.
    #[test]
    fn merged_log_with_name_and_value_is_not_a_metric() {
        let cases: &[(&str, RecordKind)] = &[
            (
                r#"{"time":"2024-05-01T10:00:00Z","stream":"stdout","level":50,"name":"checkout","msg":"cart total mismatch","value":42,"kubernetes":{"pod_name":"cart-7d4b9c8f6-x2x9z","namespace_name":"shop","labels":{"app":"cart","pod-template-hash":"7d4b9c8f6"},"host":"node-1"}}"#,
                RecordKind::Log,
            ),
            // A `kubernetes` object alone, or `name` beside a line.
            (
                r#"{"name":"checkout","value":42,"kubernetes":{"pod_name":"cart-7d4b9c8f6-x2x9z"}}"#,
                RecordKind::Log,
            ),
            (
                r#"{"name":"checkout","value":42,"msg":"x"}"#,
                RecordKind::Log,
            ),
            (
                r#"{"name":"checkout","gauge":{"value":1},"log":"x"}"#,
                RecordKind::Log,
            ),
            // Samples: no `kubernetes`, and a line only beside `metric`.
            (r#"{"name":"checkout","value":42}"#, RecordKind::Metric),
            (
                r#"{"name":"checkout","value":42,"msg":7}"#,
                RecordKind::Metric,
            ),
            (
                r#"{"metric":"up","value":1,"message":"x"}"#,
                RecordKind::Metric,
            ),
        ];
        for (text, kind) in cases {
            let rec = Record::parse(text.as_bytes()).unwrap();
            let obs = normalize(&rec, b"kube.x", EVENT_NS);
            assert_eq!(obs.kind, *kind, "{text}");
        }
        let (text, _) = cases[0];
        let rec = Record::parse(text.as_bytes()).unwrap();
        let obs = normalize(&rec, b"kube.x", EVENT_NS);
        assert_eq!(obs.identity.workload.as_deref(), Some("cart"));
        assert_eq!(obs.identity.workload_kind, Some(WorkloadKind::Deployment));
        assert!(
            matches!(obs.signal, Signal::Log(l) if l.level == Some(LogLevel::Error)),
            "{obs:?}"
        );
    }

    /// `Merge_Log On`, `Keep_Log Off`: the line read is the app's `msg`;
    /// when it had a level word, the merged status and latency were not
    /// read at all. Now the merged fields fill what the line left empty,
    /// and their level wins over the line's level word.
    #[test]
    fn merged_fields_are_read_when_the_line_has_a_level_word() {
        // (record, level, status, latency, request)
        type Want = (Option<LogLevel>, Option<u16>, Option<f64>, bool);
        let cases: &[(&str, Want)] = &[
            (
                r#"{"level":"error","msg":"upstream error: connection reset by peer","method":"POST","path":"/api/pay","status":502,"latency_ms":1500,"kubernetes":{"pod_name":"pay-7d4b9c8f6-x2x9z"}}"#,
                (Some(LogLevel::Error), Some(502), Some(1500.0), true),
            ),
            // A structured level wins over the message's word.
            (
                r#"{"level":"info","msg":"retrying after error: timeout"}"#,
                (Some(LogLevel::Info), None, None, false),
            ),
            // The line's own fields stay; the record fills the rest.
            (
                r#"{"log":"{\"level\":\"warn\",\"status\":404}","level":"error","latency_ms":5,"status":500}"#,
                (Some(LogLevel::Warn), Some(404), Some(5.0), true),
            ),
            (
                r#"{"log":"GET /x 503 in 12ms","level":"warn"}"#,
                (Some(LogLevel::Warn), Some(503), Some(12.0), true),
            ),
            (
                r#"{"log":"10.0.0.1 - - [01/May/2024:10:00:00 +0000] \"GET / HTTP/1.1\" 200 612","level":"info","latency_ms":7}"#,
                (Some(LogLevel::Info), Some(200), Some(7.0), true),
            ),
            // A level word, and no structured level: the word.
            (
                r#"{"log":"ERROR boom","status":503}"#,
                (Some(LogLevel::Error), Some(503), None, false),
            ),
        ];
        for (text, (level, status, latency, request)) in cases {
            let s = log_signal(text);
            assert_eq!(
                (s.level, s.status, s.latency_ms, s.is_request),
                (*level, *status, *latency, *request),
                "{text}"
            );
        }
    }

    #[test]
    fn identity_borrows_from_the_record() {
        let text = r#"{"log":"x","kubernetes":{"pod_name":"web-7d4b9c8f6-x2x9z","namespace_name":"shop"}}"#;
        let rec = Record::parse(text.as_bytes()).unwrap();
        let obs = normalize(&rec, b"", EVENT_NS);
        assert!(matches!(obs.identity.workload, Some(Cow::Borrowed("web"))));
        assert!(matches!(
            obs.identity.namespace,
            Some(Cow::Borrowed("shop"))
        ));
        assert_eq!(obs.identity.workload_kind, Some(WorkloadKind::Deployment));
    }

    #[test]
    fn the_metric_members_are_the_ones_metric_shape_reads() {
        assert_eq!(TOP_KEYS.get(11..18), Some(&metric::SHAPE_KEYS[..]));
        assert_eq!(TOP_KEYS.get(4..7), Some(LINE_KEYS));
    }

    /// The workload a record names, with its kind.
    fn workload_of(text: &str) -> Option<(String, WorkloadKind)> {
        let rec = Record::parse(text.as_bytes()).unwrap();
        let obs = normalize(&rec, b"kube.x", EVENT_NS);
        let id = obs.identity;
        id.workload.map(String::from).zip(id.workload_kind)
    }

    /// A kubelet `BackOff` event about `pod` in `shop` (pod name only).
    fn pod_event(pod: &str) -> String {
        format!(
            r#"{{"metadata":{{"name":"{pod}.17c9a1b2c3d4e5f6","namespace":"shop"}},"involvedObject":{{"kind":"Pod","namespace":"shop","name":"{pod}","fieldPath":"spec.containers{{app}}"}},"reason":"BackOff","message":"Back-off restarting failed container app","source":{{"component":"kubelet","host":"node-1"}},"lastTimestamp":"2024-05-01T10:00:02Z","count":7,"type":"Warning"}}"#
        )
    }

    /// A cAdvisor sample about `pod` (pod name only).
    fn pod_sample(pod: &str) -> String {
        format!(
            r#"{{"name":"container_memory_working_set_bytes","tags":{{"container":"app","namespace":"shop","pod":"{pod}","node":"node-1"}},"kind":"absolute","gauge":{{"value":268435456.0}}}}"#
        )
    }

    /// A Fluent Bit container log of `pod` with `labels`.
    fn pod_log(pod: &str, labels: &str) -> String {
        format!(
            r#"{{"log":"ERROR boom","kubernetes":{{"pod_name":"{pod}","namespace_name":"shop","labels":{labels},"host":"node-1","container_name":"app"}}}}"#
        )
    }

    /// One pod in ~854 draws an all-digit 5-character suffix; its events
    /// and samples were read as a StatefulSet `<name>-<rs hash>` (ordinal
    /// 24567) while its logs said Deployment `<name>`.
    #[test]
    fn all_digit_pod_suffix_is_not_a_statefulset_ordinal() {
        use WorkloadKind::*;
        let pod = "web-7d4b9c8f6-24567";
        let want = Some(("web".to_owned(), Deployment));
        let labels = r#"{"app":"web","pod-template-hash":"7d4b9c8f6"}"#;
        assert_eq!(workload_of(&pod_log(pod, labels)), want, "log");
        assert_eq!(workload_of(&pod_event(pod)), want, "event");
        assert_eq!(workload_of(&pod_sample(pod)), want, "metric");
        let ds = "fluent-bit-45678";
        let want = Some(("fluent-bit".to_owned(), DaemonSet));
        assert_eq!(workload_of(&pod_event(ds)), want, "daemonset event");
        assert_eq!(workload_of(&pod_sample(ds)), want, "daemonset metric");
    }

    /// A Deployment with a long name: the name generator cuts
    /// `<name>-<hash>-` to 58 bytes before the 5 random characters. Every
    /// pod was its own workload of kind unknown.
    #[test]
    fn pods_of_a_long_deployment_name_its_deployment() {
        let pod = "payment-reconciliation-worker-checkout-service-v2-5f9c7d8bx2x9z";
        let want = Some((
            "payment-reconciliation-worker-checkout-service-v2".to_owned(),
            WorkloadKind::Deployment,
        ));
        let labels = r#"{"app":"pay","pod-template-hash":"5f9c7d8b4d"}"#;
        assert_eq!(workload_of(&pod_log(pod, labels)), want, "log");
        assert_eq!(workload_of(&pod_event(pod)), want, "event");
        assert_eq!(workload_of(&pod_sample(pod)), want, "metric");
    }

    /// The log signal of a record.
    fn log_signal(text: &str) -> LogSignal {
        log_signal_under(text, MERGE_LOG_KEY)
    }

    /// As [`log_signal`], with `merge_log_key` configured.
    fn log_signal_under(text: &str, merge_log_key: &str) -> LogSignal {
        let rec = Record::parse(text.as_bytes()).unwrap();
        let mut cache = NormalizeCache::new();
        match normalize_in(&rec, b"kube.x", EVENT_NS, merge_log_key, &mut cache).signal {
            Signal::Log(s) => s,
            other => panic!("{other:?}"),
        }
    }

    /// Elastic Common Schema loggers (ecs-logging, ecs-morgan-format) nest
    /// the status two levels deep, `http.response.status_code`, or write
    /// dotted keys; the path is `url.path` / `url.original`.
    #[test]
    fn ecs_http_fields_are_read() {
        let k = r#""kubernetes":{"pod_name":"pay-7d4b9c8f6-x2x9z","namespace_name":"shop"}"#;
        let nested = format!(
            r#"{{"log":"{{\"log.level\":\"error\",\"message\":\"POST /api/pay 503\",\"http\":{{\"version\":\"1.1\",\"request\":{{\"method\":\"POST\"}},\"response\":{{\"status_code\":503}}}},\"url\":{{\"path\":\"/api/pay\"}}}}",{k}}}"#
        );
        let dotted = format!(
            r#"{{"log":"{{\"log.level\":\"warn\",\"http.request.method\":\"GET\",\"http.response.status_code\":429}}",{k}}}"#
        );
        // Merged at the top level (`Merge_Log On`, `Keep_Log Off`); only the url says request.
        let merged = format!(
            r#"{{"message":"done","http":{{"response":{{"status_code":200}}}},"url":{{"path":"/x"}},{k}}}"#
        );
        let cases = [
            (nested, Some(LogLevel::Error), Some(503)),
            (dotted, Some(LogLevel::Warn), Some(429)),
            (merged, None, Some(200)),
        ];
        for (text, level, status) in cases {
            let s = log_signal(&text);
            assert_eq!(
                (s.level, s.status, s.is_request),
                (level, status, true),
                "{text}"
            );
        }
    }

    /// `Merge_Log On` with `Merge_Log_Key log_processed` and `Keep_Log Off`:
    /// the line's members are under `log_processed` and there is no line.
    #[test]
    fn merge_log_key_members_are_read() {
        let k = r#""kubernetes":{"pod_name":"pay-7d4b9c8f6-x2x9z","namespace_name":"shop"}"#;
        let text = format!(
            r#"{{"stream":"stdout","log_processed":{{"level":"error","msg":"charge failed","status":502,"method":"POST","latency_ms":900}},{k}}}"#
        );
        let s = log_signal(&text);
        assert_eq!(
            (s.level, s.status, s.latency_ms, s.is_request),
            (Some(LogLevel::Error), Some(502), Some(900.0), true)
        );
        // Another `Merge_Log_Key` (`FilterConfig::merge_log_key`).
        let custom = text.replace("log_processed", "app_json");
        let s = log_signal_under(&custom, "app_json");
        assert_eq!((s.level, s.status), (Some(LogLevel::Error), Some(502)));
        assert_eq!(
            log_signal(&custom).status,
            None,
            "the default key is another"
        );
        // With `Keep_Log On` the line is read, and decides.
        let kept = format!(
            r#"{{"log":"WARN slow","log_processed":{{"level":"error","status":502}},{k}}}"#
        );
        let s = log_signal(&kept);
        assert_eq!((s.level, s.status), (Some(LogLevel::Warn), None));
    }

    /// ingress-nginx's default access log: `$request_time` comes after
    /// `$request_length`, not last (a `500` the controller answered itself,
    /// no upstream tried; a proxied request's status and time are its
    /// backend's, see `logline/access_log.rs`).
    #[test]
    fn ingress_nginx_request_time_is_read() {
        let text = r#"{"log":"10.0.0.1 - - [01/May/2024:10:00:00 +0000] \"GET /api/items HTTP/1.1\" 500 160 \"-\" \"curl/8.5.0\" 87 0.512 [shop-web-80] [] - - - - 0d1b5a8e","kubernetes":{"pod_name":"ingress-nginx-controller-5d88495688-x2x9z","namespace_name":"ingress-nginx"}}"#;
        let s = log_signal(text);
        assert_eq!((s.status, s.latency_ms), (Some(500), Some(512.0)));
    }

    /// A CronJob's pods (`<cronjob>-<minutes>-<5>`): their logs (label
    /// `job-name`) named Job `<cronjob>`, their events and samples a new
    /// DaemonSet `<cronjob>-<minutes>` each run.
    #[test]
    fn cronjob_pod_events_and_metrics_name_the_cronjob() {
        let pod = "backup-28571040-x2x9z";
        let want = Some(("backup".to_owned(), WorkloadKind::Job));
        let labels = r#"{"batch.kubernetes.io/job-name":"backup-28571040","job-name":"backup-28571040","controller-uid":"u1"}"#;
        assert_eq!(workload_of(&pod_log(pod, labels)), want, "log");
        assert_eq!(workload_of(&pod_event(pod)), want, "event");
        assert_eq!(workload_of(&pod_sample(pod)), want, "metric");
        // A CronJob of 50 bytes: its pod names are cut to 63
        // (`<cronjob>-2857104<5>`); logs, events and samples still agree.
        let cronjob = "nightly-reconcile-payments-ledger-and-invoices-eu1";
        assert_eq!(cronjob.len(), 50);
        let pod = format!("{cronjob}-2857104x2x9z");
        let want = Some((cronjob.to_owned(), WorkloadKind::Job));
        let labels = format!(r#"{{"batch.kubernetes.io/job-name":"{cronjob}-28571040"}}"#);
        assert_eq!(workload_of(&pod_log(&pod, &labels)), want, "long log");
        assert_eq!(workload_of(&pod_event(&pod)), want, "long event");
        assert_eq!(workload_of(&pod_sample(&pod)), want, "long metric");
    }

    #[test]
    fn shape_fixtures() {
        use crate::observation::{EventReason, MetricName};
        use WorkloadKind::*;
        let fixtures = include_str!("../tests/fixtures/shapes/mixed.ndjson");
        // (kind, time, namespace, workload, pod, node, signal check)
        type Check = fn(&Signal) -> bool;
        type Want<'s> = (
            RecordKind,
            &'s str,
            Option<&'s str>,
            Option<(&'s str, WorkloadKind)>,
            Option<&'s str>,
            Option<&'s str>,
            Check,
        );
        let want: &[Want<'_>] = &[
            (
                RecordKind::Log,
                "2024-05-01T10:00:00.123456789Z",
                Some("shop"),
                Some(("web", Deployment)),
                Some("web-7d4b9c8f6-x2x9z"),
                Some("node-1"),
                |s| matches!(s, Signal::Log(l) if l.is_request && l.status == Some(200) && l.latency_ms == Some(12.0)),
            ),
            (
                RecordKind::Log,
                "2024-05-01T10:00:00.2Z",
                Some("ops"),
                Some(("controller", StatefulSet)),
                Some("controller-0"),
                Some("node-2"),
                |s| matches!(s, Signal::Log(l) if l.level == Some(LogLevel::Error)),
            ),
            (
                RecordKind::Log,
                "2024-05-01T10:00:00.500057Z",
                Some("shop"),
                Some(("cart", Deployment)),
                Some("cart-vxm8jf9wsd-x2x9z"),
                Some("node-2"),
                |s| matches!(s, Signal::Log(l) if l.is_request && l.status == Some(503) && l.latency_ms == Some(41.2) && l.level == Some(LogLevel::Error)),
            ),
            (
                RecordKind::Log,
                "2024-05-01T10:00:01Z",
                Some("shop"),
                Some(("orders", Deployment)),
                Some("orders-5f9c7d8b4d-qwh4z"),
                Some("node-1"),
                |s| matches!(s, Signal::Log(l) if l.level == Some(LogLevel::Warn) && l.latency_ms == Some(1500.0)),
            ),
            (
                RecordKind::Log,
                "2024-05-01T10:00:01.5Z",
                Some("batch"),
                Some(("worker", Job)),
                Some("worker-x2x9z"),
                Some("node-3"),
                // Python's traceback header continues the line that reported
                // the exception (see `logline::stack_trace`).
                |s| matches!(s, Signal::None),
            ),
            (
                RecordKind::Event,
                "2024-05-01T10:00:02Z",
                Some("shop"),
                Some(("web", Deployment)),
                Some("web-7d4b9c8f6-x2x9z"),
                Some("node-1"),
                |s| matches!(s, Signal::Event(e) if e.reason == EventReason::BackOff && e.count == 7 && e.warning),
            ),
            (
                RecordKind::Event,
                "2024-05-01T10:00:03.5Z",
                Some("data"),
                Some(("db", StatefulSet)),
                Some("db-0"),
                Some("node-3"),
                |s| matches!(s, Signal::Event(e) if e.reason == EventReason::OomKilled && e.count == 3),
            ),
            (
                RecordKind::Metric,
                "2024-05-01T10:00:04Z",
                Some("shop"),
                Some(("web", Deployment)),
                Some("web-7d4b9c8f6-x2x9z"),
                Some("node-1"),
                |s| matches!(s, Signal::Metric(m) if m.name == MetricName::CpuSecondsTotal && m.value == 1234.5),
            ),
            (
                RecordKind::Metric,
                "2024-05-01T10:00:04Z",
                Some("shop"),
                Some(("cart", Deployment)),
                Some("cart-vxm8jf9wsd-x2x9z"),
                Some("node-2"),
                |s| matches!(s, Signal::Metric(m) if m.name == MetricName::MemoryWorkingSetBytes && m.value == 268_435_456.0),
            ),
            (
                RecordKind::Metric,
                "2024-05-01T10:00:04Z",
                Some("shop"),
                Some(("web", Deployment)),
                Some("web-7d4b9c8f6-x2x9z"),
                None,
                |s| matches!(s, Signal::Metric(m) if m.name == MetricName::CpuLimitCores && m.value == 0.5),
            ),
            (
                RecordKind::Metric,
                "",
                None,
                Some(("worker-9", Node)),
                None,
                Some("worker-9"),
                |s| matches!(s, Signal::Metric(m) if m.name == MetricName::NodeCpuPercent && m.value == 37.5),
            ),
            (
                RecordKind::Metric,
                "",
                None,
                Some(("node-1", Node)),
                None,
                Some("node-1"),
                |s| matches!(s, Signal::Metric(m) if m.name == MetricName::NodeMemoryPercent && (m.value - 75.0).abs() < 1e-3),
            ),
        ];
        let lines: Vec<&str> = fixtures.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), want.len());
        for (line, (kind, time, ns, workload, pod, node, check)) in lines.iter().zip(want) {
            let rec = Record::parse(line.as_bytes()).unwrap();
            let obs = normalize(&rec, b"node.worker-9.cpu", EVENT_NS);
            let id = &obs.identity;
            let ts = match *time {
                "" => EVENT_NS,
                t => timestamp::parse_rfc3339(t).unwrap(),
            };
            assert_eq!(obs.kind, *kind, "{line}");
            assert_eq!(obs.ts_ns, ts, "{line}");
            assert_eq!(id.namespace.as_deref(), *ns, "{line}");
            assert_eq!(
                id.workload.as_deref().zip(id.workload_kind),
                *workload,
                "{line}"
            );
            assert_eq!(id.pod.as_deref(), *pod, "{line}");
            assert_eq!(id.node.as_deref(), *node, "{line}");
            assert!(check(&obs.signal), "{line}: {:?}", obs.signal);
        }
    }
}
