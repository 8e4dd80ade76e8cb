//! The simulated API server driven by a real `kube::Client` (kube 5), over
//! the loopback socket with the written kubeconfig and in-process through the
//! router as a tower service: the calls the healer makes (scale through the
//! scale subresource, restart through the template annotation, pod deletion
//! with preconditions, HPA minReplicas, Events, Leases) and their failure paths.

use edgeheal_chaos::apiserver::{
    controller::{POD_TEMPLATE_HASH, RESTARTED_AT, REVISION},
    ids::NAME_ALPHABET,
    objects, router, spawn, write_kubeconfig, ApiState, ClockMode, ClusterConfig, SIM_TOKEN,
};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;

const NS: &str = "shop";
const MANAGER: &str = "edgeheal";

fn config(token: Option<&str>) -> ClusterConfig {
    ClusterConfig {
        seed: 7,
        token: token.map(str::to_owned),
        clock: ClockMode::Manual(
            "2026-11-21T12:00:00Z"
                .parse()
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        ),
        ..ClusterConfig::default()
    }
}

fn seed(state: &ApiState) {
    state.upsert(objects::deployment(
        NS,
        "web",
        3,
        "web:1",
        &[("edgeheal.io/heal", "true")],
    ));
    state.upsert(objects::deployment(NS, "api", 2, "api:1", &[]));
}

/// A cluster behind a real socket, reached through a kubeconfig on disk.
async fn socket_cluster() -> (ApiState, Client, tempfile::TempDir) {
    let state = ApiState::new(config(Some(SIM_TOKEN)));
    seed(&state);
    let (url, _task) = spawn(state.clone()).await.expect("server starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("kubeconfig");
    write_kubeconfig(&path, &url).expect("kubeconfig written");
    let kubeconfig = Kubeconfig::read_from(&path).expect("kubeconfig parses");
    let cfg = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    assert_eq!(cfg.default_namespace, "default");
    let client = Client::try_from(cfg).expect("client");
    (state, client, dir)
}

/// A cluster reached in process through the router as a tower service.
fn tower_cluster() -> (ApiState, Client) {
    let state = ApiState::new(config(None));
    seed(&state);
    let client = Client::new(router(state.clone()), NS);
    (state, client)
}

/// An expected failure: HTTP code and Status reason (`None`: success).
type Want = Option<(u16, &'static str)>;

fn api_error(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone()),
        other => panic!("expected an API error, got {other}"),
    }
}

fn pods_of(state: &ApiState, app: &str) -> Vec<Pod> {
    state
        .list::<Pod>(Some(NS))
        .into_iter()
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app"))
                .map(String::as_str)
                == Some(app)
        })
        .collect()
}

fn replicas(state: &ApiState, name: &str) -> i32 {
    state
        .get::<Deployment>(NS, name)
        .and_then(|d| d.spec)
        .and_then(|s| s.replicas)
        .unwrap_or(-1)
}

#[tokio::test]
async fn version_says_simulator() {
    let (_state, client, _dir) = socket_cluster().await;
    let v = client.apiserver_version().await.expect("version");
    assert_eq!(v.git_version, "v1.33.0-edgeheal-sim");
}

