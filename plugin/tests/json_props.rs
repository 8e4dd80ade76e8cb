//! Property tests of record access and splicing: any JSON object serde_json
//! writes parses, splices into valid JSON, and gives back its exact bytes when
//! the `edgeheal` member is removed again; with Fluent Bit's non-finite
//! numbers (`inf`, `-inf`, `nan`, `-nan`) where values stand, it gives back
//! those bytes with only the tokens replaced; records already carrying
//! `edgeheal` leave with exactly one; arbitrary bytes never panic; deep
//! nesting and 10 MB records work.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use edgeheal_plugin::json::{
    most_replaced_len, replace_non_finite, splice, strip, write_str, JsonError, Record, Value,
    TAG_KEY,
};
use proptest::prelude::*;
use serde::Deserialize as _;
use serde_json::Value as J;

#[path = "common/non_finite_text.rs"]
mod non_finite_text;

use non_finite_text::{as_fluent_bit_writes, as_replaced, first_token, stand_in_leaf};

const TAGS: &[u8] = br#"{"kind":"log","score":null,"why":[],"s":"a\"b\u00e9"}"#;

fn json_value() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        any::<i64>().prop_map(J::from),
        any::<u64>().prop_map(J::from),
        any::<f64>()
            .prop_filter("finite", |v| v.is_finite())
            .prop_map(J::from),
        any::<String>().prop_map(J::String),
        "[a-z\\\\\"\\n\\t\\u{0}-\\u{1f}é😀]{0,12}".prop_map(J::String),
        // Swapped for a non-finite number by the tests that want one.
        stand_in_leaf(),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(J::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| J::Object(m.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_@.]{0,8}",
        any::<String>(),
        Just("edgeheal".to_owned()),
        Just("kubernetes".to_owned()),
    ]
}

fn object() -> impl Strategy<Value = (serde_json::Map<String, J>, bool)> {
    (
        prop::collection::btree_map(key(), json_value(), 0..10)
            .prop_map(|m| m.into_iter().collect::<serde_json::Map<String, J>>()),
        any::<bool>(),
    )
}

fn serialize(map: &serde_json::Map<String, J>, pretty: bool) -> Vec<u8> {
    if pretty {
        serde_json::to_vec_pretty(map).unwrap()
    } else {
        serde_json::to_vec(map).unwrap()
    }
}

