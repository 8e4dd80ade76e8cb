//! The drop-in deployment, checked statically: every Kubernetes manifest under
//! `pipeline-configs/` and `chaos/k8s/` deserializes into its k8s-openapi type (unknown kinds
//! and unknown fields fail); the Fluent Bit DaemonSet and Helm values deliver the `.wasm` to
//! the directory of the config's `wasm_path` and run hardened; the kustomize base references
//! files that exist and generates the heal API's config, so that a change of it rolls the
//! Deployment; the Dockerfiles are multi-stage, non-root and build the right package and
//! target. (The dashboard and alert rules: `monitoring.rs`.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[path = "../../healer-api/tests/common/generated_config.rs"]
mod generated_config;

use edgeheal_tests::fluentbit_config::shipped;
use edgeheal_tests::{repo_root, scrape_annotations};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, PersistentVolumeClaim, PodSecurityContext, PodSpec, Secret,
    Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// YAML files under the scanned trees that are not Kubernetes objects, by path from the
/// repository root, with what they are. Everything else must be a Kubernetes manifest.
const NOT_KUBERNETES: &[(&str, &str)] = &[
    (
        "pipeline-configs/fluent-bit/fluent-bit.yaml",
        "Fluent Bit config",
    ),
    (
        "pipeline-configs/fluent-bit/helm-values.yaml",
        "Helm values",
    ),
    ("pipeline-configs/vector/vector.yaml", "Vector config"),
    (
        "pipeline-configs/kubernetes/healer-config.yaml",
        "heal API config (the kustomization's ConfigMap edgeheal-healer)",
    ),
    ("pipeline-configs/vector/helm-values.yaml", "Helm values"),
    (
        "pipeline-configs/kustomization.yaml",
        "kustomize Kustomization",
    ),
    (
        "pipeline-configs/prometheus/edgeheal-alerts.yaml",
        "Prometheus rule file (monitoring.rs)",
    ),
];

/// Trees whose YAML files are scanned.
const MANIFEST_TREES: &[&str] = &["pipeline-configs", "chaos/k8s"];

/// The UID of the non-root images (distroless `nonroot`).
const NONROOT_UID: i64 = 65532;

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every non-empty YAML document of a file, as JSON values.
fn yaml_docs(rel: &str) -> Vec<Value> {
    let text = read(rel);
    serde_norway::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{rel}: invalid YAML: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
}

