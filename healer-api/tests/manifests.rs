//! The Kubernetes manifests in `pipeline-configs/kubernetes/` deserialize into k8s-openapi
//! types, the RBAC grants exactly the verbs the executor calls (no more, no wildcards), the
//! Deployment is hardened, the shipped config is valid for the healer and reaches it through a
//! ConfigMap the kustomization generates (so a change of it rolls the Deployment), and
//! Prometheus is pointed at where the healer serves its metrics.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use edgeheal_healer::kube_cluster::REQUIRED_PERMISSIONS;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

mod common;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pipeline-configs/kubernetes")
}

fn docs(file: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir().join(file)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde_json::Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn one<T: serde::de::DeserializeOwned>(file: &str, kind: &str) -> T {
    let doc = docs(file)
        .into_iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("{file}: no {kind}"));
    serde_json::from_value(doc)
        .unwrap_or_else(|e| panic!("{file}: {kind} does not match k8s-openapi: {e}"))
}

/// `pipeline-configs/kustomization.yaml`, the base that installs these manifests.
fn kustomization() -> serde_json::Value {
    docs("../kustomization.yaml").remove(0)
}

/// The key and the file (relative to `pipeline-configs/`) of a generator's `files` entry:
/// kustomize's `[key=]path`, whose key defaults to the file's name.
fn generator_file(entry: &str) -> (String, String) {
    match entry.split_once('=') {
        Some((key, path)) => (key.to_owned(), path.to_owned()),
        None => (
            entry.rsplit('/').next().unwrap_or(entry).to_owned(),
            entry.to_owned(),
        ),
    }
}

/// Files under `kubernetes/` that a `configMapGenerator` reads (config files, not objects).
fn generator_sources() -> BTreeSet<String> {
    kustomization()["configMapGenerator"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["files"].as_array().into_iter().flatten())
        .filter_map(|f| f.as_str())
        .filter_map(|f| {
            generator_file(f)
                .1
                .strip_prefix("kubernetes/")
                .map(str::to_owned)
        })
        .collect()
}

/// The ConfigMap the kustomization generates for the heal API, as kustomize builds it before
/// adding the content hash to its name: the `configMapGenerator` named as the Deployment's
/// config volume, in the Deployment's namespace, whose file under the key the `--config` path
/// reads is the config. Panics, saying which, if any link is missing.
fn generated_config_map() -> ConfigMap {
    let d: Deployment = one("deployment.yaml", "Deployment");
    let namespace = d
        .metadata
        .namespace
        .clone()
        .expect("the Deployment's namespace");
    let pod = d.spec.unwrap().template.spec.unwrap();
    let args = pod.containers[0].args.clone().unwrap_or_default();
    let config_path = args
        .windows(2)
        .find(|w| w[0] == "--config")
        .map(|w| w[1].clone())
        .expect("--config <file>");
    let (mount_dir, key) = config_path.rsplit_once('/').expect("an absolute path");
    let mount = pod.containers[0]
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path.trim_end_matches('/') == mount_dir)
        .unwrap_or_else(|| panic!("{mount_dir} (the --config directory) is not mounted"));
    let source = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .and_then(|v| v.config_map.as_ref())
        .unwrap_or_else(|| panic!("volume {} is not a ConfigMap", mount.name));
    assert!(
        source.items.is_none(),
        "volume {}: items would rename the ConfigMap's keys",
        mount.name
    );
    let name = source.name.clone();

    let k = kustomization();
    let generator = k["configMapGenerator"]
        .as_array()
        .expect("configMapGenerator")
        .iter()
        .find(|g| g["name"] == name.as_str())
        .unwrap_or_else(|| panic!("no configMapGenerator named {name} (the config volume's)"));
    assert_eq!(
        generator["namespace"], namespace,
        "{name}: kustomize rewrites the Deployment's reference only in the same namespace"
    );
    for (what, options) in [
        ("generatorOptions", &k["generatorOptions"]),
        ("options", &generator["options"]),
    ] {
        assert_ne!(
            options["disableNameSuffixHash"], true,
            "{name}: {what}.disableNameSuffixHash: without the hash a change no longer rolls"
        );
    }
    let (_, file) = generator["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| generator_file(f.as_str().expect("a path")))
        .find(|(entry_key, _)| entry_key == key)
        .unwrap_or_else(|| panic!("{name}: no file under key {key} (the --config file)"));
    let text = std::fs::read_to_string(dir().join("..").join(&file))
        .unwrap_or_else(|e| panic!("{name}: {file}: {e}"));
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(key.to_owned(), text)])),
        ..ConfigMap::default()
    }
}

