//! Table tests through [`Filter`]: records carrying the non-finite numbers
//! Fluent Bit writes for ±Inf and NaN doubles (`inf`, `-inf`, `nan`, `-nan`,
//! which are not JSON) are read and tagged, and leave as their text with
//! exactly those tokens replaced (`1e+999`, `-1e+999`, `null`); to
//! normalization a non-finite value is no value. Tokens in strings are text;
//! near misses (`infinity`, `nana`, `-in`, `inf` as a key) are no JSON and
//! are kept under `raw` as before.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use edgeheal_plugin::json::{strip, Record, TAG_KEY};
use edgeheal_plugin::normalize::normalize;
use edgeheal_plugin::observation::{LogLevel, MetricName, Signal, TimeSource};
use edgeheal_plugin::{Filter, FilterConfig, ModelSet};
use serde::Deserialize as _;
use serde_json::Value as J;

/// Pipeline event time.
const EVENT_TIME: i64 = 1_748_736_000_250_000_000;

fn filter() -> Filter {
    let models = ModelSet::from_embedded().map(|m| m.unwrap());
    Filter::new(FilterConfig::default(), models)
}

/// `text` is JSON (serde_json skips `1e+999` as a number; into an `f64` it
/// reports it out of range, as for any `1e+999`).
fn is_json(text: &[u8]) -> bool {
    let mut de = serde_json::Deserializer::from_slice(text);
    serde::de::IgnoredAny::deserialize(&mut de).is_ok() && de.end().is_ok()
}

/// The `edgeheal` object of an output.
fn tags(out: &[u8]) -> J {
    let rec = Record::parse(out).unwrap();
    let raw = rec.get(TAG_KEY).unwrap();
    let edgeheal_plugin::json::Value::Object(text) = raw else {
        panic!("edgeheal is {raw:?}");
    };
    serde_json::from_slice(text).unwrap()
}

