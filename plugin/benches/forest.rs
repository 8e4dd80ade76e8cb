//! Forest scoring throughput (vectors per second, one core).
//!
//! * `iforest/full_depth8`: 100 complete depth-8 isolation trees (511 nodes
//!   each, every path 8 splits long: the worst case for a ψ = 256 forest) over
//!   the `cpu` family's 3 features.
//! * `iforest/sklearn`: the scikit-learn fixture (100 trees, ψ = 256) over the
//!   `memory` family's 4 features.
//! * `iforest/explain` and `classifier/predict_proba` on the same inputs.
//!
//! Run with `cargo bench -p edgeheal-plugin --bench forest`. On Linux the
//! time measured is the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`),
//! so a machine busy with other work does not distort the per-core figure;
//! elsewhere it is wall time.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::hint::black_box;

use criterion::measurement::Measurement;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use edgeheal_plugin::classifier::RandomForestClassifier;
use edgeheal_plugin::forest::{IsolationForest, IsolationForestFile, IsolationTreeFile};
use edgeheal_plugin::model::Thresholds;
use edgeheal_plugin::Family;

const VECTORS: usize = 4096;

/// xorshift64*: deterministic inputs without a dependency.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        // Sum of uniforms: close enough to a bell for routing.
        (0..4).map(|_| self.next_f64()).sum::<f64>() - 2.0
    }
}

/// A complete binary tree of depth 8, nodes in depth-first order.
fn full_tree(rng: &mut Rng, n_features: usize) -> IsolationTreeFile {
    fn grow(
        t: &mut IsolationTreeFile,
        rng: &mut Rng,
        depth: u32,
        n: u32,
        n_features: usize,
    ) -> i32 {
        let i = t.left.len();
        t.left.push(-1);
        t.right.push(-1);
        t.feature.push(-2);
        t.threshold.push(-2.0);
        t.n_samples.push(n.max(1));
        if depth < 8 {
            t.feature[i] = (rng.next_f64() * n_features as f64) as i32 % n_features as i32;
            t.threshold[i] = rng.normal();
            let l = grow(t, rng, depth + 1, n / 2, n_features);
            let r = grow(t, rng, depth + 1, n - n / 2, n_features);
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
    grow(&mut t, rng, 0, 256, n_features);
    t
}

fn full_forest() -> IsolationForest {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let trees = (0..100).map(|_| full_tree(&mut rng, 3)).collect();
    let model = IsolationForestFile::new(
        "bench",
        Family::Cpu,
        256,
        Thresholds {
            warning: 0.6,
            critical: 0.7,
        },
        trees,
    );
    IsolationForest::from_file(&model, "bench.json").unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/sklearn/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn vectors(n_features: usize, scale: f64) -> Vec<Vec<f64>> {
    let mut rng = Rng(42);
    (0..VECTORS)
        .map(|_| (0..n_features).map(|_| rng.normal() * scale).collect())
        .collect()
}

#[cfg(target_os = "linux")]
mod cpu_time {
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

    fn now_ns() -> u64 {
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

fn bench<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("iforest");
    group.throughput(Throughput::Elements(VECTORS as u64));

    let full = full_forest();
    let xs = vectors(3, 1.0);
    group.bench_function("full_depth8", |b| {
        b.iter(|| xs.iter().map(|x| full.score(black_box(x))).sum::<f64>())
    });

    let sk = IsolationForest::from_json(&fixture("memory.json"), "memory.json").unwrap();
    let mut xs = vectors(4, 3.0);
    for x in &mut xs {
        x[3] = 1e6 + x[3] * 100.0;
    }
    group.bench_function("sklearn", |b| {
        b.iter(|| xs.iter().map(|x| sk.score(black_box(x))).sum::<f64>())
    });

    let mut out = [0.0; 4];
    group.bench_function("explain_sklearn", |b| {
        b.iter(|| {
            for x in &xs {
                sk.explain(black_box(x), &mut out);
            }
            out[0]
        })
    });
    group.finish();

    let mut group = c.benchmark_group("classifier");
    group.throughput(Throughput::Elements(VECTORS as u64));
    let clf =
        RandomForestClassifier::from_json(&fixture("incident.json"), "incident.json").unwrap();
    let xs = vectors(19, 3.0);
    let mut proba = [0.0; 6];
    group.bench_function("predict_proba_sklearn", |b| {
        b.iter(|| {
            for x in &xs {
                clf.predict_proba(black_box(x), &mut proba);
            }
            proba[0]
        })
    });
    group.finish();
}

#[cfg(target_os = "linux")]
criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(cpu_time::ThreadCpuTime);
    targets = bench
}
#[cfg(not(target_os = "linux"))]
criterion_group!(benches, bench);
criterion_main!(benches);
