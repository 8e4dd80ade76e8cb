//! The filter's output bytes, pinned: a long synthetic stream (Fluent Bit and
//! Vector logs, metric samples, Kubernetes events, faults injected on some
//! workloads, malformed records) is run through the filter with the embedded
//! models, with random full-depth forests, and without models, and the SHA-256
//! of every output byte is compared with the digest the code gave when the
//! test was written. Optimizations of the hot path must not move it; a change
//! of behaviour must update the digest on purpose (and the Lua mirror with it).

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use edgeheal_plugin::model::{sha256_hex, Thresholds};
use edgeheal_plugin::{Filter, FilterConfig, ModelSet};

#[path = "../benches/common/mod.rs"]
mod common;

use common::{random_model_set, random_tree, Rng};

/// Forests of uneven depth (15 % of the nodes deeper than depth 2 stay leaves)
/// with thresholds spread over ±4.
fn random_models() -> ModelSet {
    let thresholds = Thresholds {
        warning: 0.6,
        critical: 0.66,
    };
    random_model_set(
        "digest@000000000000",
        &mut Rng(7),
        60,
        thresholds,
        |rng, n| random_tree(rng, n, 0.15, 2.0),
    )
}

/// (event time, record) pairs.
fn stream(n: usize) -> Vec<(i64, Vec<u8>)> {
    let mut rng = Rng(42);
    let mut now: i64 = 1_740_960_000_000_000_000;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // 5 ms per record, with jitter and an occasional long gap.
        now += 5_000_000 + (rng.next_f64() * 2e6) as i64;
        if i % 5000 == 4999 {
            now += 400_000_000_000;
        }
        let w = (rng.next_f64() * 12.0) as usize;
        let p = (rng.next_f64() * 5.0) as usize;
        let pod = format!("svc{w}-7d4b9c8f6-x{p}x9z");
        // Faults: svc1 errors in a window, svc2 slows down, svc3 floods,
        // svc4 leaks memory, svc5 crash loops.
        let phase = (i / 3000) % 4;
        let faulty = phase == 2;
        let r = rng.next_f64();
        let status = if (faulty && w == 1 && r < 0.6) || r < 0.01 {
            503
        } else {
            200
        };
        let latency = if faulty && w == 2 {
            200.0 + r * 900.0
        } else {
            5.0 + r * 40.0
        };
        let t_sec = now / 1_000_000_000;
        let frac = now % 1_000_000_000;
        let s = match (rng.next_f64() * 100.0) as u32 {
            0..=34 => format!(
                r#"{{"stream":"stdout","_p":"F","log":"10.0.0.{p} - - [03/Mar/2025:00:00:00 +0000] \"GET /api/items/{i} HTTP/1.1\" {status} 512 \"-\" \"curl/8.0\" {:.3}","kubernetes":{{"pod_name":"{pod}","namespace_name":"shop","pod_id":"0c1d","labels":{{"app":"svc{w}","pod-template-hash":"7d4b9c8f6"}},"host":"node-1","container_name":"app","docker_id":"4f2a","container_image":"registry/app:1.2.3"}}}}"#,
                latency / 1000.0
            ),
            35..=54 => format!(
                r#"{{"file":"/var/log/pods/shop_{pod}/app/0.log","kubernetes":{{"container_name":"app","pod_labels":{{"app":"svc{w}"}},"pod_name":"{pod}","pod_namespace":"shop","pod_node_name":"node-2","pod_owner":"ReplicaSet/svc{w}-7d4b9c8f6"}},"message":"{{\"level\":\"{}\",\"msg\":\"request completed\",\"method\":\"GET\",\"path\":\"/api\",\"status\":{status},\"latency_ms\":{:.1}}}","source_type":"kubernetes_logs","stream":"stdout","timestamp":"2025-03-03T00:00:{:02}.{:09}Z"}}"#,
                if status == 503 { "error" } else { "info" },
                latency,
                t_sec % 60,
                frac
            ),
            55..=59 => format!(
                r#"{{"log":"E0303 00:00:00.000000 1 main.go:1] level=error msg=\"boom\" status={status} duration={latency:.0}ms","kubernetes":{{"pod_name":"{pod}","namespace_name":"shop","labels":{{"app.kubernetes.io/name":"svc{w}"}},"container_name":"side\u00e9car"}},"time":{}.{:03}}}"#,
                t_sec,
                frac / 1_000_000
            ),
            60..=71 => format!(
                r#"{{"metric":"container_cpu_usage_seconds_total","value":{:.3},"labels":{{"namespace":"shop","pod":"{pod}","container":"app","node":"node-1"}}}}"#,
                (i as f64) * 0.01 * if faulty && w == 3 { 8.0 } else { 1.0 }
            ),
            72..=81 => format!(
                r#"{{"gauge":{{"value":{:.1}}},"kind":"absolute","name":"container_memory_working_set_bytes","tags":{{"container":"app","namespace":"shop","node":"node-1","pod":"{pod}"}}}}"#,
                2.0e8 + r * 1e7 + if w == 4 { (i as f64) * 1e5 } else { 0.0 }
            ),
            82..=84 => format!(
                r#"{{"metric":"kube_pod_container_status_restarts_total","value":{},"labels":{{"namespace":"shop","pod":"{pod}","container":"app"}}}}"#,
                if w == 5 && faulty { i / 50 } else { 0 }
            ),
            85..=86 => format!(
                r#"{{"metric":"container_spec_memory_limit_bytes","value":2.1e8,"labels":{{"namespace":"shop","pod":"{pod}","container":"app"}}}}"#
            ),
            87..=92 => {
                let reason = match (rng.next_f64() * 6.0) as u32 {
                    0 => "Started",
                    1 => "BackOff",
                    2 => "OOMKilled",
                    3 => "Unhealthy",
                    4 => "Killing",
                    _ => "Evicted",
                };
                // Stamped at the stream's time (whole seconds, as the API
                // writes it): an event older than its pod's restart window
                // would be history and not count.
                let mut stamp = Vec::new();
                edgeheal_plugin::timestamp::write_rfc3339(&mut stamp, t_sec * 1_000_000_000);
                format!(
                    r#"{{"metadata":{{"name":"{pod}.1829","namespace":"shop"}},"involvedObject":{{"kind":"Pod","namespace":"shop","name":"{pod}"}},"reason":"{reason}","message":"probe","source":{{"component":"kubelet","host":"node-1"}},"count":1,"type":"Warning","lastTimestamp":"{}"}}"#,
                    String::from_utf8_lossy(&stamp)
                )
            }
            93 => r#"{"cpu_p":12.5,"user_p":10.0,"system_p":2.5}"#.to_owned(),
            94 => format!(r#"{{"msg":"level=warn latency=12ms","edgeheal":{{"old":true}},"ts":{t_sec}}}"#),
            95 => r#"not json at all"#.to_owned(),
            96 => r#"{"a":1,"a":2,"edgeheal":1,"edgeheal":2}"#.to_owned(),
            97 => format!(
                r#"{{"message":"panic: runtime error","kubernetes":{{"pod_name":"job-{p}-abcde","namespace_name":"batch","ownerReferences":[{{"kind":"Job","name":"job-{p}"}}]}}}}"#
            ),
            98 => format!(
                r#" {{ "log" : "Traceback (most recent call last): \u0041 \" x" , "kubernetes" : {{ "pod_name" : "web-{p}" , "namespace_name":"shop" }} }} "#
            ),
            _ => r#"{"k\u0065y":"v","log":"[warn] slow","kubernetes":{"pod_name":"db-0","namespace_name":"data","labels":{"statefulset.kubernetes.io/pod-name":"db-0"}}}"#.to_owned(),
        };
        out.push((now, s.into_bytes()));
    }
    out
}

