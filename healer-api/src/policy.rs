//! The guards every action passes, as one pure function: evidence not stale, namespace
//! allowlist, circuit breaker, global budget, per-target cooldown, opt-in label, paused deployments, workload
//! kind, the update strategy a restart needs, max replicas, HPA awareness, pod ownership, the
//! rollback window and the soft-heal URL rules. Its input is what the Kubernetes API said
//! (never what a record claimed).

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::action::ActionKind;
use crate::config::{BudgetConfig, EngineConfig, GuardsConfig, HpaPolicy, SoftHealConfig};
use crate::tags::WorkloadKind;

/// The HPA that controls a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HpaFacts {
    /// HPA name.
    pub name: String,
    /// `spec.minReplicas` (default 1).
    pub min_replicas: i32,
    /// `spec.maxReplicas`.
    pub max_replicas: i32,
    /// The controller that owns the HPA (its controller owner reference, as `ScaledObject
    /// cart (keda.sh/v1alpha1)`), if one does: it writes the HPA's spec from its own, so a
    /// minimum raised there is put back (KEDA's reconcile updates an HPA whose spec differs
    /// from the ScaledObject's).
    pub managed_by: Option<String>,
}

/// A pod as the API server describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodFacts {
    /// Name.
    pub name: String,
    /// UID (delete precondition).
    pub uid: String,
    /// resourceVersion (delete precondition).
    pub resource_version: String,
    /// Whether its controller chain (pod → ReplicaSet → Deployment, or pod → StatefulSet /
    /// DaemonSet) ends at the target workload's uid.
    pub owned_by_target: bool,
}

/// The rollout history of a Deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutFacts {
    /// When the newest ReplicaSet (current revision) was created.
    pub current_since: Timestamp,
    /// Current revision number.
    pub current_revision: i64,
    /// The previous revision's ReplicaSet, if any.
    pub previous: Option<(String, i64)>,
}

/// How the workload's controller replaces its pods once their template changes (a
/// StatefulSet's or DaemonSet's `spec.updateStrategy`): what a restart, which changes the
/// template, does to the pods.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UpdateStrategy {
    /// Every pod is replaced: `RollingUpdate` (the default; a StatefulSet's with no
    /// partition), a Deployment's strategies, an Argo Rollout's restart.
    #[default]
    Replaces,
    /// `OnDelete`: the controller replaces no pod; one gets the new template only when
    /// something deletes it.
    OnDelete,
    /// A StatefulSet's `RollingUpdate` with `partition` above 0: only the pods of ordinal
    /// `partition` and up are replaced; the others keep the old template.
    Partitioned {
        /// `spec.updateStrategy.rollingUpdate.partition`.
        partition: i32,
    },
}

/// What the API server says about the target.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// The kind of the workload described: the target's, or `Rollout` when the Argo Rollout
    /// of a Deployment target's name answered instead (the Deployment does not exist, or is
    /// the one at 0 replicas the Rollout references in `spec.workloadRef`).
    pub kind: WorkloadKind,
    /// UID of the workload.
    pub uid: String,
    /// resourceVersion of the workload.
    pub resource_version: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// `spec.paused` (Deployments, Argo Rollouts): no action of any kind is taken.
    pub paused: bool,
    /// `spec.replicas`.
    pub replicas: Option<i32>,
    /// How its controller replaces pods after a change of their template.
    pub update_strategy: UpdateStrategy,
    /// The HPA targeting it.
    pub hpa: Option<HpaFacts>,
    /// The pod the records named ([`Context::pod_named`]), if it exists.
    pub pod: Option<PodFacts>,
    /// Rollout history (Deployments, when rollback is considered).
    pub rollout: Option<RolloutFacts>,
}

/// Everything about the moment of the decision that is not the target itself.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// Now.
    pub now: Timestamp,
    /// Target namespace.
    pub namespace: &'a str,
    /// When the incident opened.
    pub incident_opened_at: Timestamp,
    /// The pod the records named (untrusted): the incident's record that opened it (else the
    /// newest its debounce window named), or the newest of the recurrences that escalated it
    /// to its current step that named one.
    pub pod_named: Option<&'a str>,
    /// Last action on the same target by another incident, enforced or of the current mode.
    pub last_action_on_target: Option<Timestamp>,
    /// When the incident's newest evidence came: a step decided once it is older than
    /// `engine.max_record_age_secs` is refused (the heal API was down in the middle of the
    /// decision), as a stale record opens nothing.
    pub evidence_at: Timestamp,
    /// Actions started in the budget window, enforced or of the current mode.
    pub actions_in_window: u32,
    /// Failed actions in the budget window, enforced or of the current mode.
    pub failures_in_window: u32,
}

