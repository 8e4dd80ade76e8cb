//! A deterministic generator of the mixed record stream a node's pipeline
//! carries: Fluent Bit `tail` + `kubernetes` container logs (JSON, access-log
//! and free-text lines), Vector `kubernetes_logs` records, Kubernetes events
//! from the `kubernetes_events` input, and metric samples (flat, Vector
//! `metric_to_log`, Fluent Bit `cpu` / `mem`), plus a few odd ones (an
//! `edgeheal` object from upstream, unicode escapes, exponents, deep arrays).
//!
//! Records are compact JSON text as `flb_msgpack_to_json_str` writes it. The
//! same seed always gives the same stream, so native/wasm comparisons and
//! benchmarks are reproducible. (The chaos crate's scenario generator may
//! replace this later; the stream shape here is deliberately broad.)

use crate::fluentbit_harness::EventTime;

/// One event as Fluent Bit hands it to a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    /// The event's tag.
    pub tag: String,
    /// The event's time.
    pub time: EventTime,
    /// The record body as JSON text.
    pub json: Vec<u8>,
}

/// SplitMix64: small, fast, and fully deterministic across platforms.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let i = self.below(items.len() as u64) as usize;
        &items[i]
    }
}

const NAMESPACES: &[&str] = &["shop", "payments", "kube-system", "monitoring"];
const APPS: &[&str] = &[
    "checkout",
    "cart",
    "frontend",
    "ledger",
    "coredns",
    "prometheus",
];
const NODES: &[&str] = &["node-a1", "node-b2", "node-c3"];
const PATHS: &[&str] = &[
    "/api/cart",
    "/api/checkout",
    "/healthz",
    "/api/items/42",
    "/",
];
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE"];
const REASONS: &[(&str, &str, &str)] = &[
    (
        "BackOff",
        "Warning",
        "Back-off restarting failed container app in pod",
    ),
    (
        "OOMKilling",
        "Warning",
        "Memory cgroup out of memory: Killed process 4242 (java)",
    ),
    (
        "Unhealthy",
        "Warning",
        "Readiness probe failed: HTTP probe failed with statuscode: 503",
    ),
    ("Killing", "Normal", "Stopping container app"),
    (
        "Evicted",
        "Warning",
        "The node was low on resource: memory.",
    ),
    (
        "FailedScheduling",
        "Warning",
        "0/3 nodes are available: 3 Insufficient cpu.",
    ),
    (
        "Pulled",
        "Normal",
        "Container image \"registry/app:1.4.2\" already present on machine",
    ),
];

/// Appends `s` as a JSON string literal (quotes included), escaping what
/// RFC 8259 requires and nothing else: the generator's writer.
pub use edgeheal_chaos::jsonw::push_json_str;

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_json_str(&mut out, s);
    out
}