#[tokio::test]
async fn scale_subresource_table() {
    let (state, client, _dir) = socket_cluster().await;
    let deploys: Api<Deployment> = Api::namespaced(client, NS);
    let scale = deploys.get_scale("web").await.expect("get scale");
    assert_eq!(scale.spec.as_ref().and_then(|s| s.replicas), Some(3));
    assert_eq!(
        scale.status.as_ref().and_then(|s| s.selector.as_deref()),
        Some("app=web")
    );
    assert_eq!(scale.status.as_ref().map(|s| s.replicas), Some(3));

    // (replicas, dry run, want spec.replicas after, want pods after)
    let cases: &[(i32, bool, i32, usize)] = &[
        (5, true, 3, 3),
        (5, false, 5, 5),
        (2, true, 5, 5),
        (1, false, 1, 1),
        (4, false, 4, 4),
    ];
    for &(n, dry, want_spec, want_pods) in cases {
        let rv_before = state.resource_version();
        let mut pp = PatchParams::apply(MANAGER);
        pp.dry_run = dry;
        let out = deploys
            .patch_scale("web", &pp, &Patch::Merge(json!({"spec": {"replicas": n}})))
            .await
            .expect("patch scale");
        assert_eq!(
            out.spec.and_then(|s| s.replicas),
            Some(n),
            "response replicas {n} dry={dry}"
        );
        assert_eq!(
            replicas(&state, "web"),
            want_spec,
            "spec after {n} dry={dry}"
        );
        assert_eq!(
            pods_of(&state, "web").len(),
            want_pods,
            "pods after {n} dry={dry}"
        );
        if dry {
            assert_eq!(
                state.resource_version(),
                rv_before,
                "dry run changes nothing"
            );
        }
    }
    let dep = state.get::<Deployment>(NS, "web").expect("web");
    let managed = dep.metadata.managed_fields.unwrap_or_default();
    assert!(managed.iter().any(
        |m| m.manager.as_deref() == Some(MANAGER) && m.subresource.as_deref() == Some("scale")
    ));
    assert_eq!(
        dep.status.as_ref().and_then(|s| s.observed_generation),
        dep.metadata.generation
    );
    assert_eq!(dep.status.as_ref().and_then(|s| s.ready_replicas), Some(4));

    let logged = state.requests();
    let patches: Vec<_> = logged
        .iter()
        .filter(|r| {
            r.method == "PATCH" && r.path == "/apis/apps/v1/namespaces/shop/deployments/web/scale"
        })
        .collect();
    assert_eq!(patches.len(), cases.len());
    assert_eq!(
        patches
            .iter()
            .filter(|r| r.has_param("dryRun", "All"))
            .count(),
        2
    );
    assert!(patches
        .iter()
        .all(|r| r.has_param("fieldManager", MANAGER) && r.status == 200));

    // Stale resourceVersion on replace → 409; negative replicas → 422; missing deployment → 404.
    let mut stale = deploys.get_scale("web").await.expect("scale");
    stale.metadata.resource_version = Some("1".into());
    stale.spec = Some(k8s_openapi::api::autoscaling::v1::ScaleSpec { replicas: Some(9) });
    let errors = [
        (
            deploys
                .replace_scale("web", &PostParams::default(), &stale)
                .await
                .map(|_| ()),
            409,
            "Conflict",
        ),
        (
            deploys
                .patch_scale(
                    "web",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"replicas": -1}})),
                )
                .await
                .map(|_| ()),
            422,
            "Invalid",
        ),
        (deploys.get_scale("nope").await.map(|_| ()), 404, "NotFound"),
    ];
    for (result, code, reason) in errors {
        assert_eq!(
            api_error(result.expect_err("must fail")),
            (code, reason.to_owned())
        );
    }
    assert_eq!(replicas(&state, "web"), 4);
}

#[tokio::test]
async fn restart_through_template_annotation() {
    let (state, client, _dir) = socket_cluster().await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let sets: Api<ReplicaSet> = Api::namespaced(client, NS);
    let old_pods: Vec<String> = pods_of(&state, "web")
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert_eq!(old_pods.len(), 3);
    let patch =
        |ts: &str| json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: ts}}}}});

    // A dry run changes nothing.
    let mut pp = PatchParams::apply(MANAGER);
    pp.dry_run = true;
    let dry = deploys
        .patch("web", &pp, &Patch::Strategic(patch("2026-11-21T12:00:01Z")))
        .await
        .expect("dry restart");
    assert_eq!(
        dry.metadata.generation,
        Some(2),
        "the would-be object has the bumped generation"
    );
    assert_eq!(
        sets.list(&ListParams::default().labels("app=web"))
            .await
            .expect("rs")
            .items
            .len(),
        1
    );

    let pp = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..PatchParams::default()
    };
    let out = deploys
        .patch("web", &pp, &Patch::Strategic(patch("2026-11-21T12:00:02Z")))
        .await
        .expect("restart");
    assert_eq!(out.metadata.generation, Some(2));
    let rs = sets
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("rs")
        .items;
    assert_eq!(rs.len(), 2, "a new ReplicaSet revision");
    let rev = |r: &ReplicaSet| {
        r.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION))
            .cloned()
            .unwrap_or_default()
    };
    let newest = rs.iter().find(|r| rev(r) == "2").expect("revision 2");
    let oldest = rs.iter().find(|r| rev(r) == "1").expect("revision 1");
    assert_eq!(newest.spec.as_ref().and_then(|s| s.replicas), Some(3));
    assert_eq!(oldest.spec.as_ref().and_then(|s| s.replicas), Some(0));
    let hash = newest
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(POD_TEMPLATE_HASH))
        .cloned()
        .expect("hash label");
    assert_eq!(
        newest.metadata.name.as_deref(),
        Some(format!("web-{hash}").as_str())
    );
    let tmpl = newest
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref());
    assert_eq!(
        tmpl.and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(RESTARTED_AT))
            .map(String::as_str),
        Some("2026-11-21T12:00:02Z")
    );
    let new_pods = pods_of(&state, "web");
    assert_eq!(new_pods.len(), 3);
    for p in &new_pods {
        let name = p.metadata.name.clone().unwrap_or_default();
        assert!(!old_pods.contains(&name), "{name} replaced");
        assert_eq!(
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(POD_TEMPLATE_HASH)),
            Some(&hash)
        );
    }
    let dep = state.get::<Deployment>(NS, "web").expect("web");
    assert_eq!(
        dep.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION))
            .map(String::as_str),
        Some("2")
    );
    assert_eq!(
        dep.status.as_ref().and_then(|s| s.updated_replicas),
        Some(3)
    );

    // Paused: the template change waits; unpausing rolls it out.
    deploys
        .patch("web", &pp, &Patch::Merge(json!({"spec": {"paused": true}})))
        .await
        .expect("pause");
    deploys
        .patch("web", &pp, &Patch::Strategic(patch("2026-11-21T12:00:03Z")))
        .await
        .expect("restart paused");
    assert_eq!(
        state
            .list::<ReplicaSet>(Some(NS))
            .iter()
            .filter(|r| r
                .metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("web-")))
            .count(),
        2
    );
    deploys
        .patch("web", &pp, &Patch::Merge(json!({"spec": {"paused": null}})))
        .await
        .expect("resume");
    assert_eq!(
        state
            .list::<ReplicaSet>(Some(NS))
            .iter()
            .filter(|r| r
                .metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("web-")))
            .count(),
        3
    );
}

