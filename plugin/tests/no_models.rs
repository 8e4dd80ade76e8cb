//! With no models (an empty `models/default/`, or embedded models that
//! failed to load), the filter still normalizes every record and keeps its
//! entities' windows, and its tags say that nothing scored it: `score: null`,
//! `model: "none"`, never a made-up score or verdict.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;

use edgeheal_plugin::{Filter, FilterConfig};
use serde_json::{json, Value};

#[path = "../benches/common/mod.rs"]
mod common;

use common::{node_stream, NODE_STREAM_STEP_NS};

#[test]
fn without_models_every_record_is_tagged_unscored() {
    // A window's warm-up is 8 evaluations: the stream runs long past it, with
    // error bursts the models would score.
    let records = node_stream(20_000);
    let mut filter = Filter::new(FilterConfig::default(), None);
    assert_eq!(filter.model_id(), "none");
    let mut out = Vec::new();
    let mut now = 1_740_960_000_000_000_000i64;
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        now += NODE_STREAM_STEP_NS;
        filter.process(b"kube.var.log", now, r, &mut out);
        let mut v: Value = serde_json::from_slice(&out).unwrap();
        let tags = v
            .as_object_mut()
            .unwrap()
            .remove("edgeheal")
            .expect("an edgeheal object");
        let unscored = json!({
            "score": null,
            "anomaly": false,
            "severity": "none",
            "incident": "unknown",
            "action": "none",
            "why": [],
            "model": "none",
        });
        for (key, want) in unscored.as_object().unwrap() {
            assert_eq!(&tags[key], want, "{key} in {tags}");
        }
        // Normalized all the same: a kind, a time, an identity.
        let kind = tags["kind"].as_str().unwrap();
        assert_ne!(kind, "unknown", "{tags}");
        assert!(tags["ts"].as_str().unwrap().ends_with('Z'), "{tags}");
        assert!(tags["entity"].is_string() || kind == "metric", "{tags}");
        *kinds.entry(kind.to_owned()).or_default() += 1;
        // The record's own members are left as they came.
        assert_eq!(v, serde_json::from_slice::<Value>(r).unwrap());
    }
    assert_eq!(
        kinds.keys().collect::<Vec<_>>(),
        ["event", "log", "metric"],
        "{kinds:?}"
    );
    // The windows are kept: pods and workloads are tracked.
    assert!(
        filter.tracked_entities() > 400,
        "{}",
        filter.tracked_entities()
    );
}
