//! Shared benchmark (and output-digest test) support: a deterministic RNG,
//! random isolation trees and model sets, and (on Linux) thread CPU time as a criterion measurement, so a machine
//! busy with other work does not distort per-core figures.

#![allow(dead_code)]

use edgeheal_plugin::features;
use edgeheal_plugin::forest::{IsolationForest, IsolationForestFile, IsolationTreeFile};
use edgeheal_plugin::model::Thresholds;
use edgeheal_plugin::{Family, ModelSet};

/// xorshift64*: deterministic inputs without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn normal(&mut self) -> f64 {
        // Sum of uniforms: close enough to a bell for routing.
        (0..4).map(|_| self.next_f64()).sum::<f64>() - 2.0
    }
}

/// A complete binary tree of depth 8, nodes in depth-first order.
pub fn full_tree(rng: &mut Rng, n_features: usize) -> IsolationTreeFile {
    random_tree(rng, n_features, 0.0, 1.0)
}

/// A random isolation tree of depth at most 8, nodes in depth-first order:
/// deeper than depth 2 a node stays a leaf with probability `early_stop` (0 gives
/// the complete tree and draws nothing for it), and split thresholds are
/// `scale` × a bell-shaped draw.
pub fn random_tree(
    rng: &mut Rng,
    n_features: usize,
    early_stop: f64,
    scale: f64,
) -> IsolationTreeFile {
    struct Shape {
        n_features: usize,
        early_stop: f64,
        scale: f64,
    }
    fn grow(t: &mut IsolationTreeFile, rng: &mut Rng, depth: u32, n: u32, s: &Shape) -> i32 {
        let i = t.left.len();
        t.left.push(-1);
        t.right.push(-1);
        t.feature.push(-2);
        t.threshold.push(-2.0);
        t.n_samples.push(n.max(1));
        // Short-circuits keep the draws of each shape exactly as they were.
        if depth < 8 && !(depth > 2 && s.early_stop > 0.0 && rng.next_f64() < s.early_stop) {
            t.feature[i] = (rng.next_f64() * s.n_features as f64) as i32 % s.n_features as i32;
            t.threshold[i] = rng.normal() * s.scale;
            let l = grow(t, rng, depth + 1, n / 2, s);
            let r = grow(t, rng, depth + 1, n - n / 2, s);
            t.left[i] = l;
            t.right[i] = r;
        }
        i as i32
    }
    let mut t = IsolationTreeFile {
        left: Vec::new(),
        right: Vec::new(),
        feature: Vec::new(),
        threshold: Vec::new(),
        n_samples: Vec::new(),
    };
    let shape = Shape {
        n_features,
        early_stop,
        scale,
    };
    grow(&mut t, rng, 0, 256, &shape);
    t
}

/// A model set of one random forest per family (`tree` builds each tree),
/// without a classifier.
pub fn random_model_set(
    id: &str,
    rng: &mut Rng,
    trees: usize,
    thresholds: Thresholds,
    mut tree: impl FnMut(&mut Rng, usize) -> IsolationTreeFile,
) -> ModelSet {
    let forests = Family::ALL
        .into_iter()
        .map(|family| {
            let n = features::names(family).len();
            let trees = (0..trees).map(|_| tree(rng, n)).collect();
            let file = IsolationForestFile::new(family.as_str(), family, 256, thresholds, trees);
            IsolationForest::from_file(&file, family.as_str()).unwrap()
        })
        .collect();
    ModelSet::from_parts(id, forests, None).unwrap()
}

#[cfg(target_os = "linux")]
pub mod cpu_time {
    //! Thread CPU time as a criterion measurement.