#[tokio::test]
async fn delete_pod_with_preconditions() {
    let (state, client, _dir) = socket_cluster().await;
    let pods: Api<Pod> = Api::namespaced(client, NS);
    let listed = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("list")
        .items;
    assert_eq!(listed.len(), 3);
    let victim = listed.first().cloned().expect("a pod");
    let name = victim.metadata.name.clone().expect("name");
    let uid = victim.metadata.uid.clone().expect("uid");
    let rv = victim.metadata.resource_version.clone().expect("rv");
    let with = |uid: Option<&str>, rv: Option<&str>, dry: bool| DeleteParams {
        dry_run: dry,
        preconditions: Some(Preconditions {
            uid: uid.map(str::to_owned),
            resource_version: rv.map(str::to_owned),
        }),
        ..DeleteParams::default()
    };
    // (uid, resourceVersion, dry run, want error)
    let refused: &[(Option<&str>, Option<&str>, bool, Want)] = &[
        (
            Some("00000000-0000-4000-8000-000000000000"),
            None,
            false,
            Some((409, "Conflict")),
        ),
        (Some(&uid), Some("1"), false, Some((409, "Conflict"))),
        (Some(&uid), Some(&rv), true, None),
    ];
    for (u, r, dry, want) in refused {
        let got = pods.delete(&name, &with(*u, *r, *dry)).await;
        match want {
            Some((code, reason)) => assert_eq!(
                api_error(got.expect_err("refused")),
                (*code, (*reason).to_owned())
            ),
            None => assert!(
                got.as_ref().is_ok_and(|e| e.is_left()),
                "dry run answers the pod"
            ),
        }
        assert!(
            state.get::<Pod>(NS, &name).is_some(),
            "pod still there after {u:?} {r:?} dry={dry}"
        );
    }
    let deleted = pods
        .delete(&name, &with(Some(&uid), Some(&rv), false))
        .await
        .expect("delete");
    let p = deleted.left().expect("a pod deletion answers the pod");
    assert!(p.metadata.deletion_timestamp.is_some());
    assert!(state.get::<Pod>(NS, &name).is_none());

    let after = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("list")
        .items;
    assert_eq!(after.len(), 3, "the ReplicaSet replaced it");
    let rs = state
        .list::<ReplicaSet>(Some(NS))
        .into_iter()
        .find(|r| {
            r.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("web-"))
        })
        .expect("rs");
    let rs_name = rs.metadata.name.clone().unwrap_or_default();
    let replacement = after
        .iter()
        .find(|p| !listed.iter().any(|l| l.metadata.name == p.metadata.name))
        .expect("a new pod");
    let new_name = replacement.metadata.name.clone().unwrap_or_default();
    let suffix = new_name
        .strip_prefix(&format!("{rs_name}-"))
        .expect("named after its ReplicaSet");
    assert_eq!(suffix.len(), 5);
    assert!(suffix.bytes().all(|b| NAME_ALPHABET.contains(&b)));
    let owner = replacement
        .metadata
        .owner_references
        .as_ref()
        .and_then(|o| o.first())
        .expect("owner");
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("ReplicaSet", rs_name.as_str(), Some(true))
    );
    assert_eq!(Some(&owner.uid), rs.metadata.uid.as_ref());
    assert_ne!(replacement.metadata.uid.as_deref(), Some(uid.as_str()));

    let missing = pods
        .delete("web-nope", &DeleteParams::default())
        .await
        .expect_err("404");
    assert_eq!(api_error(missing), (404, "NotFound".to_owned()));
}

