//! Real records, broken the ways pipelines break them: the mixed stream's
//! container logs, events and metric samples with a member deleted, renamed,
//! repeated or given a value of another type or an extreme one (numbers past
//! `f64`, negative and far-off times, empty and overlong names, escapes), also
//! inside the log line's own JSON, and then bytes cut or flipped; the event
//! time jumps back and forth. The native core (debug assertions and overflow
//! checks on in tests) must not panic on any of them, every output must keep
//! the tag contract (`tag_contract.rs`), and removing `edgeheal` must give the
//! input back byte for byte whenever the input was a JSON object. The shipped
//! `.wasm`, called as Fluent Bit calls it, must write the native core's bytes.
//!
//! `EDGEHEAL_MUTATIONS=N` runs N mutated records instead of the default.

#![allow(clippy::panic)]

use edgeheal_plugin::{Filter, FilterConfig, ModelSet};
use edgeheal_tests::fluentbit_harness::{EventTime, FilterWasmConfig, FluentBitWasm};
use edgeheal_tests::json_check::{is_json_object, remove_member, top_level_members};
use edgeheal_tests::records::{MixedStream, Rng, StreamRecord};
use edgeheal_tests::{native_filter, plugin_wasm, same_as_native, FUNCTION_NAME};
use serde_json::{Map, Number, Value};

mod contract;

/// Values a member may be given instead of its own.
fn odd_value(rng: &mut Rng) -> Value {
    let long = "a".repeat(300);
    let choices: Vec<Value> = vec![
        Value::Null,
        Value::Bool(true),
        Value::String(String::new()),
        Value::String(long),
        Value::String("Shop_Front".into()),
        Value::String("-1".into()),
        Value::String("NaN".into()),
        Value::String("1e400".into()),
        Value::String("9999999999999999999999".into()),
        Value::String("2026-13-45T99:99:99Z".into()),
        Value::String("0001-01-01T00:00:00Z".into()),
        Value::String("9999-12-31T23:59:59.999999999+14:00".into()),
        Value::String("\u{0}\u{1f}\"\\\u{2028}é日本".into()),
        Value::String("ERROR OOMKilled BackOff 503".into()),
        Value::Number(Number::from(0)),
        Value::Number(Number::from(-1)),
        Value::Number(Number::from(u64::MAX)),
        Value::Number(Number::from(i64::MIN)),
        Value::Number(Number::from_f64(f64::MAX).unwrap_or(Number::from(0))),
        Value::Number(Number::from_f64(-f64::MAX).unwrap_or(Number::from(0))),
        Value::Number(Number::from_f64(5e-324).unwrap_or(Number::from(0))),
        Value::Number(Number::from_f64(-0.0).unwrap_or(Number::from(0))),
        Value::Number(Number::from_f64(1e18).unwrap_or(Number::from(0))),
        Value::Number(Number::from(1_748_736_000_123_456_789u64)),
        Value::Array(vec![]),
        Value::Array(vec![Value::Null, Value::Number(Number::from(1))]),
        Value::Object(Map::new()),
    ];
    rng.pick(&choices).clone()
}

/// Key renames that swap one meaning for another.
const KEYS: &[&str] = &[
    "log",
    "message",
    "msg",
    "level",
    "severity",
    "status",
    "latency_ms",
    "duration",
    "time",
    "timestamp",
    "@timestamp",
    "ts",
    "kubernetes",
    "pod_name",
    "namespace_name",
    "pod_namespace",
    "container_name",
    "labels",
    "pod_labels",
    "host",
    "metric",
    "name",
    "value",
    "tags",
    "gauge",
    "counter",
    "reason",
    "involvedObject",
    "kind",
    "count",
    "cpu_p",
    "Mem.used",
    "edgeheal",
];

/// One structural change somewhere in `value` (or in a string member that
/// holds JSON, as a log line does).
fn mutate(rng: &mut Rng, value: &mut Value, depth: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = rng.pick(&keys).clone();
            let descend = depth < 4 && rng.below(3) == 0;
            match (descend, rng.below(6)) {
                (true, _) => {
                    if let Some(v) = map.get_mut(&key) {
                        mutate(rng, v, depth + 1);
                    }
                }
                (false, 0) => {
                    map.remove(&key);
                }
                (false, 1) => {
                    if let Some(v) = map.remove(&key) {
                        map.insert((*rng.pick(KEYS)).to_string(), v);
                    }
                }
                (false, _) => {
                    let new = odd_value(rng);
                    map.insert(key, new);
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = rng.below(items.len() as u64) as usize;
            if let Some(v) = items.get_mut(i) {
                mutate(rng, v, depth + 1);
            }
        }
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(mut inner @ Value::Object(_)) => {
                mutate(rng, &mut inner, depth + 1);
                *s = inner.to_string();
            }
            _ => *value = odd_value(rng),
        },
        _ => *value = odd_value(rng),
    }
}

