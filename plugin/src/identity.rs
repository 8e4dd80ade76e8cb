//! Who a record is about: the workload behind a pod, from owner information,
//! controller labels, app labels or the pod name.
//!
//! The order of evidence, most explicit first:
//!
//! 1. **Owner**: Vector's `pod_owner` (`ReplicaSet/web-7d4b9c8f6`) or an owner
//!    reference (`kind` + `name`). A ReplicaSet whose name ends in a
//!    pod-template hash is a Deployment's; a Job whose name ends in a CronJob
//!    schedule suffix (`-<8+ digits>`) is reported as that CronJob (kind Job),
//!    so its runs share one baseline. A `Node` owner (a mirror pod's) is
//!    read at step 3.
//!    An Argo Rollout owner is kind Rollout, and so is a ReplicaSet owner of
//!    a pod with Argo's `rollouts-pod-template-hash` label.
//! 2. **Controller labels**, set by the controllers themselves:
//!    `pod-template-hash` (Deployment: the pod name without
//!    `-<hash>-<suffix>`, or a name of 63 bytes cut by the name generator
//!    without `-<part of the hash><suffix>`), Argo Rollouts'
//!    `rollouts-pod-template-hash` (Rollout: its pods are named alike),
//!    `statefulset.kubernetes.io/pod-name` (StatefulSet),
//!    `job-name` / `batch.kubernetes.io/job-name` (Job),
//!    `controller-revision-hash` + `pod-template-generation` (DaemonSet).
//! 3. **Static pods**: the kubelet names the (mirror) pods of its manifests
//!    `<name>-<nodeName>`. When the node is known (Fluent Bit's `host`,
//!    Vector's `pod_node_name`, an event's source host, a sample's node
//!    label, or a `Node` owner) and the pod name ends in `-<node>`, the
//!    workload is `<name>`, kind Unknown: `kube-apiserver-worker-1` on
//!    `worker-1` is `kube-apiserver` (not a StatefulSet `kube-apiserver-worker`,
//!    nor, by its `Node` owner, one entity with every static pod of
//!    `worker-1`). The heal API acts on no workload of kind unknown: it has
//!    no object of that kind to read, so it refuses to act blind
//!    (`inspect_failed`; in shadow mode it only records). Else a `Node`
//!    owner names the node (kind Node).
//! 4. **App labels**: `app.kubernetes.io/name`, `app`, `k8s-app`.
//! 5. **Pod-name patterns**, where `<5>` is a generated suffix and hashes are
//!    drawn from Kubernetes' alphabet `bcdfghjklmnpqrstvwxz2456789`:
//!    `name-<8+ digits>-<5>` (a CronJob's Job: Job `name`),
//!    `name-<rs hash>-<5>` (Deployment), `name-<5>` (DaemonSet), else
//!    `name-<ordinal>` (StatefulSet). A 5-character suffix all from the
//!    alphabet is a suffix even when it is all digits (`web-7d4b9c8f6-24567`,
//!    `fluent-bit-45678`), never a StatefulSet ordinal. A 63-byte name was
//!    cut by the name generator: ending in `-<5 to 8 digits><5>` it is a
//!    CronJob's Job pod (`<cronjob>-<part of the minutes><5>`), else ending
//!    in `-<6 to 15 alphabet characters>` a Deployment's
//!    (`<deployment>-<part of the hash><5>`).
//!
//! Controller labels and static-pod names come before app labels because
//! they give the same name the pod name gives; events and metric samples
//! (cAdvisor, kube-state-metrics) carry only pod names (and nodes), so this
//! keeps a workload's logs, events and metrics in one entity. App labels
//! decide only for pods nothing before explains.

use std::borrow::Cow;

use crate::json::Value;
use crate::observation::{Identity, WorkloadKind};

/// Kubernetes' "safe" alphabet for generated name suffixes and hashes
/// (`k8s.io/apimachinery/pkg/util/rand`), without vowels and confusable digits.
fn is_k8s_hash_char(c: u8) -> bool {
    matches!(
        c,
        b'b' | b'c'
            | b'd'
            | b'f'
            | b'g'
            | b'h'
            | b'j'
            | b'k'
            | b'l'
            | b'm'
            | b'n'
            | b'p'
            | b'q'
            | b'r'
            | b's'
            | b't'
            | b'v'
            | b'w'
            | b'x'
            | b'z'
            | b'2'
            | b'4'
            | b'5'
            | b'6'
            | b'7'
            | b'8'
            | b'9'
    )
}

fn is_hash(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(is_k8s_hash_char)
}