/// The number of top-level members named `edgeheal` in `text`.
fn tag_members(text: &[u8]) -> usize {
    Record::parse(text)
        .unwrap()
        .members()
        .filter(|(k, _)| k == TAG_KEY)
        .count()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn splice_round_trips((map, pretty) in object()) {
        let mut map = map;
        map.remove(TAG_KEY);
        let input = serialize(&map, pretty);
        let rec = Record::parse(&input).unwrap();
        let mut out = Vec::new();
        splice(&rec, TAGS, &mut out);
        // Valid JSON, with the tags as the `edgeheal` member and nothing else changed.
        let parsed: serde_json::Map<String, J> = serde_json::from_slice(&out).unwrap();
        let tags: J = serde_json::from_slice(TAGS).unwrap();
        prop_assert_eq!(parsed.get(TAG_KEY), Some(&tags));
        let mut without = parsed.clone();
        without.remove(TAG_KEY);
        prop_assert_eq!(&without, &map);
        // Removing the member from the text gives back the input bytes.
        let mut back = Vec::new();
        strip(&Record::parse(&out).unwrap(), TAG_KEY, &mut back);
        prop_assert_eq!(back, input);
        prop_assert_eq!(tag_members(&out), 1);
    }

    /// With Fluent Bit's tokens where values stand, the strict parse stops
    /// at the first, and the record rewritten with them replaced splices and
    /// strips back to exactly that: the input with only the tokens replaced.
    #[test]
    fn non_finite_numbers_are_replaced_and_nothing_else((map, pretty) in object()) {
        let mut map = map;
        map.remove(TAG_KEY);
        let written = serialize(&map, pretty);
        let (input, tokens) = as_fluent_bit_writes(&written);
        let want = as_replaced(&written);
        match first_token(&written) {
            None => prop_assert!(Record::parse(&input).is_ok()),
            Some(at) => prop_assert_eq!(
                Record::parse(&input).map(|_| ()),
                Err(JsonError::NonFinite(at))
            ),
        }
        let mut replaced = Vec::new();
        prop_assert_eq!(replace_non_finite(&input, &mut replaced), Ok(tokens));
        prop_assert_eq!(&replaced, &want);
        prop_assert!(replaced.len() <= most_replaced_len(input.len()));
        let rec = Record::parse(&replaced).unwrap();
        let mut out = Vec::new();
        splice(&rec, TAGS, &mut out);
        prop_assert!(is_json(&out), "{}", String::from_utf8_lossy(&out));
        let mut back = Vec::new();
        strip(&Record::parse(&out).unwrap(), TAG_KEY, &mut back);
        prop_assert_eq!(back, want);
        prop_assert_eq!(tag_members(&out), 1);
    }

    #[test]
    fn lookups_agree_with_serde((map, pretty) in object()) {
        let input = serialize(&map, pretty);
        let rec = Record::parse(&input).unwrap();
        prop_assert_eq!(rec.len(), map.len());
        for (k, v) in &map {
            let got = rec.get(k).unwrap();
            match (v, &got) {
                (J::String(s), Value::Str(g)) => prop_assert_eq!(s, g.as_ref()),
                (J::Number(n), Value::Number(g)) => prop_assert_eq!(n.to_string(), *g),
                (J::Bool(b), Value::Bool(g)) => prop_assert_eq!(b, g),
                (J::Null, Value::Null) => {}
                (J::Object(o), Value::Object(raw)) => {
                    let sub: serde_json::Map<String, J> = serde_json::from_slice(raw).unwrap();
                    prop_assert_eq!(&sub, o);
                    let indexed = rec.object(k).unwrap();
                    for (k2, v2) in o {
                        if let (J::String(s), Some(Value::Str(g))) = (v2, got.get(k2)) {
                            prop_assert_eq!(s, g.as_ref());
                        }
                        // The parse's index of the object reads as a scan of it does.
                        prop_assert_eq!(indexed.get(k2), got.get(k2));
                    }
                }
                (J::Array(a), Value::Array(raw)) => {
                    let sub: Vec<J> = serde_json::from_slice(raw).unwrap();
                    prop_assert_eq!(&sub, a);
                    prop_assert_eq!(got.elements().count(), a.len());
                }
                (want, got) => prop_assert!(false, "{want:?} read as {got:?}"),
            }
        }
    }

    #[test]
    fn existing_tags_are_replaced_not_duplicated(
        (map, pretty) in object(),
        first in json_value(),
        last in json_value(),
        twice in any::<bool>(),
    ) {
        let mut map = map;
        map.remove(TAG_KEY);
        let body = serialize(&map, pretty);
        // `{"edgeheal":<first>, <body members>, "edgeheal":<last>}`, built as text
        // because a JSON map cannot hold a key twice.
        let inner = &body[1..body.len() - 1];
        let mut input = b"{\"edgeheal\":".to_vec();
        input.extend(serde_json::to_vec(&first).unwrap());
        if !inner.iter().all(u8::is_ascii_whitespace) {
            input.push(b',');
            input.extend_from_slice(inner);
        }
        if twice {
            input.extend_from_slice(b",\"edgeheal\":");
            input.extend(serde_json::to_vec(&last).unwrap());
        }
        input.push(b'}');
        let rec = Record::parse(&input).unwrap();
        let mut out = Vec::new();
        splice(&rec, TAGS, &mut out);
        prop_assert_eq!(tag_members(&out), 1);
        let parsed: serde_json::Map<String, J> = serde_json::from_slice(&out).unwrap();
        let mut without = parsed;
        without.remove(TAG_KEY);
        prop_assert_eq!(without, map);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check_consistent(&bytes);
    }

    #[test]
    fn json_like_bytes_never_panic(
        bytes in prop::collection::vec(
            prop::sample::select(b"{}[]\":,019.-eEtrufalsni \\u\xff\x01".to_vec()),
            0..96,
        )
    ) {
        let mut text = b"{".to_vec();
        text.extend(bytes);
        check_consistent(&text);
    }

    #[test]
    fn mutated_json_never_panics(
        (map, pretty) in object(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = serialize(&map, pretty);
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        check_consistent(&bytes);
        // Every proper prefix of an object is an error.
        let compact = serialize(&map, false);
        let truncated = &compact[..cut.index(compact.len())];
        prop_assert!(Record::parse(truncated).is_err());
    }

    #[test]
    fn write_str_round_trips(s in any::<String>()) {
        let mut out = Vec::new();
        write_str(&mut out, &s);
        let back: String = serde_json::from_slice(&out).unwrap();
        prop_assert_eq!(back, s);
    }
}

/// `text` is JSON (serde_json skips `1e+999` as a number; into an `f64` it
/// reports it out of range).
fn is_json(text: &[u8]) -> bool {
    let mut de = serde_json::Deserializer::from_slice(text);
    serde::de::IgnoredAny::deserialize(&mut de).is_ok() && de.end().is_ok()
}

/// Parsing is total and deterministic; what serde_json accepts as an object
/// we accept; what we accept splices into text that strips back to the input.
/// Replacing non-finite numbers changes nothing in what the strict parse
/// reads, and gives what it reads, only longer by the tokens' growth.
fn check_consistent(bytes: &[u8]) {
    let ours = Record::parse(bytes);
    assert_eq!(ours.is_ok(), Record::parse(bytes).is_ok());
    let mut replaced = Vec::new();
    match replace_non_finite(bytes, &mut replaced) {
        Ok(0) => assert_eq!(replaced, bytes),
        Ok(_) => {
            assert!(matches!(ours, Err(JsonError::NonFinite(_))), "{ours:?}");
            assert!(Record::parse(&replaced).is_ok());
            assert!(replaced.len() <= most_replaced_len(bytes.len()));
        }
        // The fault the strict parse meets first, unless that is a token.
        Err(e) => match &ours {
            Err(JsonError::NonFinite(_)) => {}
            other => assert_eq!(other.as_ref().map(|_| ()), Err(&e)),
        },
    }
    if ours.is_ok() {
        assert_eq!(replace_non_finite(bytes, &mut Vec::new()), Ok(0));
    }
    if serde_json::from_slice::<serde_json::Map<String, J>>(bytes).is_ok() {
        assert!(ours.is_ok(), "serde_json accepts what we reject: {ours:?}");
    }
    if let Ok(rec) = ours {
        for (k, _) in rec.members() {
            let _ = rec.get(&k);
            let _ = rec.get_path(&[&k, "a", "b"]);
        }
        let mut out = Vec::new();
        splice(&rec, TAGS, &mut out);
        let again = Record::parse(&out).expect("spliced output parses");
        let mut back = Vec::new();
        strip(&again, TAG_KEY, &mut back);
        let mut expect = Vec::new();
        strip(&rec, TAG_KEY, &mut expect);
        assert_eq!(back, expect);
        // Our leniency is limited to string contents (invalid UTF-8, lone
        // surrogates) and to numbers beyond f64:
        // any other serde_json complaint would be a structural disagreement.
        if std::str::from_utf8(bytes).is_ok() {
            let serde = serde_json::from_slice::<serde_json::Map<String, J>>(bytes);
            if let Err(e) = serde {
                let e = e.to_string();
                assert!(
                    e.contains("number out of range") || e.contains("surrogate"),
                    "serde_json: {e}; ours: ok"
                );
            }
        }
    }
}

#[test]
fn ten_thousand_deep_nesting() {
    for depth in [10_000, 100_000] {
        let mut text = String::from("{\"deep\":");
        for i in 0..depth {
            text.push_str(if i % 2 == 0 { "[" } else { "{\"k\":" });
        }
        text.push('1');
        for i in (0..depth).rev() {
            text.push(if i % 2 == 0 { ']' } else { '}' });
        }
        text.push_str(",\"log\":\"after\"}");
        let rec = Record::parse(text.as_bytes()).unwrap();
        assert_eq!(rec.get("log").unwrap().as_str(), Some("after"));
        assert!(matches!(rec.get("deep"), Some(Value::Array(_))));
        let mut out = Vec::new();
        splice(&rec, TAGS, &mut out);
        let mut back = Vec::new();
        strip(&Record::parse(&out).unwrap(), TAG_KEY, &mut back);
        assert_eq!(back, text.as_bytes());
        // Unbalanced: an error, not a stack overflow.
        let open = format!("{{\"deep\":{}", "[".repeat(depth));
        assert!(Record::parse(open.as_bytes()).is_err());
    }
}

#[test]
fn ten_megabyte_record() {
    let body = "x\\\"y é ".repeat(10 * 1024 * 1024 / 8 + 1);
    let text = format!(
        "{{\"log\":\"{body}\",\"kubernetes\":{{\"pod_name\":\"web-7d4b9c8f6-x2x9z\"}},\"n\":[{}]}}",
        vec!["1.5e3"; 1000].join(",")
    );
    assert!(text.len() > 10_000_000);
    let rec = Record::parse(text.as_bytes()).unwrap();
    let log = rec.get("log").unwrap();
    assert_eq!(
        log.as_str().map(str::len),
        Some(body.len() - body.matches('\\').count())
    );
    assert_eq!(
        rec.get_path(&["kubernetes", "pod_name"]).unwrap().as_str(),
        Some("web-7d4b9c8f6-x2x9z")
    );
    let mut out = Vec::new();
    splice(&rec, TAGS, &mut out);
    let parsed: serde_json::Map<String, J> = serde_json::from_slice(&out).unwrap();
    assert_eq!(parsed.len(), 4);
    let mut back = Vec::new();
    strip(&Record::parse(&out).unwrap(), TAG_KEY, &mut back);
    assert_eq!(back, text.as_bytes());
}

#[test]
fn invalid_utf8_inside_strings_is_kept() {
    let text = b"{\"log\":\"a\xff\xfeb\",\"k\xc3\":1}";
    let rec = Record::parse(text).unwrap();
    assert_eq!(rec.get("log").unwrap().as_str(), Some("a\u{FFFD}\u{FFFD}b"));
    let mut out = Vec::new();
    splice(&rec, TAGS, &mut out);
    assert!(out.starts_with(b"{\"log\":\"a\xff\xfeb\",\"k\xc3\":1,\"edgeheal\":"));
    let mut back = Vec::new();
    strip(&Record::parse(&out).unwrap(), TAG_KEY, &mut back);
    assert_eq!(back, text);
}