struct Case {
    name: &'static str,
    tag: &'static str,
    /// As Fluent Bit hands it to the filter.
    record: &'static str,
    /// What leaves, less its `edgeheal` member.
    replaced: &'static str,
    kind: &'static str,
    /// What normalization reads from it.
    signal: fn(&Signal) -> bool,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "fluent-bit cpu input, cpu_p +Inf and its parts NaN",
            tag: "node.node-1.cpu",
            record: r#"{"cpu_p":inf,"user_p":nan,"system_p":-nan,"cpu0.p_cpu":inf,"cpu0.p_user":20.0,"cpu0.p_system":-nan}"#,
            replaced: r#"{"cpu_p":1e+999,"user_p":null,"system_p":null,"cpu0.p_cpu":1e+999,"cpu0.p_user":20.0,"cpu0.p_system":null}"#,
            kind: "metric",
            // No sample: +Inf is no CPU share.
            signal: |s| matches!(s, Signal::None),
        },
        Case {
            name: "fluent-bit cpu input, a NaN part beside a finite cpu_p",
            tag: "node.node-1.cpu",
            record: r#"{"cpu_p":26.5,"user_p":nan,"system_p":4.0}"#,
            replaced: r#"{"cpu_p":26.5,"user_p":null,"system_p":4.0}"#,
            kind: "metric",
            signal: |s| {
                matches!(s, Signal::Metric(m) if m.name == MetricName::NodeCpuPercent && m.value == 26.5)
            },
        },
        Case {
            name: "fluent-bit mem input, Mem.free -Inf: used from Mem.used",
            tag: "mem.0",
            record: r#"{"Mem.total":67108864,"Mem.used":16777216,"Mem.free":-inf,"Swap.total":0,"Swap.used":0,"Swap.free":nan,"hostname":"node-4"}"#,
            replaced: r#"{"Mem.total":67108864,"Mem.used":16777216,"Mem.free":-1e+999,"Swap.total":0,"Swap.used":0,"Swap.free":null,"hostname":"node-4"}"#,
            kind: "metric",
            signal: |s| {
                matches!(s, Signal::Metric(m) if m.name == MetricName::NodeMemoryPercent && m.value == 25.0)
            },
        },
        Case {
            name: "fluent-bit mem input, Mem.total +Inf: no share",
            tag: "mem.0",
            record: r#"{"Mem.total":inf,"Mem.used":16777216,"Mem.free":50331648,"hostname":"node-4"}"#,
            replaced: r#"{"Mem.total":1e+999,"Mem.used":16777216,"Mem.free":50331648,"hostname":"node-4"}"#,
            kind: "metric",
            signal: |s| matches!(s, Signal::None),
        },
        Case {
            name: "metric sample, value NaN",
            tag: "edgeheal.metrics",
            record: r#"{"metric":"container_memory_working_set_bytes","value":nan,"labels":{"namespace":"shop","pod":"web-7d4b9c8f6-x9z2b","container":"app"},"timestamp":1748736000000}"#,
            replaced: r#"{"metric":"container_memory_working_set_bytes","value":null,"labels":{"namespace":"shop","pod":"web-7d4b9c8f6-x9z2b","container":"app"},"timestamp":1748736000000}"#,
            kind: "metric",
            signal: |s| matches!(s, Signal::None),
        },
        Case {
            name: "vector metric_to_log, gauge value -Inf, pretty",
            tag: "edgeheal.metrics",
            record: "{\n  \"gauge\": {\n    \"value\": -inf\n  },\n  \"kind\": \"absolute\",\n  \"name\": \"container_cpu_usage_cores\",\n  \"tags\": {\"namespace\": \"shop\", \"pod\": \"web-7d4b9c8f6-x9z2b\", \"container\": \"app\"}\n}\n",
            replaced: "{\n  \"gauge\": {\n    \"value\": -1e+999\n  },\n  \"kind\": \"absolute\",\n  \"name\": \"container_cpu_usage_cores\",\n  \"tags\": {\"namespace\": \"shop\", \"pod\": \"web-7d4b9c8f6-x9z2b\", \"container\": \"app\"}\n}\n",
            kind: "metric",
            signal: |s| matches!(s, Signal::None),
        },
        Case {
            name: "container log (Keep_Log Off), -inf in nested objects and arrays, time +Inf",
            tag: "kube.var.log.containers.web.log",
            record: r#"{"ts":inf,"stream":"stdout","log_processed":{"level":"error","status":502,"latency_ms":-inf,"samples":[1.5,-inf,[nan,{"x":-inf}]],"detail":{"rate":-nan,"note":"-inf"}},"kubernetes":{"pod_name":"web-7d4b9c8f6-x9z2b","namespace_name":"shop","labels":{"app":"web"}}}"#,
            replaced: r#"{"ts":1e+999,"stream":"stdout","log_processed":{"level":"error","status":502,"latency_ms":-1e+999,"samples":[1.5,-1e+999,[null,{"x":-1e+999}]],"detail":{"rate":null,"note":"-inf"}},"kubernetes":{"pod_name":"web-7d4b9c8f6-x9z2b","namespace_name":"shop","labels":{"app":"web"}}}"#,
            kind: "log",
            // The level and status read; no latency.
            signal: |s| {
                matches!(s, Signal::Log(l) if l.level == Some(LogLevel::Error)
                    && l.status == Some(502) && l.latency_ms.is_none())
            },
        },
        Case {
            name: "log fields that are numbers, each non-finite: none read",
            tag: "kube.var.log.containers.web.log",
            record: r#"{"log_processed":{"level":inf,"status":-inf,"duration":nan,"http":{"status_code":inf}},"kubernetes":{"pod_name":"web-7d4b9c8f6-x9z2b","namespace_name":"shop"}}"#,
            replaced: r#"{"log_processed":{"level":1e+999,"status":-1e+999,"duration":null,"http":{"status_code":1e+999}},"kubernetes":{"pod_name":"web-7d4b9c8f6-x9z2b","namespace_name":"shop"}}"#,
            kind: "log",
            signal: |s| {
                matches!(s, Signal::Log(l) if l.status.is_none() && l.latency_ms.is_none()
                    && !l.is_request)
            },
        },
        Case {
            name: "tokens in strings and keys are text, beside one that is a value",
            tag: "kube.var.log.containers.web.log",
            record: r#"{"log":"cpu_p=inf user_p=-nan [nan, inf]","inf":"nan","-nan":[],"v":-nan,"kubernetes":{"pod_name":"web-7d4b9c8f6-x9z2b","namespace_name":"shop"}}"#,
            replaced: r#"{"log":"cpu_p=inf user_p=-nan [nan, inf]","inf":"nan","-nan":[],"v":null,"kubernetes":{"pod_name":"web-7d4b9c8f6-x9z2b","namespace_name":"shop"}}"#,
            kind: "log",
            signal: |s| matches!(s, Signal::Log(_)),
        },
        Case {
            name: "an upstream edgeheal holding one is replaced as before",
            tag: "kube.var.log.containers.web.log",
            record: r#"{"edgeheal":{"score":nan,"why":[inf]},"log":"x","v":[-inf],"kubernetes":{"pod_name":"web-7d4b9c8f6-x9z2b","namespace_name":"shop"}}"#,
            replaced: r#"{"log":"x","v":[-1e+999],"kubernetes":{"pod_name":"web-7d4b9c8f6-x9z2b","namespace_name":"shop"}}"#,
            kind: "log",
            signal: |s| matches!(s, Signal::Log(_)),
        },
    ]
}