/// Keys present in `original` but absent from `typed` (the k8s-openapi round trip): a
/// misspelled or misplaced field, which k8s-openapi would otherwise drop silently.
fn dropped_fields(original: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (original, typed) {
        (Value::Object(o), Value::Object(t)) => {
            for (k, v) in o {
                match t.get(k) {
                    Some(tv) => dropped_fields(v, tv, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k}")),
                }
            }
        }
        (Value::Array(o), Value::Array(t)) => {
            for (i, (ov, tv)) in o.iter().zip(t).enumerate() {
                dropped_fields(ov, tv, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn typed<T: DeserializeOwned + Serialize>(doc: &Value, what: &str) -> Vec<String> {
    let object: T = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{what}: does not deserialize into k8s-openapi: {e}"));
    let back = serde_json::to_value(&object).expect("k8s-openapi objects serialize");
    let mut dropped = Vec::new();
    dropped_fields(doc, &back, "", &mut dropped);
    dropped
}

/// Deserializes one document into the k8s-openapi type named by its apiVersion and kind and
/// returns the fields the type does not know.
fn check_kubernetes_object(doc: &Value, file: &str) -> Vec<String> {
    let api_version = doc["apiVersion"].as_str().unwrap_or_default();
    let kind = doc["kind"].as_str().unwrap_or_default();
    let what = format!("{file}: {api_version} {kind}");
    match (api_version, kind) {
        ("v1", "Namespace") => typed::<Namespace>(doc, &what),
        ("v1", "ServiceAccount") => typed::<ServiceAccount>(doc, &what),
        ("v1", "ConfigMap") => typed::<ConfigMap>(doc, &what),
        ("v1", "Secret") => typed::<Secret>(doc, &what),
        ("v1", "Service") => typed::<Service>(doc, &what),
        ("v1", "PersistentVolumeClaim") => typed::<PersistentVolumeClaim>(doc, &what),
        ("apps/v1", "Deployment") => typed::<Deployment>(doc, &what),
        ("apps/v1", "DaemonSet") => typed::<DaemonSet>(doc, &what),
        ("batch/v1", "Job") => typed::<Job>(doc, &what),
        ("batch/v1", "CronJob") => typed::<CronJob>(doc, &what),
        ("rbac.authorization.k8s.io/v1", "Role") => typed::<Role>(doc, &what),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => typed::<RoleBinding>(doc, &what),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => typed::<ClusterRole>(doc, &what),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            typed::<ClusterRoleBinding>(doc, &what)
        }
        ("networking.k8s.io/v1", "NetworkPolicy") => typed::<NetworkPolicy>(doc, &what),
        _ => panic!("{what}: unknown apiVersion/kind (add it here or to NOT_KUBERNETES)"),
    }
}

#[test]
fn every_manifest_deserializes_into_its_k8s_openapi_type() {
    let skipped: BTreeMap<&str, &str> = NOT_KUBERNETES.iter().copied().collect();
    for rel in skipped.keys() {
        assert!(
            repo_root().join(rel).is_file(),
            "{rel} is listed as not Kubernetes but does not exist"
        );
    }
    let mut files = Vec::new();
    for tree in MANIFEST_TREES {
        yaml_files(&repo_root().join(tree), &mut files);
    }
    let mut kinds = BTreeSet::new();
    let mut checked = 0;
    for path in files {
        let rel = path
            .strip_prefix(repo_root())
            .expect("under the root")
            .to_string_lossy()
            .replace('\\', "/");
        if skipped.contains_key(rel.as_str()) {
            continue;
        }
        for doc in yaml_docs(&rel) {
            let dropped = check_kubernetes_object(&doc, &rel);
            assert!(
                dropped.is_empty(),
                "{rel}: {} has fields k8s-openapi does not know: {dropped:?}",
                doc["kind"]
            );
            kinds.insert(doc["kind"].as_str().unwrap_or_default().to_owned());
            checked += 1;
        }
    }
    // The heal API's ConfigMap, which the kustomization generates from its config file.
    let generated = serde_json::to_value(healer_config_map()).expect("serializes");
    let dropped = check_kubernetes_object(&generated, "the generated ConfigMap edgeheal-healer");
    assert!(dropped.is_empty(), "{dropped:?}");
    kinds.insert(generated["kind"].as_str().unwrap_or_default().to_owned());
    checked += 1;
    for kind in [
        "DaemonSet",
        "Deployment",
        "ClusterRoleBinding",
        "Secret",
        "ConfigMap",
    ] {
        assert!(kinds.contains(kind), "no {kind} among the manifests");
    }
    assert!(checked >= 30, "only {checked} Kubernetes objects found");
}

// ---------------------------------------------------------------------------------------
// Fluent Bit: the DaemonSet and the Helm values deliver the filter where the config loads it.

/// `[SECTION]` name and its `key value` lines (keys lowercased) of a classic Fluent Bit config.
type ClassicSection = (String, Vec<(String, String)>);

fn parse_classic(text: &str) -> Vec<ClassicSection> {
    let mut sections: Vec<ClassicSection> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            sections.push((line.trim_matches(['[', ']']).to_uppercase(), Vec::new()));
            continue;
        }
        let (key, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let section = sections
            .last_mut()
            .unwrap_or_else(|| panic!("`{line}` outside a section"));
        section
            .1
            .push((key.to_lowercase(), value.trim().to_owned()));
    }
    sections
}

fn classic_value<'a>(sections: &'a [ClassicSection], name: &str, key: &str) -> &'a str {
    sections
        .iter()
        .find(|(_, kv)| kv.iter().any(|(k, v)| k == "name" && v == name))
        .and_then(|(_, kv)| kv.iter().find(|(k, _)| k == key))
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no `{key}` in the `{name}` section"))
}

/// The settings of the `name` plugin in fluent-bit.yaml's `pipeline.<section>`.
fn yaml_plugin(section: &str, name: &str) -> Value {
    let config = &yaml_docs("pipeline-configs/fluent-bit/fluent-bit.yaml")[0];
    config["pipeline"][section]
        .as_array()
        .unwrap_or_else(|| panic!("pipeline.{section}"))
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in pipeline.{section} of fluent-bit.yaml"))
        .clone()
}

/// The `wasm` filter's settings in fluent-bit.yaml.
fn yaml_wasm_filter() -> Value {
    yaml_plugin("filters", "wasm")
}

/// The `exec_wasi` input (the cgroup sampler) of fluent-bit.yaml.
fn yaml_sampler_input() -> Value {
    yaml_plugin("inputs", "exec_wasi")
}

/// The file names of the modules Fluent Bit loads: the filter's and the sampler's.
fn module_names() -> BTreeSet<String> {
    [
        yaml_wasm_filter()["wasm_path"].clone(),
        yaml_sampler_input()["wasi_path"].clone(),
    ]
    .iter()
    .map(|p| {
        Path::new(p.as_str().expect("a module path"))
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned()
    })
    .collect()
}

/// The directory Fluent Bit loads the module from, the same in both config formats.
fn wasm_dir() -> String {
    let yaml_path = yaml_wasm_filter()["wasm_path"]
        .as_str()
        .expect("wasm_path")
        .to_owned();
    let classic = parse_classic(&read("pipeline-configs/fluent-bit/fluent-bit.conf"));
    assert_eq!(
        classic_value(&classic, "wasm", "wasm_path"),
        yaml_path,
        "fluent-bit.conf and fluent-bit.yaml load the module from different paths"
    );
    assert!(yaml_path.ends_with("/edgeheal_plugin.wasm"), "{yaml_path}");
    Path::new(&yaml_path)
        .parent()
        .expect("wasm_path has a directory")
        .to_string_lossy()
        .into_owned()
}

fn one_doc<T: DeserializeOwned>(rel: &str, kind: &str) -> T {
    let doc = yaml_docs(rel)
        .into_iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("{rel}: no {kind}"));
    serde_json::from_value(doc).unwrap_or_else(|e| panic!("{rel}: {kind}: {e}"))
}

fn daemonset() -> DaemonSet {
    one_doc("pipeline-configs/fluent-bit/daemonset.yaml", "DaemonSet")
}

fn pod_spec(ds: &DaemonSet) -> &PodSpec {
    ds.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("DaemonSet pod spec")
}

fn mount_path(container: &Container, volume: &str) -> Option<String> {
    container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == volume)
        .map(|m| m.mount_path.trim_end_matches('/').to_owned())
}

/// The plugin image's ENTRYPOINT, as the exec-form array.
fn plugin_entrypoint() -> Vec<String> {
    let dockerfile = Dockerfile::read("deploy/docker/plugin.Dockerfile");
    let line = dockerfile
        .final_stage()
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .expect("plugin image ENTRYPOINT")
        .to_owned();
    serde_json::from_str(&line).expect("ENTRYPOINT in exec (JSON array) form")
}

