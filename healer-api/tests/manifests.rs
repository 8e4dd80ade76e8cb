//! The Kubernetes manifests in `pipeline-configs/kubernetes/` deserialize into k8s-openapi
//! types, the RBAC grants exactly the verbs the executor calls (no more, no wildcards), the
//! Deployment is hardened, the shipped config is valid for the healer, and Prometheus is
//! pointed at where the healer serves its metrics.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use edgeheal_healer::kube_cluster::REQUIRED_PERMISSIONS;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
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

#[test]
fn every_manifest_is_a_valid_kubernetes_object() {
    let mut kinds = BTreeSet::new();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
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
    let cm: ConfigMap = one("configmap.yaml", "ConfigMap");
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

/// The store's size bound leaves room on its volume: the file keeps its high-water mark, the
/// WAL and a prune's work come on top, so at most half the claim is pages in use.
#[test]
fn the_store_bound_fits_its_volume() {
    let cm: ConfigMap = one("configmap.yaml", "ConfigMap");
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

    let cm: ConfigMap = one("configmap.yaml", "ConfigMap");
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
    let cm: ConfigMap = one("configmap.yaml", "ConfigMap");
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