fn nonempty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// The pod, namespace and container a container log's pipeline tag names.
///
/// Fluent Bit's `tail` with `Tag kube.*` tags each line with its file's
/// path, `/` turned to `.`: the kubelet's
/// `/var/log/containers/<pod>_<namespace>_<container>-<64 hex id>.log` becomes
/// `kube.var.log.containers.<pod>_<namespace>_<container>-<id>.log`, the
/// names the `kubernetes` filter's default `Kube_Tag_Prefix` and regex take
/// apart. When that filter gets no metadata (API server unreachable, a pod
/// already gone), the record carries no `kubernetes` object and the tag is
/// the only place its names are left. Names Kubernetes would refuse are
/// dropped later, like every other.
pub fn container_log_tag_names(tag: &[u8]) -> Option<ContainerLogNames<'_>> {
    const DIR: &[u8] = b"var.log.containers.";
    // Where a segment of the tag starts: at its start and after each `.`
    // (a byte search; a substring searcher's setup would be paid per record).
    let at = std::iter::once(0)
        .chain(memchr::memchr_iter(b'.', tag).map(|i| i + 1))
        .find(|&i| tag.get(i..).is_some_and(|rest| rest.starts_with(DIR)))?;
    let file = tag.get(at + DIR.len()..)?.strip_suffix(b".log")?;
    let file = std::str::from_utf8(file).ok()?;
    let (names, id) = file.rsplit_once('-')?;
    if id.len() != 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut parts = names.splitn(3, '_');
    let (pod, namespace, container) = (parts.next()?, parts.next()?, parts.next()?);
    ContainerLogNames::new(pod, namespace, container, id)
}

/// The pod, namespace and container a container log file's path names:
/// the kubelet's `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log`,
/// which Vector's `kubernetes_logs` reads and writes as `file` on every
/// event, also on one it found no pod metadata for.
pub fn container_log_path_names(path: &str) -> Option<ContainerLogNames<'_>> {
    let rest = path.strip_prefix("/var/log/pods/")?;
    let mut dirs = rest.split('/');
    let (pod_dir, container, file) = (dirs.next()?, dirs.next()?, dirs.next()?);
    if dirs.next().is_some() {
        return None;
    }
    let restart = file.strip_suffix(".log")?;
    if restart.is_empty() || !restart.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut parts = pod_dir.split('_');
    let (namespace, pod, uid) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    ContainerLogNames::new(pod, namespace, container, uid)
}

/// What [`container_log_tag_names`] reads off a tag and
/// [`container_log_path_names`] off a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerLogNames<'t> {
    /// The pod name.
    pub pod: &'t str,
    /// Its namespace.
    pub namespace: &'t str,
    /// The container (with its restarts, the same name).
    pub container: &'t str,
}

impl<'t> ContainerLogNames<'t> {
    /// The names, when none of them is empty, nor `id` (the part of the
    /// file's name that identifies the container or pod).
    fn new(pod: &'t str, namespace: &'t str, container: &'t str, id: &str) -> Option<Self> {
        [pod, namespace, container, id]
            .iter()
            .all(|n| !n.is_empty())
            .then_some(ContainerLogNames {
                pod,
                namespace,
                container,
            })
    }
}

/// Strips a trailing `-<rs hash>` (5 to 10 hash characters) from a ReplicaSet name.
pub fn deployment_of_replicaset(rs: &str) -> Option<&str> {
    let (name, hash) = rs.rsplit_once('-')?;
    (is_hash(hash, 5, 10)).then_some(name).and_then(nonempty)
}

/// Strips a CronJob's trailing `-<scheduled minutes>` (8 or more digits) from a Job name.
pub fn cronjob_of_job(job: &str) -> Option<&str> {
    let (name, suffix) = job.rsplit_once('-')?;
    (suffix.len() >= 8 && suffix.bytes().all(|c| c.is_ascii_digit()))
        .then_some(name)
        .and_then(nonempty)
}

/// The workload a pod name suggests, from its shape alone.
///
/// A last part of 5 characters all from the hash alphabet is a generated
/// suffix, even when it is all digits (`web-7d4b9c8f6-24567`: one pod in
/// (27/7)^5 ≈ 854 draws one): before it, `<cronjob>-<8+ digits>` is a
/// CronJob's Job, `<name>-<rs hash>` a Deployment's ReplicaSet, anything
/// else a DaemonSet (or Job) name. Only other all-digit last parts are
/// StatefulSet ordinals.
pub fn workload_from_pod_name(pod: &str) -> Option<(&str, WorkloadKind)> {
    let (head, last) = pod.rsplit_once('-')?;
    if is_hash(last, 5, 5) {
        // Before the Deployment rule: a CronJob's scheduled minutes are all
        // hash-alphabet digits in about (7/10)^8 ≈ 6 % of its runs, far more
        // often than a ReplicaSet's hash is all digits.
        if let Some(cronjob) = cronjob_of_job(head) {
            return Some((cronjob, WorkloadKind::Job));
        }
        if let Some(deploy) = deployment_of_replicaset(head) {
            return Some((deploy, WorkloadKind::Deployment));
        }
        return nonempty(head).map(|h| (h, WorkloadKind::DaemonSet));
    }
    if !head.is_empty() && !last.is_empty() && last.bytes().all(|c| c.is_ascii_digit()) {
        return Some((head, WorkloadKind::StatefulSet));
    }
    if pod.len() == MAX_POD_NAME {
        // A generated name cut to 63 bytes: a CronJob's Job
        // `<cronjob>-<5 to 8 of its minutes' digits><5>` (CronJob names of 49
        // to 52 bytes), else `<deployment>-<part of the hash><5>`.
        let digits = last.len().saturating_sub(5);
        let minutes = last.get(..digits).unwrap_or("");
        let suffix = last.get(digits..).unwrap_or("");
        if (5..=8).contains(&digits)
            && minutes.bytes().all(|c| c.is_ascii_digit())
            && is_hash(suffix, 5, 5)
        {
            return nonempty(head).map(|h| (h, WorkloadKind::Job));
        }
        if is_hash(last, 6, 15) {
            return nonempty(head).map(|h| (h, WorkloadKind::Deployment));
        }
    }
    None
}