/// Checks that `init` copies the modules into the volume that `fluent_bit` mounts at the
/// directory of `wasm_path` (the sampler's `wasi_path` is in the same one):
/// `[cp, <modules in the image>..., <mount of that volume>/]`, the same command as the plugin
/// image's ENTRYPOINT.
fn check_wasm_delivery(
    init: &Container,
    fluent_bit: &Container,
    empty_dirs: &BTreeSet<String>,
    what: &str,
) {
    let dir = wasm_dir();
    let volume = fluent_bit
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path.trim_end_matches('/') == dir)
        .unwrap_or_else(|| panic!("{what}: Fluent Bit mounts nothing at {dir} (wasm_path)"))
        .name
        .clone();
    assert!(
        empty_dirs.contains(&volume),
        "{what}: the wasm volume `{volume}` is not an emptyDir"
    );
    let init_dir = mount_path(init, &volume)
        .unwrap_or_else(|| panic!("{what}: the init container does not mount `{volume}`"));
    let command = init.command.clone().unwrap_or_default();
    assert_eq!(
        command,
        plugin_entrypoint(),
        "{what}: the init container's command differs from the plugin image's ENTRYPOINT"
    );
    assert!(
        matches!(command.first().map(String::as_str), Some("/bin/cp" | "cp")),
        "{what}: {command:?}"
    );
    assert_eq!(
        command.last().map(|d| d.trim_end_matches('/')),
        Some(init_dir.as_str()),
        "{what}: the init container copies somewhere other than the wasm volume"
    );
    let copied: BTreeSet<String> = command[1..command.len() - 1]
        .iter()
        .map(|m| {
            Path::new(m)
                .file_name()
                .expect("module file name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        copied,
        module_names(),
        "{what}: copied files differ from wasm_path's and wasi_path's"
    );
}

/// `cr.fluentbit.io/fluent/fluent-bit:X.Y.Z` with X.Y.Z >= 4.1.2 (persistent wasm instance).
fn check_fluent_bit_image(image: &str, what: &str) {
    let tag = image
        .strip_prefix("cr.fluentbit.io/fluent/fluent-bit:")
        .unwrap_or_else(|| panic!("{what}: not the official image: {image}"));
    check_fluent_bit_version(tag, what);
}

fn check_fluent_bit_version(tag: &str, what: &str) {
    let version: Vec<u32> = tag
        .split('.')
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("{what}: tag `{tag}` is not X.Y.Z"))
        })
        .collect();
    assert_eq!(version.len(), 3, "{what}: tag `{tag}` is not X.Y.Z");
    assert!(
        version >= vec![4, 1, 2],
        "{what}: Fluent Bit {tag} < 4.1.2 re-instantiates or leaks the wasm filter"
    );
}

/// No privilege escalation, all capabilities dropped, read-only root filesystem; non-root
/// (in the container's or the pod's securityContext) unless `root_allowed`.
fn check_hardened(c: &Container, pod: Option<&PodSecurityContext>, root_allowed: bool, what: &str) {
    let sc = c
        .security_context
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: {} has no securityContext", c.name));
    assert_eq!(
        sc.allow_privilege_escalation,
        Some(false),
        "{what}: {}",
        c.name
    );
    assert_eq!(
        sc.read_only_root_filesystem,
        Some(true),
        "{what}: {}",
        c.name
    );
    assert_ne!(sc.privileged, Some(true), "{what}: {}", c.name);
    let drop = sc
        .capabilities
        .as_ref()
        .and_then(|caps| caps.drop.clone())
        .unwrap_or_default();
    assert_eq!(drop, ["ALL"], "{what}: {} keeps capabilities", c.name);
    let added = sc.capabilities.as_ref().and_then(|caps| caps.add.clone());
    assert!(added.unwrap_or_default().is_empty(), "{what}: {}", c.name);
    if !root_allowed {
        let non_root = sc
            .run_as_non_root
            .or_else(|| pod.and_then(|p| p.run_as_non_root));
        let user = sc.run_as_user.or_else(|| pod.and_then(|p| p.run_as_user));
        assert_eq!(non_root, Some(true), "{what}: {} may run as root", c.name);
        assert_eq!(user, Some(NONROOT_UID), "{what}: {}", c.name);
    }
    assert!(
        c.resources
            .as_ref()
            .and_then(|r| r.limits.as_ref())
            .is_some(),
        "{what}: {} has no resource limits",
        c.name
    );
}

#[test]
fn daemonset_delivers_the_wasm_module_to_the_directory_of_wasm_path() {
    let ds = daemonset();
    let spec = pod_spec(&ds);
    let init = spec
        .init_containers
        .as_ref()
        .and_then(|c| c.first())
        .expect("an init container");
    let fluent_bit = spec
        .containers
        .iter()
        .find(|c| c.name == "fluent-bit")
        .expect("a fluent-bit container");
    let empty_dirs: BTreeSet<String> = spec
        .volumes
        .iter()
        .flatten()
        .filter(|v| v.empty_dir.is_some())
        .map(|v| v.name.clone())
        .collect();
    check_wasm_delivery(init, fluent_bit, &empty_dirs, "daemonset.yaml");
    assert!(
        init.image
            .as_deref()
            .unwrap_or_default()
            .contains("edgeheal-plugin"),
        "the init container is not the plugin image"
    );
    check_fluent_bit_image(fluent_bit.image.as_deref().unwrap_or_default(), "daemonset");
}