/// A decided, concrete action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Set replicas through the scale subresource.
    Scale {
        /// Observed replicas.
        from: i32,
        /// Target replicas (absolute: a retry cannot add twice).
        to: i32,
    },
    /// Raise the HPA's minReplicas above the replicas the workload runs.
    RaiseHpaMin {
        /// HPA name.
        hpa: String,
        /// Replicas the workload ran when this was planned (its `spec.replicas`, which the
        /// HPA controller sets).
        replicas: i32,
        /// Observed minimum (the patch's `test` precondition).
        from: i32,
        /// New minimum: `step` above the replicas that ran.
        to: i32,
    },
    /// Give back an HPA minimum edgeheal raised: set `minReplicas` to `to` only if it is
    /// still `from`, the value edgeheal left. Never planned by [`evaluate`]; the engine
    /// builds it from the recorded raise (see [`crate::hpa_floor`]).
    RestoreHpaMin {
        /// HPA name.
        hpa: String,
        /// The minimum edgeheal left (the patch's `test` precondition).
        from: i32,
        /// The minimum before edgeheal first raised it.
        to: i32,
    },
    /// Bump `restartedAt`.
    Restart,
    /// Delete one pod with preconditions.
    DeletePod {
        /// Pod name.
        name: String,
        /// UID precondition.
        uid: String,
        /// resourceVersion precondition.
        resource_version: String,
    },
    /// Restore a previous ReplicaSet's template.
    Rollback {
        /// ReplicaSet holding the template.
        replica_set: String,
        /// Its revision.
        revision: i64,
    },
    /// Signed POST to the workload's hook.
    SoftHeal {
        /// The validated URL.
        url: String,
    },
    /// Shadow mode: the guards that need the API were not evaluated.
    Unverified(ActionKind),
}

/// Why an action was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Stable code.
    pub code: &'static str,
    /// Human explanation.
    pub reason: String,
    /// `true`: this action does not apply, try the next one; `false`: a safety guard said no,
    /// stop and hand over to a human.
    pub try_next: bool,
}

fn stop(code: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal {
        code,
        reason: reason.into(),
        try_next: false,
    }
}

fn skip(code: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal {
        code,
        reason: reason.into(),
        try_next: true,
    }
}

/// Refuses any action on a paused workload (`spec.paused` of a Deployment or an Argo
/// Rollout): someone holds it.
fn unpaused(f: &Facts) -> Result<(), Refusal> {
    if f.paused {
        return Err(stop("paused", format!("{} is paused", f.kind.as_str())));
    }
    Ok(())
}

/// The configuration slices the guards read.
#[derive(Debug, Clone, Copy)]
pub struct Guards<'a> {
    /// Guard settings.
    pub guards: &'a GuardsConfig,
    /// Budget and breaker.
    pub budget: &'a BudgetConfig,
    /// Cooldown.
    pub engine: &'a EngineConfig,
    /// Soft-heal settings.
    pub soft_heal: Option<&'a SoftHealConfig>,
}

/// Checks the guards that need no API call (namespace, breaker, budget, cooldown).
pub fn precheck(g: Guards<'_>, ctx: &Context<'_>) -> Result<(), Refusal> {
    let age_ms = ctx.now.as_millisecond() - ctx.evidence_at.as_millisecond();
    if age_ms > (g.engine.max_record_age_secs as i64).saturating_mul(1000) {
        return Err(stop(
            "stale_evidence",
            format!(
                "the newest evidence is {}s old, older than engine.max_record_age_secs ({}s): \
                 not acted on, the fault it showed may have healed",
                age_ms / 1000,
                g.engine.max_record_age_secs
            ),
        ));
    }
    if !g.guards.namespaces.iter().any(|n| n == ctx.namespace) {
        return Err(stop(
            "namespace_not_allowed",
            format!("namespace {} is not in guards.namespaces", ctx.namespace),
        ));
    }
    if ctx.failures_in_window >= g.budget.breaker_failures {
        return Err(stop(
            "circuit_open",
            format!(
                "circuit breaker open: {} failed actions in the last {}s",
                ctx.failures_in_window, g.budget.window_secs
            ),
        ));
    }
    if ctx.actions_in_window >= g.budget.max_actions {
        return Err(stop(
            "budget_exhausted",
            format!(
                "budget exhausted: {} actions in the last {}s",
                ctx.actions_in_window, g.budget.window_secs
            ),
        ));
    }
    if let Some(last) = ctx.last_action_on_target {
        let since = ctx.now.as_second() - last.as_second();
        if since < g.engine.cooldown_secs as i64 {
            return Err(stop(
                "cooldown",
                format!(
                    "target acted on {since}s ago; cooldown is {}s",
                    g.engine.cooldown_secs
                ),
            ));
        }
    }
    Ok(())
}