/// The longest generated pod name: the API server's name generator cuts a
/// `generateName` (`<replicaset>-`) longer than 58 bytes to 58 and appends 5
/// random characters, with no `-` between (`names.SimpleNameGenerator`).
const MAX_POD_NAME: usize = 63;
const MAX_GENERATE_NAME_BASE: usize = 58;

/// The Deployment of a pod whose generated name was cut (see
/// [`MAX_POD_NAME`]), given its `pod-template-hash`: the kept base is
/// `<deployment>-<a prefix of the hash>`, the prefix possibly empty or the
/// whole hash (the `-` after it cut).
fn truncated_deployment<'p>(pod: &'p str, hash: &str) -> Option<&'p str> {
    if pod.len() != MAX_POD_NAME {
        return None;
    }
    let base = pod.get(..MAX_GENERATE_NAME_BASE)?;
    let (head, kept) = base.rsplit_once('-')?;
    hash.starts_with(kept).then_some(head).and_then(nonempty)
}

/// The workload named by an owner `kind` and `name`.
pub fn workload_from_owner<'n>(kind: &str, name: &'n str) -> Option<(&'n str, WorkloadKind)> {
    let name = nonempty(name)?;
    Some(match kind {
        "ReplicaSet" => match deployment_of_replicaset(name) {
            Some(d) => (d, WorkloadKind::Deployment),
            None => (name, WorkloadKind::Unknown),
        },
        "Deployment" => (name, WorkloadKind::Deployment),
        "Rollout" => (name, WorkloadKind::Rollout),
        "StatefulSet" => (name, WorkloadKind::StatefulSet),
        "DaemonSet" => (name, WorkloadKind::DaemonSet),
        "Job" => (cronjob_of_job(name).unwrap_or(name), WorkloadKind::Job),
        "CronJob" => (name, WorkloadKind::Job),
        "Node" => (name, WorkloadKind::Node),
        _ => (name, WorkloadKind::Unknown),
    })
}

/// Evidence about a pod's workload gathered from a record, in any order.
#[derive(Debug, Default)]
pub struct PodEvidence<'a> {
    /// The pod name.
    pub pod: Option<Cow<'a, str>>,
    /// An explicit owner as (kind, name), e.g. from Vector's `pod_owner`.
    pub owner: Option<(Cow<'a, str>, Cow<'a, str>)>,
    /// The pod's labels object.
    pub labels: Option<Value<'a>>,
    /// The node the pod runs on (Fluent Bit's `host`, Vector's
    /// `pod_node_name`, an event's source host, a sample's node label),
    /// which names a static pod.
    pub node: Option<Cow<'a, str>>,
}

/// Splits Vector's `pod_owner` (`Kind/name`).
pub fn split_owner(owner: &str) -> Option<(&str, &str)> {
    owner.split_once('/')
}

/// The first owner reference of an `ownerReferences` array (the one marked
/// `controller: true` if any).
pub fn owner_from_references<'a>(refs: &Value<'a>) -> Option<(Cow<'a, str>, Cow<'a, str>)> {
    let mut first = None;
    for r in refs.elements() {
        let kind = r.get("kind").and_then(Value::into_str);
        let name = r.get("name").and_then(Value::into_str);
        if let (Some(kind), Some(name)) = (kind, name) {
            if r.get("controller") == Some(Value::Bool(true)) {
                return Some((kind, name));
            }
            first.get_or_insert((kind, name));
        }
    }
    first
}

fn label<'a>(labels: &Value<'a>, key: &str) -> Option<Cow<'a, str>> {
    labels
        .get(key)
        .and_then(Value::into_str)
        .filter(|s| !s.is_empty())
}

/// The first `part.len()` bytes of `s` (every derived workload name is a
/// prefix of the name it came from), borrowed from the record when `s` is.
fn sub<'a>(s: &Cow<'a, str>, part: &str) -> Cow<'a, str> {
    match s {
        Cow::Borrowed(b) => match b.get(..part.len()) {
            Some(p) => Cow::Borrowed(p),
            None => Cow::Owned(part.to_owned()),
        },
        Cow::Owned(_) => Cow::Owned(part.to_owned()),
    }
}

