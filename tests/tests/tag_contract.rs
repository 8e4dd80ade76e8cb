//! The tag contract (ARCHITECTURE.md, "Tags"; README, "The tag contract"),
//! checked on what the filter writes: every output's `edgeheal` object has
//! the fixed fields with their types and values, the heal API's own reader
//! accepts it, and the routing invariant holds (`anomaly` exactly when
//! `severity` is not `none`: the shipped configs route on `severity`,
//! because Fluent Bit's `rewrite_tag` matches strings only).
//!
//! The native core writes what the `.wasm` writes, byte for byte
//! (`fluentbit_wasm.rs`), so the native filter stands for both here.

#![allow(clippy::panic)]

mod contract;

use contract::check;
use edgeheal_healer::tags::Tags;
use edgeheal_plugin::{Filter, FilterConfig, ModelSet};
use edgeheal_tests::records::MixedStream;
use serde_json::Value;

/// Records that are not the stream's usual: unreadable ones, an upstream
/// `edgeheal` object, identities with odd or missing parts.
fn odd_records() -> Vec<(&'static str, Vec<u8>)> {
    let long = "x".repeat(300);
    vec![
        ("kube.var.log", b"not json".to_vec()),
        ("kube.var.log", b"[1,2]".to_vec()),
        ("kube.var.log", b"{\"a\":\x01}".to_vec()),
        ("kube.var.log", b"{\"log\":\"\xff\xfe\"}".to_vec()),
        (
            "kube.var.log",
            br#"{"log":"ERROR x","edgeheal":{"kind":"bogus","score":7},"kubernetes":{"pod_name":"web-7d4b9c8f6-x2x9z","namespace_name":"shop"}}"#.to_vec(),
        ),
        (
            "kube.var.log",
            format!(r#"{{"log":"ERROR x","kubernetes":{{"pod_name":"{long}","namespace_name":"{long}"}}}}"#).into_bytes(),
        ),
        ("node.node-1.cpu", br#"{"cpu_p":99.5,"user_p":90,"system_p":9.5}"#.to_vec()),
        ("cpu.0", br#"{"cpu_p":99.5,"user_p":90,"system_p":9.5}"#.to_vec()),
        (
            "kube.var.log",
            br#"{"log":"ERROR x","kubernetes":{"pod_name":"Web_1","namespace_name":"Shop","labels":{"app":"My_App"},"host":"Node_1"}}"#.to_vec(),
        ),
        (
            "kube.var.log",
            br#"{"metric":"container_memory_working_set_bytes","value":1e9,"labels":{"namespace":"shop","pod":"API.Server","container":"c"}}"#.to_vec(),
        ),
        ("mem.0", br#"{"Mem.total":100,"Mem.used":99,"Mem.free":1,"hostname":"WORKER_7"}"#.to_vec()),
        ("kube.var.log", br#"{"message":"hello"}"#.to_vec()),
        ("kube.var.log", b"{}".to_vec()),
    ]
}

fn run(models: Option<ModelSet>) -> (usize, usize) {
    let scored = models.is_some();
    let mut filter = Filter::new(FilterConfig::default(), models);
    let mut out = Vec::new();
    let (mut checked, mut anomalies) = (0, 0);
    let mut failures = Vec::new();
    let mut stream = MixedStream::new(7);
    let mut first_ns = None;
    for i in 0..20_000 {
        let r = stream
            .next()
            .unwrap_or_else(|| panic!("the stream ends at {i}"));
        let ns = r.time.as_filter_sees_ns();
        first_ns.get_or_insert(ns);
        filter.process(r.tag.as_bytes(), ns, &r.json, &mut out);
        if let Err(e) = check(&out, scored) {
            failures.push(format!(
                "record {i} ({}): {e}",
                String::from_utf8_lossy(&r.json)
            ));
        }
        anomalies += usize::from(out.windows(15).any(|w| w == br#""anomaly":true,"#));
        checked += 1;
    }
    let ns = first_ns.unwrap_or(0);
    for (tag, record) in odd_records() {
        filter.process(tag.as_bytes(), ns, &record, &mut out);
        if let Err(e) = check(&out, scored) {
            failures.push(format!("{}: {e}", String::from_utf8_lossy(&record)));
        }
        checked += 1;
    }
    for size in [0, 1, 1 << 30] {
        filter.process_lost(ns, size, &mut out);
        if let Err(e) = check(&out, scored) {
            failures.push(format!("NULL record of {size} bytes: {e}"));
        }
        checked += 1;
    }
    failures.truncate(10);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    (checked, anomalies)
}

#[test]
fn every_output_keeps_the_contract_with_the_embedded_models() {
    let models = ModelSet::from_embedded().map(|m| m.unwrap_or_else(|e| panic!("{e}")));
    assert!(models.is_some(), "the filter embeds models/default");
    let (checked, anomalies) = run(models);
    // The check covers anomalous outputs too, not only quiet ones.
    assert!(
        anomalies > 100,
        "{anomalies} anomalies in {checked} outputs"
    );
}

#[test]
fn every_output_keeps_the_contract_without_models() {
    let (checked, anomalies) = run(None);
    assert_eq!(anomalies, 0);
    assert!(checked > 20_000);
}

/// A stack trace's continuation lines (frames, `Caused by:`) are no lines
/// of their own, yet each is a record and leaves with the contract's tags:
/// a `log` of its pod and workload, with its entity's verdict like any other
/// record of it (so an error burst's frames are routed with it), and never
/// a traffic surge of their own.
#[test]
fn stack_trace_continuation_records_keep_the_contract() {
    use edgeheal_tests::stack_traces;
    let models = ModelSet::from_embedded().map(|m| m.unwrap_or_else(|e| panic!("{e}")));
    let mut filter = Filter::new(FilterConfig::default(), models);
    let mut out = Vec::new();
    let mut failures = Vec::new();
    let (mut frames, mut frames_in_bursts) = (0, 0);
    for r in stack_traces::stream_records(3, 1500, 3, 12) {
        filter.process(
            r.tag.as_bytes(),
            r.time.as_filter_sees_ns(),
            &r.json,
            &mut out,
        );
        if let Err(e) = check(&out, true) {
            failures.push(format!("{}: {e}", String::from_utf8_lossy(&r.json)));
        }
        let record: Value = serde_json::from_slice(&r.json).unwrap_or_default();
        let line = record["log"].as_str().or(record["message"].as_str());
        if !line.is_some_and(|l| l.starts_with("\tat ") || l.starts_with("Caused by: ")) {
            continue;
        }
        frames += 1;
        let tags: Value = serde_json::from_slice(&out).unwrap_or_default();
        let tags = &tags["edgeheal"];
        let pod = record["kubernetes"]["pod_name"].as_str();
        assert_eq!(
            (tags["kind"].as_str(), tags["pod"].as_str()),
            (Some("log"), pod),
            "{tags}"
        );
        assert!(tags["entity"].is_string(), "{tags}");
        assert_ne!(tags["incident"], "traffic_surge", "{tags}");
        frames_in_bursts +=
            usize::from(tags["incident"] == "error_burst" && tags["anomaly"] == true);
    }
    failures.truncate(10);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(frames > 1_000, "{frames} frames");
    assert!(
        frames_in_bursts > 100,
        "{frames_in_bursts} of {frames} frames in error bursts"
    );
}

/// The checker itself refuses each kind of break.
#[test]
fn the_check_refuses_broken_tags() {
    let good = r#"{"a":1,"edgeheal":{"kind":"log","entity":"shop/web","pod":"web-1","ts":"2025-06-01T00:00:00Z","score":0.9,"anomaly":true,"severity":"critical","incident":"error_burst","action":"rollout_restart","why":[{"feature":"err_rate","value":0.5,"contribution":0.2}],"model":"default@0123456789ab","family":"errors"}}"#;
    assert_eq!(check(good.as_bytes(), true), Ok(()));
    let broken = [
        (r#""kind":"log""#, r#""kind":"trace""#),
        (r#""severity":"critical""#, r#""severity":"none""#),
        (r#""anomaly":true"#, r#""anomaly":"yes""#),
        (r#""score":0.9"#, r#""score":1.5"#),
        (
            r#""ts":"2025-06-01T00:00:00Z""#,
            r#""ts":"2025-06-01 00:00""#,
        ),
        (r#""model":"default@0123456789ab""#, r#""model":"default""#),
        (r#""incident":"error_burst""#, r#""incident":"oops""#),
        (r#""action":"rollout_restart""#, r#""action":"reboot""#),
        (
            r#""why":[{"feature":"err_rate","value":0.5,"contribution":0.2}]"#,
            r#""why":[1]"#,
        ),
        (r#""family":"errors""#, r#""fam":"errors""#),
        (r#""pod":"web-1""#, r#""pod":7"#),
        (r#""entity":"shop/web""#, r#""entity":"Shop/web""#),
        (r#","model":"default@0123456789ab""#, ""),
    ];
    for (from, to) in broken {
        let bad = good.replacen(from, to, 1);
        assert_ne!(bad, good);
        assert!(check(bad.as_bytes(), true).is_err(), "accepted {bad}");
    }
    let unscored = good
        .replacen(r#""model":"default@0123456789ab""#, r#""model":"none""#, 1)
        .replacen(r#""score":0.9"#, r#""score":null"#, 1);
    assert!(
        check(unscored.as_bytes(), false).is_err(),
        "an anomaly without models"
    );
}

/// The edge drops the names the heal API would refuse: its tag parser takes
/// a pod or an entity exactly when the edge's checks keep each name in it.
#[test]
fn the_heal_api_takes_exactly_the_names_the_edge_keeps() {
    use edgeheal_plugin::observation as edge;
    let takes = |tags: Value| Tags::from_record(&serde_json::json!({ "edgeheal": tags })).is_ok();
    let with = |key: &str, value: &str| {
        serde_json::json!({
            "kind": "log", "entity": "shop/web", "pod": "web-1", "ts": "2025-06-01T00:00:00Z",
            "score": null, "anomaly": false, "severity": "none", "incident": "unknown",
            "action": "none", "why": [], "model": "none", key: value,
        })
    };
    assert!(takes(with("pod", "web-1")), "the base record is taken");
    let mut rng = edgeheal_tests::records::Rng::new(3);
    const BYTES: &[u8] = b"ab09-._A \xc3\xa9";
    let mut names: Vec<String> = ["wéb", "é", "a.é", "_"].map(String::from).to_vec();
    // The length bounds, each side.
    let label = "a".repeat(63);
    let subdomain = [label.as_str(); 3].join(".") + "." + &"b".repeat(61);
    names.extend([
        label.clone(),
        label + "a",
        subdomain.clone(),
        subdomain + "b",
    ]);
    for _ in 0..20_000 {
        let len = match rng.below(4) {
            0 => rng.below(8),
            1 => 60 + rng.below(8),
            _ => 250 + rng.below(8),
        } as usize;
        let name: Vec<u8> = (0..len)
            .map(|_| *rng.pick(&BYTES[..BYTES.len() - 2]))
            .collect();
        names.push(String::from_utf8(name).unwrap_or_default());
    }
    let mut kept = [0; 3];
    for name in &names {
        let label = edge::is_dns1123_label(name.as_bytes());
        let subdomain = edge::is_dns1123_subdomain(name.as_bytes());
        assert_eq!(takes(with("pod", name)), subdomain, "pod {name:?}");
        let workload = format!("shop/{name}");
        assert_eq!(takes(with("entity", &workload)), subdomain, "{workload:?}");
        // `_/<name>` is the node-level entity, not a namespace.
        let namespace = format!("{name}/web");
        if name != "_" {
            assert_eq!(takes(with("entity", &namespace)), label, "{namespace:?}");
        }
        kept[0] += usize::from(label);
        kept[1] += usize::from(subdomain && !label);
        kept[2] += usize::from(!subdomain);
    }
    // Each side of each rule is reached (this seed gives [526, 51, 19431]).
    assert!(kept.iter().all(|&n| n > 20), "{kept:?}");
}

/// With `explain_normal` on, records whose verdict is not anomalous carry
/// their entity's explanation too; every other byte is the default's, and
/// anomalous records carry the same `why` either way.
#[test]
fn explain_normal_adds_why_to_records_that_are_not_anomalous_and_nothing_else() {
    let models = || ModelSet::from_embedded().map(|m| m.unwrap_or_else(|e| panic!("{e}")));
    let mut quiet = Filter::new(FilterConfig::default(), models());
    let explained = FilterConfig {
        explain_normal: true,
        ..FilterConfig::default()
    };
    let mut loud = Filter::new(explained, models());
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut stream = MixedStream::new(7);
    let (mut explained_normal, mut anomalous) = (0, 0);
    for i in 0..20_000 {
        let r = stream
            .next()
            .unwrap_or_else(|| panic!("the stream ends at {i}"));
        let ns = r.time.as_filter_sees_ns();
        quiet.process(r.tag.as_bytes(), ns, &r.json, &mut a);
        loud.process(r.tag.as_bytes(), ns, &r.json, &mut b);
        let parse = |out: &[u8]| -> Value {
            serde_json::from_slice(out).unwrap_or_else(|e| panic!("record {i}: {e}"))
        };
        let (mut qa, mut lb) = (parse(&a), parse(&b));
        let why_a = qa["edgeheal"]["why"].take();
        let why_b = lb["edgeheal"]["why"].take();
        assert_eq!(qa, lb, "record {i}: more than `why` differs");
        if qa["edgeheal"]["anomaly"] == true {
            anomalous += 1;
            assert_eq!(why_a, why_b, "record {i}: an anomaly's `why` differs");
            assert_ne!(
                why_a,
                Value::Array(vec![]),
                "record {i}: an anomaly without `why`"
            );
        } else {
            assert_eq!(why_a, Value::Array(vec![]), "record {i}");
            explained_normal += usize::from(why_b != Value::Array(vec![]));
        }
    }
    assert!(anomalous > 100, "{anomalous} anomalies");
    assert!(
        explained_normal > 100,
        "{explained_normal} explained normal records"
    );
}