/// Decides whether and how `action` may run against the target.
pub fn evaluate(
    g: Guards<'_>,
    action: ActionKind,
    ctx: &Context<'_>,
    facts: Option<&Facts>,
) -> Result<Plan, Refusal> {
    precheck(g, ctx)?;
    let Some(f) = facts else {
        return Ok(Plan::Unverified(action));
    };
    if f.labels.get(&g.guards.opt_in_label).map(String::as_str) != Some("true") {
        return Err(stop(
            "not_opted_in",
            format!("workload lacks label {}=\"true\"", g.guards.opt_in_label),
        ));
    }
    let kind = f.kind;
    match action {
        ActionKind::ScaleUp => {
            if !matches!(
                kind,
                WorkloadKind::Deployment | WorkloadKind::Statefulset | WorkloadKind::Rollout
            ) {
                return Err(skip(
                    "unsupported_kind",
                    format!("cannot scale a {}", kind.as_str()),
                ));
            }
            unpaused(f)?;
            if f.replicas == Some(0) {
                // Someone (or KEDA, or an HPA with scale to zero) stopped it on purpose; the
                // records are its last pods' or late. An HPA does not scale a workload at 0.
                return Err(stop(
                    "scaled_to_zero",
                    format!(
                        "{} is scaled to 0 replicas: stopped on purpose, not scaled up",
                        kind.as_str()
                    ),
                ));
            }
            let step = g.guards.scale_step;
            if let Some(h) = &f.hpa {
                if let Some(owner) = &h.managed_by {
                    return Err(stop(
                        "hpa_managed",
                        format!(
                            "HPA {} is managed by {owner}, which puts a raised minReplicas back: scale through it (KEDA: the ScaledObject's minReplicaCount)",
                            h.name
                        ),
                    ));
                }
                if g.guards.hpa == HpaPolicy::Refuse {
                    return Err(stop(
                        "hpa_controlled",
                        format!("HPA {} controls replicas and guards.hpa is refuse", h.name),
                    ));
                }
                // The HPA controller keeps the workload's replicas within its minimum and
                // maximum, so a minimum at or below the replicas that run adds nothing: the
                // new minimum is a step above what runs (or above the minimum, if the HPA
                // has not scaled up to it yet).
                let replicas = f.replicas.unwrap_or(1);
                let running = replicas.max(h.min_replicas);
                let bound = h.max_replicas.min(g.guards.max_replicas);
                let to = (running + step).min(bound);
                if to <= running {
                    return Err(stop(
                        "at_max_replicas",
                        format!(
                            "{replicas} replicas run under HPA {} (minReplicas {}); nothing to add below {bound} (HPA maxReplicas {}, guards.max_replicas {})",
                            h.name, h.min_replicas, h.max_replicas, g.guards.max_replicas
                        ),
                    ));
                }
                return Ok(Plan::RaiseHpaMin {
                    hpa: h.name.clone(),
                    replicas,
                    from: h.min_replicas,
                    to,
                });
            }
            let from = f.replicas.unwrap_or(1);
            let to = (from + step).min(g.guards.max_replicas);
            if to <= from {
                return Err(stop(
                    "at_max_replicas",
                    format!(
                        "{from} replicas; guards.max_replicas is {}",
                        g.guards.max_replicas
                    ),
                ));
            }
            Ok(Plan::Scale { from, to })
        }
        ActionKind::RolloutRestart => {
            if !matches!(
                kind,
                WorkloadKind::Deployment
                    | WorkloadKind::Statefulset
                    | WorkloadKind::Daemonset
                    | WorkloadKind::Rollout
            ) {
                return Err(skip(
                    "unsupported_kind",
                    format!("cannot restart a {}", kind.as_str()),
                ));
            }
            unpaused(f)?;
            restart_rolls_out(kind, f)?;
            Ok(Plan::Restart)
        }
        ActionKind::DeletePod => {
            let Some(named) = ctx.pod_named else {
                return Err(skip("no_pod", "the records named no pod"));
            };
            let Some(pod) = &f.pod else {
                return Err(skip("pod_gone", format!("pod {named} does not exist")));
            };
            unpaused(f)?;
            if !pod.owned_by_target {
                return Err(stop(
                    "pod_not_owned",
                    format!("pod {named} is not controlled by the target workload"),
                ));
            }
            Ok(Plan::DeletePod {
                name: pod.name.clone(),
                uid: pod.uid.clone(),
                resource_version: pod.resource_version.clone(),
            })
        }
        ActionKind::Rollback => {
            if kind != WorkloadKind::Deployment {
                return Err(skip(
                    "unsupported_kind",
                    format!("cannot roll back a {}", kind.as_str()),
                ));
            }
            if f.paused {
                return Err(stop("paused", "cannot roll back a paused deployment"));
            }
            let Some(r) = &f.rollout else {
                return Err(skip("no_history", "no rollout history"));
            };
            let age = ctx.incident_opened_at.as_second() - r.current_since.as_second();
            if age < 0 || age > g.guards.rollback_window_secs as i64 {
                return Err(skip(
                    "no_recent_rollout",
                    format!(
                        "revision {} started {age}s before the incident; rollback applies within {}s",
                        r.current_revision, g.guards.rollback_window_secs
                    ),
                ));
            }
            let Some((rs, revision)) = &r.previous else {
                return Err(skip(
                    "no_previous_revision",
                    "no previous revision to roll back to",
                ));
            };
            Ok(Plan::Rollback {
                replica_set: rs.clone(),
                revision: *revision,
            })
        }
        ActionKind::SoftHeal => {
            let Some(sh) = g.soft_heal else {
                return Err(skip("soft_heal_disabled", "soft_heal is not configured"));
            };
            let Some(url) = f.annotations.get(&sh.annotation) else {
                return Err(skip(
                    "no_hook",
                    format!("workload has no {} annotation", sh.annotation),
                ));
            };
            unpaused(f)?;
            match check_hook_url(url, ctx.namespace, &sh.cluster_domain) {
                Ok(()) => Ok(Plan::SoftHeal { url: url.clone() }),
                Err(why) => Err(skip(
                    "hook_rejected",
                    format!("soft-heal URL rejected: {why}"),
                )),
            }
        }
    }
}