/// Text-level changes JSON values cannot express: numbers past `f64`,
/// repeated members, and (rarely) a cut or a flipped byte.
fn mutate_text(rng: &mut Rng, text: &mut Vec<u8>) {
    match rng.below(12) {
        0 => {
            let big: &[&[u8]] = &[
                b"1e400",
                b"-1e400",
                b"123456789012345678901234567890",
                b"-0",
                b"1E+2",
                b"0.0000000000000000000000001",
            ];
            let number = *rng.pick(big);
            if let Some(at) = text.windows(2).position(|w| w == b":1" || w == b":0") {
                text.splice(at + 1..at + 2, number.iter().copied());
            }
        }
        1 => {
            if let Some(members) = top_level_members(text) {
                if let Some(m) = members.get(rng.below(members.len() as u64) as usize) {
                    // Compact text: the last byte is the closing brace.
                    let mut insert = vec![b','];
                    insert.extend_from_slice(&text[m.span.clone()]);
                    let at = text.len() - 1;
                    text.splice(at..at, insert);
                }
            }
        }
        2 if !text.is_empty() => {
            let cut = rng.below(text.len() as u64) as usize;
            text.truncate(cut);
        }
        3 if !text.is_empty() => {
            let at = rng.below(text.len() as u64) as usize;
            text[at] = rng.next_u64() as u8;
        }
        _ => {}
    }
}

/// The event time: mostly moving on, sometimes far back or ahead, or
/// outside the 32 bits Fluent Bit passes the filter.
fn event_time(rng: &mut Rng, usual: EventTime) -> EventTime {
    const DAY: i64 = 86_400;
    let sec = match rng.below(40) {
        0 => usual.sec - DAY,
        1 => usual.sec + 3650 * DAY,
        2 => 0,
        3 => i64::from(u32::MAX),
        4 => -1,
        5 => i64::MAX,
        _ => usual.sec,
    };
    EventTime { sec, ..usual }
}

/// The mixed stream from `seed`, each record mutated.
fn mutated(seed: u64) -> impl Iterator<Item = StreamRecord> {
    let mut rng = Rng::new(seed);
    MixedStream::new(seed).map(move |r| {
        let mut json = match serde_json::from_slice::<Value>(&r.json) {
            Ok(mut value) => {
                for _ in 0..=rng.below(3) {
                    mutate(&mut rng, &mut value, 0);
                }
                serde_json::to_vec(&value).unwrap_or_default()
            }
            Err(_) => r.json.clone(),
        };
        mutate_text(&mut rng, &mut json);
        let time = event_time(&mut rng, r.time);
        let tag = if rng.below(8) == 0 {
            (*rng.pick(&["cpu.0", "mem.0", "node.node-1.cpu", "kube.events", ""])).to_string()
        } else {
            r.tag
        };
        StreamRecord { tag, time, json }
    })
}

fn run(models: Option<ModelSet>, records: usize, seed: u64) -> usize {
    let scored = models.is_some();
    let mut filter = Filter::new(
        FilterConfig {
            max_entities: 64,
            ..FilterConfig::default()
        },
        models,
    );
    let mut out = Vec::new();
    let mut failures = Vec::new();
    let mut objects = 0;
    for (i, r) in mutated(seed).take(records).enumerate() {
        let text = &r.json;
        filter.process(r.tag.as_bytes(), r.time.as_filter_sees_ns(), text, &mut out);
        let shown = || String::from_utf8_lossy(text).into_owned();
        if let Err(e) = contract::check(&out, scored) {
            failures.push(format!("record {i} {}: {e}", shown()));
        }
        if is_json_object(text) {
            objects += 1;
            let without = remove_member(&out, "edgeheal");
            if without.is_none() || without != remove_member(text, "edgeheal") {
                failures.push(format!(
                    "record {i} {}: the output without edgeheal is not the input: {}",
                    shown(),
                    String::from_utf8_lossy(&out)
                ));
            }
        }
    }
    failures.truncate(10);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    objects
}

fn records() -> usize {
    std::env::var("EDGEHEAL_MUTATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000)
}

#[test]
fn mutated_records_never_panic_and_keep_the_contract_with_the_embedded_models() {
    let models = ModelSet::from_embedded().map(|m| m.unwrap_or_else(|e| panic!("{e}")));
    assert!(models.is_some(), "the filter embeds models/default");
    let n = records();
    let objects = run(models, n, 11);
    // Most mutations keep the record an object: the byte-for-byte check ran.
    assert!(objects * 10 > n * 7, "{objects} objects in {n}");
}

#[test]
fn mutated_records_never_panic_and_keep_the_contract_without_models() {
    let n = records();
    let objects = run(None, n, 12);
    assert!(objects * 10 > n * 7, "{objects} objects in {n}");
}

#[test]
fn the_wasm_writes_the_native_bytes_on_mutated_records() {
    let mut fb = FluentBitWasm::load(
        plugin_wasm(),
        &FilterWasmConfig {
            function_name: FUNCTION_NAME.to_string(),
            ..FilterWasmConfig::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut native = native_filter();
    let n = records() / 4;
    for r in mutated(13).take(n) {
        same_as_native(&mut native, &mut fb, &r);
    }
    let stats = fb.stats();
    assert_eq!(stats.calls, n as u64);
    assert_eq!((stats.traps, stats.null_records, stats.dropped), (0, 0, 0));
}
