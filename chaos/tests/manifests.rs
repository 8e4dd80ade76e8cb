//! Every YAML document under `chaos/k8s/` deserializes into the `k8s-openapi`
//! type its `kind` names; unknown kinds fail. The pod killer's RBAC stays
//! least-privilege.

use std::path::PathBuf;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use serde::Deserialize;
use serde_json::Value;

fn documents() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("k8s");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests in {}", dir.display());
    let mut docs = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, doc) in serde_norway::Deserializer::from_str(&text).enumerate() {
            let v = Value::deserialize(doc).unwrap_or_else(|e| panic!("{}#{i}: {e}", f.display()));
            if v.is_null() {
                continue;
            }
            docs.push((
                format!("{}#{i}", f.file_name().unwrap().to_string_lossy()),
                v,
            ));
        }
    }
    docs
}

fn check<T: serde::de::DeserializeOwned>(name: &str, v: &Value) {
    if let Err(e) = serde_json::from_value::<T>(v.clone()) {
        panic!("{name}: {e}");
    }
}

#[test]
fn every_manifest_deserializes_into_its_kind() {
    let mut kinds = std::collections::BTreeSet::new();
    for (name, v) in documents() {
        let kind = v["kind"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no kind"))
            .to_owned();
        let api = v["apiVersion"].as_str().unwrap_or_default();
        match (api, kind.as_str()) {
            ("v1", "Namespace") => check::<Namespace>(&name, &v),
            ("v1", "ConfigMap") => check::<ConfigMap>(&name, &v),
            ("v1", "Service") => check::<Service>(&name, &v),
            ("v1", "ServiceAccount") => check::<ServiceAccount>(&name, &v),
            ("apps/v1", "Deployment") => check::<Deployment>(&name, &v),
            ("batch/v1", "Job") => check::<Job>(&name, &v),
            ("batch/v1", "CronJob") => check::<CronJob>(&name, &v),
            ("rbac.authorization.k8s.io/v1", "Role") => check::<Role>(&name, &v),
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => check::<RoleBinding>(&name, &v),
            other => panic!("{name}: unknown kind {other:?}"),
        }
        if kind != "Namespace" {
            assert_eq!(
                v["metadata"]["namespace"], "chaos-lab",
                "{name}: namespaced in chaos-lab"
            );
        }
        kinds.insert(kind);
    }
    for needed in [
        "Job",
        "CronJob",
        "Deployment",
        "Role",
        "RoleBinding",
        "ServiceAccount",
    ] {
        assert!(kinds.contains(needed), "no {needed} manifest");
    }
}

#[test]
fn pod_killer_may_only_list_and_delete_pods() {
    let role = documents()
        .into_iter()
        .find(|(_, v)| v["kind"] == "Role" && v["metadata"]["name"] == "pod-killer")
        .map(|(_, v)| serde_json::from_value::<Role>(v).unwrap())
        .expect("pod-killer Role");
    let rules = role.rules.unwrap_or_default();
    assert_eq!(rules.len(), 1);
    let rule = &rules[0];
    assert_eq!(rule.resources.as_deref(), Some(&["pods".to_owned()][..]));
    assert_eq!(rule.api_groups.as_deref(), Some(&[String::new()][..]));
    let mut verbs = rule.verbs.clone();
    verbs.sort();
    assert_eq!(verbs, ["delete", "get", "list"]);
}
