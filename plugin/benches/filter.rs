//! The whole native core on a mixed stream (records per second, one core):
//! parse, normalize, per-entity state, forests when features change, tags,
//! splice. Fluent Bit and Vector container logs, metric samples and
//! Kubernetes events over 400 pods of 40 workloads, three ways: with a
//! 100-tree full depth-8 isolation forest per family and no classifier (the
//! worst case for walks), without models, and with the models the filter
//! embeds (`models/default`: smaller trees, plus the incident classifier that
//! confirms or vetoes every candidate). Time advances with every record (as the
//! pipeline's event time), so windows roll and forests run as in production.
//!
//! Run with `cargo bench -p edgeheal-plugin --bench filter`.

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
use edgeheal_plugin::model::Thresholds;
use edgeheal_plugin::{Filter, FilterConfig, ModelSet};

mod common;

use common::{full_tree, node_stream, random_model_set, Rng, NODE_STREAM_STEP_NS};

const RECORDS: usize = 10_000;

fn models() -> ModelSet {
    let thresholds = Thresholds {
        warning: 0.62,
        critical: 0.7,
    };
    random_model_set(
        "bench@000000000000",
        &mut Rng(7),
        100,
        thresholds,
        full_tree,
    )
}

fn bench<M: Measurement>(c: &mut Criterion<M>) {
    let records = node_stream(RECORDS);
    let bytes: usize = records.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("filter");
    group.throughput(Throughput::Elements(RECORDS as u64));
    for (name, models) in [
        ("mixed_stream_with_models", Some(models())),
        ("mixed_stream_no_models", None),
        (
            "mixed_stream_shipped_models",
            ModelSet::from_embedded().map(|m| m.unwrap()),
        ),
    ] {
        let mut filter = Filter::new(FilterConfig::default(), models);
        let mut out = Vec::with_capacity(8192);
        let mut now: i64 = 1_740_960_000_000_000_000;
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut n = 0;
                for r in &records {
                    now += NODE_STREAM_STEP_NS;
                    filter.process(b"kube.var.log", now, black_box(r), &mut out);
                    n += out.len();
                }
                n
            })
        });
    }
    group.finish();
    eprintln!(
        "filter bench: {RECORDS} records, mean {} bytes per record",
        bytes / RECORDS
    );
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
