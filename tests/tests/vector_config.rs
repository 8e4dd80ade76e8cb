//! The shipped Vector configuration agrees with the code: the transforms load
//! the shipped VRL and Lua, the route condition reads the tag the scorer
//! writes, the healer sink signs with SigV4 for the service and region the
//! healer verifies, every input names a component, and the Helm values carry
//! the same pipeline.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use edgeheal_models::export::vector::{RUNTIME, SCORER_FILE};
use serde_norway::Value;

/// Where the healer listens (ARCHITECTURE.md; healer-api `POST /v1/anomalies`).
const HEALER_URI: &str = "http://edgeheal-healer.edgeheal.svc:8080/v1/anomalies";

#[test]
fn the_uri_ends_in_the_healer_route() {
    assert!(HEALER_URI.ends_with("/v1/anomalies"));
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipeline-configs/vector")
}

fn load(name: &str) -> Value {
    serde_norway::from_str(&fs::read_to_string(dir().join(name)).unwrap()).unwrap()
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str()
        .unwrap_or_else(|| panic!("{} is not a string", path.join(".")))
}

/// `${EDGEHEAL_DIR:-/etc/vector/edgeheal}/x` → `x` under the default directory.
fn shipped_path(s: &str) -> &str {
    s.strip_prefix("${EDGEHEAL_DIR:-/etc/vector/edgeheal}")
        .unwrap_or_else(|| panic!("{s} is not under $EDGEHEAL_DIR"))
}

#[test]
fn transforms_load_the_shipped_files() {
    let v = load("vector.yaml");
    let normalize = &v["transforms"]["edgeheal_normalize"];
    assert_eq!(str_at(normalize, &["type"]), "remap");
    let file = shipped_path(str_at(normalize, &["file"]));
    assert_eq!(file, "/edgeheal-normalize.vrl");
    assert!(dir().join(&file[1..]).is_file());

    let score = &v["transforms"]["edgeheal_score"];
    assert_eq!(str_at(score, &["type"]), "lua");
    assert_eq!(str_at(score, &["version"]), "2");
    let dirs = score["search_dirs"].as_sequence().unwrap();
    assert_eq!(shipped_path(dirs[0].as_str().unwrap()), "");
    let module = SCORER_FILE.strip_suffix(".lua").unwrap();
    assert_eq!(
        str_at(score, &["source"]),
        format!("edgeheal = require('{module}')")
    );
    assert_eq!(str_at(score, &["hooks", "process"]), "edgeheal.process");
    assert!(RUNTIME.contains("function M.process(event, emit)"));
    assert!(dir().join(SCORER_FILE).is_file());
}

#[test]
fn anomalies_are_routed_to_the_healer_with_sigv4() {
    let v = load("vector.yaml");
    let route = &v["transforms"]["edgeheal_anomalies"];
    assert_eq!(str_at(route, &["type"]), "route");
    assert_eq!(
        str_at(route, &["route", "anomalies"]),
        ".edgeheal.anomaly == true"
    );
    // The scorer writes exactly that field, as a boolean.
    assert!(RUNTIME.contains("anomaly = v.anomaly,"));

    let healer = &v["sinks"]["edgeheal_healer"];
    assert_eq!(str_at(healer, &["type"]), "http");
    assert_eq!(str_at(healer, &["uri"]), HEALER_URI);
    assert_eq!(str_at(healer, &["method"]), "post");
    assert_eq!(str_at(healer, &["encoding", "codec"]), "json");
    assert_eq!(str_at(healer, &["auth", "strategy"]), "aws");
    assert_eq!(str_at(healer, &["auth", "service"]), "edgeheal");
    assert_eq!(str_at(healer, &["auth", "auth", "region"]), "local");
    for key in ["access_key_id", "secret_access_key"] {
        assert!(
            str_at(healer, &["auth", "auth", key]).starts_with("${EDGEHEAL_"),
            "{key} comes from the environment"
        );
    }
    let inputs = healer["inputs"].as_sequence().unwrap();
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0].as_str(), Some("edgeheal_anomalies.anomalies"));
}

#[test]
fn every_input_names_a_component_and_the_user_sink_sees_everything() {
    let v = load("vector.yaml");
    let mut names = BTreeSet::new();
    for section in ["sources", "transforms"] {
        for (k, _) in v[section].as_mapping().unwrap() {
            names.insert(k.as_str().unwrap().to_owned());
        }
    }
    names.insert("edgeheal_anomalies.anomalies".to_owned());
    for section in ["transforms", "sinks"] {
        for (k, c) in v[section].as_mapping().unwrap() {
            for input in c["inputs"].as_sequence().unwrap() {
                let input = input.as_str().unwrap();
                assert!(
                    names.contains(input),
                    "{}: unknown input {input}",
                    k.as_str().unwrap()
                );
            }
        }
    }
    let user = v["sinks"]["user_sink"]["inputs"].as_sequence().unwrap();
    assert_eq!(user[0].as_str(), Some("edgeheal_finalize"));
    assert_eq!(
        v["transforms"]["edgeheal_normalize"]["inputs"]
            .as_sequence()
            .unwrap()
            .len(),
        2,
        "logs and metric samples"
    );
}

#[test]
fn unit_tests_cover_the_transforms() {
    let v = load("vector.yaml");
    let tests = v["tests"].as_sequence().unwrap();
    assert!(tests.len() >= 3);
    for t in tests {
        for input in t["inputs"].as_sequence().unwrap() {
            let at = input["insert_at"].as_str().unwrap();
            assert!(v["transforms"][at].is_mapping(), "{at}");
        }
    }
}

#[test]
fn helm_values_carry_the_same_pipeline() {
    let mut v = load("vector.yaml");
    v.as_mapping_mut().unwrap().remove("tests");
    let helm = load("helm-values.yaml");
    assert_eq!(
        helm["customConfig"], v,
        "helm-values.yaml customConfig = vector.yaml without tests"
    );
    assert_eq!(str_at(&helm, &["role"]), "Agent");
    let mounts = helm["extraVolumeMounts"].as_sequence().unwrap();
    assert!(mounts
        .iter()
        .any(|m| m["mountPath"].as_str() == Some("/etc/vector/edgeheal")));
    let env = helm["env"].as_sequence().unwrap();
    for name in [
        "EDGEHEAL_DIR",
        "EDGEHEAL_NODE_IP",
        "EDGEHEAL_ACCESS_KEY_ID",
        "EDGEHEAL_SECRET_ACCESS_KEY",
        "EDGEHEAL_KUBELET_TOKEN",
    ] {
        assert!(
            env.iter().any(|e| e["name"].as_str() == Some(name)),
            "{name}"
        );
    }
}