#[tokio::test]
async fn hpa_min_replicas_patch() {
    let (state, client) = tower_cluster();
    state.upsert(objects::hpa(NS, "web", "web", 2, 10));
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client, NS);
    let pp = PatchParams::apply(MANAGER);
    // (minReplicas, want result, want deployment replicas after)
    let cases: &[(i32, Want, i32)] = &[
        (6, None, 6),
        (4, None, 6),
        (0, Some((422, "Invalid")), 6),
        (11, Some((422, "Invalid")), 6),
    ];
    for &(min, want, want_replicas) in cases {
        let got = hpas
            .patch(
                "web",
                &pp,
                &Patch::Merge(json!({"spec": {"minReplicas": min}})),
            )
            .await;
        match want {
            None => assert_eq!(
                got.expect("patched").spec.and_then(|s| s.min_replicas),
                Some(min)
            ),
            Some((code, reason)) => assert_eq!(
                api_error(got.expect_err("refused")),
                (code, reason.to_owned())
            ),
        }
        assert_eq!(replicas(&state, "web"), want_replicas, "minReplicas {min}");
    }
    assert_eq!(pods_of(&state, "web").len(), 6);
    let hpa = hpas.get("web").await.expect("hpa");
    assert_eq!(hpa.status.map(|s| s.desired_replicas), Some(6));
    let missing = hpas.get("nope").await.expect_err("404");
    assert_eq!(api_error(missing), (404, "NotFound".to_owned()));
}

#[tokio::test]
async fn events_create_and_list() {
    let (_state, client) = tower_cluster();
    let events: Api<Event> = Api::namespaced(client, NS);
    let event = |name: &str, time: bool| Event {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(NS.into()),
            ..ObjectMeta::default()
        },
        event_time: time.then(|| {
            MicroTime(
                "2026-11-21T12:00:00.123456Z"
                    .parse()
                    .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
            )
        }),
        action: Some("Scale".into()),
        reason: Some("EdgehealScaleUp".into()),
        note: Some("cpu_saturation: scaled web 3 -> 4".into()),
        type_: Some("Normal".into()),
        reporting_controller: Some("edgeheal.io/healer".into()),
        reporting_instance: Some("edgeheal-healer-0".into()),
        regarding: Some(ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("Deployment".into()),
            name: Some("web".into()),
            namespace: Some(NS.into()),
            ..ObjectReference::default()
        }),
        ..Event::default()
    };
    let created = events
        .create(&PostParams::default(), &event("web.1", true))
        .await
        .expect("create");
    assert!(created.metadata.uid.is_some() && created.metadata.resource_version.is_some());
    let invalid = events
        .create(&PostParams::default(), &event("web.2", false))
        .await
        .expect_err("no eventTime");
    assert_eq!(api_error(invalid), (422, "Invalid".to_owned()));
    let dup = events
        .create(&PostParams::default(), &event("web.1", true))
        .await
        .expect_err("exists");
    assert_eq!(api_error(dup), (409, "AlreadyExists".to_owned()));
    let cases: &[(&str, usize)] = &[
        ("regarding.name=web", 1),
        ("regarding.name=api", 0),
        ("reason=EdgehealScaleUp", 1),
    ];
    for (sel, want) in cases {
        let got = events
            .list(&ListParams::default().fields(sel))
            .await
            .expect("list")
            .items
            .len();
        assert_eq!(got, *want, "{sel}");
    }
}