#[test]
fn daemonset_mounts_what_the_fluent_bit_config_reads_and_writes() {
    let ds = daemonset();
    let spec = pod_spec(&ds);
    let fb = spec
        .containers
        .iter()
        .find(|c| c.name == "fluent-bit")
        .expect("a fluent-bit container");
    let mounts: Vec<_> = fb.volume_mounts.iter().flatten().collect();
    let mounted = |path: &str, writable: bool| {
        mounts.iter().any(|m| {
            path.starts_with(&format!("{}/", m.mount_path.trim_end_matches('/')))
                && (!writable || m.read_only != Some(true))
        })
    };
    let config = &yaml_docs("pipeline-configs/fluent-bit/fluent-bit.yaml")[0];
    let mut written = vec![config["service"]["storage.path"]
        .as_str()
        .expect("storage.path")
        .to_owned()];
    let inputs = config["pipeline"]["inputs"].as_array().expect("inputs");
    written.extend(
        inputs
            .iter()
            .filter_map(|i| i["db"].as_str().map(str::to_owned)),
    );
    for path in &written {
        assert!(mounted(path, true), "{path} is not on a writable mount");
    }
    for input in inputs.iter().filter(|i| i["name"] == "tail") {
        let path = input["path"].as_str().expect("tail path");
        assert!(mounted(path, false), "tail path {path} is not mounted");
    }
    let accessible = yaml_wasm_filter()["accessible_paths"]
        .as_str()
        .expect("accessible_paths")
        .to_owned();
    for dir in accessible.split(',').map(str::trim) {
        assert!(
            mounts
                .iter()
                .any(|m| m.mount_path.trim_end_matches('/') == dir),
            "accessible path {dir} is not mounted (WAMR cannot preopen a missing directory)"
        );
    }
    // The sampler reads the kubelet's log links (under the /var/log mount) and the host's
    // cgroup tree: a read-only hostPath of /sys/fs/cgroup, not the container's own view.
    let sampler = yaml_sampler_input();
    let sampler_paths = sampler["accessible_paths"]
        .as_str()
        .expect("accessible_paths")
        .to_owned();
    for dir in sampler_paths.split(',').map(str::trim) {
        let exact = mounts
            .iter()
            .any(|m| m.mount_path.trim_end_matches('/') == dir);
        assert!(
            exact || mounted(dir, false),
            "sampler path {dir} is not mounted"
        );
    }
    let cgroup = mounts
        .iter()
        .find(|m| m.mount_path == "/host/sys/fs/cgroup")
        .expect("the host's cgroup tree is mounted");
    assert_eq!(cgroup.read_only, Some(true));
    // On cgroup v1 each controller is a mount of its own below: read-only too where the
    // runtime can.
    assert_eq!(cgroup.recursive_read_only.as_deref(), Some("IfPossible"));
    let host_path = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == cgroup.name)
        .and_then(|v| v.host_path.as_ref())
        .expect("a hostPath volume");
    assert_eq!(host_path.path, "/sys/fs/cgroup");
    // The config file Fluent Bit is started with is in the ConfigMap the kustomization generates.
    let args = fb.args.clone().unwrap_or_default();
    let config_path = args
        .iter()
        .find_map(|a| a.strip_prefix("--config="))
        .expect("--config=<file>");
    let (dir, file) = config_path.rsplit_once('/').expect("absolute path");
    let volume = mounts
        .iter()
        .find(|m| m.mount_path.trim_end_matches('/') == dir)
        .expect("the config directory is mounted");
    let config_map = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == volume.name)
        .and_then(|v| v.config_map.as_ref())
        .expect("the config comes from a ConfigMap")
        .name
        .clone();
    let kustomization = &yaml_docs("pipeline-configs/kustomization.yaml")[0];
    let generator = kustomization["configMapGenerator"]
        .as_array()
        .expect("configMapGenerator")
        .iter()
        .find(|g| g["name"] == config_map.as_str())
        .unwrap_or_else(|| panic!("no configMapGenerator named {config_map}"));
    assert_eq!(
        generator["namespace"],
        ds.metadata.namespace.as_deref().unwrap_or_default()
    );
    assert!(
        generator["files"]
            .as_array()
            .expect("files")
            .iter()
            .any(|f| f.as_str().is_some_and(|f| f.ends_with(&format!("/{file}")))),
        "{file} is not in the generated ConfigMap"
    );
}

/// The edge key template (`secret-edge-key.yaml`) fails closed: it holds no blank value and
/// no `secret-access-key` at all, so the DaemonSet's non-optional secretKeyRef keeps the pods
/// in CreateContainerConfigError until someone sets one. An empty secret would not stop them:
/// Fluent Bit 4.2.8's environment provider skips an empty AWS_SECRET_ACCESS_KEY
/// (src/aws/flb_aws_credentials.c, `get_credentials_fn_environment`) and the standard chain
/// asks EKS, ECS and EC2 instance metadata next, signing with the node's role. Returns the
/// keys the template sets.
fn check_edge_key_template(secret: &Secret) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for (key, value) in secret.string_data.iter().flatten() {
        assert!(!value.trim().is_empty(), "edge key template: blank {key}");
        keys.insert(key.clone());
    }
    for (key, value) in secret.data.iter().flatten() {
        let text = String::from_utf8_lossy(&value.0);
        assert!(!text.trim().is_empty(), "edge key template: blank {key}");
        keys.insert(key.clone());
    }
    assert!(
        !keys.contains("secret-access-key"),
        "edge key template: ships a secret-access-key"
    );
    keys
}

#[test]
fn the_healer_key_template_fails_closed() {
    // Every value of kubernetes/secret-keys.yaml, mounted as the healer mounts the Secret
    // (file name = key id), is refused by the healer's own key loader.
    let secret: Secret = one_doc("pipeline-configs/kubernetes/secret-keys.yaml", "Secret");
    let values: Vec<(String, Vec<u8>)> = secret
        .string_data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .chain(
            secret
                .data
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.0.clone())),
        )
        .collect();
    assert!(values.len() >= 2, "fluent-bit and vector keys");
    for (id, value) in values {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(&id), &value).expect("write key");
        assert!(
            edgeheal_healer::keys::KeyRing::load(dir.path()).is_err(),
            "secret-keys.yaml: the healer would start with key {id}"
        );
    }
}

/// Fluent Bit's health endpoints (`/api/v1/health`, and `/api/v2/health`,
/// the chart's default readiness path) report unhealthy after a few output
/// errors or failed retries summed over every output: with the heal API's
/// `http` output among them, a healer outage or a rejected edge key made
/// every Fluent Bit pod NotReady at once. Readiness asks only that Fluent
/// Bit serves.
#[test]
fn fluent_bit_readiness_does_not_follow_the_healer_output() {
    let ds = daemonset();
    let fluent_bit = pod_spec(&ds)
        .containers
        .iter()
        .find(|c| c.name == "fluent-bit")
        .expect("daemonset: a fluent-bit container");
    let path = |probe: Option<&k8s_openapi::api::core::v1::Probe>| {
        probe
            .and_then(|p| p.http_get.as_ref())
            .and_then(|g| g.path.clone())
    };
    let values = &yaml_docs("pipeline-configs/fluent-bit/helm-values.yaml")[0];
    let helm: k8s_openapi::api::core::v1::Probe =
        serde_json::from_value(values["readinessProbe"].clone())
            .expect("helm-values.yaml sets readinessProbe (the chart's default is /api/v2/health)");
    for (what, path) in [
        ("daemonset.yaml", path(fluent_bit.readiness_probe.as_ref())),
        ("helm-values.yaml", path(Some(&helm))),
    ] {
        assert_eq!(path.as_deref(), Some("/"), "{what}: readiness probe path");
    }
}

