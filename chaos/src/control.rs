//! The remediation operations on a [`Simulation`] (scale, rollout restart,
//! delete pod) and the controller behaviour behind them: pods created with
//! scheduler and kubelet events, pods stopped with `Killing`, faults bound to
//! a replaced pod's state cleared, rolling replacement one pod at a time.

use crate::emitter::Involved;
use crate::fleet::ControllerKind;
use crate::pod::{new_pod, pod_name, NewPod};
use crate::random::index;
use crate::sim::{FaultState, FaultStatus, Rollout, Simulation};
use crate::ChaosError;

impl Simulation {
    /// Sets a Deployment's or StatefulSet's replica count. New pods start now
    /// and take traffic once ready; removed pods stop at once.
    pub fn scale(&mut self, namespace: &str, name: &str, replicas: u32) -> Result<(), ChaosError> {
        let wi = self.find(namespace, name)?;
        let (kind, current) = match self.workloads.get(wi) {
            Some(w) => (w.spec.kind, w.pods.len() as u32),
            None => return Ok(()),
        };
        if kind == ControllerKind::DaemonSet {
            return Err(ChaosError::Unsupported {
                operation: "scale",
                kind: kind.as_str(),
                namespace: namespace.to_owned(),
                workload: name.to_owned(),
            });
        }
        if replicas > 200 {
            return Err(ChaosError::InvalidParameter {
                name: "replicas",
                reason: format!("{replicas} is above the simulator's 200"),
            });
        }
        if let Some(w) = self.workloads.get_mut(wi) {
            w.desired = replicas;
        }
        let ts = self.now_ns + 1_000_000;
        self.scaling_event(wi, current, replicas, ts);
        for _ in current..replicas {
            let ordinal = self.next_ordinal(wi);
            self.create_pod(wi, ordinal, None, None, ts);
        }
        for _ in replicas..current {
            // Newest first (Deployment), highest ordinal first (StatefulSet).
            let victim = self.workloads.get(wi).and_then(|w| match kind {
                ControllerKind::StatefulSet => w
                    .pods
                    .iter()
                    .enumerate()
                    .max_by_key(|(_, p)| p.ordinal)
                    .map(|(i, _)| i),
                _ => w
                    .pods
                    .iter()
                    .enumerate()
                    .max_by_key(|(_, p)| p.created_ns)
                    .map(|(i, _)| i),
            });
            if let Some(pi) = victim {
                self.kill_pod(wi, pi, ts);
            }
        }
        Ok(())
    }

    /// Starts a rolling restart (`kubectl rollout restart`): every pod is
    /// replaced, one at a time, by a pod of a new template.
    pub fn rollout_restart(&mut self, namespace: &str, name: &str) -> Result<(), ChaosError> {
        let wi = self.find(namespace, name)?;
        let hash = crate::names::template_hash(&mut self.rng);
        if let Some(w) = self.workloads.get_mut(wi) {
            w.hash = hash;
            w.rollout = Some(Rollout {
                old: w.pods.iter().map(|p| p.meta.uid.clone()).collect(),
                waiting: None,
            });
        }
        let now = self.now_ns;
        self.progress_rollout(wi, now + 1_000_000);
        Ok(())
    }

    /// Deletes a pod; its controller creates a replacement at once
    /// (Deployment: a new name; StatefulSet: the same name; DaemonSet: same node).
    pub fn delete_pod(&mut self, namespace: &str, pod: &str) -> Result<(), ChaosError> {
        let found = self.workloads.iter().enumerate().find_map(|(wi, w)| {
            if w.spec.namespace != namespace {
                return None;
            }
            w.pods
                .iter()
                .position(|p| p.meta.pod == pod)
                .map(|pi| (wi, pi))
        });
        let Some((wi, pi)) = found else {
            return Err(ChaosError::UnknownPod {
                namespace: namespace.to_owned(),
                pod: pod.to_owned(),
            });
        };
        let ts = self.now_ns + 1_000_000;
        self.replace_pod(wi, pi, ts);
        Ok(())
    }

    fn next_ordinal(&self, wi: usize) -> Option<u32> {
        let w = self.workloads.get(wi)?;
        (w.spec.kind == ControllerKind::StatefulSet).then(|| {
            (0..)
                .find(|o| !w.pods.iter().any(|p| p.ordinal == Some(*o)))
                .unwrap_or(0)
        })
    }

    fn pick_node(&mut self, wi: usize) -> usize {
        let n = self.fleet.nodes.len();
        let mut load = vec![0usize; n];
        for w in &self.workloads {
            for p in &w.pods {
                if let Some(l) = load.get_mut(p.node) {
                    *l += 1;
                }
            }
        }
        // Spread a workload's own pods first, then by total pods.
        let mine: Vec<usize> = (0..n)
            .map(|i| {
                self.workloads
                    .get(wi)
                    .map_or(0, |w| w.pods.iter().filter(|p| p.node == i).count())
            })
            .collect();
        let start = index(&mut self.rng, n);
        (0..n)
            .map(|k| (start + k) % n)
            .min_by_key(|&i| {
                (
                    mine.get(i).copied().unwrap_or(0),
                    load.get(i).copied().unwrap_or(0),
                )
            })
            .unwrap_or(0)
    }