#[test]
fn every_manifest_is_a_valid_kubernetes_object() {
    let mut kinds = BTreeSet::new();
    let sources = generator_sources();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        if sources.contains(path.file_name().unwrap().to_str().unwrap()) {
            continue;
        }
        for d in docs(path.file_name().unwrap().to_str().unwrap()) {
            let kind = d["kind"].as_str().unwrap().to_owned();
            let ok = match kind.as_str() {
                "Deployment" => serde_json::from_value::<Deployment>(d).is_ok(),
                "Service" => serde_json::from_value::<Service>(d).is_ok(),
                "ServiceAccount" => serde_json::from_value::<ServiceAccount>(d).is_ok(),
                "ClusterRole" => serde_json::from_value::<ClusterRole>(d).is_ok(),
                "RoleBinding" => serde_json::from_value::<RoleBinding>(d).is_ok(),
                "Secret" => serde_json::from_value::<Secret>(d).is_ok(),
                "ConfigMap" => serde_json::from_value::<ConfigMap>(d).is_ok(),
                "NetworkPolicy" => serde_json::from_value::<NetworkPolicy>(d).is_ok(),
                "PersistentVolumeClaim" => {
                    serde_json::from_value::<PersistentVolumeClaim>(d).is_ok()
                }
                "Namespace" => {
                    serde_json::from_value::<k8s_openapi::api::core::v1::Namespace>(d).is_ok()
                }
                other => panic!("{}: unexpected kind {other}", path.display()),
            };
            assert!(ok, "{}: {kind} does not deserialize", path.display());
            kinds.insert(kind);
        }
    }
    // The config's ConfigMap is generated by the kustomization.
    let generated = generated_config_map();
    assert!(generated.data.is_some_and(|d| !d.is_empty()));
    kinds.insert(<ConfigMap as k8s_openapi::Resource>::KIND.to_owned());
    for k in [
        "Deployment",
        "Service",
        "ServiceAccount",
        "ClusterRole",
        "RoleBinding",
        "Secret",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "ConfigMap",
    ] {
        assert!(kinds.contains(k), "missing {k}");
    }
}