fn digest(models: Option<ModelSet>, config: FilterConfig, records: &[(i64, Vec<u8>)]) -> String {
    let mut filter = Filter::new(config, models);
    let mut out = Vec::new();
    let mut all = Vec::with_capacity(records.len() * 700);
    for (now, r) in records {
        filter.process(b"kube.var.log", *now, r, &mut out);
        all.extend_from_slice(&out);
        all.push(b'\n');
    }
    for n in [0, 1, 1 << 20] {
        filter.process_lost(1_740_960_000_000_000_000, n, &mut out);
        all.extend_from_slice(&out);
        all.push(b'\n');
    }
    sha256_hex(&all)
}

#[test]
fn output_bytes_are_unchanged() {
    let records = stream(40_000);
    let small = FilterConfig {
        max_entities: 24,
        warmup: 3,
        ..FilterConfig::default()
    };
    let cases = [
        (
            "embedded",
            ModelSet::from_embedded().map(|m| m.unwrap()),
            FilterConfig::default(),
        ),
        (
            "embedded_explained",
            ModelSet::from_embedded().map(|m| m.unwrap()),
            FilterConfig {
                explain_normal: true,
                ..FilterConfig::default()
            },
        ),
        ("random", Some(random_models()), FilterConfig::default()),
        ("random_small", Some(random_models()), small),
        ("none", None, FilterConfig::default()),
    ];
    let got: Vec<(&str, String)> = cases
        .into_iter()
        .map(|(name, models, config)| (name, digest(models, config, &records)))
        .collect();
    // `embedded` and `random` moved on purpose with `Ewma::update_bounded`:
    // the stream's injected CPU faults read 100-175 cores against a 1.65-core
    // baseline, 1,200-2,100 deviations out, and now update it as 1,000 would.
    // All but `none` moved on purpose when `why` became `[]` on records
    // whose verdict is not anomalous; `embedded_explained` (the old
    // behaviour, `explain_normal` on) gives the previous `embedded` digest.
    // `embedded`, `embedded_explained` and `random` moved on purpose when
    // `mem_trend` was smoothed over about 20 samples instead of 5 (svc4's
    // growing memory reads another trend; the embedded models were retrained
    // with it, default@9191ab621867 -> default@1bb3fba0df2d).
    let want = [
        (
            "embedded",
            "456ffae0ffaed008f429c6f688f23be2e9e0fb4b7b2e245701407ea03ad22045",
        ),
        (
            "embedded_explained",
            "81b31641d049c6ff164925193cff6ca1eacfc22d4bb6cee0cc4f29205f149e91",
        ),
        (
            "random",
            "c4af153cd28a00f425da4dc450d5b8f66f5fe5bf8386dc0de2f0b318c27b58cc",
        ),
        (
            "random_small",
            "c99fb2bc7dadb7d6f7cc76329190bfa87606bbf18becb0b9a207f3dcc4e54cd6",
        ),
        (
            "none",
            "cdc1fd684d23855886cbbc8a1e275d358323641fd4aaf0cfd1b90a1f855167b5",
        ),
    ];
    let want: Vec<(&str, String)> = want.iter().map(|(n, d)| (*n, (*d).to_owned())).collect();
    assert_eq!(got, want);
}