fn rfc3339(sec: i64, nsec: u32) -> String {
    let days = sec.div_euclid(86_400);
    let rem = sec.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nsec:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// A pod of a workload: (namespace, app, pod name, replica-set hash, node).
#[derive(Debug, Clone)]
pub struct Pod {
    /// Namespace.
    pub namespace: String,
    /// `app` label and container name.
    pub app: String,
    /// Pod name (`<app>-<rs hash>-<suffix>`).
    pub name: String,
    /// The `pod-template-hash`.
    pub hash: String,
    /// Node name.
    pub node: String,
}

impl Pod {
    /// The `n`-th pod of a small cluster, or a fresh one per `n` when
    /// `distinct` (for state-bound tests).
    pub fn nth(n: u64, distinct: bool) -> Pod {
        let mut rng = Rng::new(if distinct { n } else { n % 24 });
        let namespace = rng.pick(NAMESPACES).to_string();
        let app = rng.pick(APPS).to_string();
        let hash = format!("{:010x}", rng.next_u64() & 0xff_ffff_ffff);
        let hash: String = hash
            .chars()
            .map(|c| if c == '0' { 'b' } else { c })
            .collect();
        let suffix: String = (0..5)
            .map(|_| char::from(b"bcdfghjklmnpqrstvwxz2456789"[rng.below(27) as usize]))
            .collect();
        let name = if distinct {
            format!("{app}-{hash}-{suffix}{n}")
        } else {
            format!("{app}-{hash}-{suffix}")
        };
        Pod {
            namespace,
            app,
            name,
            hash,
            node: rng.pick(NODES).to_string(),
        }
    }
}

/// A generator of mixed records.
#[derive(Debug, Clone)]
pub struct MixedStream {
    rng: Rng,
    sec: i64,
    nsec: u32,
    n: u64,
    distinct_pods: bool,
}

impl MixedStream {
    /// A stream over a small cluster (24 pods), starting at 2025-06-01.
    pub fn new(seed: u64) -> MixedStream {
        MixedStream {
            rng: Rng::new(seed),
            sec: 1_748_736_000,
            nsec: 0,
            n: 0,
            distinct_pods: false,
        }
    }

    /// A stream where every record comes from a pod never seen before.
    pub fn distinct_pods(seed: u64) -> MixedStream {
        MixedStream {
            distinct_pods: true,
            ..MixedStream::new(seed)
        }
    }

    fn pod(&mut self) -> Pod {
        if self.distinct_pods {
            Pod::nth(self.n, true)
        } else {
            Pod::nth(self.rng.below(24), false)
        }
    }

    fn kubernetes_fb(&mut self, pod: &Pod) -> String {
        format!(
            r#"{{"pod_name":{},"namespace_name":{},"pod_id":"{:08x}-1f2e-4d3c-8b7a-{:012x}","labels":{{"app":{},"pod-template-hash":"{}"}},"annotations":{{"prometheus.io/scrape":"true"}},"host":{},"container_name":{},"docker_id":"{:016x}","container_hash":"registry/{}@sha256:{:016x}","container_image":"registry/{}:1.4.2"}}"#,
            json_str(&pod.name),
            json_str(&pod.namespace),
            self.rng.next_u64() as u32,
            self.rng.next_u64() & 0xffff_ffff_ffff,
            json_str(&pod.app),
            pod.hash,
            json_str(&pod.node),
            json_str(&pod.app),
            self.rng.next_u64(),
            pod.app,
            self.rng.next_u64(),
            pod.app,
        )
    }

    fn log_line(&mut self) -> String {
        let status = *self
            .rng
            .pick(&[200, 200, 200, 201, 204, 301, 404, 500, 503]);
        let method = self.rng.pick(METHODS);
        let path = self.rng.pick(PATHS);
        let latency = 2.0 + self.rng.unit() * 300.0;
        match self.rng.below(6) {
            0 | 1 => format!(
                r#"{{"level":"{}","ts":"{}","msg":"request done","status":{status},"method":"{method}","path":"{path}","latency_ms":{latency:.3}}}"#,
                if status >= 500 { "error" } else { "info" },
                rfc3339(self.sec, self.nsec)
            ),
            2 => format!(
                r#"10.1.{}.{} - - [01/Jun/2025:00:00:{:02} +0000] "{method} {path} HTTP/1.1" {status} {} "-" "curl/8.5.0" {:.3}"#,
                self.rng.below(255),
                self.rng.below(255),
                self.sec % 60,
                self.rng.below(40_000),
                latency / 1000.0
            ),
            3 => format!(
                "{} ERROR [worker-{}] connection refused: dial tcp 10.0.0.{}:5432\tretrying",
                rfc3339(self.sec, self.nsec),
                self.rng.below(8),
                self.rng.below(255)
            ),
            4 => "WARN cache miss ratio high — käse → 缓存 \u{1F600}".to_string(),
            _ => format!(
                "I0601 00:00:{:02}.{:06} 1 controller.go:{}] Synced \"default/app\"",
                self.sec % 60,
                self.nsec / 1000,
                self.rng.below(900)
            ),
        }
    }

    fn fluent_bit_log(&mut self) -> StreamRecord {
        let pod = self.pod();
        let line = self.log_line();
        let stream = if self.rng.below(4) == 0 {
            "stderr"
        } else {
            "stdout"
        };
        let k8s = self.kubernetes_fb(&pod);
        let json = format!(
            r#"{{"time":"{}","stream":"{stream}","_p":"F","log":{},"kubernetes":{k8s}}}"#,
            rfc3339(self.sec, self.nsec),
            json_str(&line)
        );
        let tag = format!(
            "kube.var.log.containers.{}_{}_{}-{:016x}.log",
            pod.name,
            pod.namespace,
            pod.app,
            self.rng.next_u64()
        );
        self.record(tag, json)
    }

    fn vector_log(&mut self) -> StreamRecord {
        let pod = self.pod();
        let line = self.log_line();
        let json = format!(
            r#"{{"file":"/var/log/pods/{ns}_{pod}_x/{app}/0.log","kubernetes":{{"container_id":"containerd://{:016x}","container_image":"registry/{app}:1.4.2","container_name":{},"namespace_labels":{{"kubernetes.io/metadata.name":{}}},"node_labels":{{"kubernetes.io/hostname":{}}},"pod_ip":"10.1.2.3","pod_labels":{{"app.kubernetes.io/name":{},"pod-template-hash":"{}"}},"pod_name":{},"pod_namespace":{},"pod_node_name":{},"pod_uid":"{:032x}"}},"message":{},"source_type":"kubernetes_logs","stream":"stdout","timestamp":"{}"}}"#,
            self.rng.next_u64(),
            json_str(&pod.app),
            json_str(&pod.namespace),
            json_str(&pod.node),
            json_str(&pod.app),
            pod.hash,
            json_str(&pod.name),
            json_str(&pod.namespace),
            json_str(&pod.node),
            u128::from(self.rng.next_u64()),
            json_str(&line),
            rfc3339(self.sec, self.nsec),
            ns = pod.namespace,
            pod = pod.name,
            app = pod.app,
        );
        self.record("vector.kubernetes_logs".to_string(), json)
    }

    fn event(&mut self) -> StreamRecord {
        let pod = self.pod();
        let (reason, kind, message) = *self.rng.pick(REASONS);
        let count = 1 + self.rng.below(20);
        let ts = rfc3339(self.sec, 0);
        let ts = ts.split('.').next().unwrap_or_default().to_string() + "Z";
        let json = format!(
            r#"{{"metadata":{{"name":"{pod}.{:016x}","namespace":{ns},"uid":"{:032x}","resourceVersion":"{}","creationTimestamp":"{ts}"}},"involvedObject":{{"kind":"Pod","namespace":{ns},"name":{podj},"uid":"{:032x}","apiVersion":"v1","resourceVersion":"{}","fieldPath":"spec.containers{{{app}}}"}},"reason":"{reason}","message":{},"source":{{"component":"kubelet","host":{node}}},"firstTimestamp":"{ts}","lastTimestamp":"{ts}","count":{count},"type":"{kind}","eventTime":null,"reportingComponent":"kubelet","reportingInstance":{node}}}"#,
            self.rng.next_u64(),
            u128::from(self.rng.next_u64()),
            self.rng.below(9_999_999),
            u128::from(self.rng.next_u64()),
            self.rng.below(9_999_999),
            json_str(message),
            pod = pod.name,
            podj = json_str(&pod.name),
            ns = json_str(&pod.namespace),
            node = json_str(&pod.node),
            app = pod.app,
        );
        self.record("k8s_events".to_string(), json)
    }

    fn metric(&mut self) -> StreamRecord {
        let pod = self.pod();
        let ts_ms = self.sec * 1000 + i64::from(self.nsec / 1_000_000);
        let json = match self.rng.below(5) {
            0 => format!(
                r#"{{"metric":"container_memory_working_set_bytes","value":{},"labels":{{"namespace":{},"pod":{},"container":{}}},"timestamp":{ts_ms}}}"#,
                100_000_000 + self.rng.below(400_000_000),
                json_str(&pod.namespace),
                json_str(&pod.name),
                json_str(&pod.app)
            ),
            1 => format!(
                r#"{{"name":"container_cpu_usage_seconds_total","namespace":"kubelet","tags":{{"namespace":{},"pod":{},"container":{}}},"timestamp":"{}","kind":"absolute","counter":{{"value":{:.6}}}}}"#,
                json_str(&pod.namespace),
                json_str(&pod.name),
                json_str(&pod.app),
                rfc3339(self.sec, self.nsec),
                (self.n as f64) * 0.25 + self.rng.unit()
            ),
            2 => format!(
                r#"{{"name":"container_spec_memory_limit_bytes","tags":{{"namespace":{},"pod":{}}},"timestamp":"{}","kind":"absolute","gauge":{{"value":5.36870912e8}}}}"#,
                json_str(&pod.namespace),
                json_str(&pod.name),
                rfc3339(self.sec, self.nsec)
            ),
            3 => format!(
                r#"{{"cpu_p":{:.2},"user_p":{:.2},"system_p":{:.2},"cpu0.p_cpu":{:.2},"cpu0.p_user":1.0,"cpu0.p_system":0.5}}"#,
                self.rng.unit() * 100.0,
                self.rng.unit() * 60.0,
                self.rng.unit() * 40.0,
                self.rng.unit() * 100.0
            ),
            _ => format!(
                r#"{{"Mem.total":16307640,"Mem.used":{},"Mem.free":{},"Swap.total":0,"Swap.used":0,"Swap.free":0}}"#,
                8_000_000 + self.rng.below(4_000_000),
                4_000_000 + self.rng.below(4_000_000)
            ),
        };
        let tag = match self.rng.below(3) {
            0 => "metrics.kubelet",
            1 => "cpu.local",
            _ => "mem.local",
        };
        self.record(tag.to_string(), json)
    }

    fn odd(&mut self) -> StreamRecord {
        let json = match self.rng.below(5) {
            0 => r#"{"log":"scored upstream","edgeheal":{"kind":"log","anomaly":true,"score":0.99}}"#
                .to_string(),
            1 => r#"{"msg":"caf\u00e9 \ud83d\ude00 \"quoted\" \\ back","n":-0.0,"e":1.5E+10,"big":123456789012345678901234567890}"#
                .to_string(),
            2 => format!(
                r#"{{"deep":{}1{},"arr":[],"obj":{{}}}}"#,
                "[".repeat(40),
                "]".repeat(40)
            ),
            3 => r#"{ "spaced" : "text" , "t" : true , "f" : false , "z" : null }"#.to_string(),
            _ => r#"{}"#.to_string(),
        };
        self.record("odd.records".to_string(), json)
    }

    fn record(&mut self, tag: String, json: String) -> StreamRecord {
        StreamRecord {
            tag,
            time: EventTime {
                sec: self.sec,
                nsec: self.nsec,
            },
            json: json.into_bytes(),
        }
    }
}

impl Iterator for MixedStream {
    type Item = StreamRecord;

    fn next(&mut self) -> Option<StreamRecord> {
        self.n += 1;
        // ~2 ms between records, ~500 records/s on the node.
        let step = 1_000_000 + self.rng.below(2_000_000) as u32;
        self.nsec += step;
        if self.nsec >= 1_000_000_000 {
            self.nsec -= 1_000_000_000;
            self.sec += 1;
        }
        let record = match self.rng.below(100) {
            0..=44 => self.fluent_bit_log(),
            45..=59 => self.vector_log(),
            60..=69 => self.event(),
            70..=95 => self.metric(),
            _ => self.odd(),
        };
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_is_a_json_object_and_the_stream_is_deterministic() {
        let a: Vec<_> = MixedStream::new(7).take(2_000).collect();
        let b: Vec<_> = MixedStream::new(7).take(2_000).collect();
        assert_eq!(a, b);
        for r in &a {
            assert!(
                crate::json_check::is_json_object(&r.json),
                "{}",
                String::from_utf8_lossy(&r.json)
            );
        }
        let tags: std::collections::BTreeSet<_> =
            a.iter().map(|r| r.tag.split('.').next()).collect();
        assert!(tags.len() >= 6, "{tags:?}");
    }

    #[test]
    fn rfc3339_cases() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_748_736_000, 5), "2025-06-01T00:00:00.000000005Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000000000Z");
    }
}
