//! Criterion bench of record access and normalization: `Record::parse` +
//! `normalize` (and separately `splice`) over a mixed stream built from the
//! shape fixtures (Fluent Bit and Vector container logs, events, metrics),
//! measured in thread CPU time.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod common;

use criterion::measurement::Measurement;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use edgeheal_plugin::json::{splice, Record};
use edgeheal_plugin::normalize::normalize;

const FIXTURES: &str = include_str!("../tests/fixtures/shapes/mixed.ndjson");

/// A stream weighted like a node's traffic: container logs dominate, then
/// metric samples, a few events.
fn stream() -> Vec<Vec<u8>> {
    let lines: Vec<&str> = FIXTURES.lines().filter(|l| !l.is_empty()).collect();
    // Weights per fixture line (same order as the file).
    let weights = [6, 2, 4, 2, 1, 1, 1, 2, 2, 1, 1, 1];
    let mut out = Vec::new();
    for round in 0..64 {
        for (i, line) in lines.iter().enumerate() {
            let w = weights.get(i).copied().unwrap_or(1);
            for k in 0..w {
                // Vary the pod so records are not byte-identical.
                let text = line.replace("x2x9z", &format!("x{:04}", (round * 7 + k) % 10_000));
                out.push(text.into_bytes());
            }
        }
    }
    out
}

fn bench<M: Measurement>(c: &mut Criterion<M>) {
    let records = stream();
    let bytes: usize = records.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("normalize");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("parse", |b| {
        b.iter(|| {
            for r in &records {
                black_box(Record::parse(black_box(r)).is_ok());
            }
        })
    });
    group.bench_function("parse+normalize", |b| {
        b.iter(|| {
            for r in &records {
                let rec = Record::parse(black_box(r)).unwrap();
                black_box(normalize(&rec, b"kube.var.log", 1_714_557_600_000_000_000));
            }
        })
    });
    let tags = br#"{"kind":"log","entity":"shop/web","pod":"web-7d4b9c8f6-x2x9z","ts":"2024-05-01T10:00:00Z","score":null,"anomaly":false}"#;
    let mut out = Vec::with_capacity(4096);
    group.bench_function("parse+normalize+splice", |b| {
        b.iter(|| {
            for r in &records {
                let rec = Record::parse(black_box(r)).unwrap();
                black_box(normalize(&rec, b"kube.var.log", 1_714_557_600_000_000_000));
                out.clear();
                splice(&rec, tags, &mut out);
                black_box(&out);
            }
        })
    });
    group.finish();
    let mut bytes_group = c.benchmark_group("normalize_bytes");
    bytes_group.throughput(Throughput::Bytes(bytes as u64));
    bytes_group.bench_function("parse", |b| {
        b.iter(|| {
            for r in &records {
                black_box(Record::parse(black_box(r)).is_ok());
            }
        })
    });
    bytes_group.finish();
}

// Thread CPU time, so a machine busy with other work does not distort the
// per-core figure.
#[cfg(target_os = "linux")]
criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(common::cpu_time::ThreadCpuTime);
    targets = bench
}
#[cfg(not(target_os = "linux"))]
criterion_group!(benches, bench);
criterion_main!(benches);
