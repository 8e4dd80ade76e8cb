//! [`Cluster`] over kube-rs. Every call the healer makes to the API server is in this file (the
//! RBAC in `pipeline-configs/kubernetes/rbac.yaml` grants exactly these, and a test checks it):
//!
//! | resource | verbs |
//! |---|---|
//! | apps deployments, statefulsets, daemonsets | get, patch |
//! | apps deployments/scale, statefulsets/scale | get, update |
//! | apps replicasets | get, list |
//! | argoproj.io rollouts | get, patch |
//! | argoproj.io rollouts/scale | get, update |
//! | autoscaling horizontalpodautoscalers | get, list, patch |
//! | core pods | get |
//! | core pods/eviction | create |
//! | events.k8s.io events | create |
//!
//! Mutations carry absolute values or preconditions, so a retry after a lost response cannot
//! act twice: scale sets an absolute replica count computed once, restart writes one fixed
//! `restartedAt` value, pod eviction carries uid/resourceVersion preconditions, HPA and rollback
//! patches carry JSON-patch `test` operations.
//!
//! Every call is bounded: `kubernetes.call_timeout_secs` an attempt, `retry.max_attempts`
//! attempts with a backoff between them. Once the heal API is stopping
//! ([`KubeCluster::stopping_on`]) no attempt is started, neither a retry nor a new call, and a
//! backoff is cut short: the attempt in flight is the last, so the engine's call ends within
//! `call_timeout_secs` of the stop, inside `engine.stop_timeout_secs`
//! ([`ClusterError::Stopped`]; a call not started at all is [`ClusterError::NotCalled`]).
//! Events are the exception: what the engine recorded is still posted while the heal API
//! stops, one attempt each ([`crate::recorder`]).
//!
//! Argo Rollouts' `Rollout` (argoproj.io/v1alpha1) is read and written as a dynamic object
//! (edgeheal links none of Argo's types): scaled through its `scale` subresource, restarted as
//! `kubectl argo rollouts restart` does (`spec.restartAt`), its pods owned through its
//! ReplicaSets, rolled out when its controller reports it `Healthy`. One held at a canary
//! `pause` step or awaiting a blue-green promotion stays `Paused` until someone promotes it: it
//! is rolled out when the ReplicaSets it controls, listed with its `spec.selector` (the
//! `list` on `replicasets` above), are settled ([`rollout::replicasets_settled`]). Its pods are
//! named as a Deployment's, so records without its label name it as one: when a Deployment
//! target does not exist, facts, scale, restart and rollout status are taken from the Rollout of
//! the same name ([`Target::twin`]). Without the CRD, that lookup is a 404 like the first.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::policy::v1::Eviction;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    DeleteOptions as K8sDeleteOptions, LabelSelector, MicroTime, ObjectMeta, OwnerReference,
    Preconditions as K8sPreconditions,
};
use k8s_openapi::NamespaceResourceScope;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind, Selector};
use kube::{Api, Client};
use tokio::sync::watch;

use crate::action::ActionKind;
use crate::clock::SharedClock;
use crate::cluster::{Cluster, ClusterError, EventNote, Target};
use crate::config::{KubernetesConfig, RetryConfig};
use crate::policy::{Facts, HpaFacts, Plan, PodFacts, RolloutFacts, UpdateStrategy};
use crate::rollout;
use crate::stop_signal::StopSignal;
use crate::tags::WorkloadKind;

/// Every (API group, resource, verbs) this module calls; the shipped RBAC must grant exactly
/// these (checked by `tests/manifests.rs`). Keep in step with the table above.
pub const REQUIRED_PERMISSIONS: &[(&str, &str, &[&str])] = &[
    ("apps", "deployments", &["get", "patch"]),
    ("apps", "statefulsets", &["get", "patch"]),
    ("apps", "daemonsets", &["get", "patch"]),
    ("apps", "deployments/scale", &["get", "update"]),
    ("apps", "statefulsets/scale", &["get", "update"]),
    ("apps", "replicasets", &["get", "list"]),
    ("argoproj.io", "rollouts", &["get", "patch"]),
    ("argoproj.io", "rollouts/scale", &["get", "update"]),
    (
        "autoscaling",
        "horizontalpodautoscalers",
        &["get", "list", "patch"],
    ),
    ("", "pods", &["get"]),
    ("", "pods/eviction", &["create"]),
    ("events.k8s.io", "events", &["create"]),
];

/// Field manager recorded on every write.
pub const FIELD_MANAGER: &str = "edgeheal-healer";
/// `reportingController` of Events.
pub const REPORTING_CONTROLLER: &str = "edgeheal.io/healer";
const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// Argo Rollouts' Rollout.
fn rollout_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout"),
        "rollouts",
    )
}

/// `spec.<field>` of a dynamic object.
fn spec_field<'a>(o: &'a DynamicObject, field: &str) -> Option<&'a serde_json::Value> {
    o.data.get("spec")?.get(field)
}

