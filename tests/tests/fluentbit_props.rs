//! Property tests of the `.wasm` filter in one persistent instance (as Fluent
//! Bit keeps it): for any input it never traps, its output is a JSON object
//! (serde_json), and for object inputs removing `edgeheal` gives the input back
//! byte for byte, but for the non-finite numbers Fluent Bit writes where
//! values stand (`inf`, `-inf`, `nan`, `-nan`), each replaced (`1e+999`,
//! `-1e+999`, `null`). Native and wasm agree on every generated input.

use std::cell::RefCell;

use proptest::prelude::*;
use serde_json::{Map, Value};

use edgeheal_tests::fluentbit_harness::{
    EventTime, FilterOutcome, FilterWasmConfig, FluentBitWasm,
};
use edgeheal_tests::json_check::{is_json_object, member_value, remove_member, top_level_members};
use edgeheal_tests::{native_filter, plugin_wasm, FUNCTION_NAME};

#[path = "../../plugin/tests/common/non_finite_text.rs"]
mod non_finite_text;

use non_finite_text::{as_fluent_bit_writes, as_replaced, stand_in_leaf};

thread_local! {
    // One instance for the whole run, like a Fluent Bit [FILTER] section.
    static FB: RefCell<FluentBitWasm> = RefCell::new(
        FluentBitWasm::load(plugin_wasm(), &FilterWasmConfig::default()).expect("load the filter")
    );
    static NATIVE: RefCell<edgeheal_plugin::Filter> = RefCell::new(native_filter());
}

const T: EventTime = EventTime {
    sec: 1_748_736_000,
    nsec: 0,
};

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        prop::sample::select(vec![
            "kubernetes",
            "log",
            "pod_name",
            "namespace_name",
            "time",
            "metric",
            "value",
            "edgeheal",
            "ERROR",
            "2025-06-01T00:00:00Z",
            "checkout-7d9f8b6c5d-x2k4q",
        ])
        .prop_map(|s| Value::String(s.to_string())),
        // Swapped for a non-finite number as Fluent Bit writes one.
        stand_in_leaf(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::sample::select(vec![
            "log",
            "message",
            "kubernetes",
            "pod_name",
            "namespace_name",
            "labels",
            "time",
            "timestamp",
            "@timestamp",
            "ts",
            "metric",
            "value",
            "name",
            "tags",
            "gauge",
            "counter",
            "involvedObject",
            "reason",
            "level",
            "status",
            "latency_ms",
        ])
        .prop_map(str::to_string),
    ]
}

/// A JSON object without a top-level `edgeheal`, written compactly or pretty,
/// with string values standing in for non-finite numbers (see
/// `non_finite_text`, which swaps them for the tokens or their replacements).
fn object_text() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec((key(), json_value()), 0..12),
        any::<bool>(),
    )
        .prop_map(|(members, pretty)| {
            let map: Map<String, Value> = members
                .into_iter()
                .filter(|(k, _)| k != "edgeheal")
                .collect();
            let value = Value::Object(map);
            if pretty {
                serde_json::to_vec_pretty(&value).unwrap_or_default()
            } else {
                serde_json::to_vec(&value).unwrap_or_default()
            }
        })
}

/// One record through the wasm instance and the native filter (both keep
/// state, so both see every record in the same order); they must agree.
fn run(tag: &[u8], input: &[u8]) -> Vec<u8> {
    let body = FB.with(|fb| {
        let mut fb = fb.borrow_mut();
        let outcome = fb.filter_exact(FUNCTION_NAME, tag, T, input);
        let traps = fb.stats().traps;
        assert_eq!(traps, 0, "trapped on {:?}", String::from_utf8_lossy(input));
        match outcome {
            FilterOutcome::Kept(body) => body,
            FilterOutcome::Dropped(why) => {
                panic!("dropped ({why:?}) on {:?}", String::from_utf8_lossy(input))
            }
        }
    });
    let native = NATIVE.with(|n| {
        let mut out = Vec::new();
        n.borrow_mut()
            .process(tag, T.as_filter_sees_ns(), input, &mut out);
        out
    });
    // Fluent Bit reads the result with `strlen`: a NUL would cut it.
    assert!(
        !native.contains(&0),
        "a NUL in the output for {:?}",
        String::from_utf8_lossy(input)
    );
    assert!(
        body == native,
        "native and wasm differ on {:?}\nnative: {}\nwasm:   {}",
        String::from_utf8_lossy(input),
        String::from_utf8_lossy(&native),
        String::from_utf8_lossy(&body)
    );
    body
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Removing `edgeheal` gives back the input, with only the non-finite
    /// numbers replaced.
    #[test]
    fn objects_come_back_exactly_with_one_edgeheal_added(text in object_text()) {
        let (input, _) = as_fluent_bit_writes(&text);
        let out = run(b"kube.prop", &input);
        prop_assert!(is_json_object(&out), "{}", String::from_utf8_lossy(&out));
        let members = top_level_members(&out).unwrap_or_default();
        prop_assert_eq!(members.iter().filter(|m| m.key == b"edgeheal").count(), 1);
        let restored = remove_member(&out, "edgeheal");
        prop_assert_eq!(restored, Some(as_replaced(&text)));
    }

    #[test]
    fn an_upstream_edgeheal_is_replaced_not_duplicated(text in object_text(), old in json_value()) {
        let mut value: Value = serde_json::from_slice(&text).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.insert("edgeheal".to_string(), old);
        }
        let written = serde_json::to_vec(&value).unwrap_or_default();
        let (input, _) = as_fluent_bit_writes(&written);
        let out = run(b"kube.prop", &input);
        prop_assert!(is_json_object(&out));
        let members = top_level_members(&out).unwrap_or_default();
        prop_assert_eq!(members.iter().filter(|m| m.key == b"edgeheal").count(), 1);
        prop_assert_eq!(
            remove_member(&out, "edgeheal"),
            remove_member(&as_replaced(&written), "edgeheal")
        );
    }

    #[test]
    fn arbitrary_bytes_never_trap_and_give_a_json_object(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        tag in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let out = run(&tag, &bytes);
        prop_assert!(is_json_object(&out), "{}", String::from_utf8_lossy(&out));
        prop_assert!(member_value(&out, "edgeheal").is_some());
    }

    #[test]
    fn malformed_json_never_traps(text in object_text(), cut in any::<prop::sample::Index>(), junk in any::<u8>()) {
        let (mut broken, _) = as_fluent_bit_writes(&text);
        if !broken.is_empty() {
            let at = cut.index(broken.len());
            broken.truncate(at);
            broken.push(junk);
        }
        let out = run(b"kube.prop", &broken);
        prop_assert!(is_json_object(&out), "{}", String::from_utf8_lossy(&out));
        if is_json_object(&broken) && remove_member(&broken, "edgeheal") == Some(broken.clone()) {
            prop_assert_eq!(remove_member(&out, "edgeheal"), Some(broken.clone()));
        }
    }

    #[test]
    fn time_seconds_past_2106_are_seen_modulo_two_to_the_32(sec in 0i64..i64::from(u32::MAX) * 4, nsec in 0u32..2_000_000_000) {
        let time = EventTime { sec, nsec };
        let record = br#"{"log":"t"}"#;
        let wasm = FB.with(|fb| fb.borrow_mut().call_function_format_json(FUNCTION_NAME, b"kube.t", time, record));
        let mut out = Vec::new();
        NATIVE.with(|n| n.borrow_mut().process(b"kube.t", time.as_filter_sees_ns(), record, &mut out));
        prop_assert_eq!(wasm.ok(), Some(out));
    }
}
