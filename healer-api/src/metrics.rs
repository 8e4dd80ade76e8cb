//! Prometheus metrics (prometheus-client): requests by result (redelivered and replayed batches
//! among them), auth failures by reason,
//! incidents by kind/state, actions by kind/result (HPA minimum restores among them), time to
//! remediate, queue depth, stale anomalies (too old to act on when weighed), guard refusals by
//! code, incidents in progress by state, `info{version, mode}`, and the store's retention (rows
//! deleted by table and reason, pages in use, when it last ran).
//! `pipeline-configs/prometheus/edgeheal-alerts.yaml` alerts on them.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// `result` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// Ingest: accepted | redelivered (200: the body is stored already, a sender's retry
    /// signed anew; nothing stored) | replayed (200: the same signed request as a stored
    /// batch, a retry within the second it was signed; nothing stored) | unauthorized | forbidden (a read-only key) | bad_request | too_large |
    /// unsupported | timeout (408, the body too slow) | overloaded (429: the commit queue or the
    /// bodies' memory) | replay_cache_full (429, `auth.replay_cache_capacity` live signatures)
    /// | unavailable (the store is down). Notifications: sent | failed | dropped. Events:
    /// posted | failed | dropped.
    pub result: String,
}

/// `reason` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Reason code.
    pub reason: String,
}

/// `scope` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScopeLabel {
    /// cluster_scoped | unscoped (see [`crate::tags::Scope`]).
    pub scope: String,
}

/// `kind`, `state` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IncidentLabels {
    /// Incident kind.
    pub kind: String,
    /// State entered.
    pub state: String,
}

/// `action`, `result` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// Action kind, or `restore_hpa_min` for giving back a raised HPA minimum.
    pub action: String,
    /// ok | dry_run | shadow | failed | refused; a restore: ok | dry_run | skipped | failed.
    pub result: String,
}

/// `state` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    /// open | acting | verifying.
    pub state: String,
}

/// `version`, `mode` labels of `edgeheal_healer_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InfoLabels {
    /// The heal API's version.
    pub version: String,
    /// shadow | dry-run | enforce.
    pub mode: String,
}

/// `table`, `reason` labels of `edgeheal_healer_store_pruned_rows_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PrunedLabels {
    /// batches | records | incidents | decisions | actions | hpa_floor_raises.
    pub table: String,
    /// age (past its retention) | size (the store was above `store.retention.max_bytes`).
    pub reason: String,
}

/// `code`, `outcome` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// The guard's code (`budget_exhausted`, `circuit_open`, `cooldown`, `not_opted_in`, ...).
    pub code: String,
    /// refused (the incident escalates) | skipped (the policy's next step is tried).
    pub outcome: String,
}