/// `spec.replicas` of a dynamic object.
fn spec_replicas(o: &DynamicObject) -> Option<i32> {
    spec_field(o, "replicas")
        .and_then(serde_json::Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
}

/// A workload as read, before what [`Facts`] adds around it (HPA, pod, rollout history).
struct WorkloadRead {
    meta: ObjectMeta,
    paused: bool,
    replicas: Option<i32>,
    update_strategy: UpdateStrategy,
    /// The Deployment itself, whose rollout history a rollback reads.
    deployment: Option<Deployment>,
}

impl WorkloadRead {
    /// An Argo Rollout as read.
    fn rollout(r: DynamicObject) -> WorkloadRead {
        let paused = spec_field(&r, "paused").and_then(serde_json::Value::as_bool);
        let replicas = spec_replicas(&r);
        WorkloadRead {
            meta: r.metadata,
            paused: paused.unwrap_or(false),
            replicas,
            // Its controller replaces every pod created before `spec.restartAt`, whatever
            // its strategy.
            update_strategy: UpdateStrategy::Replaces,
            deployment: None,
        }
    }
}

/// Whether Rollout `r` runs the pods of Deployment `name` (`spec.workloadRef`).
fn references_deployment(r: &DynamicObject, name: &str) -> bool {
    spec_field(r, "workloadRef").is_some_and(|w| {
        w.get("kind").and_then(serde_json::Value::as_str) == Some("Deployment")
            && w.get("name").and_then(serde_json::Value::as_str) == Some(name)
    })
}

/// `act` on `target`, and when that is a Deployment's 404, on the Rollout of its name
/// ([`Target::twin`]).
async fn or_rollout<T, Fut>(target: &Target, act: impl Fn(Target) -> Fut) -> Result<T, ClusterError>
where
    Fut: Future<Output = Result<T, ClusterError>>,
{
    match (act(target.clone()).await, target.twin()) {
        (Err(e @ ClusterError::NotFound(_)), Some(twin))
            if target.kind == WorkloadKind::Deployment =>
        {
            act(twin).await.map_err(|t| twin_error(e, t))
        }
        (r, _) => r,
    }
}

/// The error to report when the twin of a target that was not found ([`Target::twin`]) could
/// not be used either: the first one, unless the twin's lookup failed otherwise (a transport
/// error is worth a retry; a 404 or 403 of a cluster without Argo Rollouts, or without the
/// RBAC for it, says nothing more than the first 404).
fn twin_error(first: ClusterError, twin: ClusterError) -> ClusterError {
    match twin {
        ClusterError::NotFound(_) | ClusterError::Api { code: 403, .. } => first,
        other => other,
    }
}

/// The kube-rs implementation of [`Cluster`].
#[derive(Clone)]
pub struct KubeCluster {
    client: Client,
    retry: RetryConfig,
    call_timeout: Duration,
    instance: String,
    clock: SharedClock,
    /// Turns true when the heal API is stopping: no attempt is started after that.
    stop: StopSignal,
}

impl std::fmt::Debug for KubeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeCluster")
            .field("instance", &self.instance)
            .finish()
    }
}

fn api_error(e: kube::Error, what: &str) -> ClusterError {
    match e {
        kube::Error::Api(s) if s.code == 404 => ClusterError::NotFound(what.to_owned()),
        kube::Error::Api(s) => ClusterError::Api {
            code: s.code,
            reason: s.reason.clone(),
            message: s.message.clone(),
        },
        other => ClusterError::Transport(other.to_string()),
    }
}

/// The `reason` of the error for an eviction a PodDisruptionBudget refuses (the cause's
/// reason in the API server's Status, `policyv1.DisruptionBudgetCause`).
pub const DISRUPTION_BUDGET: &str = "DisruptionBudget";

/// Whether a 429 to an eviction is a PodDisruptionBudget's refusal ("Cannot evict pod as it
/// would violate the pod's disruption budget.") rather than API Priority and Fairness
/// throttling. kube-rs keeps the Status's message, not its causes.
fn refused_by_budget(message: &str) -> bool {
    message.contains("disruption budget")
}

fn retryable(e: &ClusterError) -> bool {
    match e {
        ClusterError::Api { reason, .. } if reason == DISRUPTION_BUDGET => false,
        ClusterError::Api { code, .. } => *code == 409 || *code == 429 || *code >= 500,
        ClusterError::Transport(_) => true,
        _ => false,
    }
}

impl KubeCluster {
    /// Wraps a client (tests pass a tower-test mock).
    pub fn new(
        client: Client,
        retry: RetryConfig,
        call_timeout: Duration,
        instance: String,
        clock: SharedClock,
    ) -> Self {
        Self {
            client,
            retry,
            call_timeout,
            instance,
            clock,
            stop: StopSignal::default(),
        }
    }

    /// The same client, which starts no attempt at a call once `stop` is true (the heal API
    /// is stopping): a call in flight ends with its current attempt, a backoff before the
    /// next is cut short, and a call made after the stop is not tried; they then fail with
    /// [`ClusterError::Stopped`], and [`ClusterError::NotCalled`] for the last.
    pub fn stopping_on(mut self, stop: watch::Receiver<bool>) -> Self {
        self.stop = StopSignal::new(stop);
        self
    }