/// Whether a restart (a change of the pod template) replaces the workload's pods. With
/// `OnDelete` its controller replaces none: the template changes, nothing restarts, and the
/// status looks rolled out at once. With a partition it replaces only the pods from that
/// ordinal up, maybe not the one the records named, and the others keep running the old
/// template (a partition is how a staged rollout is held). Either way the restart does not
/// apply: the next step of the policy (`delete_pod` replaces the pod the records named, for
/// both) is tried.
fn restart_rolls_out(kind: WorkloadKind, f: &Facts) -> Result<(), Refusal> {
    match f.update_strategy {
        UpdateStrategy::Replaces => Ok(()),
        UpdateStrategy::OnDelete => Err(skip(
            "on_delete",
            format!(
                "{} updates its pods OnDelete: a restart would change its template and \
                 replace no pod",
                kind.as_str()
            ),
        )),
        UpdateStrategy::Partitioned { partition } => {
            let replicas = f.replicas.unwrap_or(1);
            let replaced = (replicas - partition).max(0);
            Err(skip(
                "partitioned",
                format!(
                    "{} rolls out with partition {partition}: a restart would replace only \
                     the pods of ordinal {partition} and up ({replaced} of {replicas})",
                    kind.as_str()
                ),
            ))
        }
    }
}