    /// Creates a pod without events (initial state). Returns its index.
    pub(crate) fn create_pod_quiet(&mut self, wi: usize, seq: Option<u32>) -> usize {
        let kind = self.workloads.get(wi).map(|w| w.spec.kind);
        let (ordinal, node) = match kind {
            Some(ControllerKind::StatefulSet) => (seq, self.pick_node(wi)),
            Some(ControllerKind::DaemonSet) => {
                (None, seq.unwrap_or(0) as usize % self.fleet.nodes.len())
            }
            _ => (None, self.pick_node(wi)),
        };
        self.create_pod_inner(wi, ordinal, None, node, self.now_ns)
    }

    fn create_pod_inner(
        &mut self,
        wi: usize,
        ordinal: Option<u32>,
        name: Option<String>,
        node: usize,
        ts: i64,
    ) -> usize {
        let node_name = self.fleet.nodes.get(node).cloned().unwrap_or_default();
        let interval_ns = self.interval_ns;
        let Some(w) = self.workloads.get_mut(wi) else {
            return 0;
        };
        let name = name.unwrap_or_else(|| pod_name(&mut self.rng, &w.spec, &w.hash, ordinal));
        let pod = new_pod(
            &mut self.rng,
            NewPod {
                spec: &w.spec,
                name,
                node: (node, &node_name),
                template_hash: &w.hash,
                ordinal,
                now_ns: ts,
                interval_ns,
            },
        );
        w.pods.push(pod);
        w.pods.len() - 1
    }

    /// Creates a pod with the scheduler's and kubelet's events. Returns its UID.
    pub(crate) fn create_pod(
        &mut self,
        wi: usize,
        ordinal: Option<u32>,
        name: Option<String>,
        node: Option<usize>,
        ts: i64,
    ) -> String {
        let node = node.unwrap_or_else(|| self.pick_node(wi));
        let pi = self.create_pod_inner(wi, ordinal, name, node, ts);
        let Some(pod) = self.workloads.get(wi).and_then(|w| w.pods.get(pi)) else {
            return String::new();
        };
        let m = &pod.meta;
        let obj = Involved {
            kind: "Pod",
            name: &m.pod,
            namespace: &m.namespace,
            uid: &m.uid,
            container: None,
        };
        let with_container = Involved {
            container: Some(&m.container),
            ..obj
        };
        let host = Some(m.node.as_str());
        self.out.event(
            &obj,
            "Scheduled",
            false,
            format!(
                "Successfully assigned {}/{} to {}",
                m.namespace, m.pod, m.node
            ),
            ts,
            "default-scheduler",
            None,
        );
        self.out.event(
            &with_container,
            "Pulled",
            false,
            format!("Container image \"{}\" already present on machine", m.image),
            ts + 900_000_000,
            "kubelet",
            host,
        );
        self.out.event(
            &with_container,
            "Created",
            false,
            format!("Created container: {}", m.container),
            ts + 1_000_000_000,
            "kubelet",
            host,
        );
        self.out.event(
            &with_container,
            "Started",
            false,
            format!("Started container {}", m.container),
            ts + 1_200_000_000,
            "kubelet",
            host,
        );
        m.uid.clone()
    }

    /// Stops and removes a pod (Killing event), clearing faults bound to it.
    pub(crate) fn kill_pod(&mut self, wi: usize, pi: usize, ts: i64) {
        let Some(w) = self.workloads.get_mut(wi) else {
            return;
        };
        if pi >= w.pods.len() {
            return;
        }
        let pod = w.pods.remove(pi);
        let m = &pod.meta;
        self.out.event(
            &Involved {
                kind: "Pod",
                name: &m.pod,
                namespace: &m.namespace,
                uid: &m.uid,
                container: Some(&m.container),
            },
            "Killing",
            false,
            format!("Stopping container {}", m.container),
            ts,
            "kubelet",
            Some(&m.node),
        );
        if pod.phase == crate::pod::Phase::Up {
            crate::tick::shutdown_line(self, wi, &pod, ts + 5_000_000);
        }
        self.out.forget(&pod.meta.uid);
        let Some(w) = self.workloads.get(wi) else {
            return;
        };
        let (ns, name) = (w.spec.namespace.clone(), w.spec.name.clone());
        let infected_left = |f: &FaultState| w.pods.iter().any(|p| f.hits(p));
        let mut cleared = Vec::new();
        for (fi, f) in self.faults.iter().enumerate() {
            if f.status != FaultStatus::Active || f.spec.namespace != ns || f.spec.workload != name
            {
                continue;
            }
            let bound = f.pod_uid.as_deref() == Some(pod.meta.uid.as_str());
            let workload_bad_state =
                f.pod_uid.is_none() && f.spec.kind.cleared_by_restart() && !infected_left(f);
            if bound || workload_bad_state {
                cleared.push(fi);
            }
        }
        for fi in cleared {
            if let Some(f) = self.faults.get_mut(fi) {
                f.status = FaultStatus::Cleared;
                f.cleared_ns = Some(ts.max(f.spec.start_ns));
            }
        }
    }