#[tokio::test]
async fn lease_optimistic_concurrency() {
    let (_state, client, _dir) = socket_cluster().await;
    let leases: Api<Lease> = Api::namespaced(client, NS);
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some("edgeheal-healer".into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("healer-a".into()),
            lease_duration_seconds: Some(15),
            ..LeaseSpec::default()
        }),
    };
    let missing = leases.get("edgeheal-healer").await.expect_err("not yet");
    assert_eq!(api_error(missing), (404, "NotFound".to_owned()));
    let created = leases
        .create(&PostParams::default(), &lease)
        .await
        .expect("create");
    let again = leases
        .create(&PostParams::default(), &lease)
        .await
        .expect_err("exists");
    assert_eq!(api_error(again), (409, "AlreadyExists".to_owned()));

    let mut mine = created.clone();
    if let Some(s) = mine.spec.as_mut() {
        s.holder_identity = Some("healer-b".into());
    }
    let renewed = leases
        .replace("edgeheal-healer", &PostParams::default(), &mine)
        .await
        .expect("replace");
    assert_ne!(
        renewed.metadata.resource_version,
        created.metadata.resource_version
    );
    // The other candidate still holds the old resourceVersion: it loses.
    let stale = leases
        .replace("edgeheal-healer", &PostParams::default(), &created)
        .await
        .expect_err("stale");
    assert_eq!(api_error(stale), (409, "Conflict".to_owned()));
    let mut unversioned = renewed.clone();
    unversioned.metadata.resource_version = None;
    let err = leases
        .replace("edgeheal-healer", &PostParams::default(), &unversioned)
        .await
        .expect_err("rv required");
    assert_eq!(api_error(err), (422, "Invalid".to_owned()));
    let got = leases.get("edgeheal-healer").await.expect("get");
    assert_eq!(
        got.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("healer-b")
    );
}

#[tokio::test]
async fn list_with_selectors() {
    let (state, client) = tower_cluster();
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let cases: &[(&str, &[&str])] = &[
        ("", &["api", "web"]),
        ("app=web", &["web"]),
        ("edgeheal.io/heal=true", &["web"]),
        ("!edgeheal.io/heal", &["api"]),
        ("app in (api,web)", &["api", "web"]),
        ("app notin (web)", &["api"]),
        ("app=none", &[]),
    ];
    for (sel, want) in cases {
        let items = deploys
            .list(&ListParams::default().labels(sel))
            .await
            .expect("list")
            .items;
        let names: Vec<String> = items.into_iter().filter_map(|d| d.metadata.name).collect();
        assert_eq!(names, *want, "{sel:?}");
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let one = pods_of(&state, "api").first().cloned().expect("pod");
    let name = one.metadata.name.clone().unwrap_or_default();
    let node = one
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    let by_name = pods
        .list(&ListParams::default().fields(&format!("metadata.name={name}")))
        .await
        .expect("list")
        .items;
    assert_eq!(by_name.len(), 1);
    let on_node = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .expect("list")
        .items;
    assert!(on_node
        .iter()
        .all(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node.as_str())));
    let bad = pods
        .list(&ListParams::default().fields("spec.bogus=x"))
        .await
        .expect_err("unsupported field");
    assert_eq!(api_error(bad), (400, "BadRequest".to_owned()));
    let page = deploys
        .list(&ListParams::default().limit(1))
        .await
        .expect("page");
    assert_eq!(page.items.len(), 1);
    let token = page.metadata.continue_.clone().expect("continue token");
    let rest = deploys
        .list(&ListParams::default().limit(1).continue_token(&token))
        .await
        .expect("page 2");
    assert_eq!(
        rest.items.first().and_then(|d| d.metadata.name.as_deref()),
        Some("web")
    );
    let all: Api<ReplicaSet> = Api::all(client);
    assert_eq!(
        all.list(&ListParams::default().labels("app=web"))
            .await
            .expect("all ns")
            .items
            .len(),
        1
    );
}

#[tokio::test]
async fn not_found_table() {
    let (_state, client) = tower_cluster();
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let other_ns: Api<Deployment> = Api::namespaced(client, "other");
    let results: Vec<(&str, Result<(), kube::Error>)> = vec![
        ("get deployment", deploys.get("nope").await.map(|_| ())),
        (
            "deployment in another namespace",
            other_ns.get("web").await.map(|_| ()),
        ),
        (
            "patch deployment",
            deploys
                .patch("nope", &PatchParams::default(), &Patch::Merge(json!({})))
                .await
                .map(|_| ()),
        ),
        ("get replicaset", sets.get("nope").await.map(|_| ())),
        ("get pod", pods.get("nope").await.map(|_| ())),
        (
            "delete deployment",
            deploys
                .delete("nope", &DeleteParams::default())
                .await
                .map(|_| ()),
        ),
    ];
    for (what, r) in results {
        assert_eq!(
            api_error(r.expect_err(what)),
            (404, "NotFound".to_owned()),
            "{what}"
        );
    }
}