/// `Filter::process` writes the tags straight into the output and reuses the
/// verdict's cached tag bytes; it must give what the public steps give.
#[test]
fn process_matches_its_steps() {
    use edgeheal_plugin::json::{splice, Record};
    use edgeheal_plugin::normalize::normalize;
    use edgeheal_plugin::tags::write_tags;

    let mut records = stream(3000);
    for (i, text) in [
        "{}",
        " { } ",
        r#"{"edgeheal":1}"#,
        r#"{ "edgeheal" : 1 , "log":"x" }"#,
        r#"{"log":"x","edg\u0065heal":{"a":[1]}}"#,
        r#"{"log":"x"}  "#,
        // Log lines the filter's parse decodes while it validates them.
        r#"{"log":"\u00e9\ud83d\ude00\ud800 \/\\\b\f\r\t level=error status=503\n"}"#,
        r#"{"message":"{\"level\":\"warn\",\"latency_ms\":12}","log":"GET \"/\" 500"}"#,
        r#"{"msg":"ERROR \"x\"","l\u006fg":"INFO \"y\""}"#,
        r#"{"log":"a\x"}"#,
        r#"{"log":"a\"b"#,
        r#"{"log":"a\n\u12"}"#,
    ]
    .into_iter()
    .enumerate()
    {
        records.push((
            1_740_960_000_000_000_000 + i as i64,
            text.as_bytes().to_vec(),
        ));
    }
    // Bytes that are no UTF-8 around an escape, in a log line.
    records.push((
        1_740_960_000_000_000_000,
        b"{\"log\":\"\xff\\\"E \xc3\"}".to_vec(),
    ));
    let mut fast = Filter::new(FilterConfig::default(), Some(random_models()));
    let mut steps = Filter::new(FilterConfig::default(), Some(random_models()));
    let (mut a, mut b, mut tags) = (Vec::new(), Vec::new(), Vec::new());
    for (now, r) in &records {
        fast.process(b"kube.var.log", *now, r, &mut a);
        let Ok(rec) = Record::parse(r) else {
            steps.process(b"kube.var.log", *now, r, &mut b);
            assert_eq!(a, b);
            continue;
        };
        let obs = normalize(&rec, b"kube.var.log", *now);
        let verdict = steps.observe(&obs);
        tags.clear();
        write_tags(&mut tags, &obs, &verdict, steps.model_id());
        b.clear();
        splice(&rec, &tags, &mut b);
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "{}",
            String::from_utf8_lossy(r)
        );
    }
}