    /// Connects using the kubeconfig named in the config, else in-cluster / `$KUBECONFIG`.
    pub async fn connect(
        cfg: &KubernetesConfig,
        instance: String,
        clock: SharedClock,
    ) -> Result<Self, ClusterError> {
        let config = match &cfg.kubeconfig {
            Some(path) => {
                let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| {
                    ClusterError::Transport(format!("kubeconfig {}: {e}", path.display()))
                })?;
                let opts = kube::config::KubeConfigOptions {
                    context: cfg.context.clone(),
                    ..Default::default()
                };
                kube::Config::from_custom_kubeconfig(kc, &opts)
                    .await
                    .map_err(|e| ClusterError::Transport(e.to_string()))?
            }
            None => kube::Config::infer()
                .await
                .map_err(|e| ClusterError::Transport(e.to_string()))?,
        };
        let client =
            Client::try_from(config).map_err(|e| ClusterError::Transport(e.to_string()))?;
        Ok(Self::new(
            client,
            cfg.retry.clone(),
            Duration::from_secs(cfg.call_timeout_secs),
            instance,
            clock,
        ))
    }

    /// Runs `f` with a per-call timeout, retrying 409/429/5xx/transport failures with
    /// exponential backoff, at most `retry.max_attempts` times. Once the heal API is stopping
    /// no attempt is started: the call ends with the attempt in flight, as
    /// [`ClusterError::Stopped`] if that one failed and could have been retried, or is not
    /// made at all ([`ClusterError::NotCalled`]).
    async fn retrying<T, F, Fut>(&self, what: &str, mut f: F) -> Result<T, ClusterError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ClusterError>>,
    {
        let mut backoff = Duration::from_millis(self.retry.initial_backoff_ms);
        let mut attempt = 1;
        if self.stop.is_raised() {
            return Err(ClusterError::NotCalled(format!("{what}: not called")));
        }
        loop {
            match self.attempt(what, f()).await {
                Err(e) if retryable(&e) && attempt < self.retry.max_attempts => {
                    let not_again = || {
                        ClusterError::Stopped(format!(
                            "{what}: not tried again after attempt {attempt} of {}: {e}",
                            self.retry.max_attempts
                        ))
                    };
                    if self.stop.is_raised() {
                        return Err(not_again());
                    }
                    tracing::warn!(%what, attempt, error = %e, "retrying Kubernetes call");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = self.stop.raised() => return Err(not_again()),
                    }
                    backoff = (backoff * 2).min(Duration::from_millis(self.retry.max_backoff_ms));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// One attempt at a call, bounded by `kubernetes.call_timeout_secs`.
    async fn attempt<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, ClusterError>>,
    ) -> Result<T, ClusterError> {
        match tokio::time::timeout(self.call_timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(ClusterError::Transport(format!(
                "{what}: timed out after {:?}",
                self.call_timeout
            ))),
        }
    }

    fn pp(dry_run: bool) -> PatchParams {
        PatchParams {
            dry_run,
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        }
    }

    fn post(dry_run: bool) -> PostParams {
        PostParams {
            dry_run,
            field_manager: Some(FIELD_MANAGER.into()),
        }
    }

    async fn get<K>(&self, api: &Api<K>, name: &str, what: &str) -> Result<K, ClusterError>
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        self.retrying(what, || async move {
            api.get(name).await.map_err(|e| api_error(e, what))
        })
        .await
    }

    /// Reads the target workload itself (a Deployment, StatefulSet or DaemonSet).
    async fn workload<K>(&self, target: &Target) -> Result<K, ClusterError>
    where
        K: kube::Resource<Scope = NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        <K as kube::Resource>::DynamicType: Default,
    {
        let api = Api::<K>::namespaced(self.client.clone(), &target.namespace);
        self.get(&api, &target.name, &target.key()).await
    }

    /// Rollouts in `namespace`.
    fn rollouts(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &rollout_resource())
    }

    /// Reads the target Rollout.
    async fn rollout(&self, target: &Target) -> Result<DynamicObject, ClusterError> {
        self.get(
            &self.rollouts(&target.namespace),
            &target.name,
            &target.key(),
        )
        .await
    }

    async fn pod_facts(
        &self,
        target: &Target,
        workload_uid: &str,
        pod: &str,
    ) -> Result<Option<PodFacts>, ClusterError> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &target.namespace);
        let p = match self
            .get(&pods, pod, &format!("pod {}/{pod}", target.namespace))
            .await
        {
            Ok(p) => p,
            Err(ClusterError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let owner = controller_of(p.metadata.owner_references.as_deref());
        let owned_by_target = match (target.kind, owner) {
            (WorkloadKind::Deployment | WorkloadKind::Rollout, Some(o))
                if o.kind == "ReplicaSet" =>
            {
                let rss: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &target.namespace);
                match self
                    .get(
                        &rss,
                        &o.name,
                        &format!("replicaset {}/{}", target.namespace, o.name),
                    )
                    .await
                {
                    Ok(rs) => {
                        rs.metadata.uid.as_deref() == Some(o.uid.as_str())
                            && controller_of(rs.metadata.owner_references.as_deref()).is_some_and(
                                |d| d.kind == kind_name(target.kind) && d.uid == workload_uid,
                            )
                    }
                    Err(ClusterError::NotFound(_)) => false,
                    Err(e) => return Err(e),
                }
            }
            (WorkloadKind::Statefulset, Some(o)) => {
                o.kind == "StatefulSet" && o.uid == workload_uid
            }
            (WorkloadKind::Daemonset, Some(o)) => o.kind == "DaemonSet" && o.uid == workload_uid,
            _ => false,
        };
        Ok(Some(PodFacts {
            name: pod.to_owned(),
            uid: p.metadata.uid.unwrap_or_default(),
            resource_version: p.metadata.resource_version.unwrap_or_default(),
            owned_by_target,
        }))
    }

    async fn hpa_for(&self, target: &Target) -> Result<Option<HpaFacts>, ClusterError> {
        let api: Api<HorizontalPodAutoscaler> =
            Api::namespaced(self.client.clone(), &target.namespace);
        let what = format!("horizontalpodautoscalers in {}", target.namespace);
        let (api, what) = (&api, what.as_str());
        let list = self
            .retrying(what, || async move {
                api.list(&ListParams::default())
                    .await
                    .map_err(|e| api_error(e, what))
            })
            .await?;
        let kind = kind_name(target.kind);
        Ok(list.items.into_iter().find_map(|h| {
            let spec = h.spec?;
            (spec.scale_target_ref.kind == kind && spec.scale_target_ref.name == target.name).then(
                || HpaFacts {
                    managed_by: controller_of(h.metadata.owner_references.as_deref())
                        .map(|o| format!("{} {} ({})", o.kind, o.name, o.api_version)),
                    name: h.metadata.name.unwrap_or_default(),
                    min_replicas: spec.min_replicas.unwrap_or(1),
                    max_replicas: spec.max_replicas,
                },
            )
        }))
    }

    /// The ReplicaSets in the target's namespace that `selector` selects, listed with the
    /// whole selector, matchLabels and matchExpressions, as the API server's labelSelector
    /// (`app=cart,tier in (web,api),!canary`). `None` for a selector that selects everything,
    /// or that is missing or kube cannot express: listing by less would take in ReplicaSets
    /// the workload does not select.
    async fn replicasets_selected(
        &self,
        target: &Target,
        selector: Option<LabelSelector>,
    ) -> Result<Option<Vec<ReplicaSet>>, ClusterError> {
        let Some(selector) = selector
            .and_then(|s| Selector::try_from(s).ok())
            .filter(|s| !s.selects_all())
        else {
            return Ok(None);
        };
        let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &target.namespace);
        let what = format!("replicasets of {}", target.key());
        let (api, what, selector) = (&api, what.as_str(), &selector);
        let list = self
            .retrying(what, || async move {
                api.list(&ListParams::default().labels_from(selector))
                    .await
                    .map_err(|e| api_error(e, what))
            })
            .await?;
        Ok(Some(list.items))
    }

    /// Whether Rollout `r`, held at a step ([`rollout::held_at_step`]), has rolled out what it
    /// was asked, judged by the ReplicaSets its `spec.selector` selects
    /// ([`rollout::replicasets_settled`]). A selector that selects everything or cannot be
    /// expressed: not rolled out, and the engine verifies the action after a verify window.
    async fn held_rollout_settled(
        &self,
        target: &Target,
        r: &DynamicObject,
    ) -> Result<bool, ClusterError> {
        let selector = match spec_field(r, "selector") {
            Some(s) => serde_json::from_value(s.clone()).ok(),
            // One that takes its template from a Deployment (`spec.workloadRef`) may have no
            // selector of its own: Argo's controller uses the Deployment's
            // (`rollout/templateref.go`, `SetResolvedSelector`).
            None => match spec_field(r, "workloadRef").filter(|w| w["kind"] == "Deployment") {
                Some(w) => {
                    let name = w["name"].as_str().unwrap_or_default().to_owned();
                    let referenced = Target {
                        namespace: target.namespace.clone(),
                        kind: WorkloadKind::Deployment,
                        name,
                    };
                    let d: Deployment = self.workload(&referenced).await?;
                    d.spec.map(|s| s.selector)
                }
                None => None,
            },
        };
        Ok(match self.replicasets_selected(target, selector).await? {
            Some(replicasets) => rollout::replicasets_settled(r, &replicasets),
            None => false,
        })
    }

    async fn rollout_facts(
        &self,
        target: &Target,
        d: &Deployment,
    ) -> Result<Option<RolloutFacts>, ClusterError> {
        let uid = d.metadata.uid.clone().unwrap_or_default();
        // A selector that selects everything or that kube cannot express: no rollback facts.
        let selector = d.spec.as_ref().map(|s| s.selector.clone());
        let Some(replicasets) = self.replicasets_selected(target, selector).await? else {
            return Ok(None);
        };
        let mut revisions: Vec<(i64, String, Option<jiff::Timestamp>)> = replicasets
            .into_iter()
            .filter(|rs| {
                controller_of(rs.metadata.owner_references.as_deref()).is_some_and(|o| o.uid == uid)
            })
            .filter_map(|rs| {
                let rev = rs
                    .metadata
                    .annotations
                    .as_ref()?
                    .get(REVISION_ANNOTATION)?
                    .parse::<i64>()
                    .ok()?;
                Some((
                    rev,
                    rs.metadata.name.clone()?,
                    rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
                ))
            })
            .collect();
        revisions.sort_by_key(|r| std::cmp::Reverse(r.0));
        let Some((current_revision, _, Some(current_since))) = revisions.first().cloned() else {
            return Ok(None);
        };
        Ok(Some(RolloutFacts {
            current_since,
            current_revision,
            previous: revisions.get(1).map(|(rev, name, _)| (name.clone(), *rev)),
        }))
    }

    async fn scale(&self, target: &Target, to: i32, dry_run: bool) -> Result<String, ClusterError> {
        let what = format!("scale of {}", target.key());
        let pp = Self::post(dry_run);
        let (what, pp) = (what.as_str(), &pp);
        macro_rules! scale_with {
            ($api:expr) => {{
                let api = &$api;
                self.retrying(what, || async move {
                    let mut s = api
                        .get_scale(&target.name)
                        .await
                        .map_err(|e| api_error(e, what))?;
                    let current = s.spec.as_ref().and_then(|x| x.replicas).unwrap_or(0);
                    if current >= to {
                        return Ok(format!("already at {current} replicas (target {to})"));
                    }
                    s.spec.get_or_insert_with(Default::default).replicas = Some(to);
                    s.status = None;
                    // The resourceVersion read above is the optimistic-concurrency precondition.
                    api.replace_scale(&target.name, pp, &s)
                        .await
                        .map_err(|e| api_error(e, what))?;
                    Ok(format!("replicas {current} -> {to}"))
                })
                .await
            }};
        }
        match target.kind {
            WorkloadKind::Deployment => scale_with!(Api::<Deployment>::namespaced(
                self.client.clone(),
                &target.namespace
            )),
            WorkloadKind::Statefulset => scale_with!(Api::<StatefulSet>::namespaced(
                self.client.clone(),
                &target.namespace
            )),
            WorkloadKind::Rollout => scale_with!(self.rollouts(&target.namespace)),
            other => Err(ClusterError::Unsupported(format!(
                "scale {}",
                other.as_str()
            ))),
        }
    }

    /// Sets the HPA's `minReplicas` from `from` to `to` with a JSON patch whose `test` the API
    /// server checks atomically with the write. `Ok(None)`: written; `Ok(Some(min))`: the
    /// test failed (our earlier attempt landed, or someone else changed it) and the minimum
    /// now is `min`.
    async fn patch_hpa_min(
        &self,
        target: &Target,
        hpa: &str,
        from: i32,
        to: i32,
        dry_run: bool,
    ) -> Result<Option<i32>, ClusterError> {
        let api: Api<HorizontalPodAutoscaler> =
            Api::namespaced(self.client.clone(), &target.namespace);
        let what = format!("hpa {}/{hpa}", target.namespace);
        let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
            {"op": "test", "path": "/spec/minReplicas", "value": from},
            {"op": "replace", "path": "/spec/minReplicas", "value": to},
        ]))
        .map_err(|e| ClusterError::Unexpected(e.to_string()))?;
        let pp = Self::pp(dry_run);
        let (api_r, what_r, pp_r, patch_r) = (&api, what.as_str(), &pp, &patch);
        let res = self
            .retrying(what_r, || async move {
                api_r
                    .patch(hpa, pp_r, &Patch::<()>::Json(patch_r.clone()))
                    .await
                    .map_err(|e| api_error(e, what_r))
            })
            .await;
        match res {
            Ok(_) => Ok(None),
            Err(ClusterError::Api { code: 422, .. }) => self
                .hpa_min_replicas(&target.namespace, hpa)
                .await?
                .map(Some)
                .ok_or(ClusterError::NotFound(what)),
            Err(e) => Err(e),
        }
    }

    async fn raise_hpa_min(
        &self,
        target: &Target,
        hpa: &str,
        replicas: i32,
        from: i32,
        to: i32,
        dry_run: bool,
    ) -> Result<String, ClusterError> {
        match self.patch_hpa_min(target, hpa, from, to, dry_run).await? {
            None => Ok(format!(
                "HPA {hpa} minReplicas {from} -> {to} ({replicas} replicas ran)"
            )),
            Some(now_min) if now_min >= to => {
                Ok(format!("HPA {hpa} minReplicas already {now_min}"))
            }
            Some(now_min) => Err(ClusterError::Unexpected(format!(
                "HPA {hpa} minReplicas changed concurrently to {now_min}"
            ))),
        }
    }

    /// Sets the HPA's `minReplicas` back to `to` if it is still `from`, the value edgeheal
    /// left. A minimum that is neither (someone else changed it) is a
    /// [`ClusterError::Conflict`] and is left alone.
    async fn restore_hpa_min(
        &self,
        target: &Target,
        hpa: &str,
        from: i32,
        to: i32,
        dry_run: bool,
    ) -> Result<String, ClusterError> {
        match self.patch_hpa_min(target, hpa, from, to, dry_run).await? {
            None => Ok(format!("HPA {hpa} minReplicas {from} -> {to}")),
            Some(now_min) if now_min == to => {
                Ok(format!("HPA {hpa} minReplicas already {now_min}"))
            }
            Some(now_min) => Err(ClusterError::Conflict(format!(
                "HPA {hpa} minReplicas is {now_min}, not the {from} edgeheal set"
            ))),
        }
    }

    /// Planned only for a workload whose controller replaces every pod on a change of their
    /// template (not an `OnDelete` or partitioned one: [`UpdateStrategy`]).
    async fn restart(&self, target: &Target, dry_run: bool) -> Result<String, ClusterError> {
        // One fixed value for every attempt: re-applying it does not start another rollout.
        let stamp = self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let (patch, detail) = if target.kind == WorkloadKind::Rollout {
            // `kubectl argo rollouts restart`: the controller evicts every pod created
            // before `spec.restartAt`, within maxUnavailable, and then sets
            // `status.restartedAt` to it.
            (
                serde_json::json!({"spec": {"restartAt": stamp}}),
                format!("spec.restartAt={stamp}"),
            )
        } else {
            (
                serde_json::json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}),
                format!("{RESTARTED_AT}={stamp}"),
            )
        };
        let what = format!("restart of {}", target.key());
        let pp = Self::pp(dry_run);
        let (what, pp, patch) = (what.as_str(), &pp, &patch);
        macro_rules! patch_with {
            ($api:expr) => {{
                let api = &$api;
                self.retrying(what, || async move {
                    api.patch(&target.name, pp, &Patch::Merge(patch))
                        .await
                        .map(|_| ())
                        .map_err(|e| api_error(e, what))
                })
                .await
            }};
        }
        match target.kind {
            WorkloadKind::Deployment => patch_with!(Api::<Deployment>::namespaced(
                self.client.clone(),
                &target.namespace
            ))?,
            WorkloadKind::Statefulset => patch_with!(Api::<StatefulSet>::namespaced(
                self.client.clone(),
                &target.namespace
            ))?,
            WorkloadKind::Daemonset => patch_with!(Api::<DaemonSet>::namespaced(
                self.client.clone(),
                &target.namespace
            ))?,
            WorkloadKind::Rollout => patch_with!(self.rollouts(&target.namespace))?,
            other => {
                return Err(ClusterError::Unsupported(format!(
                    "restart {}",
                    other.as_str()
                )))
            }
        }
        Ok(detail)
    }

    /// Evicts the pod (policy/v1 `Eviction`, the `pods/eviction` subresource) rather than
    /// deleting it: the API server then honours the pod's PodDisruptionBudgets. It still
    /// evicts an unready pod (a crash-looping one) while the budget is healthy, and refuses
    /// with 429 only when the workload is already at or below its budget: then the healer
    /// stops, as any automated actor should. The `deleteOptions` carry the uid and
    /// resourceVersion preconditions, as a delete would.
    async fn delete_pod(
        &self,
        target: &Target,
        name: &str,
        uid: &str,
        rv: &str,
        dry_run: bool,
    ) -> Result<String, ClusterError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &target.namespace);
        let what = format!("pod {}/{name}", target.namespace);
        let mut rv = rv.to_owned();
        for _ in 0..self.retry.max_attempts {
            // Not `Api::evict`: kube-core 5.0.0 writes its options as `delete_options`, which
            // the API server ignores, preconditions and all; the typed object writes
            // `deleteOptions`. The dry run goes in the query (`?dryRun=All`), which the API
            // server copies into the delete (eviction.go, propagateDryRun).
            let eviction = Eviction {
                metadata: ObjectMeta {
                    name: Some(name.to_owned()),
                    namespace: Some(target.namespace.clone()),
                    ..Default::default()
                },
                delete_options: Some(K8sDeleteOptions {
                    preconditions: Some(K8sPreconditions {
                        uid: Some(uid.to_owned()),
                        resource_version: Some(rv.clone()),
                    }),
                    ..Default::default()
                }),
            };
            let (api_r, what_r, body_r) = (&api, what.as_str(), &eviction);
            let pp = Self::post(dry_run);
            let pp_r = &pp;
            let attempt = self.retrying(what_r, || async move {
                match api_r
                    .create_subresource::<Eviction, serde_json::Value>(
                        "eviction", name, pp_r, body_r,
                    )
                    .await
                {
                    Ok(_) => Ok(()),
                    // A failed precondition is answered 409; re-reading, not resending, is right.
                    Err(kube::Error::Api(s)) if s.code == 409 => {
                        Err(ClusterError::Conflict(s.message.clone()))
                    }
                    // The budget does not allow it now: a refusal, not a hiccup to retry.
                    Err(kube::Error::Api(s)) if s.code == 429 && refused_by_budget(&s.message) => {
                        Err(ClusterError::Api {
                            code: 429,
                            reason: DISRUPTION_BUDGET.to_owned(),
                            message: s.message.clone(),
                        })
                    }
                    Err(e) => Err(api_error(e, what_r)),
                }
            });
            match attempt.await {
                Ok(()) => return Ok(format!("evicted pod {name} (uid {uid})")),
                Err(ClusterError::NotFound(_)) => return Ok(format!("pod {name} already gone")),
                // A precondition failed: the pod changed. Evict only if it is still the same
                // pod (same uid); a replacement pod is not the one the incident was about.
                Err(ClusterError::Conflict(_)) => match self.get(&api, name, &what).await {
                    Ok(p) if p.metadata.uid.as_deref() == Some(uid) => {
                        rv = p.metadata.resource_version.unwrap_or_default();
                    }
                    Ok(_) => return Ok(format!("pod {name} was already replaced")),
                    Err(ClusterError::NotFound(_)) => {
                        return Ok(format!("pod {name} already gone"))
                    }
                    Err(e) => return Err(e),
                },
                Err(e) => return Err(e),
            }
        }
        Err(ClusterError::Conflict(format!(
            "pod {name} kept changing; gave up"
        )))
    }

    async fn rollback(
        &self,
        target: &Target,
        replica_set: &str,
        revision: i64,
        dry_run: bool,
    ) -> Result<String, ClusterError> {
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), &target.namespace);
        let rss: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &target.namespace);
        let what = format!("rollback of {}", target.key());
        let rs = self
            .get(
                &rss,
                replica_set,
                &format!("replicaset {}/{replica_set}", target.namespace),
            )
            .await?;
        let mut template = rs.spec.and_then(|s| s.template).ok_or_else(|| {
            ClusterError::Unexpected(format!("replicaset {replica_set} has no template"))
        })?;
        // As `kubectl rollout undo`: the ReplicaSet's template without its pod-template-hash.
        if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove("pod-template-hash");
        }
        let pp = Self::pp(dry_run);
        let (deployments, what, pp, template) = (&deployments, what.as_str(), &pp, &template);
        self.retrying(what, || async move {
            let d = deployments
                .get(&target.name)
                .await
                .map_err(|e| api_error(e, what))?;
            if d.spec.as_ref().map(|s| &s.template) == Some(template) {
                return Ok(format!("already at the template of revision {revision}"));
            }
            if d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) {
                return Err(ClusterError::Unexpected(
                    "deployment was paused meanwhile".into(),
                ));
            }
            let rv = d.metadata.resource_version.clone().unwrap_or_default();
            let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
                {"op": "replace", "path": "/spec/template", "value": template},
            ]))
            .map_err(|e| ClusterError::Unexpected(e.to_string()))?;
            match deployments
                .patch(&target.name, pp, &Patch::<()>::Json(patch))
                .await
            {
                Ok(_) => {}
                // A failed JSON-patch `test` is answered 422, not 409 (apiserver patch.go,
                // applyJSPatch). If the resourceVersion moved meanwhile (the controller wrote
                // the status), it was a conflict: read again and retry. Otherwise the patch
                // itself was rejected, which retrying cannot change.
                Err(kube::Error::Api(s)) if s.code == 422 => {
                    let now = deployments
                        .get(&target.name)
                        .await
                        .map_err(|e| api_error(e, what))?;
                    if now.metadata.resource_version.as_deref() != Some(rv.as_str()) {
                        return Err(ClusterError::Api {
                            code: 409,
                            reason: "Conflict".into(),
                            message: format!("deployment changed since it was read: {}", s.message),
                        });
                    }
                    return Err(api_error(kube::Error::Api(s), what));
                }
                Err(e) => return Err(api_error(e, what)),
            }
            Ok(format!(
                "rolled back to revision {revision} (replicaset {replica_set})"
            ))
        })
        .await
    }

    async fn facts_of(
        &self,
        target: &Target,
        action: ActionKind,
        pod: Option<&str>,
    ) -> Result<Facts, ClusterError> {
        let read = match target.kind {
            WorkloadKind::Deployment => {
                let d: Deployment = self.workload(target).await?;
                let spec = d.spec.clone().unwrap_or_default();
                WorkloadRead {
                    meta: d.metadata.clone(),
                    paused: spec.paused.unwrap_or(false),
                    replicas: spec.replicas,
                    update_strategy: UpdateStrategy::Replaces,
                    deployment: Some(d),
                }
            }
            WorkloadKind::Statefulset => {
                let s: StatefulSet = self.workload(target).await?;
                let replicas = s.spec.as_ref().and_then(|x| x.replicas);
                let update_strategy = rollout::statefulset_strategy(&s);
                WorkloadRead {
                    meta: s.metadata,
                    paused: false,
                    replicas,
                    update_strategy,
                    deployment: None,
                }
            }
            WorkloadKind::Daemonset => {
                let d: DaemonSet = self.workload(target).await?;
                let update_strategy = rollout::daemonset_strategy(&d);
                WorkloadRead {
                    meta: d.metadata,
                    paused: false,
                    replicas: None,
                    update_strategy,
                    deployment: None,
                }
            }
            WorkloadKind::Rollout => WorkloadRead::rollout(self.rollout(target).await?),
            other => {
                return Err(ClusterError::Unsupported(format!(
                    "workload kind {}",
                    other.as_str()
                )))
            }
        };
        self.facts_around(target, read, action, pod).await
    }

    /// The facts of `target`, read as `read`: with its HPA, the named pod or its rollout
    /// history where `action` needs them.
    async fn facts_around(
        &self,
        target: &Target,
        read: WorkloadRead,
        action: ActionKind,
        pod: Option<&str>,
    ) -> Result<Facts, ClusterError> {
        let WorkloadRead {
            meta,
            paused,
            replicas,
            update_strategy,
            deployment,
        } = read;
        let (uid, resource_version, labels, annotations) = meta_facts(&meta);
        let hpa = if action == ActionKind::ScaleUp {
            self.hpa_for(target).await?
        } else {
            None
        };
        let pod = match (action, pod) {
            (ActionKind::DeletePod, Some(p)) => self.pod_facts(target, &uid, p).await?,
            _ => None,
        };
        let rollout = match (action, &deployment) {
            (ActionKind::Rollback, Some(d)) => self.rollout_facts(target, d).await?,
            _ => None,
        };
        Ok(Facts {
            kind: target.kind,
            uid,
            resource_version,
            labels,
            annotations,
            paused,
            replicas,
            update_strategy,
            hpa,
            pod,
            rollout,
        })
    }

    async fn execute_on(
        &self,
        target: &Target,
        plan: &Plan,
        dry_run: bool,
    ) -> Result<String, ClusterError> {
        let detail = match plan {
            Plan::Scale { to, .. } => self.scale(target, *to, dry_run).await?,
            Plan::RaiseHpaMin {
                hpa,
                replicas,
                from,
                to,
            } => {
                self.raise_hpa_min(target, hpa, *replicas, *from, *to, dry_run)
                    .await?
            }
            Plan::RestoreHpaMin { hpa, from, to } => {
                self.restore_hpa_min(target, hpa, *from, *to, dry_run)
                    .await?
            }
            Plan::Restart => self.restart(target, dry_run).await?,
            Plan::DeletePod {
                name,
                uid,
                resource_version,
            } => {
                self.delete_pod(target, name, uid, resource_version, dry_run)
                    .await?
            }
            Plan::Rollback {
                replica_set,
                revision,
            } => {
                self.rollback(target, replica_set, *revision, dry_run)
                    .await?
            }
            Plan::SoftHeal { .. } | Plan::Unverified(_) => {
                return Err(ClusterError::Unsupported("not a Kubernetes action".into()));
            }
        };
        Ok(if dry_run {
            format!("dry-run (dryRun=All): {detail}")
        } else {
            detail
        })
    }

    async fn rolled_out_of(&self, target: &Target) -> Result<bool, ClusterError> {
        let (done, replicas) = match target.kind {
            WorkloadKind::Deployment => {
                let d: Deployment = self.workload(target).await?;
                (
                    rollout::deployment(&d),
                    d.spec.as_ref().and_then(|s| s.replicas),
                )
            }
            WorkloadKind::Statefulset => {
                let s: StatefulSet = self.workload(target).await?;
                (
                    rollout::statefulset(&s),
                    s.spec.as_ref().and_then(|s| s.replicas),
                )
            }
            WorkloadKind::Daemonset => {
                return Ok(rollout::daemonset(&self.workload(target).await?))
            }
            WorkloadKind::Rollout => {
                let r = self.rollout(target).await?;
                let done = rollout::argo_rollout(&r)
                    || (rollout::held_at_step(&r) && self.held_rollout_settled(target, &r).await?);
                (done, spec_replicas(&r))
            }
            // Nothing the healer acts on rolls out.
            WorkloadKind::Job | WorkloadKind::Node | WorkloadKind::Unknown => return Ok(true),
        };
        if !done {
            return Ok(false);
        }
        // A raised HPA minimum changes nothing on the workload until the HPA controller's next
        // sync (15 s by default) scales it up to that minimum: until then its status is the
        // settled old one, and the new replicas are still to come.
        Ok(self
            .hpa_for(target)
            .await?
            .is_none_or(|h| h.min_replicas <= replicas.unwrap_or(1)))
    }
}

