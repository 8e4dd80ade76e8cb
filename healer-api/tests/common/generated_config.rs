//! The heal API's ConfigMap as `pipeline-configs/kustomization.yaml` generates it, followed
//! from the Deployment that mounts it. Shared by `healer-api/tests/manifests.rs` and (through
//! `#[path]`) `tests/tests/deploy_manifests.rs`, each reading the files its own way.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

/// The paths a kustomization lists under `resources` (relative to its directory).
pub fn kustomization_resources(kustomization: &Value) -> Vec<&str> {
    kustomization["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("a path"))
        .collect()
}

/// The key and the file (relative to `pipeline-configs/`) of a `configMapGenerator`'s `files`
/// entry: kustomize's `[key=]path`, whose key defaults to the file's name.
pub fn generator_file(entry: &str) -> (String, String) {
    match entry.split_once('=') {
        Some((key, path)) => (key.to_owned(), path.to_owned()),
        None => (
            entry.rsplit('/').next().unwrap_or(entry).to_owned(),
            entry.to_owned(),
        ),
    }
}

/// The ConfigMap the kustomization generates for the heal API, as kustomize builds it before
/// adding the content hash to its name (and to the references to it): the
/// `configMapGenerator` named as the Deployment's config volume, in the Deployment's
/// namespace, whose file under the key the `--config` path reads is the config. `docs` gives
/// the YAML documents and `text` the text of a file, both by its path relative to
/// `pipeline-configs/`. Panics, saying which, if any link is missing.
pub fn healer_config_map(
    docs: impl Fn(&str) -> Vec<Value>,
    text: impl Fn(&str) -> String,
) -> ConfigMap {
    let deployment = docs("kubernetes/deployment.yaml")
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("kubernetes/deployment.yaml: no Deployment");
    let deployment: Deployment = serde_json::from_value(deployment)
        .unwrap_or_else(|e| panic!("kubernetes/deployment.yaml: not a Deployment: {e}"));
    let namespace = deployment
        .metadata
        .namespace
        .clone()
        .expect("the Deployment's namespace");
    let pod = deployment
        .spec
        .and_then(|s| s.template.spec)
        .expect("pod spec");
    let healer = &pod.containers[0];
    let args = healer.args.clone().unwrap_or_default();
    let config_path = args
        .windows(2)
        .find(|w| w[0] == "--config")
        .map(|w| w[1].clone())
        .expect("--config <file>");
    let (dir, key) = config_path.rsplit_once('/').expect("an absolute path");
    let volume = healer
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path.trim_end_matches('/') == dir)
        .unwrap_or_else(|| panic!("{dir} (the --config directory) is not mounted"))
        .name
        .clone();
    let source = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == volume)
        .and_then(|v| v.config_map.as_ref())
        .unwrap_or_else(|| panic!("the config volume {volume} is not a ConfigMap"));
    assert!(
        source.items.is_none(),
        "{volume}: items would rename the ConfigMap's keys"
    );
    let name = source.name.clone();

    let kustomization = docs("kustomization.yaml").remove(0);
    let generator = kustomization["configMapGenerator"]
        .as_array()
        .expect("configMapGenerator")
        .iter()
        .find(|g| g["name"] == name.as_str())
        .unwrap_or_else(|| panic!("no configMapGenerator named {name}, the config volume's"));
    assert_eq!(
        generator["namespace"], namespace,
        "{name}: kustomize rewrites the Deployment's reference only within its namespace"
    );
    for (what, options) in [
        ("generatorOptions", &kustomization["generatorOptions"]),
        ("options", &generator["options"]),
    ] {
        assert_ne!(
            options["disableNameSuffixHash"], true,
            "{name}: {what}.disableNameSuffixHash: without the hash a change does not roll"
        );
    }
    let (_, file) = generator["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| generator_file(f.as_str().expect("a path")))
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("{name}: no file under key {key}, the --config file"));
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(key.to_owned(), text(&file))])),
        ..ConfigMap::default()
    }
}
