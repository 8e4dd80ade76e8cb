//! Discovery and version: `/version` (which says the server is a
//! simulator), `/api`, `/apis`, and the resource lists of each group
//! version served. Typed kube-rs `Api<K>` calls need none of it, but kubectl
//! and dynamic clients do.

use super::kinds::Kind;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event;
use serde_json::{json, Value};

/// The `gitVersion` the simulator reports (the Kubernetes API version it
/// models, marked as a simulator).
pub const SIM_GIT_VERSION: &str = "v1.33.0-edgeheal-sim";

/// The verbs served on every stored resource.
const VERBS: &[&str] = &["create", "delete", "get", "list", "patch", "update"];

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": SIM_GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "n/a (edgeheal simulated cluster, written in Rust)",
        "compiler": "rustc",
        "platform": "linux/amd64",
        "emulationMajor": "1",
        "emulationMinor": "33",
    })
}

/// `/api`.
pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    })
}

/// The groups and versions served besides the core group.
const GROUPS: &[(&str, &str)] = &[
    ("apps", "v1"),
    ("autoscaling", "v2"),
    ("events.k8s.io", "v1"),
    ("coordination.k8s.io", "v1"),
];

fn group(name: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{name}/{version}"), "version": version});
    json!({"name": name, "versions": [gv.clone()], "preferredVersion": gv})
}

/// `/apis`.
pub fn groups() -> Value {
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": GROUPS.iter().map(|(n, v)| group(n, v)).collect::<Vec<_>>(),
    })
}

/// `/apis/{group}`, if served.
pub fn api_group(name: &str) -> Option<Value> {
    GROUPS.iter().find(|(n, _)| *n == name).map(|(n, v)| {
        let mut g = group(n, v);
        if let Some(o) = g.as_object_mut() {
            o.insert("kind".into(), Value::from("APIGroup"));
            o.insert("apiVersion".into(), Value::from("v1"));
        }
        g
    })
}

fn entry<K: Kind>() -> Value {
    json!({
        "name": K::URL_PATH_SEGMENT,
        "singularName": K::KIND.to_ascii_lowercase(),
        "namespaced": true,
        "kind": K::KIND,
        "verbs": VERBS,
        "shortNames": K::SHORT_NAMES,
    })
}

/// `/api/v1` or `/apis/{group}/{version}`, if served.
pub fn resources(group_version: &str) -> Option<Value> {
    let list = match group_version {
        "v1" => vec![
            entry::<Pod>(),
            json!({"name": "pods/eviction", "singularName": "", "namespaced": true, "group": "policy",
                   "version": "v1", "kind": "Eviction", "verbs": ["create"]}),
        ],
        "apps/v1" => vec![
            entry::<Deployment>(),
            json!({"name": "deployments/scale", "singularName": "", "namespaced": true, "group": "autoscaling",
                   "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}),
            entry::<ReplicaSet>(),
        ],
        "autoscaling/v2" => vec![entry::<HorizontalPodAutoscaler>()],
        "events.k8s.io/v1" => vec![entry::<Event>()],
        "coordination.k8s.io/v1" => vec![entry::<Lease>()],
        _ => return None,
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": list}),
    )
}