/// The longest `note` the API server accepts: `NoteLengthLimit`, compared with Go's `len`, which
/// counts bytes (pkg/apis/core/validation/events.go, legacyValidateEvent).
const NOTE_MAX_BYTES: usize = 1024;

/// `s` cut to at most `max` bytes, at a character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn controller_of(refs: Option<&[OwnerReference]>) -> Option<&OwnerReference> {
    refs?.iter().find(|o| o.controller == Some(true))
}

fn kind_name(k: WorkloadKind) -> &'static str {
    match k {
        WorkloadKind::Deployment => "Deployment",
        WorkloadKind::Statefulset => "StatefulSet",
        WorkloadKind::Daemonset => "DaemonSet",
        WorkloadKind::Rollout => "Rollout",
        WorkloadKind::Job => "Job",
        WorkloadKind::Node => "Node",
        WorkloadKind::Unknown => "Unknown",
    }
}

fn api_version(k: WorkloadKind) -> &'static str {
    match k {
        WorkloadKind::Rollout => "argoproj.io/v1alpha1",
        WorkloadKind::Job => "batch/v1",
        WorkloadKind::Node => "v1",
        _ => "apps/v1",
    }
}

fn meta_facts(
    m: &ObjectMeta,
) -> (
    String,
    String,
    BTreeMap<String, String>,
    BTreeMap<String, String>,
) {
    (
        m.uid.clone().unwrap_or_default(),
        m.resource_version.clone().unwrap_or_default(),
        m.labels.clone().unwrap_or_default(),
        m.annotations.clone().unwrap_or_default(),
    )
}