/// Each record leaves as its text with the tokens replaced and nothing else
/// changed, as valid JSON, tagged exactly as the record written with
/// `1e+999` / `null` by anyone is (in a filter of its own, with the same
/// history); normalization reads no number from a non-finite value.
#[test]
fn records_with_fluent_bit_s_non_finite_numbers_are_read_with_them_replaced() {
    for case in cases() {
        let name = case.name;
        let mut out = Vec::new();
        filter().process(
            case.tag.as_bytes(),
            EVENT_TIME,
            case.record.as_bytes(),
            &mut out,
        );
        let shown = String::from_utf8_lossy(&out).into_owned();
        assert!(is_json(&out), "{name}: {shown}");
        let tags = tags(&out);
        assert_eq!(tags["kind"], case.kind, "{name}: {shown}");
        assert!(tags.get("error").is_none(), "{name}: {shown}");
        let mut back = Vec::new();
        strip(&Record::parse(&out).unwrap(), TAG_KEY, &mut back);
        assert_eq!(String::from_utf8_lossy(&back), case.replaced, "{name}");

        let mut written = Vec::new();
        filter().process(
            case.tag.as_bytes(),
            EVENT_TIME,
            case.replaced.as_bytes(),
            &mut written,
        );
        if case.replaced.contains(TAG_KEY) {
            // The record had its own `edgeheal`, which the splice drops.
            assert_eq!(tags, self::tags(&written), "{name}");
        } else {
            assert_eq!(shown, String::from_utf8_lossy(&written), "{name}");
        }

        let rec = Record::parse(case.replaced.as_bytes()).unwrap();
        let obs = normalize(&rec, case.tag.as_bytes(), EVENT_TIME);
        assert!((case.signal)(&obs.signal), "{name}: {:?}", obs.signal);
        if case.record.contains(r#""ts":inf"#) {
            assert_eq!(obs.ts_source, TimeSource::EventTime, "{name}");
        }
    }
}

/// Near misses are not what `%g` writes: the record is no JSON and is kept
/// whole as text under `raw`, as before.
#[test]
fn near_misses_are_kept_as_text() {
    for record in [
        r#"{"a":infinity}"#,
        r#"{"a":Infinity}"#,
        r#"{"a":-infinity}"#,
        r#"{"a":NaN}"#,
        r#"{"a":nana}"#,
        r#"{"a":nans}"#,
        r#"{"a":inf1}"#,
        r#"{"a":-in}"#,
        r#"{"a":+inf}"#,
        r#"{"a":[inf:1]}"#,
        r#"{inf:1}"#,
        r#"{"a":1,nan:2}"#,
        r#"{"a":inf"#,
        r#"{"a":inf,"b":1,}"#,
        r#"{"a":nan} {"#,
    ] {
        let mut out = Vec::new();
        filter().process(b"kube.x", EVENT_TIME, record.as_bytes(), &mut out);
        assert!(is_json(&out), "{record}");
        let v: J = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["raw"], record, "{record}");
        assert_eq!(v["edgeheal"]["kind"], "unknown", "{record}");
        let error = v["edgeheal"]["error"].as_str().unwrap();
        assert!(!error.contains("non-finite"), "{record}: {error}");
    }
}

/// A stream of them: one filter, every record tagged and replaced, and the
/// buffers the rewrite keeps serve record after record.
#[test]
fn a_node_s_cpu_records_with_non_finite_shares_are_all_tagged() {
    let mut f = filter();
    let mut twin = filter();
    let (mut out, mut want) = (Vec::new(), Vec::new());
    for i in 0..500i64 {
        let value = match i % 7 {
            0 => "inf".to_owned(),
            3 => "-nan".to_owned(),
            5 => "nan".to_owned(),
            _ => format!("{}.5", 20 + i % 13),
        };
        let record = format!(r#"{{"cpu_p":{value},"user_p":nan,"system_p":4.0}}"#);
        let replaced = record
            .replace("-nan", "null")
            .replace("nan", "null")
            .replace("inf", "1e+999");
        let t = EVENT_TIME + i * 1_000_000_000;
        f.process(b"node.node-1.cpu", t, record.as_bytes(), &mut out);
        twin.process(b"node.node-1.cpu", t, replaced.as_bytes(), &mut want);
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&want),
            "record {i}"
        );
        assert_eq!(tags(&out)["entity"], "_/node-1", "record {i}");
    }
}