#[test]
fn daemonset_runs_hardened_and_signs_with_the_edge_key() {
    let ds = daemonset();
    let spec = pod_spec(&ds);
    for init in spec.init_containers.iter().flatten() {
        check_hardened(
            init,
            spec.security_context.as_ref(),
            false,
            "daemonset init",
        );
    }
    for c in &spec.containers {
        // Fluent Bit reads root-owned 0640 log files: UID 0, with every capability dropped.
        check_hardened(
            c,
            spec.security_context.as_ref(),
            c.name == "fluent-bit",
            "daemonset",
        );
    }
    let fb = &spec.containers[0];
    let env: BTreeMap<_, _> = fb
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.as_str(), e))
        .collect();
    let secret: Secret = one_doc("pipeline-configs/fluent-bit/secret-edge-key.yaml", "Secret");
    let secret_keys = check_edge_key_template(&secret);
    for var in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        let source = env
            .get(var)
            .and_then(|e| e.value_from.as_ref())
            .and_then(|v| v.secret_key_ref.as_ref())
            .unwrap_or_else(|| panic!("{var} does not come from a Secret"));
        assert_eq!(Some(source.name.as_str()), secret.metadata.name.as_deref());
        // A missing key must stop the pod, not start it without one.
        assert_ne!(source.optional, Some(true), "{var}: optional");
        if var == "AWS_ACCESS_KEY_ID" {
            assert!(
                secret_keys.contains(&source.key),
                "{var}: no key {}",
                source.key
            );
        } else {
            // The template carries no secret: an empty one would not fail closed (Fluent
            // Bit's AWS chain skips an empty env secret and asks instance metadata next).
            assert!(
                !secret_keys.contains(&source.key),
                "{var}: the template ships a {} value",
                source.key
            );
        }
    }
    assert_eq!(secret.metadata.namespace, ds.metadata.namespace);
    // RBAC: what the kubernetes filter and the kubernetes_events input read, read-only.
    let role: ClusterRole = one_doc("pipeline-configs/fluent-bit/daemonset.yaml", "ClusterRole");
    let mut granted = BTreeSet::new();
    for rule in role.rules.iter().flatten() {
        for resource in rule.resources.iter().flatten() {
            for verb in &rule.verbs {
                granted.insert((resource.clone(), verb.clone()));
            }
        }
    }
    for resource in ["pods", "namespaces", "events"] {
        for verb in ["get", "list", "watch"] {
            assert!(
                granted.contains(&(resource.into(), verb.into())),
                "{resource} {verb}"
            );
        }
    }
    assert!(
        granted
            .iter()
            .all(|(_, v)| matches!(v.as_str(), "get" | "list" | "watch")),
        "Fluent Bit needs read access only: {granted:?}"
    );
    let binding: ClusterRoleBinding = one_doc(
        "pipeline-configs/fluent-bit/daemonset.yaml",
        "ClusterRoleBinding",
    );
    let subject = &binding.subjects.expect("subjects")[0];
    assert_eq!(
        Some(subject.name.as_str()),
        spec.service_account_name.as_deref()
    );
    assert_eq!(subject.namespace, ds.metadata.namespace);
    // The healer's NetworkPolicy admits the pipeline namespace.
    let ns: Namespace = one_doc("pipeline-configs/fluent-bit/daemonset.yaml", "Namespace");
    assert_eq!(ns.metadata.name, ds.metadata.namespace);
    let labels = ns.metadata.labels.unwrap_or_default();
    assert_eq!(
        labels.get("edgeheal.io/pipeline").map(String::as_str),
        Some("true")
    );
}

/// Top-level keys of the fluent/fluent-bit chart's values.yaml (chart 0.58.1).
const CHART_VALUES_KEYS: &[&str] = &[
    "kind",
    "replicaCount",
    "image",
    "testFramework",
    "imagePullSecrets",
    "nameOverride",
    "fullnameOverride",
    "serviceAccount",
    "rbac",
    "podSecurityPolicy",
    "openShift",
    "podSecurityContext",
    "hostNetwork",
    "dnsPolicy",
    "dnsConfig",
    "hostAliases",
    "securityContext",
    "service",
    "serviceMonitor",
    "prometheusRule",
    "dashboards",
    "lifecycle",
    "livenessProbe",
    "readinessProbe",
    "resources",
    "ingress",
    "autoscaling",
    "podDisruptionBudget",
    "nodeSelector",
    "tolerations",
    "affinity",
    "labels",
    "annotations",
    "podAnnotations",
    "podLabels",
    "minReadySeconds",
    "terminationGracePeriodSeconds",
    "priorityClassName",
    "env",
    "envWithTpl",
    "envFrom",
    "extraContainers",
    "flush",
    "metricsPort",
    "extraPorts",
    "extraVolumes",
    "extraVolumeMounts",
    "updateStrategy",
    "existingConfigMap",
    "networkPolicy",
    "luaScripts",
    "config",
    "volumeMounts",
    "daemonSetVolumes",
    "daemonSetVolumeMounts",
    "command",
    "args",
    "initContainers",
    "logLevel",
    "hotReload",
];