/// A static (mirror) pod's name without its `-<node>` suffix: the kubelet
/// names the pods of its manifests `<name>-<nodeName>`.
pub fn static_pod_name<'p>(pod: &'p str, node: &str) -> Option<&'p str> {
    if node.is_empty() {
        return None;
    }
    pod.strip_suffix(node)?.strip_suffix('-').and_then(nonempty)
}

/// The identity of the pod `ev` is about: `namespace` and `container` as
/// given, the workload `ev` resolves to ([`resolve_workload`]), and `ev`'s
/// pod and node.
pub fn pod_identity<'a>(
    namespace: Option<Cow<'a, str>>,
    container: Option<Cow<'a, str>>,
    ev: PodEvidence<'a>,
) -> Identity<'a> {
    let (workload, workload_kind) = match resolve_workload(&ev) {
        Some((w, k)) => (Some(w), Some(k)),
        None => (None, None),
    };
    Identity {
        namespace,
        workload,
        workload_kind,
        pod: ev.pod,
        container,
        node: ev.node,
    }
}

/// Resolves the workload from the evidence, in the documented order.
pub fn resolve_workload<'a>(ev: &PodEvidence<'a>) -> Option<(Cow<'a, str>, WorkloadKind)> {
    // A `Node` owner marks a mirror pod: its name is read below.
    let mut node_owner = None;
    if let Some((kind, name)) = &ev.owner {
        if kind == "Node" {
            node_owner = Some(name);
        } else if let Some((w, k)) = workload_from_owner(kind, name) {
            // Argo Rollouts' ReplicaSets are named as a Deployment's.
            let argo = kind == "ReplicaSet"
                && k == WorkloadKind::Deployment
                && ev
                    .labels
                    .as_ref()
                    .is_some_and(|l| label(l, ROLLOUT_HASH_LABEL).is_some());
            let k = if argo { WorkloadKind::Rollout } else { k };
            return Some((sub(name, w), k));
        }
    }
    let pod = ev.pod.as_ref();
    if let Some(found) = ev.labels.as_ref().and_then(|l| controller_workload(l, pod)) {
        return Some(found);
    }
    if let Some(p) = pod {
        let nodes = [ev.node.as_deref(), node_owner.map(|n| n.as_ref())];
        if let Some(head) = nodes
            .into_iter()
            .flatten()
            .find_map(|n| static_pod_name(p, n))
        {
            return Some((sub(p, head), WorkloadKind::Unknown));
        }
    }
    if let Some(node) = node_owner.filter(|n| !n.is_empty()) {
        return Some((node.clone(), WorkloadKind::Node));
    }
    if let Some(labels) = &ev.labels {
        for key in ["app.kubernetes.io/name", "app", "k8s-app"] {
            if let Some(app) = label(labels, key) {
                let kind = pod
                    .and_then(|p| workload_from_pod_name(p))
                    .map_or(WorkloadKind::Unknown, |(_, k)| k);
                return Some((app, kind));
            }
        }
    }
    let pod = pod?;
    match workload_from_pod_name(pod) {
        Some((w, k)) => Some((sub(pod, w), k)),
        None => Some((pod.clone(), WorkloadKind::Unknown)),
    }
}

/// The pod-template hash label of Argo Rollouts' pods and ReplicaSets
/// (`v1alpha1.DefaultRolloutUniqueLabelKey`).
const ROLLOUT_HASH_LABEL: &str = "rollouts-pod-template-hash";