    /// Deletes a pod and lets its controller replace it.
    pub(crate) fn replace_pod(&mut self, wi: usize, pi: usize, ts: i64) {
        let Some(pod) = self.workloads.get(wi).and_then(|w| w.pods.get(pi)) else {
            return;
        };
        let kind = self.workloads.get(wi).map(|w| w.spec.kind);
        let (ordinal, node, name) = (pod.ordinal, pod.node, pod.meta.pod.clone());
        self.kill_pod(wi, pi, ts);
        match kind {
            Some(ControllerKind::StatefulSet) => {
                self.create_pod(wi, ordinal, Some(name), Some(node), ts + 2_000_000_000);
            }
            Some(ControllerKind::DaemonSet) => {
                self.create_pod(wi, None, None, Some(node), ts + 1_000_000_000);
            }
            _ => {
                self.create_pod(wi, None, None, None, ts + 5_000_000);
            }
        }
    }

    fn scaling_event(&mut self, wi: usize, from: u32, to: u32, ts: i64) {
        let Some(w) = self.workloads.get(wi) else {
            return;
        };
        if w.spec.kind != ControllerKind::Deployment || from == to {
            return;
        }
        let rs = format!("{}-{}", w.spec.name, w.hash);
        let dir = if to > from { "up" } else { "down" };
        self.out.event(
            &Involved {
                kind: "Deployment",
                name: &w.spec.name,
                namespace: &w.spec.namespace,
                uid: &w.uid,
                container: None,
            },
            "ScalingReplicaSet",
            false,
            format!("Scaled {dir} replica set {rs} from {from} to {to}"),
            ts,
            "deployment-controller",
            None,
        );
    }

    /// Advances a rolling replacement by at most one step.
    pub(crate) fn progress_rollout(&mut self, wi: usize, ts: i64) {
        let Some(w) = self.workloads.get_mut(wi) else {
            return;
        };
        let Some(r) = w.rollout.as_mut() else { return };
        if let Some((new_uid, kill_after)) = r.waiting.clone() {
            let ready = w
                .pods
                .iter()
                .find(|p| p.meta.uid == new_uid)
                .is_none_or(|p| p.serving_at(ts));
            if !ready {
                return;
            }
            r.waiting = None;
            if let Some(old) = kill_after {
                if let Some(pi) = w.pods.iter().position(|p| p.meta.uid == old) {
                    self.kill_pod(wi, pi, ts);
                }
            }
        }
        let Some(w) = self.workloads.get_mut(wi) else {
            return;
        };
        let Some(r) = w.rollout.as_mut() else { return };
        // Next old pod still present.
        let next = loop {
            if r.old.is_empty() {
                break None;
            }
            let uid = r.old.remove(0);
            if let Some(pi) = w.pods.iter().position(|p| p.meta.uid == uid) {
                break Some((pi, uid));
            }
        };
        let Some((pi, old_uid)) = next else {
            w.rollout = None;
            return;
        };
        let kind = w.spec.kind;
        let new_count = w.pods.iter().filter(|p| p.template_hash == w.hash).count() as u32;
        match kind {
            ControllerKind::Deployment => {
                self.scaling_event(wi, new_count, new_count + 1, ts);
                let uid = self.create_pod(wi, None, None, None, ts);
                if let Some(r) = self.workloads.get_mut(wi).and_then(|w| w.rollout.as_mut()) {
                    r.waiting = Some((uid, Some(old_uid)));
                }
            }
            _ => {
                let Some(pod) = self.workloads.get(wi).and_then(|w| w.pods.get(pi)) else {
                    return;
                };
                let (ordinal, node, name) = (pod.ordinal, pod.node, pod.meta.pod.clone());
                self.kill_pod(wi, pi, ts);
                let (name, ordinal) = if kind == ControllerKind::StatefulSet {
                    (Some(name), ordinal)
                } else {
                    (None, None)
                };
                let uid = self.create_pod(wi, ordinal, name, Some(node), ts + 2_000_000_000);
                if let Some(r) = self.workloads.get_mut(wi).and_then(|w| w.rollout.as_mut()) {
                    r.waiting = Some((uid, None));
                }
            }
        }
    }
}