#[test]
fn helm_values_match_the_chart_and_the_shipped_config() {
    let values = &yaml_docs("pipeline-configs/fluent-bit/helm-values.yaml")[0];
    for key in values.as_object().expect("a map").keys() {
        assert!(
            CHART_VALUES_KEYS.contains(&key.as_str()),
            "`{key}` is not a fluent/fluent-bit chart value"
        );
    }
    assert_eq!(
        values["image"]["repository"],
        "cr.fluentbit.io/fluent/fluent-bit"
    );
    check_fluent_bit_version(values["image"]["tag"].as_str().expect("image.tag"), "helm");
    assert_eq!(
        values["rbac"]["eventsAccess"], true,
        "kubernetes_events needs events"
    );

    // config.* rendered in the chart's order is fluent-bit.conf, section by section.
    let rendered: String = ["service", "inputs", "filters", "outputs"]
        .iter()
        .map(|k| {
            values["config"][k]
                .as_str()
                .unwrap_or_else(|| panic!("config.{k}"))
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        parse_classic(&rendered),
        parse_classic(&read("pipeline-configs/fluent-bit/fluent-bit.conf")),
        "helm-values.yaml config.* differs from fluent-bit.conf"
    );

    // The chart's pod: its container gets volumeMounts + daemonSetVolumeMounts + extraVolumeMounts.
    let containers = |key: &str| -> Vec<Container> {
        serde_json::from_value(values[key].clone()).unwrap_or_else(|e| panic!("{key}: {e}"))
    };
    let mut fluent_bit: Container = serde_json::from_value(serde_json::json!({
        "name": "fluent-bit",
        "securityContext": values["securityContext"],
        "resources": values["resources"],
    }))
    .expect("chart container");
    let mut mounts = Vec::new();
    for key in ["daemonSetVolumeMounts", "extraVolumeMounts"] {
        mounts.extend(
            serde_json::from_value::<Vec<k8s_openapi::api::core::v1::VolumeMount>>(
                values[key].clone(),
            )
            .unwrap_or_else(|e| panic!("{key}: {e}")),
        );
    }
    let cgroup = mounts
        .iter()
        .find(|m| m.mount_path == "/host/sys/fs/cgroup")
        .expect("helm: the host's cgroup tree is mounted for the sampler");
    assert_eq!(
        (cgroup.read_only, cgroup.recursive_read_only.as_deref()),
        (Some(true), Some("IfPossible")),
        "helm: the cgroup mount is read-only all the way down"
    );
    fluent_bit.volume_mounts = Some(mounts);
    let volumes: Vec<k8s_openapi::api::core::v1::Volume> =
        serde_json::from_value(values["extraVolumes"].clone()).expect("extraVolumes");
    let empty_dirs = volumes
        .iter()
        .filter(|v| v.empty_dir.is_some())
        .map(|v| v.name.clone())
        .collect();
    let init = containers("initContainers");
    check_wasm_delivery(&init[0], &fluent_bit, &empty_dirs, "helm-values.yaml");
    check_hardened(&init[0], None, false, "helm init");
    check_hardened(&fluent_bit, None, true, "helm");
    let env: Vec<k8s_openapi::api::core::v1::EnvVar> =
        serde_json::from_value(values["env"].clone()).expect("env");
    for var in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        let source = env
            .iter()
            .find(|e| e.name == var)
            .and_then(|e| e.value_from.as_ref())
            .and_then(|v| v.secret_key_ref.as_ref())
            .unwrap_or_else(|| panic!("helm: {var} does not come from a Secret"));
        // As in the DaemonSet: no key, no pod (an empty one signs with the node's role).
        assert_ne!(source.optional, Some(true), "helm: {var}: optional");
    }
}

/// Where Fluent Bit 4.2.8 serves its metrics in Prometheus' text format
/// (src/http_server/api/v2/metrics.c), the path the fluent/fluent-bit chart's ServiceMonitor
/// scrapes by default.
const FLUENT_BIT_METRICS_PATH: &str = "/api/v2/metrics/prometheus";

/// The alert rules' Fluent Bit group needs Fluent Bit's own metrics scraped: the DaemonSet's
/// and the Helm values' pods point Prometheus at the port the config serves (the container's
/// `http` port, the chart's `metricsPort`) and the path Fluent Bit serves them on, and the
/// Helm values turn on the chart's ServiceMonitor.
#[test]
fn prometheus_is_pointed_at_fluent_bits_metrics() {
    // Both shipped configs serve Fluent Bit's metrics, on one port.
    let ports: BTreeSet<u64> = shipped()
        .iter()
        .map(|(file, config)| {
            let service = config
                .of_kind("SERVICE")
                .next()
                .unwrap_or_else(|| panic!("{file}: no SERVICE"));
            assert!(
                service
                    .get("http_server")
                    .is_some_and(|v| v.eq_ignore_ascii_case("on")),
                "{file}: http_server"
            );
            service
                .get("http_port")
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("{file}: http_port"))
        })
        .collect();
    assert_eq!(ports.len(), 1, "the configs' http_port differ: {ports:?}");
    let http_port = ports.into_iter().next().expect("one port");

    let ds = serde_json::to_value(daemonset()).expect("DaemonSet as JSON");
    let template = &ds["spec"]["template"];
    let (port, path) = scrape_annotations(&template["metadata"]["annotations"], "daemonset.yaml");
    assert_eq!(u64::from(port), http_port, "daemonset.yaml");
    assert_eq!(path, FLUENT_BIT_METRICS_PATH, "daemonset.yaml");
    let declared = template["spec"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .filter(|c| c["name"] == "fluent-bit")
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .any(|p| p["containerPort"] == u64::from(port));
    assert!(
        declared,
        "daemonset.yaml: the fluent-bit container declares {port}"
    );

    let values = &yaml_docs("pipeline-configs/fluent-bit/helm-values.yaml")[0];
    let (port, path) = scrape_annotations(&values["podAnnotations"], "helm-values.yaml");
    // The chart's container port `http` and HTTP_Port are its `metricsPort`, 2020 unless set.
    let metrics_port = values["metricsPort"].as_u64().unwrap_or(2020);
    assert_eq!(u64::from(port), metrics_port, "helm-values.yaml");
    assert_eq!(metrics_port, http_port, "helm-values.yaml: metricsPort");
    assert_eq!(path, FLUENT_BIT_METRICS_PATH, "helm-values.yaml");
    assert_eq!(values["serviceMonitor"]["enabled"], true);
    assert!(
        values["serviceMonitor"]["path"].is_null()
            || values["serviceMonitor"]["path"] == FLUENT_BIT_METRICS_PATH
    );
}

// ---------------------------------------------------------------------------------------
// kustomize base.

/// The heal API's ConfigMap as the kustomization generates it
/// ([`generated_config::healer_config_map`]).
fn healer_config_map() -> ConfigMap {
    generated_config::healer_config_map(
        |rel| yaml_docs(&format!("pipeline-configs/{rel}")),
        |rel| read(&format!("pipeline-configs/{rel}")),
    )
}

/// The heal API Deployment's pod spec (`pipeline-configs/kubernetes/deployment.yaml`).
fn healer_pod() -> PodSpec {
    let deployment: Deployment =
        one_doc("pipeline-configs/kubernetes/deployment.yaml", "Deployment");
    deployment
        .spec
        .and_then(|s| s.template.spec)
        .expect("pod spec")
}