    use criterion::measurement::{Measurement, ValueFormatter};
    use criterion::Throughput;

    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }

    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }

    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

    /// The calling thread's CPU time, in nanoseconds.
    pub fn now_ns() -> u64 {
        let mut ts = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec for the call's duration.
        let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }

    /// CPU time of the calling thread, in nanoseconds.
    pub struct ThreadCpuTime;

    impl Measurement for ThreadCpuTime {
        type Intermediate = u64;
        type Value = u64;

        fn start(&self) -> u64 {
            now_ns()
        }
        fn end(&self, start: u64) -> u64 {
            now_ns().saturating_sub(start)
        }
        fn add(&self, a: &u64, b: &u64) -> u64 {
            a + b
        }
        fn zero(&self) -> u64 {
            0
        }
        fn to_f64(&self, v: &u64) -> f64 {
            *v as f64
        }
        fn formatter(&self) -> &dyn ValueFormatter {
            &CpuFormatter
        }
    }

    struct CpuFormatter;

    impl ValueFormatter for CpuFormatter {
        fn scale_values(&self, typical_ns: f64, values: &mut [f64]) -> &'static str {
            let (factor, unit) = if typical_ns < 1e3 {
                (1.0, "ns cpu")
            } else if typical_ns < 1e6 {
                (1e-3, "µs cpu")
            } else if typical_ns < 1e9 {
                (1e-6, "ms cpu")
            } else {
                (1e-9, "s cpu")
            };
            values.iter_mut().for_each(|v| *v *= factor);
            unit
        }

        fn scale_throughputs(
            &self,
            typical_ns: f64,
            throughput: &Throughput,
            values: &mut [f64],
        ) -> &'static str {
            let per = match throughput {
                Throughput::Elements(n) | Throughput::Bytes(n) | Throughput::BytesDecimal(n) => {
                    *n as f64
                }
            };
            // values are ns per iteration; turn them into elements per CPU-second.
            let _ = typical_ns;
            values.iter_mut().for_each(|v| *v = per * 1e9 / *v);
            "elem/cpu-s"
        }

        fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
            "ns"
        }
    }
}

/// Time between two records of [`node_stream`]: 10k records per simulated second.
pub const NODE_STREAM_STEP_NS: i64 = 100_000;

/// `records` records as a busy node's pipeline carries them: Fluent Bit
/// container logs (access-log lines), Vector container logs (JSON lines in
/// `message`), container CPU counters and memory gauges, and Kubernetes
/// events, for 400 pods of 40 workloads, each pod's `kubernetes` object
/// repeating byte for byte as the `kubernetes` filter or Vector's
/// `kubernetes_logs` source writes it (Vector sorts the keys, so its object
/// starts with the container's `container_id`).
pub fn node_stream(records: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(42);
    (0..records)
        .map(|i| {
            let w = i % 40;
            let p = (i / 40) % 10;
            let pod = format!("svc{w}-7d4b9c8f6-x{p}x9z");
            let r = rng.next_f64();
            let s = if r < 0.55 {
                format!(
                    r#"{{"stream":"stdout","_p":"F","log":"10.0.0.{p} - - [03/Mar/2025:00:00:00 +0000] \"GET /api/items/{i} HTTP/1.1\" {} 512 \"-\" \"curl/8.0\" 0.0{}","kubernetes":{{"pod_name":"{pod}","namespace_name":"shop","pod_id":"0c1d","labels":{{"app":"svc{w}","pod-template-hash":"7d4b9c8f6"}},"host":"node-1","container_name":"app","docker_id":"4f2a","container_image":"registry/app:1.2.3"}}}}"#,
                    if r < 0.01 { 503 } else { 200 },
                    (r * 100.0) as u32 + 10
                )
            } else if r < 0.8 {
                format!(
                    r#"{{"file":"/var/log/pods/shop_{pod}/app/0.log","kubernetes":{{"container_id":"containerd://5e1c{w:02}{p}a7f3","container_image":"registry/app:1.2.3","container_name":"app","pod_labels":{{"app":"svc{w}"}},"pod_name":"{pod}","pod_namespace":"shop","pod_node_name":"node-2","pod_owner":"ReplicaSet/svc{w}-7d4b9c8f6"}},"message":"{{\"level\":\"info\",\"msg\":\"request completed\",\"method\":\"GET\",\"path\":\"/api\",\"status\":200,\"latency_ms\":{:.1}}}","source_type":"kubernetes_logs","stream":"stdout"}}"#,
                    r * 80.0
                )
            } else if r < 0.9 {
                format!(
                    r#"{{"metric":"container_cpu_usage_seconds_total","value":{:.3},"labels":{{"namespace":"shop","pod":"{pod}","container":"app","node":"node-1"}}}}"#,
                    i as f64 * 0.01
                )
            } else if r < 0.98 {
                format!(
                    r#"{{"gauge":{{"value":{:.1}}},"kind":"absolute","name":"container_memory_working_set_bytes","tags":{{"container":"app","namespace":"shop","node":"node-1","pod":"{pod}"}}}}"#,
                    2.0e8 + r * 1e7
                )
            } else {
                format!(
                    r#"{{"metadata":{{"name":"{pod}.1829","namespace":"shop"}},"involvedObject":{{"kind":"Pod","namespace":"shop","name":"{pod}"}},"reason":"Unhealthy","message":"Readiness probe failed","source":{{"component":"kubelet","host":"node-1"}},"count":1,"type":"Warning"}}"#
                )
            };
            s.into_bytes()
        })
        .collect()
}
