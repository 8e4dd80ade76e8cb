//! The tag contract's checker, shared by `tag_contract.rs` and
//! `mutated_records.rs`.

use edgeheal_healer::tags::Tags;
use edgeheal_tests::json_check::{is_json_object, member_value};
use serde_json::{Map, Value};

/// The fields every `edgeheal` object has (additions may follow).
pub const FIXED: [&str; 11] = [
    "kind", "entity", "pod", "ts", "score", "anomaly", "severity", "incident", "action", "why",
    "model",
];

/// The additions the README lists.
pub const ADDITIONS: [&str; 7] = [
    "family",
    "namespace",
    "workload",
    "workload_kind",
    "container",
    "node",
    "error",
];

fn one_of(tags: &Map<String, Value>, key: &str, allowed: &[&str]) -> Result<(), String> {
    match tags.get(key).and_then(Value::as_str) {
        Some(v) if allowed.contains(&v) => Ok(()),
        other => Err(format!("{key} is {other:?}, not one of {allowed:?}")),
    }
}

fn string_or_null(tags: &Map<String, Value>, key: &str) -> Result<(), String> {
    match tags.get(key) {
        None | Some(Value::Null | Value::String(_)) => Ok(()),
        Some(other) => Err(format!("{key} is {other}, not a string or null")),
    }
}

/// Checks one output against the contract; `scored` says whether the
/// filter has models (without, no score may appear).
pub fn check(output: &[u8], scored: bool) -> Result<(), String> {
    // The record around the tags keeps its bytes, invalid UTF-8 included,
    // so the whole is checked by the harness's JSON reader, and the tags
    // (always UTF-8) by serde.
    if !is_json_object(output) {
        return Err("output is not a JSON object".into());
    }
    let text = member_value(output, "edgeheal").ok_or("no edgeheal member")?;
    let record = serde_json::json!({
        "edgeheal": serde_json::from_slice::<Value>(text)
            .map_err(|e| format!("edgeheal is not JSON: {e}"))?
    });
    let tags = record["edgeheal"]
        .as_object()
        .ok_or("edgeheal is not an object")?;
    for key in FIXED {
        if !tags.contains_key(key) {
            return Err(format!("no `{key}`"));
        }
    }
    if let Some(k) = tags
        .keys()
        .find(|k| !FIXED.contains(&k.as_str()) && !ADDITIONS.contains(&k.as_str()))
    {
        return Err(format!(
            "`{k}` is neither a contract field nor a listed addition"
        ));
    }
    one_of(tags, "kind", &["log", "metric", "event", "unknown"])?;
    one_of(tags, "severity", &["none", "warning", "critical"])?;
    one_of(
        tags,
        "incident",
        &[
            "cpu_saturation",
            "memory_leak",
            "traffic_surge",
            "error_burst",
            "latency_spike",
            "crash_loop",
            "unknown",
        ],
    )?;
    one_of(
        tags,
        "action",
        &["scale_up", "rollout_restart", "delete_pod", "none"],
    )?;
    for key in [
        "entity",
        "pod",
        "family",
        "namespace",
        "workload",
        "container",
        "node",
    ] {
        string_or_null(tags, key)?;
    }
    let ts = tags["ts"].as_str().ok_or("ts is not a string")?;
    // The plugin's parser takes the epoch itself for "unset"; an event
    // time of 0 with no time in the record is still written as it is.
    let parsed = edgeheal_plugin::timestamp::parse_rfc3339(ts)
        .or((ts == "1970-01-01T00:00:00Z").then_some(0));
    if parsed.is_none() || !ts.ends_with('Z') {
        return Err(format!("ts {ts:?} is not RFC 3339 UTC"));
    }
    let anomaly = tags["anomaly"].as_bool().ok_or("anomaly is not a bool")?;
    let severe = tags["severity"] != "none";
    if anomaly != severe {
        return Err(format!(
            "anomaly {anomaly} with severity {}: routing on severity would differ",
            tags["severity"]
        ));
    }
    let score = match &tags["score"] {
        Value::Null => None,
        Value::Number(n) => n.as_f64(),
        other => return Err(format!("score is {other}")),
    };
    if let Some(s) = score {
        if !(0.0..=1.0).contains(&s) {
            return Err(format!("score {s} is outside 0..1"));
        }
    }
    let model = tags["model"].as_str().ok_or("model is not a string")?;
    if scored {
        let (name, id) = model.split_once('@').ok_or("model has no @")?;
        if name.is_empty() || id.len() != 12 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("model {model:?} is not name@<12 hex digits>"));
        }
    } else if model != "none" || score.is_some() || anomaly || tags["why"] != Value::Array(vec![]) {
        return Err(format!(
            "without models: model {model:?}, score {score:?}, anomaly {anomaly}, why {}",
            tags["why"]
        ));
    }
    if score.is_none() && anomaly {
        return Err("anomalous without a score".into());
    }
    let why = tags["why"].as_array().ok_or("why is not an array")?;
    // `why` explains anomalies (the default `explain_normal: false`).
    if !anomaly && !why.is_empty() {
        return Err(format!(
            "why {} on a record that is not anomalous",
            tags["why"]
        ));
    }
    for w in why {
        let ok =
            w["feature"].is_string() && w["value"].is_number() && w["contribution"].is_number();
        if !ok {
            return Err(format!(
                "why entry {w} is not {{feature, value, contribution}}"
            ));
        }
    }
    Tags::from_record(&record).map_err(|e| format!("the heal API refuses it: {e}"))?;
    Ok(())
}