#[test]
fn kustomization_resources_exist_and_install_healer_and_pipeline_together() {
    let k = &yaml_docs("pipeline-configs/kustomization.yaml")[0];
    assert_eq!(k["apiVersion"], "kustomize.config.k8s.io/v1beta1");
    assert_eq!(k["kind"], "Kustomization");
    let base = repo_root().join("pipeline-configs");
    let resources = generated_config::kustomization_resources(k);
    let mut kinds = BTreeSet::new();
    for r in &resources {
        assert!(base.join(r).is_file(), "resource {r} does not exist");
        for doc in yaml_docs(&format!("pipeline-configs/{r}")) {
            kinds.insert(doc["kind"].as_str().unwrap_or_default().to_owned());
        }
    }
    let mut generator_files = BTreeSet::new();
    for generator in k["configMapGenerator"]
        .as_array()
        .expect("configMapGenerator")
    {
        for f in generator["files"].as_array().expect("files") {
            let (_, f) = generated_config::generator_file(f.as_str().expect("a path"));
            assert!(base.join(&f).is_file(), "generator file {f} does not exist");
            generator_files.insert(f);
        }
        kinds.insert("ConfigMap".to_owned());
    }
    // Every healer manifest is in the base (the files generators read are no manifests).
    for entry in std::fs::read_dir(base.join("kubernetes")).expect("kubernetes/") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".yaml") && !generator_files.contains(&format!("kubernetes/{name}")) {
            assert!(
                resources.contains(&format!("kubernetes/{name}").as_str()),
                "kubernetes/{name} is missing from the kustomization"
            );
        }
    }
    for kind in [
        "Namespace",
        "Deployment",
        "Service",
        "ServiceAccount",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
        "Secret",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "ConfigMap",
        "DaemonSet",
    ] {
        assert!(kinds.contains(kind), "the base installs no {kind}");
    }
}

// ---------------------------------------------------------------------------------------
// Dockerfiles.

/// Instructions of a Dockerfile (continuations joined, comments dropped), split into stages.
struct Dockerfile {
    stages: Vec<Vec<String>>,
}

impl Dockerfile {
    fn read(rel: &str) -> Self {
        let mut instructions = Vec::new();
        let mut current = String::new();
        for line in read(rel).lines() {
            let trimmed = line.trim();
            if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
                continue;
            }
            match trimmed.strip_suffix('\\') {
                Some(part) => {
                    current.push_str(part.trim());
                    current.push(' ');
                }
                None => {
                    current.push_str(trimmed);
                    instructions.push(std::mem::take(&mut current));
                }
            }
        }
        let mut stages: Vec<Vec<String>> = Vec::new();
        for i in instructions {
            if i.starts_with("FROM ") {
                stages.push(Vec::new());
            }
            if let Some(stage) = stages.last_mut() {
                stage.push(i);
            }
        }
        Self { stages }
    }

    fn final_stage(&self) -> &[String] {
        self.stages.last().expect("at least one stage")
    }

    fn stage_text(&self, index: usize) -> String {
        self.stages[index].join("\n")
    }
}

/// Multi-stage, the final stage non-root and fed only from the builder.
fn check_dockerfile(rel: &str, final_base: &str, build: &[&str]) -> Dockerfile {
    let d = Dockerfile::read(rel);
    assert!(d.stages.len() >= 2, "{rel}: not multi-stage");
    assert!(
        d.stages[0][0].ends_with(" AS builder"),
        "{rel}: first stage is not `builder`"
    );
    let builder = d.stage_text(0);
    assert!(
        builder.contains("rustup toolchain install"),
        "{rel}: toolchain from rust-toolchain.toml"
    );
    for word in build {
        assert!(builder.contains(word), "{rel}: builder lacks `{word}`");
    }
    let text = read(rel);
    assert!(
        text.contains(&format!("ARG RUNTIME_IMAGE={final_base}")),
        "{rel}: final base is not {final_base}"
    );
    assert!(
        d.final_stage()[0].starts_with("FROM ${RUNTIME_IMAGE}"),
        "{rel}"
    );
    let user = d
        .final_stage()
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .unwrap_or_else(|| panic!("{rel}: no USER in the final stage"));
    let uid = user.split(':').next().unwrap_or_default();
    assert_eq!(uid, NONROOT_UID.to_string(), "{rel}: runs as {user}");
    for l in d.final_stage() {
        assert!(
            !l.starts_with("RUN "),
            "{rel}: the final stage needs no shell: {l}"
        );
        if l.starts_with("COPY ") {
            assert!(l.contains("--from=builder"), "{rel}: {l}");
        }
    }
    d
}

#[test]
fn healer_dockerfile_is_multistage_nonroot_and_builds_the_healer() {
    let rel = "deploy/docker/healer.Dockerfile";
    let d = check_dockerfile(
        rel,
        "gcr.io/distroless/cc-debian12:nonroot",
        &[
            "cargo build --release -p edgeheal-healer --locked",
            "target/release/edgeheal-healer",
        ],
    );
    let last = d.final_stage();
    let find = |prefix: &str| {
        last.iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("{rel}: no {prefix}"))
    };
    let entrypoint: Vec<String> = serde_json::from_str(find("ENTRYPOINT ")).expect("exec form");
    let cmd: Vec<String> = serde_json::from_str(find("CMD ")).expect("exec form");
    assert_eq!(entrypoint, ["/usr/local/bin/edgeheal-healer"]);
    assert_eq!(cmd, ["--config", "/etc/edgeheal/healer.yaml"]);
    // The Deployment's args replace CMD (never repeat --config, which clap rejects), and it
    // serves on the port the image exposes.
    let pod = healer_pod();
    let healer = &pod.containers[0];
    assert!(
        healer.command.is_none(),
        "the Deployment must keep the ENTRYPOINT"
    );
    assert_eq!(healer.args.as_ref().expect("args")[0], "--config");
    let exposed: i32 = find("EXPOSE ").parse().expect("one port");
    assert!(healer
        .ports
        .iter()
        .flatten()
        .any(|p| p.container_port == exposed));
    check_hardened(
        healer,
        pod.security_context.as_ref(),
        false,
        "healer deployment",
    );
}

