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

use common::{full_tree, random_model_set, Rng};

const RECORDS: usize = 10_000;
/// 10k records per simulated second.
const STEP_NS: i64 = 100_000;

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

fn stream() -> Vec<Vec<u8>> {
    let mut rng = Rng(42);
    (0..RECORDS)
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
                    r#"{{"file":"/var/log/pods/shop_{pod}/app/0.log","kubernetes":{{"container_name":"app","pod_labels":{{"app":"svc{w}"}},"pod_name":"{pod}","pod_namespace":"shop","pod_node_name":"node-2","pod_owner":"ReplicaSet/svc{w}-7d4b9c8f6"}},"message":"{{\"level\":\"info\",\"msg\":\"request completed\",\"method\":\"GET\",\"path\":\"/api\",\"status\":200,\"latency_ms\":{:.1}}}","source_type":"kubernetes_logs","stream":"stdout"}}"#,
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

fn bench<M: Measurement>(c: &mut Criterion<M>) {
    let records = stream();
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
                    now += STEP_NS;
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