#[test]
fn rbac_grants_exactly_what_the_executor_calls() {
    let role: ClusterRole = one("rbac.yaml", "ClusterRole");
    let mut granted: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for rule in role.rules.unwrap() {
        assert!(rule.resource_names.is_none() && rule.non_resource_urls.is_none());
        for g in rule.api_groups.clone().unwrap() {
            for r in rule.resources.clone().unwrap() {
                for v in &rule.verbs {
                    assert!(g != "*" && r != "*" && v != "*", "wildcard in RBAC");
                    granted
                        .entry((g.clone(), r.clone()))
                        .or_default()
                        .insert(v.clone());
                }
            }
        }
    }
    let required: BTreeMap<(String, String), BTreeSet<String>> = REQUIRED_PERMISSIONS
        .iter()
        .map(|(g, r, vs)| {
            (
                (g.to_string(), r.to_string()),
                vs.iter().map(|v| v.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(granted, required);
    let binding: RoleBinding = one("rbac.yaml", "RoleBinding");
    assert_eq!(
        binding.role_ref.kind, "ClusterRole",
        "bound per namespace, not cluster-wide"
    );
    let sa: ServiceAccount = one("serviceaccount.yaml", "ServiceAccount");
    let subject = &binding.subjects.unwrap()[0];
    assert_eq!(Some(subject.name.as_str()), sa.metadata.name.as_deref());
}

#[test]
fn the_deployment_is_hardened() {
    let d: Deployment = one("deployment.yaml", "Deployment");
    let spec = d.spec.unwrap();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(spec.strategy.unwrap().type_.as_deref(), Some("Recreate"));
    let pod = spec.template.spec.unwrap();
    assert_eq!(
        pod.security_context.as_ref().unwrap().run_as_non_root,
        Some(true)
    );
    let c = &pod.containers[0];
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(
        sc.capabilities.as_ref().unwrap().drop.as_deref(),
        Some(&["ALL".to_string()][..])
    );
    assert!(c.liveness_probe.is_some() && c.readiness_probe.is_some());
    let res = c.resources.as_ref().unwrap();
    assert!(res.requests.is_some() && res.limits.is_some());
    let mounts: BTreeSet<&str> = c
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| m.mount_path.as_str())
        .collect();
    assert!(
        mounts.contains("/var/lib/edgeheal"),
        "the store must be on the PVC (root fs is read-only)"
    );
    let np: NetworkPolicy = one("networkpolicy.yaml", "NetworkPolicy");
    assert_eq!(
        np.spec.unwrap().policy_types.unwrap(),
        vec!["Ingress".to_string()]
    );
}

#[test]
fn the_shipped_config_is_valid() {
    let cm = generated_config_map();
    let text = &cm.data.unwrap()["config.yaml"];
    let cfg = edgeheal_healer::Config::from_yaml(text).unwrap();
    assert_eq!(cfg.mode, edgeheal_healer::Mode::Shadow);
    assert_eq!(cfg.auth.keys_dir, PathBuf::from("/etc/edgeheal/keys"));
    let d: Deployment = one("deployment.yaml", "Deployment");
    let args = d.spec.unwrap().template.spec.unwrap().containers[0]
        .args
        .clone()
        .unwrap();
    assert_eq!(args, vec!["--config", "/etc/edgeheal/config/config.yaml"]);
}

/// The heal API reads its config once at start, so the config is no plain ConfigMap (a
/// re-applied edit would wait for a `rollout restart`) but one the kustomization generates with
/// a content hash in its name, which kustomize also writes into the Deployment's volume: a
/// change of the config rolls the Deployment. The generator is the one the Deployment mounts
/// (same name and namespace, its key the `--config` file) and its file is a valid config.
#[test]
fn the_config_is_generated_so_that_a_change_rolls_the_deployment() {
    let cm = generated_config_map();
    assert_eq!(cm.metadata.name.as_deref(), Some("edgeheal-healer"));
    assert_eq!(cm.metadata.namespace.as_deref(), Some("edgeheal"));
    let data = cm.data.unwrap();
    assert_eq!(data.keys().collect::<Vec<_>>(), ["config.yaml"]);
    edgeheal_healer::Config::from_yaml(&data["config.yaml"])
        .unwrap_or_else(|e| panic!("the generated config.yaml: {e}"));

    let k = kustomization();
    let resources: Vec<&str> = k["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("a path"))
        .collect();
    assert!(
        !resources.contains(&"kubernetes/configmap.yaml"),
        "kubernetes/configmap.yaml: a plain ConfigMap would not roll the Deployment"
    );
    for file in generator_sources() {
        assert!(
            !resources.contains(&format!("kubernetes/{file}").as_str()),
            "kubernetes/{file}: a generator's file, not a resource"
        );
    }
}

/// The store's size bound leaves room on its volume: the file keeps its high-water mark, the
/// WAL and a prune's work come on top, so at most half the claim is pages in use.
#[test]
fn the_store_bound_fits_its_volume() {
    let cm = generated_config_map();
    let cfg = edgeheal_healer::Config::from_yaml(&cm.data.unwrap()["config.yaml"]).unwrap();
    let pvc: k8s_openapi::api::core::v1::PersistentVolumeClaim =
        one("pvc.yaml", "PersistentVolumeClaim");
    let requested = &pvc.spec.unwrap().resources.unwrap().requests.unwrap()["storage"].0;
    let gib: u64 = requested
        .strip_suffix("Gi")
        .unwrap_or_else(|| panic!("the claim is in Gi: {requested}"))
        .parse()
        .unwrap();
    let bound = cfg.store.retention.max_bytes;
    assert!(
        bound <= (gib << 30) / 2,
        "store.retention.max_bytes {bound} is more than half the {requested} claim"
    );
    assert!(
        bound >= (gib << 30) / 4,
        "store.retention.max_bytes {bound} leaves most of the {requested} claim unused"
    );
}

/// The pod's `prometheus.io/*` annotations name the port the shipped config listens on, the
/// container declares and the NetworkPolicy opens, and a path the heal API serves its
/// metrics on, with the series the alert rules' `EdgehealHealerDown` reads.
#[tokio::test]
async fn prometheus_is_pointed_at_the_metrics() {
    let d: Deployment = one("deployment.yaml", "Deployment");
    let template = d.spec.unwrap().template;
    let annotations = template
        .metadata
        .and_then(|m| m.annotations)
        .expect("pod template annotations");
    let annotation = |key: &str| {
        annotations
            .get(key)
            .unwrap_or_else(|| panic!("no {key} annotation"))
            .as_str()
    };
    assert_eq!(annotation("prometheus.io/scrape"), "true");
    let port: u16 = annotation("prometheus.io/port").parse().unwrap();

    let cm = generated_config_map();
    let cfg = edgeheal_healer::Config::from_yaml(&cm.data.unwrap()["config.yaml"]).unwrap();
    assert_eq!(port, cfg.listen.port(), "the port the heal API listens on");
    let container_ports: Vec<i32> = template.spec.unwrap().containers[0]
        .ports
        .iter()
        .flatten()
        .map(|p| p.container_port)
        .collect();
    assert!(
        container_ports.contains(&i32::from(port)),
        "{container_ports:?}"
    );
    let np: NetworkPolicy = one("networkpolicy.yaml", "NetworkPolicy");
    let opened = np.spec.unwrap().ingress.unwrap().iter().any(|rule| {
        rule.from.iter().flatten().any(|peer| {
            peer.namespace_selector
                .as_ref()
                .and_then(|s| s.match_labels.as_ref())
                .is_some_and(|l| l.get("edgeheal.io/scrape").map(String::as_str) == Some("true"))
        }) && rule.ports.iter().flatten().any(|p| {
            p.port
                == Some(
                    k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i32::from(port)),
                )
        })
    });
    assert!(
        opened,
        "the NetworkPolicy lets the scrape namespaces reach {port}"
    );

    let env = common::env("");
    let request = http::Request::get(annotation("prometheus.io/path"))
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, body, _) = common::send_raw(&env.state, request).await;
    assert_eq!(status, http::StatusCode::OK);
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        text.contains("\nedgeheal_healer_ingest_queue_depth "),
        "{text}"
    );
}

/// The `--from-literal=KEY=` keys of the `kubectl ... create secret generic NAME` command in
/// `text` (its lines joined by trailing backslashes), for each such command.
fn secret_literals(text: &str, name: &str) -> Vec<BTreeSet<String>> {
    let marker = format!("create secret generic {name} ");
    let lines: Vec<&str> = text.lines().collect();
    let mut commands = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !line.contains(&marker) {
            continue;
        }
        let mut keys = BTreeSet::new();
        for line in &lines[i..] {
            for part in line.split("--from-literal=").skip(1) {
                keys.insert(part.split('=').next().unwrap_or_default().to_owned());
            }
            if !line.trim_end().ends_with('\\') {
                break;
            }
        }
        commands.push(keys);
    }
    commands
}