/// The heal API stops on its own before the kubelet kills it: the Deployment's
/// `terminationGracePeriodSeconds` is the shipped config's `termination_grace_period_secs`,
/// which the config's validation holds the shutdown's bounds to, and it covers the lame-duck
/// delay, the requests' drain, the engine's stop and the margin to exit, with the shipped
/// config and with the defaults. No preStop hook takes a share of it: the shipped config's
/// lame-duck delay keeps serving while the endpoints drop the pod, in the process. Before, the
/// engine was waited for 30 s after up to 10 s of draining, in a 30 s grace period; then the
/// listener closed at SIGTERM, and the pipelines kube-proxy still sent here were refused.
#[test]
fn the_healer_shutdown_fits_its_pods_grace_period() {
    let pod = healer_pod();
    let grace = pod
        .termination_grace_period_seconds
        .expect("terminationGracePeriodSeconds set");
    let grace = u64::try_from(grace).expect("a grace period of seconds");
    for c in &pod.containers {
        assert!(
            c.lifecycle
                .as_ref()
                .and_then(|l| l.pre_stop.as_ref())
                .is_none(),
            "{}: a preStop hook's time comes out of the grace period",
            c.name
        );
    }
    let cm = healer_config_map();
    let data = cm.data.expect("configmap data");
    let shipped = edgeheal_healer::Config::from_yaml(&data["config.yaml"]).expect("shipped config");
    let defaults = edgeheal_healer::Config::from_yaml(
        "store: { path: /var/lib/edgeheal/healer.db }\nauth: { keys_dir: /etc/edgeheal/keys }\nguards: { namespaces: [shop] }\n",
    )
    .expect("a minimal config");
    for (what, config) in [
        ("the shipped config", &shipped),
        ("the defaults", &defaults),
    ] {
        assert_eq!(
            config.termination_grace_period_secs, grace,
            "{what}: termination_grace_period_secs is not the Deployment's terminationGracePeriodSeconds"
        );
        assert!(
            config.shutdown_bound_secs() <= grace,
            "{what}: server.shutdown_delay_secs ({}) + server.shutdown_timeout_secs ({}) + engine.stop_timeout_secs ({}) + {} s to exit > {grace} s",
            config.server.shutdown_delay_secs,
            config.server.shutdown_timeout_secs,
            config.engine.stop_timeout_secs,
            edgeheal_healer::config::SHUTDOWN_MARGIN_SECS
        );
        assert!(
            config.server.shutdown_delay_secs > 0,
            "{what}: no lame-duck delay, and no preStop hook: the listener closes while kube-proxy still sends connections"
        );
        assert!(
            config.kubernetes.call_timeout_secs + edgeheal_healer::config::STOP_CALL_MARGIN_SECS
                <= config.engine.stop_timeout_secs,
            "{what}: one call to the Kubernetes API outlasts the engine's stop"
        );
    }
}

#[test]
fn plugin_dockerfile_is_multistage_nonroot_and_builds_the_wasm_filter() {
    let rel = "deploy/docker/plugin.Dockerfile";
    let d = check_dockerfile(
        rel,
        "docker.io/library/busybox:stable-musl",
        &[
            "cargo build -p edgeheal-plugin -p edgeheal-sampler --target wasm32-wasip1 --release --locked",
            "target/wasm32-wasip1/release/edgeheal_plugin.wasm",
            "target/wasm32-wasip1/release/edgeheal-sampler.wasm",
        ],
    );
    let entrypoint = plugin_entrypoint();
    let copy = d
        .final_stage()
        .iter()
        .find(|l| l.starts_with("COPY "))
        .expect("COPY of the modules");
    let (sources, destination) = copy.rsplit_once(' ').expect("COPY <src>... <dest>");
    for module in &entrypoint[1..entrypoint.len() - 1] {
        let (dir, name) = module.rsplit_once('/').expect("an absolute path");
        let held = destination == format!("{dir}/")
            && sources
                .split_whitespace()
                .any(|src| src.ends_with(&format!("/{name}")));
        assert!(held, "{rel}: the image does not hold {module} ({copy})");
    }
}

#[test]
fn dockerignore_keeps_build_outputs_out_and_the_workspace_in() {
    let ignore = read(".dockerignore");
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for needed in ["**/target", ".git"] {
        assert!(patterns.contains(&needed), ".dockerignore lacks {needed}");
    }
    let workspace: Value = {
        let text = read("Cargo.toml");
        let start = text.find("members = [").expect("workspace members");
        let end = start + text[start..].find(']').expect("end of members");
        let list = text[start + "members = ".len()..=end].to_owned();
        serde_json::from_str(&list).expect("members as a JSON-compatible list")
    };
    for member in workspace.as_array().expect("members") {
        let member = member.as_str().expect("a path");
        for p in &patterns {
            let p = p.trim_start_matches('/');
            assert!(
                !(member == p || member.starts_with(&format!("{p}/"))),
                ".dockerignore drops workspace member {member}"
            );
        }
        assert!(
            repo_root().join(member).join("Cargo.toml").is_file(),
            "{member}"
        );
    }
    for needed in ["Cargo.lock", "rust-toolchain.toml", "models/default"] {
        assert!(!patterns.contains(&needed), ".dockerignore drops {needed}");
    }
}

/// The Fluent Bit configs pass on only the events of the node's own kubelet
/// (`${NODE_NAME}` in the grep filter, tests/tests/fluentbit_configs.rs): both
/// ways of running it give the container its node's name.
#[test]
fn fluent_bit_knows_its_node_name() {
    let from_node = |env: &[k8s_openapi::api::core::v1::EnvVar]| {
        env.iter().any(|e| {
            e.name == "NODE_NAME"
                && e.value_from
                    .as_ref()
                    .and_then(|v| v.field_ref.as_ref())
                    .is_some_and(|f| f.field_path == "spec.nodeName")
        })
    };
    let ds = daemonset();
    let spec = pod_spec(&ds);
    assert!(
        from_node(spec.containers[0].env.as_deref().unwrap_or_default()),
        "daemonset.yaml"
    );
    let values = &yaml_docs("pipeline-configs/fluent-bit/helm-values.yaml")[0];
    let env: Vec<k8s_openapi::api::core::v1::EnvVar> =
        serde_json::from_value(values["env"].clone()).expect("env");
    assert!(from_node(&env), "helm-values.yaml");
}