/// The workload the labels controllers set name (`pod-template-hash`,
/// `statefulset.kubernetes.io/pod-name`, `job-name`,
/// `controller-revision-hash` + `pod-template-generation`), if any.
fn controller_workload<'a>(
    labels: &Value<'a>,
    pod: Option<&Cow<'a, str>>,
) -> Option<(Cow<'a, str>, WorkloadKind)> {
    for (key, kind) in [
        ("pod-template-hash", WorkloadKind::Deployment),
        (ROLLOUT_HASH_LABEL, WorkloadKind::Rollout),
    ] {
        let (Some(hash), Some(pod)) = (label(labels, key), pod) else {
            continue;
        };
        let tail_len = hash.len() + 7; // "-<hash>-<5>"
        let cut = pod.len().checked_sub(tail_len);
        if let Some(head) = cut.and_then(|c| pod.get(..c)).and_then(nonempty) {
            let rest = pod.get(head.len()..).unwrap_or("");
            if rest.get(1..=hash.len()) == Some(hash.as_ref()) {
                return Some((sub(pod, head), kind));
            }
        }
        if let Some(head) = truncated_deployment(pod, &hash) {
            return Some((sub(pod, head), kind));
        }
    }
    if label(labels, "statefulset.kubernetes.io/pod-name").is_some() {
        if let Some(p) = pod {
            if let Some((head, _)) = p.rsplit_once('-') {
                return Some((sub(p, head), WorkloadKind::StatefulSet));
            }
        }
    }
    if let Some(job) =
        label(labels, "batch.kubernetes.io/job-name").or_else(|| label(labels, "job-name"))
    {
        let name = match cronjob_of_job(&job) {
            Some(w) => sub(&job, w),
            None => job.clone(),
        };
        return Some((name, WorkloadKind::Job));
    }
    if label(labels, "controller-revision-hash").is_some()
        && label(labels, "pod-template-generation").is_some()
    {
        if let Some(p) = pod {
            if let Some((head, _)) = p.rsplit_once('-').filter(|(h, _)| !h.is_empty()) {
                return Some((sub(p, head), WorkloadKind::DaemonSet));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Record;
    use WorkloadKind::*;

    #[test]
    fn container_log_tags_name_pod_namespace_and_container() {
        let id = "0123456789abcdef".repeat(4);
        let names = |pod, namespace, container| {
            Some(ContainerLogNames {
                pod,
                namespace,
                container,
            })
        };
        let cases: Vec<(String, Option<ContainerLogNames<'_>>)> = vec![
            (
                format!("kube.var.log.containers.cart-7d4b9c8f6-x2x9z_shop_app-{id}.log"),
                names("cart-7d4b9c8f6-x2x9z", "shop", "app"),
            ),
            // No prefix, another prefix, a pod name with dots.
            (
                format!("var.log.containers.web-0_db_pg-{id}.log"),
                names("web-0", "db", "pg"),
            ),
            (
                format!("logs.node-1.var.log.containers.a.b-c-5x9kq_ns_c-{id}.log"),
                names("a.b-c-5x9kq", "ns", "c"),
            ),
            // A container name with `_` is kept here, dropped as invalid later.
            (
                format!("kube.var.log.containers.p_ns_side_car-{id}.log"),
                names("p", "ns", "side_car"),
            ),
            // Not a kubelet container log: the id is not 64 lowercase hex,
            // a part is missing or empty, the file is not `.log`, the
            // directory is only part of a segment.
            (
                "kube.var.log.containers.p_ns_c-0123456789abcdef.log".to_string(),
                None,
            ),
            (
                format!("kube.var.log.containers.p_ns_c-{}.log", id.to_uppercase()),
                None,
            ),
            (format!("kube.var.log.containers.p_ns-{id}.log"), None),
            (format!("kube.var.log.containers.p__c-{id}.log"), None),
            (format!("kube.var.log.containers.p_ns_c-{id}.gz"), None),
            (format!("kube.myvar.log.containers.p_ns_c-{id}.log"), None),
            ("kube.var.log.pods.ns_p_uid.c.0.log".to_string(), None),
            ("k8s_events".to_string(), None),
            (String::new(), None),
        ];
        for (tag, want) in &cases {
            assert_eq!(&container_log_tag_names(tag.as_bytes()), want, "{tag}");
        }
        // Bytes that are not UTF-8 name nothing (and never panic).
        let mut bad = b"kube.var.log.containers.p\xff_ns_c-".to_vec();
        bad.extend_from_slice(id.as_bytes());
        bad.extend_from_slice(b".log");
        assert_eq!(container_log_tag_names(&bad), None);
    }

    #[test]
    fn container_log_paths_name_pod_namespace_and_container() {
        let names = |pod, namespace, container| {
            Some(ContainerLogNames {
                pod,
                namespace,
                container,
            })
        };
        let uid = "5b1f0a0e-6f35-4a8e-9c3e-2f0c7d3a1b2c";
        let cases: Vec<(String, Option<ContainerLogNames<'_>>)> = vec![
            (
                format!("/var/log/pods/shop_cart-7d4b9c8f6-x2x9z_{uid}/app/0.log"),
                names("cart-7d4b9c8f6-x2x9z", "shop", "app"),
            ),
            (
                format!("/var/log/pods/db_web.v2-0_{uid}/pg/12.log"),
                names("web.v2-0", "db", "pg"),
            ),
            // Not the kubelet's layout: no uid, an extra part, rotated or
            // compressed files, another directory, a deeper path.
            ("/var/log/pods/shop_cart/app/0.log".to_string(), None),
            (format!("/var/log/pods/shop_cart_x_{uid}/app/0.log"), None),
            (
                format!("/var/log/pods/shop_cart_{uid}/app/0.log.20240501-100000"),
                None,
            ),
            (format!("/var/log/pods/shop_cart_{uid}/app/0.log.gz"), None),
            (format!("/var/log/pods/shop_cart_{uid}/app/x.log"), None),
            (format!("/var/log/pods/shop__{uid}/app/0.log"), None),
            (format!("/var/log/pods/shop_cart_{uid}//0.log"), None),
            (format!("/var/log/pods/shop_cart_{uid}/app/sub/0.log"), None),
            (format!("/var/log/containers/cart_shop_app-{uid}.log"), None),
            (format!("var/log/pods/shop_cart_{uid}/app/0.log"), None),
            (String::new(), None),
        ];
        for (path, want) in &cases {
            assert_eq!(&container_log_path_names(path), want, "{path}");
        }
    }

    #[test]
    fn pod_name_patterns() {
        let cases: &[(&str, Option<(&str, WorkloadKind)>)] = &[
            ("web-7d4b9c8f6-x2x9z", Some(("web", Deployment))),
            (
                "api-gateway-5f9c7d8b4d-qwh4z",
                Some(("api-gateway", Deployment)),
            ),
            ("coredns-5d78c9869d-8xkzt", Some(("coredns", Deployment))),
            ("web-6bcd5-x2x9z", Some(("web", Deployment))),
            ("db-0", Some(("db", StatefulSet))),
            ("redis-cluster-12", Some(("redis-cluster", StatefulSet))),
            ("fluent-bit-x2x9z", Some(("fluent-bit", DaemonSet))),
            ("kube-proxy-7k2bq", Some(("kube-proxy", DaemonSet))),
            // 'a', 'e', 'o', '0', '1', '3' are not in the alphabet.
            ("web-7d4b9c8f6-abcde", None),
            ("web-aaaaaaa-x2x9z", Some(("web-aaaaaaa", DaemonSet))),
            // An all-digit 5-character suffix is a suffix, not an ordinal.
            ("web-7d4b9c8f6-24567", Some(("web", Deployment))),
            ("fluent-bit-45678", Some(("fluent-bit", DaemonSet))),
            ("db-10234", Some(("db", StatefulSet))),
            ("db-245678", Some(("db", StatefulSet))),
            // A CronJob's Job pod: Job `<cronjob>`, even when the scheduled
            // minutes are all hash-alphabet digits.
            ("backup-28571040-x2x9z", Some(("backup", Job))),
            ("backup-28572456-24567", Some(("backup", Job))),
            (
                "nightly-report-28571040-x2x9z",
                Some(("nightly-report", Job)),
            ),
            ("-28571040-x2x9z", Some(("-28571040", DaemonSet))),
            ("web-2857104-x2x9z", Some(("web-2857104", DaemonSet))),
            ("-24567", None),
            ("standalone", None),
            ("-0", None),
            ("-x2x9z", None),
            ("", None),
        ];
        for (pod, want) in cases {
            assert_eq!(workload_from_pod_name(pod), *want, "{pod}");
        }
    }

    type Expected = Option<(&'static str, WorkloadKind)>;
    type Owner = Option<(&'static str, &'static str)>;

    /// The workload `pod` resolves to on `node`, with `owner` and the labels
    /// of the JSON object `labels`.
    fn resolved(
        pod: &str,
        node: Option<&str>,
        owner: Owner,
        labels: &str,
    ) -> Option<(String, WorkloadKind)> {
        let rec = Record::parse(labels.as_bytes()).unwrap();
        let ev = PodEvidence {
            pod: Some(Cow::Borrowed(pod)),
            owner: owner.map(|(k, n)| (Cow::Borrowed(k), Cow::Borrowed(n))),
            labels: Some(rec.as_value()),
            node: node.map(Cow::Borrowed),
        };
        resolve_workload(&ev).map(|(w, k)| (w.into_owned(), k))
    }

    fn owned(want: Expected) -> Option<(String, WorkloadKind)> {
        want.map(|(w, k)| (w.to_owned(), k))
    }

    #[test]
    fn owners() {
        let cases: &[(&str, &str, Expected)] = &[
            ("ReplicaSet", "web-7d4b9c8f6", Some(("web", Deployment))),
            ("ReplicaSet", "plain", Some(("plain", Unknown))),
            ("StatefulSet", "db", Some(("db", StatefulSet))),
            ("DaemonSet", "fluent-bit", Some(("fluent-bit", DaemonSet))),
            ("Job", "backup-28571040", Some(("backup", Job))),
            ("Job", "migrate", Some(("migrate", Job))),
            ("Node", "node-1", Some(("node-1", Node))),
            ("Rollout", "checkout", Some(("checkout", Rollout))),
            ("Deployment", "", None),
        ];
        for (kind, name, want) in cases {
            assert_eq!(workload_from_owner(kind, name), *want, "{kind}/{name}");
        }
    }

    #[test]
    fn resolution_order() {
        // (pod, owner, labels JSON, expected)
        let cases: &[(&str, Owner, &str, Expected)] = &[
            ("web-7d4b9c8f6-x2x9z", None, "{}", Some(("web", Deployment))),
            (
                "web-7d4b9c8f6-x2x9z",
                Some(("ReplicaSet", "frontend-7d4b9c8f6")),
                r#"{"app":"x"}"#,
                Some(("frontend", Deployment)),
            ),
            (
                "web-v2-7d4b9c8f6-x2x9z",
                None,
                r#"{"app":"web","pod-template-hash":"7d4b9c8f6"}"#,
                Some(("web-v2", Deployment)),
            ),
            (
                "db-3",
                None,
                r#"{"app":"postgres","statefulset.kubernetes.io/pod-name":"db-3"}"#,
                Some(("db", StatefulSet)),
            ),
            (
                "backup-28571040-abcde",
                None,
                r#"{"job-name":"backup-28571040"}"#,
                Some(("backup", Job)),
            ),
            (
                "migrate-x2x9z",
                None,
                r#"{"batch.kubernetes.io/job-name":"migrate"}"#,
                Some(("migrate", Job)),
            ),
            (
                "node-exporter-x2x9z",
                None,
                r#"{"controller-revision-hash":"6b5f","pod-template-generation":"1"}"#,
                Some(("node-exporter", DaemonSet)),
            ),
            (
                "mypod",
                None,
                r#"{"app.kubernetes.io/name":"shop","app":"x"}"#,
                Some(("shop", Unknown)),
            ),
            (
                "mypod",
                None,
                r#"{"k8s-app":"dns"}"#,
                Some(("dns", Unknown)),
            ),
            ("mypod", None, "{}", Some(("mypod", Unknown))),
            // The kind an app label's workload gets from an all-digit suffix.
            (
                "web-7d4b9c8f6-24567",
                None,
                r#"{"app":"web"}"#,
                Some(("web", Deployment)),
            ),
            // A CronJob's pod from its name alone, as from its job-name label.
            ("backup-28571040-x2x9z", None, "{}", Some(("backup", Job))),
            // Argo Rollouts: its hash label, or a ReplicaSet owner beside it.
            (
                "checkout-6f7d9c8b5-x2x9z",
                None,
                r#"{"app":"shop","rollouts-pod-template-hash":"6f7d9c8b5"}"#,
                Some(("checkout", Rollout)),
            ),
            (
                "checkout-6f7d9c8b5-x2x9z",
                Some(("ReplicaSet", "checkout-6f7d9c8b5")),
                r#"{"rollouts-pod-template-hash":"6f7d9c8b5"}"#,
                Some(("checkout", Rollout)),
            ),
            (
                "checkout-6f7d9c8b5-x2x9z",
                Some(("Rollout", "checkout")),
                "{}",
                Some(("checkout", Rollout)),
            ),
            // A hash label that is not the pod's: read on.
            (
                "checkout-6f7d9c8b5-x2x9z",
                None,
                r#"{"rollouts-pod-template-hash":"5b8c9d7f6"}"#,
                Some(("checkout", Deployment)),
            ),
            // Without the label, its pod's name reads as a Deployment's.
            (
                "checkout-6f7d9c8b5-x2x9z",
                Some(("ReplicaSet", "checkout-6f7d9c8b5")),
                "{}",
                Some(("checkout", Deployment)),
            ),
        ];
        for (pod, owner, labels, want) in cases {
            assert_eq!(
                resolved(pod, None, *owner, labels),
                owned(*want),
                "{pod} {owner:?} {labels}"
            );
        }
    }

    /// A Deployment whose `<name>-<hash>-` is longer than 58 bytes: the name
    /// generator keeps its first 58 and appends the 5 random characters
    /// (`names.SimpleNameGenerator`). Each pod was its own workload of kind
    /// unknown, from its log (with `pod-template-hash`) and from its events
    /// and samples (pod name alone).
    #[test]
    fn pod_names_cut_by_the_name_generator() {
        fn generated(rs: &str, random: &str) -> String {
            let base = format!("{rs}-");
            format!("{}{random}", &base[..base.len().min(58)])
        }
        let long = "payment-reconciliation-worker-checkout-service";
        // (deployment, hash): the kept part of the hash is 1..=10 characters,
        // none (`<deployment>-` is 58), or all of it with the `-` cut.
        let cases: &[(String, &str)] = &[
            (format!("{long}-v2"), "5f9c7d8b4d"),
            (format!("{long}-v2-eu"), "5f9c7d8b4d"),
            (format!("{long}-v2-euwest"), "6b5f"),
            (format!("{long}s"), "5f9c7d8b4d"),
            (format!("{long}-v2-euwest1"), "7d4b9c8f6"),
            (format!("{long}-v2-euw"), "7d4b9c8f6"),
        ];
        for (deployment, hash) in cases {
            let pod = generated(&format!("{deployment}-{hash}"), "x2x9z");
            assert_eq!(pod.len(), 63, "{pod}");
            let labels = format!(r#"{{"app":"pay","pod-template-hash":"{hash}"}}"#);
            assert_eq!(
                resolved(&pod, None, None, &labels),
                Some((deployment.clone(), Deployment)),
                "{pod} labels"
            );
            // From the name alone, when some of the hash was kept.
            let kept = 58 - deployment.len() - 1;
            if kept > 0 {
                assert_eq!(
                    workload_from_pod_name(&pod),
                    Some((&deployment[..], Deployment)),
                    "{pod}"
                );
            }
        }
        // A CronJob of 49 to 52 bytes: its Job `<cronjob>-<8 digits>` cut.
        let reconcile = format!("nightly-{}", "reconcile".repeat(6));
        for len in 49..=52 {
            let cronjob = &reconcile[..len];
            let pod = generated(&format!("{cronjob}-28571040"), "x2x9z");
            assert_eq!(pod.len(), 63, "{pod}");
            assert_eq!(workload_from_pod_name(&pod), Some((cronjob, Job)), "{pod}");
        }
        // Multi-byte characters where the digits would end: no panic.
        let odd = format!("{}-1234µx2x9", "a".repeat(52));
        assert_eq!(odd.len(), 63);
        assert_eq!(workload_from_pod_name(&odd), None);
        // Not cut (61 bytes): a last part longer than a suffix of 5.
        assert_eq!(
            workload_from_pod_name("payment-reconciliation-worker-checkout-service-v2-5f9c7dx2x9z"),
            None
        );
        // 63 bytes with a last part outside the alphabet.
        assert_eq!(
            workload_from_pod_name("payment-reconciliation-worker-checkout-service-v2-5f9c7daeiou"),
            None
        );
        // A label hash the kept part does not start.
        let pod = "payment-reconciliation-worker-checkout-service-v2-5f9c7d8bx2x9z";
        assert_eq!(
            resolved(pod, None, None, r#"{"pod-template-hash":"6b5f"}"#),
            owned(Some((
                "payment-reconciliation-worker-checkout-service-v2",
                Deployment
            ))),
            "the name pattern still reads it"
        );
    }

    /// Static (mirror) pods, `<name>-<node>`: `kube-apiserver-worker-1`
    /// on `worker-1` was read as a StatefulSet `kube-apiserver-worker`, and
    /// by its `Node` owner as the node itself (one entity for every static
    /// pod of a node).
    #[test]
    fn static_pods_are_named_without_their_node() {
        // (pod, node, owner, labels JSON, expected)
        let cases: &[(&str, Option<&str>, Owner, &str, Expected)] = &[
            (
                "kube-apiserver-worker-1",
                Some("worker-1"),
                None,
                r#"{"component":"kube-apiserver","tier":"control-plane"}"#,
                Some(("kube-apiserver", Unknown)),
            ),
            (
                "kube-apiserver-worker-1",
                None,
                Some(("Node", "worker-1")),
                "{}",
                Some(("kube-apiserver", Unknown)),
            ),
            (
                "etcd-ip-10-0-1-23.ec2.internal",
                Some("ip-10-0-1-23.ec2.internal"),
                Some(("Node", "ip-10-0-1-23.ec2.internal")),
                "{}",
                Some(("etcd", Unknown)),
            ),
            // Static pods with an app label: the same name from events.
            (
                "haproxy-cp-1",
                Some("cp-1"),
                None,
                r#"{"app":"lb"}"#,
                Some(("haproxy", Unknown)),
            ),
            // Not a static pod: a Node owner whose node the name lacks, an
            // unknown node, a node that is the whole name, controllers.
            (
                "mirror-x",
                None,
                Some(("Node", "worker-1")),
                "{}",
                Some(("worker-1", Node)),
            ),
            (
                "kube-apiserver-worker-1",
                None,
                None,
                "{}",
                Some(("kube-apiserver-worker", StatefulSet)),
            ),
            (
                "worker-1",
                Some("worker-1"),
                None,
                "{}",
                Some(("worker", StatefulSet)),
            ),
            (
                "web-7d4b9c8f6-x2x9z",
                Some("x2x9z"),
                Some(("ReplicaSet", "web-7d4b9c8f6")),
                "{}",
                Some(("web", Deployment)),
            ),
            (
                "db-worker-1",
                Some("worker-1"),
                None,
                r#"{"statefulset.kubernetes.io/pod-name":"db-worker-1"}"#,
                Some(("db-worker", StatefulSet)),
            ),
            ("db-0", Some(""), None, "{}", Some(("db", StatefulSet))),
        ];
        for (pod, node, owner, labels, want) in cases {
            assert_eq!(
                resolved(pod, *node, *owner, labels),
                owned(*want),
                "{pod} {node:?} {owner:?} {labels}"
            );
        }
    }

    #[test]
    fn resolved_names_borrow_from_the_record() {
        let ev = PodEvidence {
            pod: Some(Cow::Borrowed("web-7d4b9c8f6-x2x9z")),
            ..PodEvidence::default()
        };
        assert!(matches!(
            resolve_workload(&ev),
            Some((Cow::Borrowed("web"), Deployment))
        ));
    }
}
