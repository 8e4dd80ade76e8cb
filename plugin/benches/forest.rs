//! Forest scoring throughput (vectors per second, one core).
//!
//! * `iforest/full_depth8`: 100 complete depth-8 isolation trees (511 nodes
//!   each, every path 8 splits long: the worst case for a ψ = 256 forest) over
//!   the `cpu` family's features.
//! * `iforest/sklearn`: the scikit-learn fixture (100 trees, ψ = 256) over the
//!   `memory` family's 4 features.
//! * `iforest/explain_*` and `classifier/predict_proba` on the same inputs.
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
use edgeheal_plugin::features;
use edgeheal_plugin::forest::{IsolationForest, IsolationForestFile};
use edgeheal_plugin::model::Thresholds;
use edgeheal_plugin::Family;

const VECTORS: usize = 4096;

mod common;

use common::{full_tree, Rng};

fn full_forest() -> IsolationForest {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let n = features::names(Family::Cpu).len();
    let trees = (0..100).map(|_| full_tree(&mut rng, n)).collect();
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

fn bench<M: Measurement>(c: &mut Criterion<M>) {
    let mut group = c.benchmark_group("iforest");
    group.throughput(Throughput::Elements(VECTORS as u64));

    let full = full_forest();
    let xs = vectors(features::names(Family::Cpu).len(), 1.0);
    group.bench_function("full_depth8", |b| {
        b.iter(|| xs.iter().map(|x| full.score(black_box(x))).sum::<f64>())
    });
    let mut out = [0.0; 4];
    group.bench_function("explain_full_depth8", |b| {
        b.iter(|| {
            for x in &xs {
                full.explain(black_box(x), &mut out);
            }
            out[0]
        })
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
    config = Criterion::default().with_measurement(common::cpu_time::ThreadCpuTime);
    targets = bench
}
#[cfg(not(target_os = "linux"))]
criterion_group!(benches, bench);
criterion_main!(benches);