#[async_trait]
impl Cluster for KubeCluster {
    async fn hpa_min_replicas(
        &self,
        namespace: &str,
        hpa: &str,
    ) -> Result<Option<i32>, ClusterError> {
        let api: Api<HorizontalPodAutoscaler> = Api::namespaced(self.client.clone(), namespace);
        match self.get(&api, hpa, &format!("hpa {namespace}/{hpa}")).await {
            Ok(h) => Ok(Some(h.spec.and_then(|s| s.min_replicas).unwrap_or(1))),
            Err(ClusterError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn facts(
        &self,
        target: &Target,
        action: ActionKind,
        pod: Option<&str>,
    ) -> Result<Facts, ClusterError> {
        let facts = or_rollout(
            target,
            |t| async move { self.facts_of(&t, action, pod).await },
        )
        .await?;
        // Argo's migration of a Deployment (`spec.workloadRef`) leaves the Deployment in place,
        // scaled to 0 by hand or by `workloadRef.scaleDown`, often under the Rollout's name:
        // the pods the records name are the Rollout's, and scaling that Deployment up would
        // start the old pods beside them.
        match (facts.kind, facts.replicas, target.twin()) {
            (WorkloadKind::Deployment, Some(0), Some(twin)) => match self.rollout(&twin).await {
                Ok(r) if references_deployment(&r, &target.name) => {
                    self.facts_around(&twin, WorkloadRead::rollout(r), action, pod)
                        .await
                }
                Ok(_) => Ok(facts),
                // No Rollout, no Argo CRD or no RBAC for it: the Deployment is the target.
                Err(ClusterError::NotFound(_) | ClusterError::Api { code: 403, .. }) => Ok(facts),
                Err(e) => Err(e),
            },
            _ => Ok(facts),
        }
    }

    async fn execute(
        &self,
        target: &Target,
        plan: &Plan,
        dry_run: bool,
    ) -> Result<String, ClusterError> {
        // Only what is done to the workload itself: a rollback reads a ReplicaSet (whose 404
        // is its own), an eviction a pod, an HPA patch the HPA.
        if !matches!(plan, Plan::Scale { .. } | Plan::Restart) {
            return self.execute_on(target, plan, dry_run).await;
        }
        or_rollout(target, |t| async move {
            self.execute_on(&t, plan, dry_run).await
        })
        .await
    }

    async fn rolled_out(&self, target: &Target) -> Result<bool, ClusterError> {
        or_rollout(target, |t| async move { self.rolled_out_of(&t).await }).await
    }

    async fn record_event(
        &self,
        target: &Target,
        uid: Option<&str>,
        ev: &EventNote,
        dry_run: bool,
    ) -> Result<(), ClusterError> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), &target.namespace);
        let note = truncate_utf8(&ev.note, NOTE_MAX_BYTES).to_owned();
        let event = Event {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}.edgeheal-", target.name)),
                namespace: Some(target.namespace.clone()),
                ..Default::default()
            },
            event_time: Some(MicroTime(ev.at)),
            action: Some(ev.action.clone()),
            reason: Some(ev.reason.to_owned()),
            note: Some(note),
            type_: Some(ev.type_.to_owned()),
            reporting_controller: Some(REPORTING_CONTROLLER.to_owned()),
            reporting_instance: Some(self.instance.clone()),
            regarding: Some(ObjectReference {
                api_version: Some(api_version(target.kind).into()),
                kind: Some(kind_name(target.kind).into()),
                name: Some(target.name.clone()),
                namespace: Some(target.namespace.clone()),
                uid: uid.map(str::to_owned),
                ..Default::default()
            }),
            ..Default::default()
        };
        let what = format!("event on {}", target.key());
        let pp = Self::post(dry_run);
        // Events are not retried on conflict (generateName never conflicts); one attempt plus
        // retries on transport/5xx is enough, and failures never block a remediation.
        let (api, what, pp, event) = (&api, what.as_str(), &pp, &event);
        let post = || async move {
            api.create(pp, event)
                .await
                .map(|_| ())
                .map_err(|e| api_error(e, what))
        };
        if self.stop.is_raised() {
            // An Event changes nothing in the cluster: what the engine recorded before the
            // stop is still posted while the heal API stops, once, not tried again.
            return self.attempt(what, post()).await;
        }
        self.retrying(what, post).await
    }
}