/// All metrics, registered once.
#[derive(Debug)]
pub struct Metrics {
    /// The registry `/metrics` encodes.
    pub registry: Registry,
    /// Ingest requests by result.
    pub requests: Family<ResultLabel, Counter>,
    /// Records stored.
    pub records: Counter,
    /// Stored records whose entity is not a workload, by scope: accepted, never actionable.
    pub not_actionable: Family<ScopeLabel, Counter>,
    /// Anomalous records older than `engine.max_record_age_secs` when the engine weighed them.
    pub stale_anomalies: Counter,
    /// Authentication failures by reason.
    pub auth_failures: Family<ReasonLabel, Counter>,
    /// Incident state transitions by kind and new state.
    pub incidents: Family<IncidentLabels, Counter>,
    /// Actions by kind and result.
    pub actions: Family<ActionLabels, Counter>,
    /// Actions a guard did not let run, by its code and what became of the incident.
    pub refusals: Family<RefusalLabels, Counter>,
    /// Seconds from incident open to resolution.
    pub time_to_remediate: Histogram,
    /// Batches waiting for their commit.
    pub queue_depth: Gauge,
    /// Notifications by result.
    pub notifications: Family<ResultLabel, Counter>,
    /// Kubernetes Events by result ([`crate::recorder`]).
    pub events: Family<ResultLabel, Counter>,
    /// Ingest latency (seconds), from request to durable commit.
    pub ingest_latency: Histogram,
    /// Incidents not closed yet, by state.
    pub incidents_active: Family<StateLabel, Gauge>,
    /// 1, labelled with the version and the mode.
    pub info: Family<InfoLabels, Gauge>,
    /// Rows the retention deleted, by table and reason.
    pub pruned_rows: Family<PrunedLabels, Counter>,
    /// Bytes of the database's pages in use, after the last prune.
    pub store_used_bytes: Gauge,
    /// When the last prune finished (Unix seconds).
    pub last_prune: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric under the `edgeheal_healer` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("edgeheal_healer");
        let requests = Family::<ResultLabel, Counter>::default();
        registry.register(
            "ingest_requests",
            "Anomaly ingest requests by result",
            requests.clone(),
        );
        let records = Counter::default();
        registry.register("ingest_records", "Records durably stored", records.clone());
        let not_actionable = Family::<ScopeLabel, Counter>::default();
        registry.register(
            "ingest_not_actionable_records",
            "Stored records about no workload (node-level or null entity), by scope; they never open an incident",
            not_actionable.clone(),
        );
        let stale_anomalies = Counter::default();
        registry.register(
            "engine_stale_anomalies",
            "Anomalous records older than engine.max_record_age_secs when the engine weighed them; stored, never acted on",
            stale_anomalies.clone(),
        );
        let auth_failures = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "auth_failures",
            "Rejected authentications by reason",
            auth_failures.clone(),
        );
        let incidents = Family::<IncidentLabels, Counter>::default();
        registry.register(
            "incident_transitions",
            "Incident state transitions by kind and state",
            incidents.clone(),
        );
        let actions = Family::<ActionLabels, Counter>::default();
        registry.register(
            "actions",
            "Remediation actions by kind and result",
            actions.clone(),
        );
        let refusals = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "guard_refusals",
            "Actions a guard did not let run, by the guard's code and outcome (refused: the incident escalates to a human; skipped: the policy's next step is tried)",
            refusals.clone(),
        );
        let time_to_remediate = Histogram::new(exponential_buckets(5.0, 2.0, 12));
        registry.register(
            "time_to_remediate_seconds",
            "Incident open to resolved",
            time_to_remediate.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "ingest_queue_depth",
            "Batches waiting for their commit",
            queue_depth.clone(),
        );
        let notifications = Family::<ResultLabel, Counter>::default();
        registry.register(
            "notifications",
            "Webhook notifications by result",
            notifications.clone(),
        );
        let events = Family::<ResultLabel, Counter>::default();
        registry.register(
            "events",
            "Kubernetes Events the engine recorded, by result",
            events.clone(),
        );
        let ingest_latency = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "ingest_latency_seconds",
            "Ingest request to durable commit",
            ingest_latency.clone(),
        );
        let incidents_active = Family::<StateLabel, Gauge>::default();
        registry.register(
            "incidents_active",
            "Incidents not closed yet, by state: open (deciding), acting, verifying",
            incidents_active.clone(),
        );
        let info = Family::<InfoLabels, Gauge>::default();
        registry.register(
            "info",
            "1, labelled with the heal API's version and mode (shadow | dry-run | enforce)",
            info.clone(),
        );
        let pruned_rows = Family::<PrunedLabels, Counter>::default();
        registry.register(
            "store_pruned_rows",
            "Rows the store's retention deleted, by table and reason (age: past store.retention; size: the store was above store.retention.max_bytes)",
            pruned_rows.clone(),
        );
        let store_used_bytes = Gauge::default();
        registry.register(
            "store_used_bytes",
            "Bytes of the SQLite database's pages in use after the last prune (the file keeps its high-water mark; freed pages are reused)",
            store_used_bytes.clone(),
        );
        let last_prune = Gauge::default();
        registry.register(
            "store_last_prune_timestamp_seconds",
            "When the store's retention last ran to completion (Unix seconds; 0 until it has)",
            last_prune.clone(),
        );
        let metrics = Self {
            registry,
            requests,
            records,
            not_actionable,
            stale_anomalies,
            auth_failures,
            incidents,
            actions,
            refusals,
            time_to_remediate,
            queue_depth,
            notifications,
            events,
            ingest_latency,
            incidents_active,
            info,
            pruned_rows,
            store_used_bytes,
            last_prune,
        };
        metrics.zero_alerted_series();
        metrics
    }

    /// Creates at 0 the series the alert rules (`pipeline-configs/prometheus/edgeheal-alerts.yaml`)
    /// watch with `increase`/`rate`: a labelled series appears only when first counted, at 1,
    /// and `increase` needs a sample before it, so the first failure of each kind after a
    /// start would otherwise never alert.
    fn zero_alerted_series(&self) {
        let zero = |family: &Family<ResultLabel, Counter>, result: &str| {
            family
                .get_or_create(&ResultLabel {
                    result: result.into(),
                })
                .inc_by(0);
        };
        for result in [
            "accepted",
            "redelivered",
            "replayed",
            "unauthorized",
            "forbidden",
            "bad_request",
            "too_large",
            "unsupported",
            "timeout",
            "overloaded",
            "replay_cache_full",
            "unavailable",
        ] {
            zero(&self.requests, result);
        }
        for result in ["sent", "failed", "dropped"] {
            zero(&self.notifications, result);
        }
        for result in ["posted", "failed", "dropped"] {
            zero(&self.events, result);
        }
        for action in crate::action::ActionKind::ALL
            .iter()
            .map(|a| a.as_str())
            .chain([crate::engine::RESTORE_ACTION])
        {
            self.actions
                .get_or_create(&ActionLabels {
                    action: action.into(),
                    result: "failed".into(),
                })
                .inc_by(0);
        }
        for kind in crate::tags::IncidentKind::ALL {
            for state in ["escalated", "failed"] {
                self.incidents
                    .get_or_create(&IncidentLabels {
                        kind: kind.as_str().into(),
                        state: state.into(),
                    })
                    .inc_by(0);
            }
        }
        for state in crate::engine::State::ACTIVE {
            self.active_incidents(state.as_str(), 0);
        }
        for table in ["batches", "records"] {
            self.pruned_rows
                .get_or_create(&PrunedLabels {
                    table: table.into(),
                    reason: crate::retention::Reason::Size.as_str().into(),
                })
                .inc_by(0);
        }
        for code in ["budget_exhausted", "circuit_open"] {
            self.refusals
                .get_or_create(&RefusalLabels {
                    code: code.into(),
                    outcome: "refused".into(),
                })
                .inc_by(0);
        }
    }

    /// Sets `edgeheal_healer_info{version, mode}` to 1.
    pub fn set_mode(&self, mode: &str) {
        self.info.clear();
        self.info
            .get_or_create(&InfoLabels {
                version: env!("CARGO_PKG_VERSION").into(),
                mode: mode.into(),
            })
            .set(1);
    }

    /// Counts what a prune deleted, and the store's size after it, at `at_secs`.
    pub fn pruned(&self, pruned: &crate::retention::Pruned, at_secs: i64) {
        for (table, reason, n) in &pruned.rows {
            self.pruned_rows
                .get_or_create(&PrunedLabels {
                    table: (*table).into(),
                    reason: reason.as_str().into(),
                })
                .inc_by(*n);
        }
        self.store_used_bytes
            .set(i64::try_from(pruned.used_bytes).unwrap_or(i64::MAX));
        self.last_prune.set(at_secs);
    }

    /// Sets how many incidents are in `state` now.
    pub fn active_incidents(&self, state: &str, n: i64) {
        self.incidents_active
            .get_or_create(&StateLabel {
                state: state.into(),
            })
            .set(n);
    }

    /// Counts an ingest result.
    pub fn request(&self, result: &str) {
        self.requests
            .get_or_create(&ResultLabel {
                result: result.into(),
            })
            .inc();
    }

    /// Counts stored records that are about no workload.
    pub fn not_actionable(&self, scope: &str, n: u64) {
        self.not_actionable
            .get_or_create(&ScopeLabel {
                scope: scope.into(),
            })
            .inc_by(n);
    }

    /// Counts an auth failure.
    pub fn auth_failure(&self, reason: &str) {
        self.auth_failures
            .get_or_create(&ReasonLabel {
                reason: reason.into(),
            })
            .inc();
    }

    /// Counts an incident transition.
    pub fn incident(&self, kind: &str, state: &str) {
        self.incidents
            .get_or_create(&IncidentLabels {
                kind: kind.into(),
                state: state.into(),
            })
            .inc();
    }

    /// Counts an action result.
    pub fn action(&self, action: &str, result: &str) {
        self.actions
            .get_or_create(&ActionLabels {
                action: action.into(),
                result: result.into(),
            })
            .inc();
    }

    /// Counts a guard's refusal.
    pub fn refusal(&self, code: &str, outcome: &str) {
        self.refusals
            .get_or_create(&RefusalLabels {
                code: code.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Renders the text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The series the alert rules take `increase` of exist from the start, at 0, so the first
    /// failure after a start is an increase.
    #[test]
    fn alerted_series_start_at_zero() {
        let text = Metrics::new().render();
        for series in [
            r#"edgeheal_healer_ingest_requests_total{result="unavailable"} 0"#,
            r#"edgeheal_healer_ingest_requests_total{result="bad_request"} 0"#,
            r#"edgeheal_healer_notifications_total{result="failed"} 0"#,
            r#"edgeheal_healer_events_total{result="failed"} 0"#,
            r#"edgeheal_healer_events_total{result="dropped"} 0"#,
            r#"edgeheal_healer_actions_total{action="delete_pod",result="failed"} 0"#,
            r#"edgeheal_healer_actions_total{action="restore_hpa_min",result="failed"} 0"#,
            r#"edgeheal_healer_incident_transitions_total{kind="crash_loop",state="escalated"} 0"#,
            r#"edgeheal_healer_guard_refusals_total{code="budget_exhausted",outcome="refused"} 0"#,
            r#"edgeheal_healer_incidents_active{state="verifying"} 0"#,
        ] {
            assert!(text.contains(series), "{series} missing from\n{text}");
        }
    }

    /// One `info` series, with the mode set last.
    #[test]
    fn info_names_the_version_and_mode() {
        let metrics = Metrics::new();
        assert!(!metrics.render().contains("edgeheal_healer_info{"));
        metrics.set_mode("shadow");
        metrics.set_mode("enforce");
        let text = metrics.render();
        let series: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("edgeheal_healer_info{"))
            .collect();
        let want = format!(
            r#"edgeheal_healer_info{{version="{}",mode="enforce"}} 1"#,
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(series, [want.as_str()]);
    }
}