/// The hook must be a cluster-internal Service in the workload's own namespace: `http(s)://
/// <svc>.<namespace>.svc[.<cluster_domain>][:port]/path`, no credentials, no IP literals.
/// An annotation is writable by whoever can edit the workload; this keeps it from pointing the
/// healer's signed requests anywhere else.
pub fn check_hook_url(
    raw: &str,
    namespace: &str,
    cluster_domain: &str,
) -> Result<(), &'static str> {
    let url = reqwest::Url::parse(raw).map_err(|_| "not a URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("scheme must be http or https");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in URL");
    }
    let host = url.host_str().ok_or("URL has no host")?;
    if host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok() {
        return Err("host must be a Service DNS name, not an IP address");
    }
    let labels: Vec<&str> = host.split('.').collect();
    let ok = match labels.as_slice() {
        [svc, ns, "svc"] => crate::tags::is_dns1123_label(svc) && *ns == namespace,
        [svc, ns, "svc", rest @ ..] => {
            crate::tags::is_dns1123_label(svc)
                && *ns == namespace
                && rest.join(".") == cluster_domain
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err("host must be <service>.<workload namespace>.svc[.<cluster domain>]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn cfg(extra: &str) -> Config {
        Config::from_yaml(&format!(
            "store: {{ path: /tmp/x.db }}\nauth: {{ keys_dir: /tmp/k }}\n\
             guards: {{ namespaces: [shop], max_replicas: 5, scale_step: 2, rollback_window_secs: 600 {extra} }}\n\
             budget: {{ max_actions: 3, window_secs: 600, breaker_failures: 2 }}\n\
             engine: {{ cooldown_secs: 900 }}\n\
             soft_heal: {{ key_id: healer, key_file: /tmp/sh }}\n"
        ))
        .unwrap()
    }

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn ctx() -> Context<'static> {
        Context {
            now: t(100_000),
            namespace: "shop",
            incident_opened_at: t(100_000),
            pod_named: Some("cart-abc"),
            last_action_on_target: None,
            evidence_at: t(100_000),
            actions_in_window: 0,
            failures_in_window: 0,
        }
    }

    fn facts() -> Facts {
        Facts {
            kind: WorkloadKind::Deployment,
            uid: "u-1".into(),
            resource_version: "10".into(),
            labels: [("edgeheal.io/heal".to_string(), "true".to_string())].into(),
            annotations: [(
                "edgeheal.io/soft-heal-url".to_string(),
                "http://cart.shop.svc:8080/heal".to_string(),
            )]
            .into(),
            paused: false,
            replicas: Some(2),
            update_strategy: UpdateStrategy::Replaces,
            hpa: None,
            pod: Some(PodFacts {
                name: "cart-abc".into(),
                uid: "p-1".into(),
                resource_version: "77".into(),
                owned_by_target: true,
            }),
            rollout: Some(RolloutFacts {
                current_since: t(100_000 - 300),
                current_revision: 4,
                previous: Some(("cart-5d".into(), 3)),
            }),
        }
    }

    type Mut = fn(&mut Context<'static>, &mut Facts);
    type Case = (
        &'static str,
        &'static Config,
        ActionKind,
        Mut,
        Result<Plan, (&'static str, bool)>,
    );

    #[test]
    fn every_guard_table() {
        let c = cfg("");
        let hpa_refuse = cfg(", hpa: refuse");
        let g = |c: &'static Config| Guards {
            guards: &c.guards,
            budget: &c.budget,
            engine: &c.engine,
            soft_heal: c.soft_heal.as_ref(),
        };
        let c: &'static Config = Box::leak(Box::new(c));
        let hpa_refuse: &'static Config = Box::leak(Box::new(hpa_refuse));
        use ActionKind::*;
        // (name, config, action, mutation, expected plan or refusal code, try_next)
        let cases: Vec<Case> = vec![
            (
                "scale ok",
                c,
                ScaleUp,
                |_, _| {},
                Ok(Plan::Scale { from: 2, to: 4 }),
            ),
            (
                "scale capped at max_replicas",
                c,
                ScaleUp,
                |_, f| f.replicas = Some(4),
                Ok(Plan::Scale { from: 4, to: 5 }),
            ),
            (
                "scale at max",
                c,
                ScaleUp,
                |_, f| f.replicas = Some(5),
                Err(("at_max_replicas", false)),
            ),
            (
                "namespace not allowed",
                c,
                ScaleUp,
                |x, _| x.namespace = "kube-system",
                Err(("namespace_not_allowed", false)),
            ),
            (
                "not opted in",
                c,
                ScaleUp,
                |_, f| f.labels.clear(),
                Err(("not_opted_in", false)),
            ),
            (
                "opt-in label not true",
                c,
                RolloutRestart,
                |_, f| {
                    f.labels.insert("edgeheal.io/heal".into(), "yes".into());
                },
                Err(("not_opted_in", false)),
            ),
            (
                "cooldown holds",
                c,
                RolloutRestart,
                |x, _| x.last_action_on_target = Some(t(100_000 - 899)),
                Err(("cooldown", false)),
            ),
            (
                "evidence stale",
                c,
                ScaleUp,
                |x, _| x.evidence_at = t(100_000 - 301),
                Err(("stale_evidence", false)),
            ),
            (
                "evidence as old as a record may be",
                c,
                ScaleUp,
                |x, _| x.evidence_at = t(100_000 - 300),
                Ok(Plan::Scale { from: 2, to: 4 }),
            ),
            (
                "cooldown over",
                c,
                RolloutRestart,
                |x, _| x.last_action_on_target = Some(t(100_000 - 900)),
                Ok(Plan::Restart),
            ),
            (
                "budget exhausted",
                c,
                RolloutRestart,
                |x, _| x.actions_in_window = 3,
                Err(("budget_exhausted", false)),
            ),
            (
                "breaker open",
                c,
                RolloutRestart,
                |x, _| x.failures_in_window = 2,
                Err(("circuit_open", false)),
            ),
            (
                "paused deployment restart",
                c,
                RolloutRestart,
                |_, f| f.paused = true,
                Err(("paused", false)),
            ),
            (
                "paused deployment scale",
                c,
                ScaleUp,
                |_, f| f.paused = true,
                Err(("paused", false)),
            ),
            (
                "paused deployment rollback",
                c,
                Rollback,
                |_, f| f.paused = true,
                Err(("paused", false)),
            ),
            (
                "hpa raise min",
                c,
                ScaleUp,
                |_, f| {
                    f.hpa = Some(HpaFacts {
                        name: "cart".into(),
                        min_replicas: 2,
                        max_replicas: 10,
                        managed_by: None,
                    })
                },
                Ok(Plan::RaiseHpaMin {
                    hpa: "cart".into(),
                    replicas: 2,
                    from: 2,
                    to: 4,
                }),
            ),
            (
                "hpa above its minimum: raised above the replicas it runs",
                c,
                ScaleUp,
                |_, f| {
                    f.replicas = Some(3);
                    f.hpa = Some(HpaFacts {
                        name: "cart".into(),
                        min_replicas: 2,
                        max_replicas: 10,
                        managed_by: None,
                    })
                },
                Ok(Plan::RaiseHpaMin {
                    hpa: "cart".into(),
                    replicas: 3,
                    from: 2,
                    to: 5,
                }),
            ),
            (
                "hpa above its minimum, capped at max_replicas",
                c,
                ScaleUp,
                |_, f| {
                    f.replicas = Some(4);
                    f.hpa = Some(HpaFacts {
                        name: "cart".into(),
                        min_replicas: 2,
                        max_replicas: 10,
                        managed_by: None,
                    })
                },
                Ok(Plan::RaiseHpaMin {
                    hpa: "cart".into(),
                    replicas: 4,
                    from: 2,
                    to: 5,
                }),
            ),
            (
                "hpa runs at max_replicas above its minimum",
                c,
                ScaleUp,
                |_, f| {
                    f.replicas = Some(5);
                    f.hpa = Some(HpaFacts {
                        name: "cart".into(),
                        min_replicas: 2,
                        max_replicas: 10,
                        managed_by: None,
                    })
                },
                Err(("at_max_replicas", false)),
            ),
            (
                "hpa runs at its own maximum",
                c,
                ScaleUp,
                |_, f| {
                    f.replicas = Some(4);
                    f.hpa = Some(HpaFacts {
                        name: "cart".into(),
                        min_replicas: 2,
                        max_replicas: 4,
                        managed_by: None,
                    })
                },
                Err(("at_max_replicas", false)),
            ),
            (
                "hpa not yet scaled up to its minimum",
                c,
                ScaleUp,
                |_, f| {
                    f.replicas = Some(1);
                    f.hpa = Some(HpaFacts {
                        name: "cart".into(),
                        min_replicas: 2,
                        max_replicas: 10,
                        managed_by: None,
                    })
                },
                Ok(Plan::RaiseHpaMin {
                    hpa: "cart".into(),
                    replicas: 1,
                    from: 2,
                    to: 4,
                }),
            ),
            (
                "hpa min bounded by hpa max",
                c,
                ScaleUp,
                |_, f| {
                    f.hpa = Some(HpaFacts {
                        name: "cart".into(),
                        min_replicas: 2,
                        max_replicas: 3,
                        managed_by: None,
                    })
                },
                Ok(Plan::RaiseHpaMin {
                    hpa: "cart".into(),
                    replicas: 2,
                    from: 2,
                    to: 3,
                }),
            ),
            (
                "hpa min at bound",
                c,
                ScaleUp,
                |_, f| {
                    f.hpa = Some(HpaFacts {
                        name: "cart".into(),
                        min_replicas: 3,
                        max_replicas: 3,
                        managed_by: None,
                    })
                },
                Err(("at_max_replicas", false)),
            ),
            (
                "hpa managed by KEDA",
                c,
                ScaleUp,
                |_, f| {
                    f.hpa = Some(HpaFacts {
                        name: "keda-hpa-cart".into(),
                        min_replicas: 2,
                        max_replicas: 10,
                        managed_by: Some("ScaledObject cart (keda.sh/v1alpha1)".into()),
                    })
                },
                Err(("hpa_managed", false)),
            ),
            (
                "hpa refuse policy",
                hpa_refuse,
                ScaleUp,
                |_, f| {
                    f.hpa = Some(HpaFacts {
                        name: "cart".into(),
                        min_replicas: 2,
                        max_replicas: 10,
                        managed_by: None,
                    })
                },
                Err(("hpa_controlled", false)),
            ),
            (
                "scale a daemonset",
                c,
                ScaleUp,
                |_, f| f.kind = WorkloadKind::Daemonset,
                Err(("unsupported_kind", true)),
            ),
            (
                "scale an argo rollout",
                c,
                ScaleUp,
                |_, f| f.kind = WorkloadKind::Rollout,
                Ok(Plan::Scale { from: 2, to: 4 }),
            ),
            (
                "restart an argo rollout",
                c,
                RolloutRestart,
                |_, f| f.kind = WorkloadKind::Rollout,
                Ok(Plan::Restart),
            ),
            (
                "restart a paused argo rollout",
                c,
                RolloutRestart,
                |_, f| {
                    f.kind = WorkloadKind::Rollout;
                    f.paused = true;
                },
                Err(("paused", false)),
            ),
            (
                "roll back an argo rollout",
                c,
                Rollback,
                |_, f| f.kind = WorkloadKind::Rollout,
                Err(("unsupported_kind", true)),
            ),
            (
                "restart a rolling-update statefulset",
                c,
                RolloutRestart,
                |_, f| f.kind = WorkloadKind::Statefulset,
                Ok(Plan::Restart),
            ),
            (
                "restart an OnDelete statefulset",
                c,
                RolloutRestart,
                |_, f| {
                    f.kind = WorkloadKind::Statefulset;
                    f.update_strategy = UpdateStrategy::OnDelete;
                },
                Err(("on_delete", true)),
            ),
            (
                "restart an OnDelete daemonset",
                c,
                RolloutRestart,
                |_, f| {
                    f.kind = WorkloadKind::Daemonset;
                    f.update_strategy = UpdateStrategy::OnDelete;
                },
                Err(("on_delete", true)),
            ),
            (
                "restart a partitioned statefulset",
                c,
                RolloutRestart,
                |_, f| {
                    f.kind = WorkloadKind::Statefulset;
                    f.update_strategy = UpdateStrategy::Partitioned { partition: 1 };
                },
                Err(("partitioned", true)),
            ),
            (
                "scale an OnDelete statefulset: new pods start from the template",
                c,
                ScaleUp,
                |_, f| {
                    f.kind = WorkloadKind::Statefulset;
                    f.update_strategy = UpdateStrategy::OnDelete;
                },
                Ok(Plan::Scale { from: 2, to: 4 }),
            ),
            (
                "delete a pod of an OnDelete statefulset",
                c,
                DeletePod,
                |_, f| {
                    f.kind = WorkloadKind::Statefulset;
                    f.update_strategy = UpdateStrategy::OnDelete;
                },
                Ok(Plan::DeletePod {
                    name: "cart-abc".into(),
                    uid: "p-1".into(),
                    resource_version: "77".into(),
                }),
            ),
            (
                "restart a job",
                c,
                RolloutRestart,
                |_, f| f.kind = WorkloadKind::Job,
                Err(("unsupported_kind", true)),
            ),
            (
                "delete owned pod",
                c,
                DeletePod,
                |_, _| {},
                Ok(Plan::DeletePod {
                    name: "cart-abc".into(),
                    uid: "p-1".into(),
                    resource_version: "77".into(),
                }),
            ),
            (
                "delete a pod of a paused deployment",
                c,
                DeletePod,
                |_, f| f.paused = true,
                Err(("paused", false)),
            ),
            (
                "delete a pod of a paused argo rollout",
                c,
                DeletePod,
                |_, f| {
                    f.kind = WorkloadKind::Rollout;
                    f.paused = true;
                },
                Err(("paused", false)),
            ),
            (
                "soft heal a paused deployment",
                c,
                SoftHeal,
                |_, f| f.paused = true,
                Err(("paused", false)),
            ),
            (
                "scale a deployment scaled to zero",
                c,
                ScaleUp,
                |_, f| f.replicas = Some(0),
                Err(("scaled_to_zero", false)),
            ),
            (
                "raise the hpa of a workload scaled to zero",
                c,
                ScaleUp,
                |_, f| {
                    f.replicas = Some(0);
                    f.hpa = Some(HpaFacts {
                        name: "cart".into(),
                        min_replicas: 1,
                        max_replicas: 10,
                        managed_by: None,
                    });
                },
                Err(("scaled_to_zero", false)),
            ),
            (
                "restart a deployment scaled to zero",
                c,
                RolloutRestart,
                |_, f| f.replicas = Some(0),
                Ok(Plan::Restart),
            ),
            (
                "delete pod not owned",
                c,
                DeletePod,
                |_, f| f.pod.as_mut().unwrap().owned_by_target = false,
                Err(("pod_not_owned", false)),
            ),
            (
                "delete pod gone",
                c,
                DeletePod,
                |_, f| f.pod = None,
                Err(("pod_gone", true)),
            ),
            (
                "delete with no pod named",
                c,
                DeletePod,
                |x, _| x.pod_named = None,
                Err(("no_pod", true)),
            ),
            (
                "rollback recent rollout",
                c,
                Rollback,
                |_, _| {},
                Ok(Plan::Rollback {
                    replica_set: "cart-5d".into(),
                    revision: 3,
                }),
            ),
            (
                "rollback old rollout",
                c,
                Rollback,
                |_, f| f.rollout.as_mut().unwrap().current_since = t(100_000 - 601),
                Err(("no_recent_rollout", true)),
            ),
            (
                "rollout after incident began",
                c,
                Rollback,
                |_, f| f.rollout.as_mut().unwrap().current_since = t(100_000 + 5),
                Err(("no_recent_rollout", true)),
            ),
            (
                "rollback no previous",
                c,
                Rollback,
                |_, f| f.rollout.as_mut().unwrap().previous = None,
                Err(("no_previous_revision", true)),
            ),
            (
                "rollback statefulset",
                c,
                Rollback,
                |_, f| f.kind = WorkloadKind::Statefulset,
                Err(("unsupported_kind", true)),
            ),
            (
                "soft heal",
                c,
                SoftHeal,
                |_, _| {},
                Ok(Plan::SoftHeal {
                    url: "http://cart.shop.svc:8080/heal".into(),
                }),
            ),
            (
                "soft heal no annotation",
                c,
                SoftHeal,
                |_, f| f.annotations.clear(),
                Err(("no_hook", true)),
            ),
            (
                "soft heal outside namespace",
                c,
                SoftHeal,
                |_, f| {
                    f.annotations.insert(
                        "edgeheal.io/soft-heal-url".into(),
                        "http://vault.secrets.svc/heal".into(),
                    );
                },
                Err(("hook_rejected", true)),
            ),
            (
                "soft heal to an IP",
                c,
                SoftHeal,
                |_, f| {
                    f.annotations.insert(
                        "edgeheal.io/soft-heal-url".into(),
                        "http://169.254.169.254/latest".into(),
                    );
                },
                Err(("hook_rejected", true)),
            ),
        ];
        for (name, config, action, mutate, want) in cases {
            let mut x = ctx();
            let mut f = facts();
            mutate(&mut x, &mut f);
            let got = evaluate(g(config), action, &x, Some(&f));
            match (got, want) {
                (Ok(p), Ok(w)) => assert_eq!(p, w, "{name}"),
                (Err(r), Err((code, next))) => {
                    assert_eq!(r.code, code, "{name}: {}", r.reason);
                    assert_eq!(r.try_next, next, "{name}");
                    assert!(!r.reason.is_empty(), "{name}");
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// Raising the minimum to a step above the old minimum, not above the replicas the HPA
    /// ran, added no capacity and passed the rollout check at once.
    #[test]
    fn a_raise_under_an_hpa_above_its_minimum_adds_replicas() {
        let c = cfg("");
        let g = Guards {
            guards: &c.guards,
            budget: &c.budget,
            engine: &c.engine,
            soft_heal: c.soft_heal.as_ref(),
        };
        let mut f = facts();
        f.replicas = Some(3);
        f.hpa = Some(HpaFacts {
            name: "cart".into(),
            min_replicas: 2,
            max_replicas: 10,
            managed_by: None,
        });
        let Ok(Plan::RaiseHpaMin { from, to, .. }) =
            evaluate(g, ActionKind::ScaleUp, &ctx(), Some(&f))
        else {
            panic!("no raise");
        };
        assert_eq!(from, 2, "the precondition is the observed minimum");
        assert!(
            to > 3,
            "the new minimum {to} must be above the 3 replicas that ran"
        );
        // At the bound, the refusal says what runs and what bounds it.
        f.replicas = Some(5);
        let r = evaluate(g, ActionKind::ScaleUp, &ctx(), Some(&f)).unwrap_err();
        assert_eq!(r.code, "at_max_replicas");
        for needle in [
            "5 replicas",
            "minReplicas 2",
            "below 5",
            "maxReplicas 10",
            "guards.max_replicas 5",
        ] {
            assert!(
                r.reason.contains(needle),
                "{needle:?} not in {:?}",
                r.reason
            );
        }
    }

    #[test]
    fn shadow_mode_checks_only_what_needs_no_api() {
        let c = cfg("");
        let g = Guards {
            guards: &c.guards,
            budget: &c.budget,
            engine: &c.engine,
            soft_heal: c.soft_heal.as_ref(),
        };
        assert_eq!(
            evaluate(g, ActionKind::ScaleUp, &ctx(), None),
            Ok(Plan::Unverified(ActionKind::ScaleUp))
        );
        let mut x = ctx();
        x.actions_in_window = 3;
        assert_eq!(
            evaluate(g, ActionKind::ScaleUp, &x, None).unwrap_err().code,
            "budget_exhausted"
        );
    }

    #[test]
    fn hook_urls() {
        for (url, ok) in [
            ("http://cart.shop.svc/heal", true),
            ("https://cart.shop.svc.cluster.local:8443/x", true),
            ("http://cart.shop.svc.evil.com/x", false),
            ("http://cart.other.svc/x", false),
            ("http://user:pw@cart.shop.svc/x", false),
            ("file:///etc/passwd", false),
            ("http://[::1]/x", false),
            ("http://10.0.0.1/x", false),
        ] {
            assert_eq!(
                check_hook_url(url, "shop", "cluster.local").is_ok(),
                ok,
                "{url}"
            );
        }
    }
}