/// Every key the shipped `edgeheal-keys` template holds has one role in the shipped config: the
/// pipelines' keys, which every node holds, only post anomalies (`auth.ingest_only_keys`), and
/// the key for people only reads the history (`auth.read_only_keys`). The edge keys' ids, as
/// the Fluent Bit Secret template and every command that creates an edge key name them, are
/// ingest-only, and the commands that create `edgeheal-keys` make exactly the template's keys.
#[test]
fn every_shipped_key_has_one_role() {
    let cm = generated_config_map();
    let cfg = edgeheal_healer::Config::from_yaml(&cm.data.unwrap()["config.yaml"]).unwrap();
    let (read_only, ingest_only) = (&cfg.auth.read_only_keys, &cfg.auth.ingest_only_keys);
    let secret: Secret = one("secret-keys.yaml", "Secret");
    let template: BTreeSet<String> = secret.string_data.unwrap().into_keys().collect();
    for id in &template {
        assert!(
            read_only.contains(id) != ingest_only.contains(id),
            "key {id}: in exactly one of auth.read_only_keys {read_only:?} and \
             auth.ingest_only_keys {ingest_only:?}"
        );
    }
    for id in read_only.iter().chain(ingest_only) {
        assert!(template.contains(id), "{id}: not a key of secret-keys.yaml");
    }
    assert!(!read_only.is_empty(), "a key for people");

    let edge: Secret = one("../fluent-bit/secret-edge-key.yaml", "Secret");
    let mut edge_ids = vec![edge.string_data.unwrap()["access-key-id"].clone()];
    let repo = dir().join("../..");
    let texts: Vec<(&str, String)> = [
        "README.md",
        "pipeline-configs/kubernetes/secret-keys.yaml",
        "pipeline-configs/fluent-bit/secret-edge-key.yaml",
        "pipeline-configs/fluent-bit/daemonset.yaml",
        "pipeline-configs/fluent-bit/helm-values.yaml",
        "pipeline-configs/vector/helm-values.yaml",
    ]
    .into_iter()
    .map(|f| (f, std::fs::read_to_string(repo.join(f)).unwrap()))
    .collect();
    for (file, text) in &texts {
        for part in text.split("--from-literal=access-key-id=").skip(1) {
            let id: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            assert!(!id.is_empty(), "{file}: an access-key-id without an id");
            edge_ids.push(id);
        }
        for keys in secret_literals(text, "edgeheal-keys") {
            assert_eq!(keys, template, "{file}: the keys it creates");
        }
    }
    assert!(edge_ids.len() >= 5, "{edge_ids:?}");
    for id in &edge_ids {
        assert!(
            ingest_only.contains(id),
            "edge key {id}: not in auth.ingest_only_keys {ingest_only:?}"
        );
    }
    assert_eq!(
        texts
            .iter()
            .map(|(_, t)| secret_literals(t, "edgeheal-keys").len())
            .sum::<usize>(),
        2,
        "the README's and the template's commands"
    );
}
