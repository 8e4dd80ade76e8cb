//! The incident engine end to end over a real store and a fake cluster: debounce, dedupe,
//! lifecycle, escalation on recurrence, the budget under an anomaly storm, cooldowns across a
//! restart, recovery of an action or a batch interrupted by a crash or a failed cycle, the
//! restore of a raised HPA minimum, and the soft-heal hook (a real one on a loopback port).

#[path = "common/hook.rs"]
mod hook;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use edgeheal_healer::action::ActionKind;
use edgeheal_healer::clock::{Clock, ManualClock};
use edgeheal_healer::cluster::{Cluster, ClusterError, EventNote, Target};
use edgeheal_healer::decode::{decode, DecodeLimits, Format};
use edgeheal_healer::engine::{Cycles, Engine};
use edgeheal_healer::hpa_floor::{self, RaiseRow};
use edgeheal_healer::metrics::Metrics;
use edgeheal_healer::notify::Notifier;
use edgeheal_healer::policy::{Facts, HpaFacts, Plan, PodFacts, RolloutFacts, UpdateStrategy};
use edgeheal_healer::recorder::EventRecorder;
use edgeheal_healer::softheal::SoftHealer;
use edgeheal_healer::store::{self, NewBatch, Store};
use edgeheal_healer::tags::WorkloadKind;
use edgeheal_healer::Config;
use hook::{Answer, Hook};
use jiff::SignedDuration;

const T0: i64 = 1_795_255_200;

#[derive(Debug, Default)]
struct FakeCluster {
    executed: Mutex<Vec<(String, Plan, bool)>>,
    /// Events recorded: (target key, uid, reason).
    events: Mutex<Vec<(String, Option<String>, &'static str)>>,
    /// The Events API never answers (a brownout: every post hangs).
    events_hang: bool,
    /// Every target is found as this kind (a Deployment-named Argo Rollout: the API server
    /// answers for the Rollout of the name).
    found_as: Option<WorkloadKind>,
    /// How every target replaces its pods after a change of their template.
    update_strategy: UpdateStrategy,
    fail_execute: bool,
    labels_missing: bool,
    /// The pods that exist, when set: a pod named otherwise is not found, as after a rollout
    /// replaced it. Unset, every pod named exists, controlled by the target.
    pods: Mutex<Option<Vec<&'static str>>>,
    /// Every target's rollout history (a `rollback` applies); none: it is skipped.
    rollout: Option<RolloutFacts>,
    /// Every target's annotations (a soft-heal hook's URL).
    annotations: BTreeMap<String, String>,
    /// The target is still rolling out (`rolled_out` says no).
    rolling: std::sync::atomic::AtomicBool,
    /// The targets `rolled_out` was asked about, in order.
    rollout_checks: Mutex<Vec<String>>,
    /// `rolled_out` fails (403 Forbidden) while set.
    fail_rollout_status: std::sync::atomic::AtomicBool,
    /// An HPA `<target>-hpa` on every target: (minReplicas, maxReplicas, replicas it runs).
    /// Raises and restores change it as the API server and the HPA controller would.
    hpa: Mutex<Option<(i32, i32, i32)>>,
    /// Restores fail with a server error while set.
    fail_restore: std::sync::atomic::AtomicBool,
    /// Raises land but their answer is lost (a timeout) while set.
    lose_raise_answers: std::sync::atomic::AtomicBool,
    /// Raises time out without landing while set.
    drop_raises: std::sync::atomic::AtomicBool,
    /// Reading an HPA back fails while set.
    fail_reads: std::sync::atomic::AtomicBool,
    /// Set to true by the first call that changes something: the heal API asked to stop
    /// while the engine acts.
    stop_on_execute: Option<tokio::sync::watch::Sender<bool>>,
    /// With `stop_on_execute`: the call the stop came during is answered as the Kubernetes
    /// client answers it then, its attempt in flight failed and not tried again
    /// ([`ClusterError::Stopped`]).
    execute_cut_by_the_stop: bool,
    /// Set to true by an inspection of a target while `inspection_cut_by_the_stop` holds,
    /// which then fails as the Kubernetes client's call does, not tried again.
    stop_on_facts: Option<tokio::sync::watch::Sender<bool>>,
    inspection_cut_by_the_stop: std::sync::atomic::AtomicBool,
    /// Set to true by the next call that would change something, just before the client makes
    /// it: the stop came after the action was recorded, before its call.
    stop_before_call: std::sync::Mutex<Option<tokio::sync::watch::Sender<bool>>>,
    /// Set by that stop, until a test clears it: calls are not made, as the Kubernetes client
    /// makes none once the heal API is stopping ([`ClusterError::NotCalled`]).
    calls_stopped: std::sync::atomic::AtomicBool,
}

/// What the kube-rs client answers a call whose attempt failed once the heal API is stopping.
fn cut_by_the_stop(what: &str) -> ClusterError {
    ClusterError::Stopped(format!(
        "{what}: not tried again after attempt 1 of 4: transport: {what}: timed out after 10s"
    ))
}

impl FakeCluster {
    /// A cluster whose targets run `replicas` under an HPA `min..=max`.
    fn with_hpa(min: i32, max: i32, replicas: i32) -> Self {
        let c = FakeCluster::default();
        *c.hpa.lock().unwrap() = Some((min, max, replicas));
        c
    }

    /// The HPA's minReplicas now.
    fn hpa_min(&self) -> i32 {
        self.hpa.lock().unwrap().unwrap().0
    }

    /// Someone else sets the HPA's minReplicas.
    fn set_hpa_min(&self, min: i32) {
        self.hpa.lock().unwrap().as_mut().unwrap().0 = min;
    }

    /// The restores sent, with their dry-run flag.
    fn restores(&self) -> Vec<(Plan, bool)> {
        self.executed
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, p, _)| matches!(p, Plan::RestoreHpaMin { .. }))
            .map(|(_, p, d)| (p.clone(), *d))
            .collect()
    }

    /// How many HPA raises were sent.
    fn raises_sent(&self) -> usize {
        self.executed
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, p, _)| matches!(p, Plan::RaiseHpaMin { .. }))
            .count()
    }

    /// A cluster whose target never finishes rolling out until told.
    fn still_rolling() -> Self {
        let c = FakeCluster::default();
        c.rolling.store(true, std::sync::atomic::Ordering::SeqCst);
        c
    }
}

#[async_trait]
impl Cluster for FakeCluster {
    async fn facts(
        &self,
        target: &Target,
        _action: ActionKind,
        pod: Option<&str>,
    ) -> Result<Facts, ClusterError> {
        if let Some(stop) = &self.stop_on_facts {
            if self.inspection_cut_by_the_stop.load(SeqCst) {
                stop.send_replace(true);
                return Err(cut_by_the_stop(&target.key()));
            }
        }
        let mut labels = BTreeMap::new();
        if !self.labels_missing {
            labels.insert("edgeheal.io/heal".to_string(), "true".to_string());
        }
        let hpa = *self.hpa.lock().unwrap();
        Ok(Facts {
            kind: self.found_as.unwrap_or(target.kind),
            uid: format!("uid-{}", target.name),
            resource_version: "1".into(),
            labels,
            annotations: self.annotations.clone(),
            paused: false,
            replicas: Some(hpa.map_or(2, |h| h.2)),
            update_strategy: self.update_strategy,
            hpa: hpa.map(|(min, max, _)| HpaFacts {
                name: format!("{}-hpa", target.name),
                min_replicas: min,
                max_replicas: max,
                managed_by: None,
            }),
            pod: pod
                .filter(|p| {
                    let pods = self.pods.lock().unwrap();
                    pods.as_ref().is_none_or(|pods| pods.iter().any(|q| q == p))
                })
                .map(|p| PodFacts {
                    name: p.into(),
                    uid: "pod-uid".into(),
                    resource_version: "5".into(),
                    owned_by_target: true,
                }),
            rollout: self.rollout.clone(),
        })
    }
    async fn rolled_out(&self, target: &Target) -> Result<bool, ClusterError> {
        self.rollout_checks.lock().unwrap().push(target.key());
        if self
            .fail_rollout_status
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(ClusterError::Api {
                code: 403,
                reason: "Forbidden".into(),
                message: "cannot get deployments".into(),
            });
        }
        Ok(!self.rolling.load(std::sync::atomic::Ordering::SeqCst))
    }
    async fn execute(
        &self,
        target: &Target,
        plan: &Plan,
        dry_run: bool,
    ) -> Result<String, ClusterError> {
        if let Some(stop) = self.stop_before_call.lock().unwrap().take() {
            stop.send_replace(true);
            self.calls_stopped.store(true, SeqCst);
        }
        if self.calls_stopped.load(SeqCst) {
            return Err(ClusterError::NotCalled(format!(
                "scale of {}: not called",
                target.key()
            )));
        }
        self.executed
            .lock()
            .unwrap()
            .push((target.key(), plan.clone(), dry_run));
        if let Some(stop) = &self.stop_on_execute {
            stop.send_replace(true);
            if self.execute_cut_by_the_stop {
                return Err(cut_by_the_stop(&format!("scale {}", target.key())));
            }
        }
        let boom = || ClusterError::Api {
            code: 500,
            reason: "InternalError".into(),
            message: "boom".into(),
        };
        if self.fail_execute {
            return Err(boom());
        }
        let mut hpa = self.hpa.lock().unwrap();
        let timeout = || ClusterError::Transport("operation timed out".into());
        match (plan, hpa.as_mut()) {
            (Plan::RaiseHpaMin { .. }, _) if self.drop_raises.load(SeqCst) => {
                return Err(timeout());
            }
            (Plan::RaiseHpaMin { from, to, .. }, Some((min, _, replicas)))
                if *min == *from && !dry_run =>
            {
                // The HPA controller scales up to the new minimum.
                *min = *to;
                *replicas = (*replicas).max(*to);
                if self.lose_raise_answers.load(SeqCst) {
                    return Err(timeout());
                }
            }
            (Plan::RestoreHpaMin { from, to, .. }, Some((min, _, _))) => {
                if self.fail_restore.load(std::sync::atomic::Ordering::SeqCst) {
                    return Err(boom());
                }
                if *min != *from && *min != *to {
                    return Err(ClusterError::Conflict(format!(
                        "minReplicas is {min}, not the {from} edgeheal set"
                    )));
                }
                if !dry_run {
                    *min = *to;
                }
                return Ok(format!("minReplicas {from} -> {to}"));
            }
            _ => {}
        }
        Ok("done".into())
    }
    async fn hpa_min_replicas(
        &self,
        _namespace: &str,
        _hpa: &str,
    ) -> Result<Option<i32>, ClusterError> {
        if self.fail_reads.load(SeqCst) {
            return Err(ClusterError::Transport("connection refused".into()));
        }
        Ok(self.hpa.lock().unwrap().map(|h| h.0))
    }
    async fn record_event(
        &self,
        target: &Target,
        uid: Option<&str>,
        ev: &EventNote,
        _dry_run: bool,
    ) -> Result<(), ClusterError> {
        if self.events_hang {
            std::future::pending::<()>().await;
        }
        self.events
            .lock()
            .unwrap()
            .push((target.key(), uid.map(str::to_owned), ev.reason));
        Ok(())
    }
}

fn config(dir: &std::path::Path, mode: &str, extra: &str) -> Arc<Config> {
    let guards = if extra.contains("guards:") {
        ""
    } else {
        "guards: { namespaces: [shop] }\n"
    };
    let policy = if extra.contains("policy:") {
        ""
    } else {
        "policy: { cpu_saturation: [scale_up, rollout_restart], crash_loop: [rollback, delete_pod], traffic_surge: [scale_up, scale_up], memory_leak: [rollout_restart, delete_pod] }\n"
    };
    Arc::new(
        Config::from_yaml(&format!(
            "mode: {mode}\nstore: {{ path: {} }}\nauth: {{ keys_dir: /unused }}\n{guards}\
             engine: {{ debounce_count: 3, debounce_window_secs: 60, verify_window_secs: 120, cooldown_secs: 600 }}\n\
             {policy}{extra}",
            dir.join("h.db").display()
        ))
        .unwrap(),
    )
}

struct Harness {
    cfg: Arc<Config>,
    metrics: Arc<Metrics>,
    store: Store,
    clock: Arc<ManualClock>,
    cluster: Arc<FakeCluster>,
    /// The engine's soft-heal hook client (none: soft heal is not configured).
    soft_healer: Option<SoftHealer>,
    sig: u64,
    /// How far the sender's clock is behind ours (records and signatures alike).
    sender_behind_ms: i64,
    /// The `workload_kind` the records carry.
    workload_kind: &'static str,
    /// The Event recorders of the engines it made, flushed before Events are read.
    recorders: std::sync::Mutex<Vec<EventRecorder>>,
}

impl Harness {
    fn new(dir: &std::path::Path, mode: &str, extra: &str, cluster: FakeCluster) -> Self {
        let cfg = config(dir, mode, extra);
        let store = Store::open(&cfg.store.path, cfg.store.synchronous).unwrap();
        Self {
            cfg,
            metrics: Arc::new(Metrics::new()),
            store,
            clock: Arc::new(ManualClock::new(jiff::Timestamp::from_second(T0).unwrap())),
            cluster: Arc::new(cluster),
            soft_healer: None,
            sig: 0,
            sender_behind_ms: 0,
            workload_kind: "deployment",
            recorders: Default::default(),
        }
    }

    /// Runs the engine's loop until `stopped` turns true and the loop returns (within a
    /// minute of real time), as the heal API's runtime runs it.
    async fn run_until_stopped(&self, stopped: tokio::sync::watch::Receiver<bool>) {
        let alive = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let task = tokio::spawn(self.engine().run(Arc::default(), stopped, alive));
        tokio::time::timeout(std::time::Duration::from_secs(60), task)
            .await
            .expect("the engine did not stop")
            .unwrap()
            .unwrap();
    }

    fn engine(&self) -> Engine {
        let cluster: Option<Arc<dyn Cluster>> = if self.cfg.mode == edgeheal_healer::Mode::Shadow {
            None
        } else {
            Some(self.cluster.clone())
        };
        let engine = Engine::new(
            self.cfg.clone(),
            self.store.clone(),
            cluster,
            self.soft_healer.clone(),
            Notifier::log_only(self.metrics.clone()),
            self.metrics.clone(),
            self.clock.clone(),
        );
        self.recorders.lock().unwrap().push(engine.events());
        engine
    }

    /// A started engine: recovered from the store, as at a start.
    async fn recovered_engine(&self) -> Engine {
        let mut engine = self.engine();
        engine.recover().await.unwrap();
        engine
    }

    /// A started (recovered) engine that has taken in three `cpu_saturation` records of
    /// `shop/cart`: the debounce opens an incident and, unless in shadow mode, acts on it.
    async fn engine_after_three_anomalies(&mut self) -> Engine {
        let mut engine = self.recovered_engine().await;
        self.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
        engine.process_pending().await.unwrap();
        engine
    }

    async fn ingest(&mut self, entities: &[&str], incident: &str, pod: Option<&str>) {
        self.ingest_family(entities, incident, pod, None).await;
    }

    /// As `ingest`, the records naming the signal `family` that drove them.
    async fn ingest_family(
        &mut self,
        entities: &[&str],
        incident: &str,
        pod: Option<&str>,
        family: Option<&str>,
    ) {
        let now = self.clock.now() - SignedDuration::from_millis(self.sender_behind_ms);
        self.ingest_stamped(entities, incident, pod, family, now)
            .await;
    }

    /// As `ingest`, for no pod, the records stamped `ts` (their own time, `edgeheal.ts`).
    async fn ingest_at(&mut self, entities: &[&str], incident: &str, ts: jiff::Timestamp) {
        self.ingest_stamped(entities, incident, None, None, ts)
            .await;
    }

    /// As `ingest_family`, the records stamped `ts` (their own time, `edgeheal.ts`).
    async fn ingest_stamped(
        &mut self,
        entities: &[&str],
        incident: &str,
        pod: Option<&str>,
        family: Option<&str>,
        ts: jiff::Timestamp,
    ) {
        let ts = ts.to_string();
        let workload_kind = self.workload_kind;
        self.sig += 1;
        // Each delivery's body is its own, as a sender's records carry their own times (Fluent
        // Bit's `date`, Vector's `timestamp`): the same body again is a redelivery.
        let delivery = self.sig;
        let recs: Vec<serde_json::Value> = entities
            .iter()
            .map(|e| {
                serde_json::json!({"delivery": delivery, "edgeheal": {"kind": "metric", "entity": e, "pod": pod, "ts": ts,
                "score": 0.9, "anomaly": true, "severity": "critical", "incident": incident, "action": "scale_up",
                "why": [], "model": "m@1", "workload_kind": workload_kind, "family": family}})
            })
            .collect();
        let body = serde_json::to_vec(&recs).unwrap();
        let records = decode(
            Format::Json,
            &body,
            DecodeLimits {
                max_decompressed_bytes: 1 << 24,
                max_records: 10_000,
                max_record_values: 1000,
            },
        )
        .unwrap();
        let committed = self
            .store
            .insert_batch(NewBatch {
                received_at_ms: self.clock.now().as_millisecond(),
                key_id: "k".into(),
                scheme: "hmac",
                signature: format!("{:064x}", self.sig),
                signed_at_ms: Some(self.clock.now().as_millisecond() - self.sender_behind_ms),
                body_sha256: store::body_digest(&body),
                records,
            })
            .await
            .unwrap();
        assert!(
            matches!(committed, store::Committed::New(_)),
            "{committed:?}"
        );
    }

    async fn incidents(&self) -> Vec<store::IncidentRow> {
        self.store
            .read(|c| {
                store::list_incidents(
                    c,
                    &store::IncidentFilter {
                        limit: 500,
                        ..Default::default()
                    },
                )
            })
            .await
            .unwrap()
    }

    /// The HPA raises incident `id` made.
    async fn raises(&self, id: i64) -> Vec<RaiseRow> {
        self.store
            .read(move |c| hpa_floor::raises_of_incident(c, id))
            .await
            .unwrap()
    }

    /// Incident `id`, its decisions and its actions.
    async fn history(&self, id: i64) -> store::IncidentHistory {
        self.store
            .read(move |c| store::get_incident(c, id))
            .await
            .unwrap()
            .unwrap()
    }

    /// The outcomes of incident `id`'s decisions.
    async fn outcomes(&self, id: i64) -> Vec<String> {
        let (_, decisions, _) = self.history(id).await;
        decisions.into_iter().map(|d| d.outcome).collect()
    }

    /// The store as a crash after an action's intent was committed, before its result was,
    /// leaves it: the actions back to pending, the incidents to acting.
    async fn crash_mid_action(&self) {
        self.store
            .write(|tx| {
                tx.execute(
                    "UPDATE actions SET result = 'pending', finished_at = NULL",
                    [],
                )?;
                tx.execute("UPDATE incidents SET state = 'acting'", [])?;
                Ok(())
            })
            .await
            .unwrap();
    }

    /// The Event reasons recorded so far.
    /// The Events posted (target, uid, reason), once every engine's recorder has posted
    /// what it queued.
    async fn events(&self) -> Vec<(String, Option<String>, &'static str)> {
        let recorders = self.recorders.lock().unwrap().clone();
        for recorder in recorders {
            recorder.flushed().await;
        }
        self.cluster.events.lock().unwrap().clone()
    }

    async fn event_reasons(&self) -> Vec<&'static str> {
        self.events().await.into_iter().map(|e| e.2).collect()
    }

    /// Makes the store refuse the writes a trigger's `BEFORE <event> ON <table> [WHEN ...]`
    /// names, `on`, as a full disk would, until [`Harness::accept_writes`].
    async fn refuse_writes(&self, on: &str) {
        let sql = format!(
            "CREATE TRIGGER refuse BEFORE {on} BEGIN SELECT RAISE(ABORT, 'test: the disk is full'); END;"
        );
        self.store
            .write(move |tx| Ok(tx.execute_batch(&sql)?))
            .await
            .unwrap();
    }

    /// Takes back [`Harness::refuse_writes`].
    async fn accept_writes(&self) {
        self.store
            .write(|tx| Ok(tx.execute_batch("DROP TRIGGER refuse;")?))
            .await
            .unwrap();
    }

    /// The plans the cluster was asked to carry out, in order.
    /// The same store, cluster and clock, configured for `mode` with `extra` (in `dir`, as
    /// [`Harness::new`]): the heal API started again in another mode.
    fn in_mode(self, dir: &std::path::Path, mode: &str, extra: &str) -> Self {
        Self {
            cfg: config(dir, mode, extra),
            ..self
        }
    }

    /// The targets and plans of the calls made for real (not dry runs).
    fn enforced(&self) -> Vec<(String, Plan)> {
        self.cluster
            .executed
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, dry_run)| !dry_run)
            .map(|(target, plan, _)| (target.clone(), plan.clone()))
            .collect()
    }

    fn plans(&self) -> Vec<Plan> {
        self.cluster
            .executed
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.1.clone())
            .collect()
    }

    async fn action_count(&self) -> i64 {
        self.store
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM actions", [], |r| r.get(0))?))
            .await
            .unwrap()
    }

    /// Processes the pending batches with `engine` while the store refuses the writes `on`
    /// names ([`Harness::refuse_writes`]), so that the cycle fails part-way; then accepts them
    /// again and processes the batches as the heal API would go on `by` that interruption.
    /// Returns the engine that went on.
    async fn interrupted(&self, mut engine: Engine, on: &str, by: Interruption) -> Engine {
        self.refuse_writes(on).await;
        let err = engine.process_pending().await.unwrap_err();
        assert!(err.to_string().contains("the disk is full"), "{on}: {err}");
        self.accept_writes().await;
        let mut engine = match by {
            Interruption::FailedCycle => engine,
            Interruption::Restart => {
                drop(engine);
                let mut engine = self.engine();
                engine.recover().await.unwrap();
                engine
            }
        };
        engine.process_pending().await.unwrap();
        engine
    }
}

/// How the heal API goes on after the store refused a write part-way through a batch.
#[derive(Debug, Clone, Copy)]
enum Interruption {
    /// The same engine's next cycle, which first reloads the incidents from the store.
    FailedCycle,
    /// The heal API stopped right there (the store as a crash would leave it) and started
    /// again: a new engine recovers from the store.
    Restart,
}

#[tokio::test]
async fn debounce_then_act_then_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    let mut engine = h.recovered_engine().await;
    for i in 0..2 {
        h.ingest(&["shop/cart"], "cpu_saturation", None).await;
        engine.process_pending().await.unwrap();
        assert!(
            h.incidents().await.is_empty(),
            "debounce: {} records are not enough",
            i + 1
        );
        h.clock.advance_secs(10);
    }
    // Records outside the window do not count.
    h.clock.advance_secs(60);
    h.ingest(&["shop/cart"], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    assert!(
        h.incidents().await.is_empty(),
        "stale records must have left the window"
    );
    h.ingest(&["shop/cart", "shop/cart"], "cpu_saturation", None)
        .await;
    engine.process_pending().await.unwrap();
    let inc = h.incidents().await;
    assert_eq!(inc.len(), 1);
    assert_eq!(inc[0].state, "verifying");
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    assert!(matches!(
        h.cluster.executed.lock().unwrap()[0].1,
        Plan::Scale { from: 2, to: 3 }
    ));
    // Dedupe: more records attach to the incident, no new action.
    h.ingest(&["shop/cart"], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    assert_eq!(h.incidents().await.len(), 1);
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    // Verify window passes quietly: resolved.
    h.clock.advance_secs(121);
    engine.tick().await.unwrap();
    let inc = h.incidents().await;
    assert_eq!(inc[0].state, "resolved");
    assert_eq!(h.event_reasons().await, vec!["Remediating", "Remediated"]);
}

/// A caller that moves the engine's clock itself (the closed-loop demo) runs one cycle of the
/// running engine with `Cycles::run_one`: when it returns, the batches committed before it are
/// processed and the deadlines checked at the clock's time, with no wait on the engine's timer.
#[tokio::test]
async fn run_one_returns_after_a_cycle_that_saw_the_batches_and_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    let cycles = Arc::new(Cycles::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let alive = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let task = tokio::spawn(h.engine().run(cycles.clone(), stopped, alive.clone()));
    let cycle = || async {
        tokio::time::timeout(std::time::Duration::from_secs(20), cycles.run_one())
            .await
            .expect("the engine finishes a cycle")
    };
    cycle().await;
    assert!(alive.load(SeqCst), "recovered and running");
    for _ in 0..3 {
        h.ingest(&["shop/cart"], "cpu_saturation", None).await;
    }
    cycle().await;
    let inc = h.incidents().await;
    assert_eq!(inc.len(), 1, "the three records opened an incident");
    assert_eq!(inc[0].state, "verifying");
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    h.clock.advance_secs(121);
    cycle().await;
    assert_eq!(
        h.incidents().await[0].state,
        "resolved",
        "the verify deadline was checked at the clock's new time"
    );
    stop.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(20), task)
        .await
        .expect("the engine stops")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn recurrence_escalates_to_the_next_action_then_to_a_human() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    let mut engine = h.engine_after_three_anomalies().await;
    h.clock.advance_secs(30);
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    {
        let ex = h.cluster.executed.lock().unwrap();
        assert_eq!(ex.len(), 2);
        assert!(matches!(ex[0].1, Plan::Scale { .. }));
        assert_eq!(
            ex[1].1,
            Plan::Restart,
            "recurrence escalates to the next action"
        );
    }
    h.clock.advance_secs(30);
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    let inc = h.incidents().await;
    assert_eq!(
        inc[0].state, "escalated",
        "policy exhausted: handed to a human"
    );
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_scaled_traffic_surge_is_judged_by_strain_not_by_its_rate() {
    for (family, want) in [("traffic", "resolved"), ("latency", "escalated")] {
        let dir = tempfile::tempdir().unwrap();
        let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
        let mut engine = h.recovered_engine().await;
        h.ingest_family(&["shop/cart"; 3], "traffic_surge", None, Some("traffic"))
            .await;
        engine.process_pending().await.unwrap();
        assert!(matches!(
            h.cluster.executed.lock().unwrap()[0].1,
            Plan::Scale { .. }
        ));
        // The surge goes on after the scale-up: its rate stays above the
        // baseline (family traffic), or the workload still struggles.
        for _ in 0..4 {
            h.clock.advance_secs(20);
            h.ingest_family(&["shop/cart"; 3], "traffic_surge", None, Some(family))
                .await;
            engine.process_pending().await.unwrap();
        }
        h.clock.advance_secs(121);
        engine.tick().await.unwrap();
        let inc = h.incidents().await;
        assert_eq!(inc.len(), 1, "{family}");
        assert_eq!(inc[0].state, want, "{family}");
        let scales = h.cluster.executed.lock().unwrap().len();
        assert_eq!(scales, if family == "traffic" { 1 } else { 2 }, "{family}");
    }
}

/// `edgeheal_healer_incidents_active{state}` is how many incidents are in each state now:
/// set as they move, zero once they close, and as recovered after a restart.
#[tokio::test]
async fn the_active_incidents_gauge_follows_the_incidents() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    let active = |h: &Harness| -> Vec<String> {
        let text = h.metrics.render();
        ["open", "acting", "verifying"]
            .iter()
            .map(|state| {
                let series = format!("edgeheal_healer_incidents_active{{state=\"{state}\"}} ");
                let line = text.lines().find(|l| l.starts_with(&series));
                line.unwrap_or_else(|| panic!("no {series}in\n{text}"))
                    .trim_start_matches(&series)
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(active(&h), ["0", "0", "0"]);
    let mut engine = h.engine_after_three_anomalies().await;
    engine.tick().await.unwrap();
    assert_eq!(active(&h), ["0", "0", "1"], "scaled up, verifying");
    h.ingest(&["shop/storefront"; 2], "traffic_surge", None)
        .await;
    engine.process_pending().await.unwrap();
    engine.tick().await.unwrap();
    assert_eq!(active(&h), ["0", "0", "1"], "two of three: not open yet");
    h.ingest(&["shop/storefront"], "traffic_surge", None).await;
    engine.process_pending().await.unwrap();
    engine.tick().await.unwrap();
    assert_eq!(active(&h), ["0", "0", "2"]);
    // A restart: a new engine, new metrics, the incidents recovered from the store.
    drop(engine);
    h.metrics = Arc::new(Metrics::new());
    let mut engine = h.recovered_engine().await;
    assert_eq!(active(&h), ["0", "0", "2"], "recovered");
    // What the store says, whatever the engine holds: an incident stuck acting shows.
    h.store
        .write(|tx| {
            tx.execute(
                "UPDATE incidents SET state = 'acting' WHERE entity = 'shop/storefront'",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    engine.tick().await.unwrap();
    assert_eq!(active(&h), ["0", "1", "1"], "one stuck acting");
    h.store
        .write(|tx| {
            tx.execute(
                "UPDATE incidents SET state = 'verifying' WHERE entity = 'shop/storefront'",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    h.clock.advance_secs(121);
    engine.tick().await.unwrap();
    assert_eq!(active(&h), ["0", "0", "0"], "both resolved");
}

#[tokio::test]
async fn verification_starts_when_the_workload_has_rolled_out() {
    use std::sync::atomic::Ordering::SeqCst;
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::still_rolling());
    let mut engine = h.engine_after_three_anomalies().await;
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    // Old pods keep reporting while the new ones roll out: not a recurrence,
    // and the verify window (120 s) does not run out under them.
    for _ in 0..6 {
        h.clock.advance_secs(15);
        h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
        engine.process_pending().await.unwrap();
        engine.tick().await.unwrap();
    }
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    assert_eq!(h.incidents().await[0].state, "verifying");
    // Asked at most every 5 s, not for every record.
    let checks = h.cluster.rollout_checks.lock().unwrap().len();
    assert!((6..=12).contains(&checks), "{checks} checks");
    // Rolled out: the verify window starts now and a quiet window resolves.
    h.cluster.rolling.store(false, SeqCst);
    h.clock.advance_secs(15);
    engine.tick().await.unwrap();
    h.clock.advance_secs(100);
    engine.tick().await.unwrap();
    assert_eq!(
        h.incidents().await[0].state,
        "verifying",
        "window restarted"
    );
    h.clock.advance_secs(21);
    engine.tick().await.unwrap();
    assert_eq!(h.incidents().await[0].state, "resolved");
}

#[tokio::test]
async fn other_anomalies_of_a_workload_wait_for_its_rollout() {
    use std::sync::atomic::Ordering::SeqCst;
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::still_rolling());
    let mut engine = h.engine_after_three_anomalies().await;
    // New pods starting up look like a crash loop while the rollout runs.
    for _ in 0..3 {
        h.clock.advance_secs(10);
        h.ingest(&["shop/cart"; 3], "crash_loop", Some("cart-1"))
            .await;
        engine.process_pending().await.unwrap();
    }
    assert_eq!(h.incidents().await.len(), 1);
    // Another workload is not held up.
    h.ingest(&["shop/web"; 3], "crash_loop", Some("web-1"))
        .await;
    engine.process_pending().await.unwrap();
    assert_eq!(h.incidents().await.len(), 2);
    // Once the rollout is over, an anomaly that goes on opens its incident.
    h.cluster.rolling.store(false, SeqCst);
    h.clock.advance_secs(10);
    h.ingest(&["shop/cart"; 3], "crash_loop", Some("cart-1"))
        .await;
    engine.process_pending().await.unwrap();
    assert_eq!(h.incidents().await.len(), 3);
}

#[tokio::test]
async fn other_anomalies_also_wait_for_the_settle_time_after_a_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = (*config(dir.path(), "enforce", "")).clone();
    cfg.engine.settle_secs = 45;
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    h.cfg = Arc::new(cfg);
    let mut engine = h.engine_after_three_anomalies().await;
    // Rolled out at once, but the new pods are still starting for 45 s.
    h.clock.advance_secs(30);
    h.ingest(&["shop/cart"; 3], "crash_loop", Some("cart-1"))
        .await;
    engine.process_pending().await.unwrap();
    assert_eq!(h.incidents().await.len(), 1);
    h.clock.advance_secs(20);
    h.ingest(&["shop/cart"; 3], "crash_loop", Some("cart-1"))
        .await;
    engine.process_pending().await.unwrap();
    assert_eq!(
        h.incidents().await.len(),
        2,
        "settled: the crash loop opens"
    );
}

#[tokio::test]
async fn a_rollout_that_never_finishes_is_verified_after_a_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::still_rolling());
    let mut engine = h.engine_after_three_anomalies().await;
    for _ in 0..12 {
        h.clock.advance_secs(15);
        h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
        engine.process_pending().await.unwrap();
        engine.tick().await.unwrap();
    }
    // Stuck for more than a verify window: verified as it stands, and the
    // anomaly that goes on escalates to the next action.
    let ex = h.cluster.executed.lock().unwrap();
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[1].1, Plan::Restart);
}

#[tokio::test]
async fn an_absorbed_surge_that_goes_on_is_not_scaled_again_until_it_strains() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    let mut engine = h.recovered_engine().await;
    h.ingest_family(&["shop/cart"; 3], "traffic_surge", None, Some("traffic"))
        .await;
    engine.process_pending().await.unwrap();
    h.clock.advance_secs(121);
    engine.tick().await.unwrap();
    assert_eq!(h.incidents().await[0].state, "resolved");
    // The surge goes on for longer than the cooldown (600 s): its rate
    // records keep the resolved incident's hold alive.
    for _ in 0..50 {
        h.clock.advance_secs(15);
        h.ingest_family(&["shop/cart"; 3], "traffic_surge", None, Some("traffic"))
            .await;
        engine.process_pending().await.unwrap();
        engine.tick().await.unwrap();
    }
    assert_eq!(h.incidents().await.len(), 1);
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    // Strain opens a new incident at once.
    h.ingest_family(&["shop/cart"; 3], "traffic_surge", None, Some("latency"))
        .await;
    engine.process_pending().await.unwrap();
    assert_eq!(h.incidents().await.len(), 2);
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn anomaly_storm_of_200_entities_never_exceeds_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(
        dir.path(),
        "enforce",
        "budget: { max_actions: 7, window_secs: 600 }\n",
        FakeCluster::default(),
    );
    let mut engine = h.recovered_engine().await;
    let names: Vec<String> = (0..200).map(|i| format!("shop/svc-{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    for _ in 0..3 {
        h.ingest(&refs, "cpu_saturation", None).await;
    }
    engine.process_pending().await.unwrap();
    assert_eq!(h.incidents().await.len(), 200);
    assert_eq!(
        h.cluster.executed.lock().unwrap().len(),
        7,
        "exactly the budget"
    );
    assert_eq!(h.action_count().await, 7);
    let escalated = h
        .incidents()
        .await
        .iter()
        .filter(|i| i.state == "escalated")
        .count();
    assert_eq!(escalated, 193);
    // Still inside the window: a second storm gets nothing.
    h.clock.advance_secs(300);
    for _ in 0..3 {
        h.ingest(&refs, "cpu_saturation", None).await;
    }
    engine.process_pending().await.unwrap();
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 7);
    // The window passes: budget available again, bounded again.
    h.clock.advance_secs(301);
    engine.tick().await.unwrap();
    for _ in 0..3 {
        h.ingest(&refs, "cpu_saturation", None).await;
    }
    engine.process_pending().await.unwrap();
    let executed = h.cluster.executed.lock().unwrap().len();
    assert!(executed <= 14, "{executed} actions");
}

/// The way the heal API is brought in, shadow → dry-run → enforce: what the earlier modes only
/// recorded counts towards none of the guards once it enforces, as nothing of it was done. A
/// dry-run hour that spent the budget and put `shop/a` in its cooldown leaves the first enforced
/// actions free, `shop/a`'s included; an enforced action still counts in dry-run mode, as
/// enforce would count it there. Before, the heal API switched to enforce refused every action
/// (`budget_exhausted`, handed to humans, the alert `EdgehealHealingStopped` firing) until the
/// budget window had passed.
#[tokio::test]
async fn what_an_earlier_mode_only_recorded_counts_towards_no_guard_once_enforcing() {
    let dir = tempfile::tempdir().unwrap();
    let budget = "budget: { max_actions: 2, window_secs: 3600 }\n";
    let mut h = Harness::new(dir.path(), "dry-run", budget, FakeCluster::default());
    let mut engine = h.recovered_engine().await;
    h.ingest(
        &[["shop/a", "shop/b", "shop/c"]; 3].concat(),
        "cpu_saturation",
        None,
    )
    .await;
    engine.process_pending().await.unwrap();
    let over_budget = |incidents: &[store::IncidentRow]| {
        incidents
            .iter()
            .filter(|i| {
                i.reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("budget_exhausted"))
            })
            .map(|i| i.entity.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(over_budget(&h.incidents().await), ["shop/c"]);

    // The switch: the same store, now enforcing, minutes later.
    h.clock.advance_secs(121);
    engine.tick().await.unwrap();
    drop(engine);
    let mut h = h.in_mode(dir.path(), "enforce", budget);
    let mut engine = h.recovered_engine().await;
    h.clock.advance_secs(60);
    h.ingest(&[["shop/a", "shop/d"]; 3].concat(), "memory_leak", None)
        .await;
    engine.process_pending().await.unwrap();
    let targets: Vec<_> = h.enforced().into_iter().map(|(t, _)| t).collect();
    assert_eq!(targets, ["shop/deployment/a", "shop/deployment/d"]);

    // Back to dry-run: the two enforced actions fill its budget.
    drop(engine);
    let mut h = h.in_mode(dir.path(), "dry-run", budget);
    let mut engine = h.recovered_engine().await;
    h.clock.advance_secs(60);
    h.ingest(&["shop/e"; 3], "crash_loop", None).await;
    engine.process_pending().await.unwrap();
    assert_eq!(over_budget(&h.incidents().await), ["shop/e", "shop/c"]);
}

/// An incident still active when the heal API starts in a mode that does more than the one
/// its action was recorded in (dry-run → enforce here) is closed `superseded`: its step was only
/// recorded, so a recurrence opens a new incident that starts from the policy's first action,
/// enforced, rather than escalating the old one to its second action as if the first had been
/// taken. Before, the fault that went on got `rollout_restart` (step 2) for real, and its
/// `scale_up` never ran. The other way (enforce → dry-run), an enforced action happened: its
/// incident goes on.
#[tokio::test]
async fn an_incident_whose_action_an_earlier_mode_only_recorded_is_superseded() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "dry-run", "", FakeCluster::default());
    let engine = h.engine_after_three_anomalies().await;
    let id = h.incidents().await[0].id;
    assert_eq!(h.incidents().await[0].state, "verifying");
    drop(engine);
    let mut h = h.in_mode(dir.path(), "enforce", "");
    let mut engine = h.recovered_engine().await;
    let old = h
        .incidents()
        .await
        .into_iter()
        .find(|i| i.id == id)
        .unwrap();
    assert_eq!(old.state, "superseded");
    assert!(old.closed_at.is_some());
    let (_, decisions, _) = h.history(id).await;
    let last = decisions.last().unwrap();
    assert_eq!(last.outcome, "superseded");
    assert!(
        last.reason.contains("enforce mode") && last.reason.contains("dry-run"),
        "{last:?}"
    );
    assert!(h
        .metrics
        .render()
        .contains(r#"kind="cpu_saturation",state="superseded"} 1"#));
    // The fault goes on: a new incident, its first action enforced.
    h.clock.advance_secs(30);
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    // And `shop/web`, which a dry run never touched, scaled up as well.
    h.ingest(&["shop/web"; 3], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    let enforced = h.enforced();
    assert_eq!(enforced.len(), 2, "{enforced:?}");
    assert_eq!(enforced[0].0, "shop/deployment/cart");
    assert!(
        enforced
            .iter()
            .all(|(_, plan)| matches!(plan, Plan::Scale { .. })),
        "{enforced:?}"
    );
    let newest = h
        .incidents()
        .await
        .into_iter()
        .find(|i| i.id != id && i.entity == "shop/cart")
        .unwrap();
    assert_eq!(newest.state, "verifying");
    let web = h
        .incidents()
        .await
        .into_iter()
        .find(|i| i.entity == "shop/web")
        .unwrap()
        .id;

    // Enforce → dry-run: the enforced scale-ups were taken, so their incidents go on
    // verifying, and a recurrence of `shop/web`'s takes its second step, only recorded.
    drop(engine);
    let mut h = h.in_mode(dir.path(), "dry-run", "");
    let mut engine = h.recovered_engine().await;
    let state_of = |incidents: &[store::IncidentRow], id: i64| {
        let kept = incidents.iter().find(|i| i.id == id).unwrap();
        (kept.state.clone(), kept.step)
    };
    assert_eq!(
        state_of(&h.incidents().await, newest.id),
        ("verifying".into(), 0)
    );
    h.clock.advance_secs(30);
    h.ingest(&["shop/web"; 3], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    assert_eq!(state_of(&h.incidents().await, web), ("verifying".into(), 1));
    // Back to enforce: an enforced action was taken for it, so it goes on, its dry-run
    // restart not repeated.
    drop(engine);
    let h = h.in_mode(dir.path(), "enforce", "");
    let _engine = h.recovered_engine().await;
    assert_eq!(state_of(&h.incidents().await, web), ("verifying".into(), 1));
    assert_eq!(h.enforced().len(), 2);
}

/// A closed incident whose actions an earlier mode only recorded neither holds its key's
/// records nor answers those made before its action, once the heal API enforces: the dry-run
/// scale-up of a surge changed nothing, so the surge that goes on is scaled for real at once,
/// not after the dry-run incident's hold; and the records a dry-run scale-up of a saturated
/// workload came after (made before it, delivered late) open an incident. A hold of an
/// incident that took no action at all (escalated, no policy) is any mode's: it still holds.
#[tokio::test]
async fn what_an_earlier_mode_only_recorded_neither_holds_nor_answers_once_enforcing() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "dry-run", "", FakeCluster::default());
    let acted = h.clock.now();
    {
        let mut engine = h.recovered_engine().await;
        let traffic = Some("traffic");
        h.ingest_family(&["shop/cart"; 3], "traffic_surge", None, traffic)
            .await;
        h.ingest(&["shop/web"; 3], "cpu_saturation", None).await;
        // No policy for error bursts: escalated at once, no action.
        h.ingest(&["shop/api"; 3], "error_burst", None).await;
        engine.process_pending().await.unwrap();
        h.clock.advance_secs(121);
        engine.tick().await.unwrap();
    }
    let state = |incidents: &[store::IncidentRow], entity: &str| {
        let inc = incidents.iter().find(|i| i.entity == entity).unwrap();
        (inc.state.clone(), inc.holds_until.is_some())
    };
    let before = h.incidents().await;
    assert_eq!(state(&before, "shop/cart"), ("resolved".into(), true));
    assert_eq!(state(&before, "shop/web"), ("resolved".into(), false));
    assert_eq!(state(&before, "shop/api"), ("escalated".into(), true));
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 2);
    assert!(h.enforced().is_empty());

    let mut h = h.in_mode(dir.path(), "enforce", "");
    let mut engine = h.recovered_engine().await;
    h.clock.advance_secs(60);
    h.ingest_family(&["shop/cart"; 3], "traffic_surge", None, Some("traffic"))
        .await;
    h.ingest_at(
        &["shop/web"; 3],
        "cpu_saturation",
        acted - SignedDuration::from_secs(2),
    )
    .await;
    h.ingest(&["shop/api"; 3], "error_burst", None).await;
    engine.process_pending().await.unwrap();
    let enforced = h.enforced();
    let targets: Vec<&str> = enforced.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        targets,
        ["shop/deployment/cart", "shop/deployment/web"],
        "{enforced:?}"
    );
    let after = h.incidents().await;
    assert_eq!(after.len(), 5, "{after:?}");
    let api: Vec<_> = after.iter().filter(|i| i.entity == "shop/api").collect();
    assert_eq!(api.len(), 1, "the escalation's hold absorbed them: {api:?}");
    assert_eq!(api[0].record_count, 6);
}

#[tokio::test]
async fn cooldown_holds_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    {
        let mut engine = h.recovered_engine().await;
        scale_up_and_resolve(&mut h, &mut engine).await;
    }
    // "Restart": a brand-new store handle and engine on the same database file.
    let clock = h.clock.clone();
    let cluster = h.cluster.clone();
    drop(h);
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    h.clock = clock;
    h.cluster = cluster;
    h.sig = 1000;
    let mut engine = h.recovered_engine().await;
    h.clock.advance_secs(60); // 181 s after the action: inside the 600 s cooldown
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    let inc = h.incidents().await;
    assert_eq!(inc[0].state, "escalated");
    assert!(
        inc[0].reason.as_deref().unwrap().starts_with("cooldown"),
        "{:?}",
        inc[0].reason
    );
    assert_eq!(
        h.cluster.executed.lock().unwrap().len(),
        1,
        "no second action inside the cooldown"
    );
    // After the cooldown another incident may act.
    h.clock.advance_secs(600);
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 2);
}

/// A Rollout's pods are named as a Deployment's: records without its label (events, metrics)
/// name it `deployment`, its logs `rollout`. Incidents opened either way share one cooldown.
#[tokio::test]
async fn a_rollout_named_either_way_has_one_cooldown() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    let mut engine = h.recovered_engine().await;
    scale_up_and_resolve(&mut h, &mut engine).await;
    h.workload_kind = "rollout";
    h.clock.advance_secs(60);
    h.ingest(&["shop/cart"; 3], "traffic_surge", None).await;
    engine.process_pending().await.unwrap();
    let inc = h.incidents().await;
    let surge = inc.iter().find(|i| i.kind == "traffic_surge").unwrap();
    assert_eq!(surge.state, "escalated");
    assert!(
        surge.reason.as_deref().unwrap().starts_with("cooldown"),
        "{:?}",
        surge.reason
    );
    let executed = h.cluster.executed.lock().unwrap().clone();
    assert_eq!(executed.len(), 1, "{executed:?}");
    assert_eq!(executed[0].0, "shop/deployment/cart");
    // After the cooldown, the Rollout-named incident acts on its target.
    h.clock.advance_secs(600);
    h.ingest(&["shop/cart"; 3], "traffic_surge", None).await;
    engine.process_pending().await.unwrap();
    let executed = h.cluster.executed.lock().unwrap().clone();
    assert_eq!(executed.len(), 2, "{executed:?}");
    assert_eq!(executed[1].0, "shop/rollout/cart");
}

/// Records name a Rollout `deployment` when they carry no label of its pods; the API server
/// then answers for the Rollout of the name. The policy judges the workload found (a Rollout
/// cannot be rolled back: the next step is taken, not a failing rollback), the action goes to
/// it, and the Events are recorded on it, so `kubectl describe rollout` lists them.
#[tokio::test]
async fn a_deployment_found_as_a_rollout_is_judged_and_described_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = FakeCluster {
        found_as: Some(WorkloadKind::Rollout),
        ..FakeCluster::default()
    };
    let mut h = Harness::new(dir.path(), "enforce", "", cluster);
    let mut engine = h.recovered_engine().await;
    h.ingest(&["shop/cart"; 3], "crash_loop", Some("cart-1"))
        .await;
    engine.process_pending().await.unwrap();
    let inc = h.incidents().await;
    assert_eq!(inc.len(), 1);
    let (_, decisions, _) = h.history(inc[0].id).await;
    let rollback = decisions
        .iter()
        .find(|d| d.action.as_deref() == Some("rollback"))
        .unwrap();
    assert_eq!(rollback.outcome, "skipped");
    assert!(
        rollback.reason.contains("cannot roll back a rollout"),
        "{}",
        rollback.reason
    );
    let code = rollback.reason.split(':').next().unwrap();
    let metrics = h.metrics.render();
    assert!(
        metrics.contains(&format!(
            r#"edgeheal_healer_guard_refusals_total{{code="{code}",outcome="skipped"}} 1"#
        )),
        "{metrics}"
    );
    let executed = h.cluster.executed.lock().unwrap().clone();
    assert_eq!(executed.len(), 1, "{executed:?}");
    assert_eq!(executed[0].0, "shop/rollout/cart");
    assert!(matches!(executed[0].1, Plan::DeletePod { .. }));
    h.clock.advance_secs(121);
    engine.tick().await.unwrap();
    let events = h.events().await;
    assert_eq!(
        events,
        vec![
            (
                "shop/rollout/cart".to_string(),
                Some("uid-cart".to_string()),
                "Skipped"
            ),
            (
                "shop/rollout/cart".to_string(),
                Some("uid-cart".to_string()),
                "Remediating"
            ),
            (
                "shop/rollout/cart".to_string(),
                Some("uid-cart".to_string()),
                "Remediated"
            ),
        ]
    );
}

/// A Deployment-named target found as the Argo Rollout of its name: the HPA minimum its
/// scale-up raised is given back with the Events on the Rollout, as the incident's own
/// Events are, so `kubectl describe rollout` lists them. Before, the restore's Event
/// regarded the Deployment the records named, which does not exist.
#[tokio::test]
async fn a_restore_for_a_workload_found_as_a_rollout_is_described_on_the_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = FakeCluster {
        found_as: Some(WorkloadKind::Rollout),
        ..FakeCluster::with_hpa(2, 10, 2)
    };
    let mut h = Harness::new(dir.path(), "enforce", HOLD_600, cluster);
    let mut engine = h.recovered_engine().await;
    let id = scale_up_and_resolve(&mut h, &mut engine).await;
    h.clock.advance_secs(600);
    engine.tick().await.unwrap();
    assert_eq!(h.raises(id).await[0].state, "restored");
    assert_eq!(h.cluster.hpa_min(), 2);
    let events = h.events().await;
    assert_eq!(
        events.last().unwrap(),
        &(
            "shop/rollout/cart".to_string(),
            Some("uid-cart".to_string()),
            "Restored"
        ),
        "{events:?}"
    );
}

/// A restart changes a workload's pod template; a StatefulSet or DaemonSet that updates
/// `OnDelete` replaces no pod then, and one partitioned only some. The restart was executed
/// and recorded as a remediation all the same, and the incident resolved in a lull with
/// nothing restarted: it is skipped, saying why, and the policy's next step replaces the pod.
#[tokio::test]
async fn a_restart_that_would_replace_no_pod_or_only_some_is_skipped_for_the_next_step() {
    // (workload kind, its update strategy, the skip's code, its reason)
    let cases = [
        (
            "statefulset",
            UpdateStrategy::OnDelete,
            "on_delete",
            "statefulset updates its pods OnDelete: a restart would change its template and replace no pod",
        ),
        (
            "daemonset",
            UpdateStrategy::OnDelete,
            "on_delete",
            "daemonset updates its pods OnDelete: a restart would change its template and replace no pod",
        ),
        (
            "statefulset",
            UpdateStrategy::Partitioned { partition: 1 },
            "partitioned",
            "statefulset rolls out with partition 1: a restart would replace only the pods of ordinal 1 and up (1 of 2)",
        ),
    ];
    for (kind, update_strategy, code, reason) in cases {
        let dir = tempfile::tempdir().unwrap();
        let cluster = FakeCluster {
            update_strategy,
            ..FakeCluster::default()
        };
        let mut h = Harness::new(dir.path(), "enforce", "", cluster);
        h.workload_kind = kind;
        let mut engine = h.recovered_engine().await;
        h.ingest(&["shop/cart"; 3], "memory_leak", Some("cart-0"))
            .await;
        engine.process_pending().await.unwrap();
        let executed = h.cluster.executed.lock().unwrap().clone();
        assert_eq!(executed.len(), 1, "{kind} {code}: {executed:?}");
        assert_eq!(executed[0].0, format!("shop/{kind}/cart"));
        assert!(
            matches!(&executed[0].1, Plan::DeletePod { name, .. } if name == "cart-0"),
            "{kind} {code}: {executed:?}"
        );
        let inc = h.incidents().await;
        assert_eq!(inc[0].state, "verifying", "{kind} {code}");
        let (_, decisions, actions) = h.history(inc[0].id).await;
        let restart = decisions
            .iter()
            .find(|d| d.action.as_deref() == Some("rollout_restart"))
            .unwrap();
        assert_eq!(restart.outcome, "skipped", "{kind} {code}");
        assert_eq!(restart.reason, format!("{code}: {reason}"));
        assert_eq!(actions.len(), 1, "no restart recorded as an action");
        assert_eq!(actions[0].action, "delete_pod");
        assert_eq!(
            h.event_reasons().await,
            vec!["Skipped", "Remediating", "Remediated"]
        );
        let metrics = h.metrics.render();
        assert!(
            metrics.contains(&format!(
                r#"edgeheal_healer_guard_refusals_total{{code="{code}",outcome="skipped"}} 1"#
            )),
            "{metrics}"
        );
    }
    // A StatefulSet that rolls every pod is restarted.
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    h.workload_kind = "statefulset";
    let mut engine = h.recovered_engine().await;
    h.ingest(&["shop/cart"; 3], "memory_leak", Some("cart-0"))
        .await;
    engine.process_pending().await.unwrap();
    let executed = h.cluster.executed.lock().unwrap().clone();
    assert_eq!(executed.len(), 1, "{executed:?}");
    assert_eq!(executed[0].1, Plan::Restart);
}

#[tokio::test]
async fn the_workload_found_is_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = FakeCluster {
        found_as: Some(WorkloadKind::Rollout),
        ..FakeCluster::still_rolling()
    };
    let mut h = Harness::new(dir.path(), "enforce", "", cluster);
    let engine = h.engine_after_three_anomalies().await;
    let incidents = h.incidents().await;
    assert_eq!(incidents[0].state, "verifying");
    assert_eq!(incidents[0].workload_kind, "deployment");
    assert_eq!(incidents[0].found_kind.as_deref(), Some("rollout"));
    let (_, _, actions) = h.history(incidents[0].id).await;
    assert_eq!(actions[0].target, "shop/rollout/cart");
    // The heal API restarts while the Rollout is still rolling out: the recovered incident
    // asks the Rollout, not the Deployment its records named, and its Events go to the
    // Rollout's uid.
    drop(engine);
    let mut engine = h.recovered_engine().await;
    h.cluster.rollout_checks.lock().unwrap().clear();
    h.clock.advance_secs(15);
    engine.tick().await.unwrap();
    h.cluster
        .rolling
        .store(false, std::sync::atomic::Ordering::SeqCst);
    h.clock.advance_secs(15);
    engine.tick().await.unwrap();
    h.clock.advance_secs(121);
    engine.tick().await.unwrap();
    let incidents = h.incidents().await;
    assert_eq!(incidents[0].state, "resolved");
    let (_, decisions, _) = h.history(incidents[0].id).await;
    assert!(
        decisions
            .iter()
            .any(|d| d.reason == "rolled out; verifying from now"),
        "{decisions:?}"
    );
    let checks = h.cluster.rollout_checks.lock().unwrap().clone();
    assert!(!checks.is_empty());
    assert!(
        checks.iter().all(|t| t == "shop/rollout/cart"),
        "{checks:?}"
    );
    let events = h.events().await;
    assert_eq!(
        events.last(),
        Some(&(
            "shop/rollout/cart".to_string(),
            Some("uid-cart".to_string()),
            "Remediated"
        ))
    );
}

#[tokio::test]
async fn interrupted_action_is_never_repeated_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    let _engine = h.engine_after_three_anomalies().await;
    // Simulate a crash after the intent was committed but before the result was: put the
    // action back to pending and the incident back to acting.
    h.crash_mid_action().await;
    let mut engine = h.recovered_engine().await;
    engine.process_pending().await.unwrap();
    let id = h.incidents().await[0].id;
    let (inc, decisions, actions) = h.history(id).await;
    assert_eq!(inc.state, "verifying");
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].result, "interrupted");
    assert_eq!(
        actions[0].detail.as_deref(),
        Some("healer stopped during the call; outcome unknown; not repeated")
    );
    assert!(decisions.iter().any(|d| d.outcome == "interrupted"
        && d.reason == "action interrupted by a restart; verifying instead of repeating it"));
    assert_eq!(
        h.cluster.executed.lock().unwrap().len(),
        1,
        "the interrupted action was not re-run"
    );
}

/// The heal API stopped after an action's result was written but before its incident moved
/// on: the restart moves it on (verifying from when the action finished, or failed) instead
/// of leaving it `acting` for good.
#[tokio::test]
async fn an_action_finished_before_a_crash_moves_its_incident_on() {
    for fail in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let cluster = FakeCluster {
            fail_execute: fail,
            ..FakeCluster::default()
        };
        let mut h = Harness::new(dir.path(), "enforce", "", cluster);
        let engine = h.engine_after_three_anomalies().await;
        drop(engine);
        h.store
            .write(|tx| {
                tx.execute(
                    "UPDATE incidents SET state = 'acting', closed_at = NULL",
                    [],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        h.clock.advance_secs(30);
        let mut engine = h.recovered_engine().await;
        let id = h.incidents().await[0].id;
        let (inc, decisions, actions) = h.history(id).await;
        assert_eq!(actions.len(), 1);
        if fail {
            assert_eq!(inc.state, "failed");
            assert!(inc.closed_at.is_some());
            assert!(decisions.iter().any(
                |d| d.outcome == "failed" && d.reason.ends_with("(recorded before a restart)")
            ));
            continue;
        }
        assert_eq!(inc.state, "verifying");
        assert!(decisions.iter().any(|d| d.outcome == "verifying"
            && d.reason == "the action had finished before a restart; verifying from when it did"));
        // The window runs from when the action finished: 120 s after it, not after the
        // restart.
        h.clock.advance_secs(91);
        engine.tick().await.unwrap();
        assert_eq!(h.history(id).await.0.state, "resolved");
        assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    }
}

/// A dry-run action recovered after a restart into enforce mode changed nothing to roll
/// out: it is not waited for, its incident superseded (see
/// `an_incident_whose_action_an_earlier_mode_only_recorded_is_superseded`) without a look at
/// the workload's rollout status.
#[tokio::test]
async fn a_dry_run_action_is_not_waited_for_after_a_restart_into_enforce() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "dry-run", "", FakeCluster::still_rolling());
    let engine = h.engine_after_three_anomalies().await;
    assert_eq!(h.incidents().await[0].state, "verifying");
    drop(engine);
    h.cfg = Arc::new(edgeheal_healer::config::Config {
        mode: edgeheal_healer::Mode::Enforce,
        ..(*h.cfg).clone()
    });
    let mut engine = h.recovered_engine().await;
    h.clock.advance_secs(60);
    engine.tick().await.unwrap();
    h.clock.advance_secs(61);
    engine.tick().await.unwrap();
    assert_eq!(h.incidents().await[0].state, "superseded");
    assert!(h.cluster.rollout_checks.lock().unwrap().is_empty());
}

#[tokio::test]
async fn failures_open_the_breaker_and_refusals_escalate() {
    let dir = tempfile::tempdir().unwrap();
    let failing = FakeCluster {
        fail_execute: true,
        ..Default::default()
    };
    let mut h = Harness::new(
        dir.path(),
        "enforce",
        "budget: { max_actions: 50, breaker_failures: 2 }\n",
        failing,
    );
    let mut engine = h.recovered_engine().await;
    h.ingest(
        &[
            "shop/a", "shop/b", "shop/c", "shop/a", "shop/b", "shop/c", "shop/a", "shop/b",
            "shop/c",
        ],
        "cpu_saturation",
        None,
    )
    .await;
    engine.process_pending().await.unwrap();
    let inc = h.incidents().await;
    let failed = inc.iter().filter(|i| i.state == "failed").count();
    let refused = inc
        .iter()
        .filter(|i| {
            i.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("circuit_open"))
        })
        .count();
    assert_eq!((failed, refused), (2, 1), "{inc:?}");
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 2);
    // The open breaker is counted by its code (an alert rule reads it).
    let metrics = h.metrics.render();
    assert!(
        metrics.contains(
            r#"edgeheal_healer_guard_refusals_total{code="circuit_open",outcome="refused"} 1"#
        ),
        "{metrics}"
    );

    let dir2 = tempfile::tempdir().unwrap();
    // Found as a Rollout without the opt-in label: refused, and the incident shows the kind
    // it was found as, as an acted-on one does.
    let unlabelled = FakeCluster {
        labels_missing: true,
        found_as: Some(WorkloadKind::Rollout),
        ..Default::default()
    };
    let mut h2 = Harness::new(dir2.path(), "enforce", "", unlabelled);
    let mut engine2 = h2.engine();
    engine2.recover().await.unwrap();
    h2.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    engine2.process_pending().await.unwrap();
    let inc = h2.incidents().await;
    assert_eq!(inc[0].state, "escalated");
    assert!(inc[0]
        .reason
        .as_deref()
        .unwrap()
        .starts_with("not_opted_in"));
    assert_eq!(inc[0].found_kind.as_deref(), Some("rollout"));
    assert!(h2.cluster.executed.lock().unwrap().is_empty());
}

#[tokio::test]
async fn shadow_mode_records_without_any_cluster_and_other_namespaces_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "shadow", "", FakeCluster::default());
    let mut engine = h.recovered_engine().await;
    h.ingest(&["shop/cart"; 3], "crash_loop", Some("cart-1"))
        .await;
    h.ingest(&["kube-system/coredns"; 3], "cpu_saturation", None)
        .await;
    engine.process_pending().await.unwrap();
    let inc = h.incidents().await;
    let shop = inc.iter().find(|i| i.entity == "shop/cart").unwrap();
    assert_eq!(shop.state, "verifying");
    let id = shop.id;
    let (_, _, actions) = h.history(id).await;
    assert_eq!(actions[0].result, "shadow");
    assert_eq!(actions[0].action, "rollback");
    let ks = inc
        .iter()
        .find(|i| i.entity == "kube-system/coredns")
        .unwrap();
    assert_eq!(ks.state, "escalated");
    assert!(ks
        .reason
        .as_deref()
        .unwrap()
        .starts_with("namespace_not_allowed"));
    assert!(h.cluster.executed.lock().unwrap().is_empty());
    assert!(h.events().await.is_empty());
}

/// The first step regards the pod the records that open the incident name: the newest one
/// in its debounce window when the record that fills it names none (a workload's metric
/// among a pod's events), also when a restart came between and the window was read back
/// from the store. Before, the incident had no pod, and `delete_pod` (after a rollback
/// with no revision to go back to is skipped) had none to evict.
#[tokio::test]
async fn the_first_step_regards_the_pod_its_window_names() {
    for restart in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
        let mut engine = h.recovered_engine().await;
        h.ingest(&["shop/cart"], "crash_loop", Some("cart-6")).await;
        h.ingest(&["shop/cart"], "crash_loop", Some("cart-7")).await;
        engine.process_pending().await.unwrap();
        if restart {
            drop(engine);
            engine = h.recovered_engine().await;
        }
        h.clock.advance_secs(5);
        h.ingest(&["shop/cart"], "crash_loop", None).await;
        engine.process_pending().await.unwrap();
        let inc = h.incidents().await;
        assert_eq!(inc.len(), 1, "restart {restart}: {inc:?}");
        assert_eq!(inc[0].pod.as_deref(), Some("cart-7"), "restart {restart}");
        let plans = h.plans();
        assert!(
            matches!(&plans[..], [Plan::DeletePod { name, .. }] if name == "cart-7"),
            "restart {restart}: {plans:?}"
        );
    }
}

#[tokio::test]
async fn dry_run_passes_the_flag_and_skips_what_does_not_apply() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "dry-run", "", FakeCluster::default());
    let mut engine = h.recovered_engine().await;
    // crash_loop: [rollback, delete_pod]; the fake has no rollout history, so rollback is
    // skipped and the owned pod is deleted (dry run).
    h.ingest(&["shop/cart"; 3], "crash_loop", Some("cart-7f-x"))
        .await;
    engine.process_pending().await.unwrap();
    let ex = h.cluster.executed.lock().unwrap().clone();
    assert_eq!(ex.len(), 1);
    assert!(matches!(&ex[0].1, Plan::DeletePod { name, .. } if name == "cart-7f-x"));
    assert!(ex[0].2, "dry-run flag passed to the cluster");
    let id = h.incidents().await[0].id;
    let (_, decisions, actions) = h.history(id).await;
    assert_eq!(decisions[0].outcome, "skipped");
    assert_eq!(actions[0].result, "dry_run");
}

#[tokio::test]
async fn records_of_the_batch_that_triggered_the_action_are_not_a_recurrence() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    let mut engine = h.recovered_engine().await;
    // One pipeline flush carrying many anomalous records: they all predate the action.
    h.ingest(&["shop/cart"; 12], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    let inc = h.incidents().await;
    assert_eq!(inc.len(), 1);
    assert_eq!(
        inc[0].state, "verifying",
        "no escalation from stale records"
    );
    assert_eq!(inc[0].record_count, 12);
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    // Records received after the action do recur.
    h.clock.advance_secs(15);
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn an_escalated_incident_absorbs_its_records_instead_of_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    let mut engine = h.recovered_engine().await;
    // No policy for error_burst: the incident escalates at once.
    h.ingest(&["shop/cart"; 9], "error_burst", None).await;
    engine.process_pending().await.unwrap();
    for _ in 0..3 {
        h.clock.advance_secs(60);
        h.ingest(&["shop/cart"; 3], "error_burst", None).await;
        engine.process_pending().await.unwrap();
    }
    let inc = h.incidents().await;
    assert_eq!(inc.len(), 1, "{inc:?}");
    assert_eq!(inc[0].state, "escalated");
    assert_eq!(inc[0].record_count, 18);
    // After the cooldown a persisting anomaly opens a new incident.
    h.clock.advance_secs(600);
    h.ingest(&["shop/cart"; 3], "error_burst", None).await;
    engine.process_pending().await.unwrap();
    assert_eq!(h.incidents().await.len(), 2);
}

#[tokio::test]
async fn records_within_the_settle_time_are_not_a_recurrence() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "enforce", "");
    let mut yaml_cfg = (*cfg).clone();
    yaml_cfg.engine.settle_secs = 45;
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    h.cfg = Arc::new(yaml_cfg);
    let mut engine = h.engine_after_three_anomalies().await;
    // New pods are still starting: what arrives within 45 s is not held against the action.
    for _ in 0..3 {
        h.clock.advance_secs(15);
        h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
        engine.process_pending().await.unwrap();
    }
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    h.clock.advance_secs(15);
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    assert_eq!(
        h.cluster.executed.lock().unwrap().len(),
        2,
        "after the settle time the anomaly recurs"
    );
}

#[tokio::test]
async fn anomalies_already_old_when_they_arrive_are_kept_but_never_acted_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    let mut engine = h.recovered_engine().await;
    let stale_total = |h: &Harness| {
        h.metrics
            .render()
            .lines()
            .find_map(|l| l.strip_prefix("edgeheal_healer_engine_stale_anomalies_total "))
            .map(|v| v.parse::<u64>().unwrap())
    };
    // A retry backlog delivered when the heal API is back, and Kubernetes events of a crash
    // loop 40 minutes ago replayed by an input that restarted: stored, never acted on.
    let t = h.clock.now();
    h.ingest_at(
        &["shop/cart"; 12],
        "cpu_saturation",
        t - SignedDuration::from_secs(301),
    )
    .await;
    h.ingest_stamped(
        &["shop/cart"; 6],
        "crash_loop",
        Some("cart-7d9f8b6c5-x2x4z"),
        Some("restarts"),
        t - SignedDuration::from_mins(40),
    )
    .await;
    engine.process_pending().await.unwrap();
    assert!(h.incidents().await.is_empty());
    assert_eq!(h.action_count().await, 0);
    assert!(h.cluster.executed.lock().unwrap().is_empty());
    assert_eq!(stale_total(&h), Some(18));
    let kept: i64 = h
        .store
        .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(kept, 18, "the history keeps them");
    // Up to engine.max_record_age_secs old (default 300 s) is evidence.
    h.ingest_at(
        &["shop/cart"; 3],
        "cpu_saturation",
        t - SignedDuration::from_secs(300),
    )
    .await;
    engine.process_pending().await.unwrap();
    let inc = h.incidents().await;
    assert_eq!(inc.len(), 1);
    assert_eq!(inc[0].record_count, 3, "the stale records were not counted");
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    assert_eq!(stale_total(&h), Some(18));
}

#[tokio::test]
async fn records_made_before_the_action_are_not_a_recurrence_however_late_they_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    let mut engine = h.engine_after_three_anomalies().await;
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    let acted = h.clock.now();
    // The pipeline was slow: what the pods reported just before the scale-up arrives later.
    for _ in 0..3 {
        h.clock.advance_secs(15);
        h.ingest_at(
            &["shop/cart"; 3],
            "cpu_saturation",
            acted - SignedDuration::from_secs(2),
        )
        .await;
        engine.process_pending().await.unwrap();
    }
    assert_eq!(h.incidents().await[0].state, "verifying");
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    // Made after the action, they are.
    h.ingest_at(
        &["shop/cart"; 3],
        "cpu_saturation",
        acted + SignedDuration::from_secs(1),
    )
    .await;
    engine.process_pending().await.unwrap();
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 2);
}

/// The same late records, arriving after the incident resolved (a verify window of 120 s,
/// shorter than `engine.max_record_age_secs`' 300 s, so they are not stale yet): they say
/// nothing the resolved incident did not know, and open no new incident, which would meet the
/// cooldown and page a human (or, past it, act again on what the action already answered).
#[tokio::test]
async fn records_made_before_the_action_open_nothing_after_it_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    let mut engine = h.engine_after_three_anomalies().await;
    let acted = h.clock.now();
    h.clock.advance_secs(130);
    engine.tick().await.unwrap();
    assert_eq!(h.incidents().await[0].state, "resolved");
    h.ingest_at(
        &["shop/cart"; 3],
        "cpu_saturation",
        acted - SignedDuration::from_secs(2),
    )
    .await;
    engine.process_pending().await.unwrap();
    let incidents = h.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    // Made after the action, they open one.
    h.ingest_at(
        &["shop/cart"; 3],
        "cpu_saturation",
        acted + SignedDuration::from_secs(100),
    )
    .await;
    engine.process_pending().await.unwrap();
    assert_eq!(h.incidents().await.len(), 2);
}

/// The same across a restart: the recovery reads when the closed incident's evidence began to
/// count from its action, and what the pods reported before stays answered.
#[tokio::test]
async fn records_made_before_the_action_open_nothing_after_it_resolved_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    let acted = {
        let mut engine = h.engine_after_three_anomalies().await;
        let acted = h.clock.now();
        h.clock.advance_secs(130);
        engine.tick().await.unwrap();
        acted
    };
    assert_eq!(h.incidents().await[0].state, "resolved");
    h.clock.advance_secs(10);
    let mut engine = h.recovered_engine().await;
    h.ingest_at(
        &["shop/cart"; 3],
        "cpu_saturation",
        acted - SignedDuration::from_secs(2),
    )
    .await;
    engine.process_pending().await.unwrap();
    let incidents = h.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    // Once they would be stale anyway, nothing is kept for the key.
    h.clock.advance_secs(300);
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    assert_eq!(h.incidents().await.len(), 2);
}

#[tokio::test]
async fn records_made_before_the_action_are_no_recurrence_after_a_restart_either() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    {
        let mut engine = h.engine_after_three_anomalies().await;
        // Rolled out at the first look: evidence counts from when the action finished.
        engine.tick().await.unwrap();
    }
    let acted = h.clock.now();
    let (_, _, actions) = h.history(h.incidents().await[0].id).await;
    assert!(actions[0].finished_at.is_some());
    assert_eq!(actions[0].verify_from, actions[0].finished_at);
    // The heal API restarts; then the pipeline delivers what it held.
    h.clock.advance_secs(90);
    let mut engine = h.recovered_engine().await;
    h.ingest_at(
        &["shop/cart"; 3],
        "cpu_saturation",
        acted - SignedDuration::from_secs(5),
    )
    .await;
    engine.process_pending().await.unwrap();
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    h.clock.advance_secs(5);
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 2, "a recurrence");
}

/// Where the workload had to roll the action out, evidence counts from when it was seen to
/// have: what its old pods made while it rolled is no recurrence after a restart either, and
/// the rollout seen over is not asked again.
#[tokio::test]
async fn records_made_while_the_action_rolled_out_are_no_recurrence_after_a_restart_either() {
    use std::sync::atomic::Ordering::SeqCst;
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::still_rolling());
    {
        let mut engine = h.engine_after_three_anomalies().await;
        h.clock.advance_secs(15);
        engine.tick().await.unwrap();
        h.cluster.rolling.store(false, SeqCst);
        h.clock.advance_secs(15);
        engine.tick().await.unwrap();
    }
    let rolled_out = h.clock.now();
    let id = h.incidents().await[0].id;
    let (_, _, actions) = h.history(id).await;
    assert_eq!(
        actions[0].verify_from.as_deref(),
        Some(rolled_out.to_string().as_str())
    );
    // The heal API restarts; then the pipeline delivers what the old pods made while the
    // action rolled out.
    h.clock.advance_secs(30);
    let mut engine = h.recovered_engine().await;
    h.cluster.rollout_checks.lock().unwrap().clear();
    h.ingest_at(
        &["shop/cart"; 3],
        "cpu_saturation",
        rolled_out - SignedDuration::from_secs(10),
    )
    .await;
    engine.process_pending().await.unwrap();
    engine.tick().await.unwrap();
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    assert!(h.cluster.rollout_checks.lock().unwrap().is_empty());
    // What the new pods make still is.
    h.clock.advance_secs(5);
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 2, "a recurrence");
}

/// A heal API down for longer than a verify window asks the rollout before judging: one still
/// rolling is verified as it stands over a fresh window, not resolved on the spot.
#[tokio::test]
async fn a_rollout_not_seen_for_a_whole_window_is_asked_before_it_is_judged() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::still_rolling());
    {
        let _engine = h.engine_after_three_anomalies().await;
    }
    h.clock.advance_secs(200);
    let mut engine = h.recovered_engine().await;
    engine.tick().await.unwrap();
    assert_eq!(h.cluster.rollout_checks.lock().unwrap().len(), 1);
    assert_eq!(h.incidents().await[0].state, "verifying");
    h.clock.advance_secs(5);
    engine.tick().await.unwrap();
    let id = h.incidents().await[0].id;
    let (inc, decisions, _) = h.history(id).await;
    assert_eq!(inc.state, "verifying");
    assert!(
        decisions
            .iter()
            .any(|d| d.reason == "still rolling out after a verify window; verifying as it stands"),
        "{decisions:?}"
    );
    h.clock.advance_secs(121);
    engine.tick().await.unwrap();
    assert_eq!(h.incidents().await[0].state, "resolved");
}

/// A rollout whose status cannot be read (here the API server refuses it) is verified as it
/// stands once a whole window has passed, and the decision says why: not "still rolling".
#[tokio::test]
async fn a_rollout_status_that_cannot_be_read_is_said_so_when_verified_as_it_stands() {
    use std::sync::atomic::Ordering::SeqCst;
    let dir = tempfile::tempdir().unwrap();
    let cluster = FakeCluster::default();
    cluster.fail_rollout_status.store(true, SeqCst);
    let mut h = Harness::new(dir.path(), "enforce", "", cluster);
    let mut engine = h.engine_after_three_anomalies().await;
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    for _ in 0..9 {
        h.clock.advance_secs(15);
        engine.tick().await.unwrap();
    }
    let checks = h.cluster.rollout_checks.lock().unwrap().len();
    assert!(checks >= 2, "{checks} checks");
    let id = h.incidents().await[0].id;
    let (inc, decisions, _) = h.history(id).await;
    assert_eq!(inc.state, "verifying");
    let want = "rollout status unknown for a verify window \
                (API error 403 Forbidden: cannot get deployments); verifying as it stands";
    assert!(decisions.iter().any(|d| d.reason == want), "{decisions:?}");
    // A quiet window after that resolves it.
    h.clock.advance_secs(121);
    engine.tick().await.unwrap();
    assert_eq!(h.incidents().await[0].state, "resolved");

    // Answered "still rolling" for most of the window and refused at its end: still rolling,
    // with the last check's failure, not "unknown".
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::still_rolling());
    let mut engine = h.engine_after_three_anomalies().await;
    for i in 0..9 {
        if i == 6 {
            h.cluster.fail_rollout_status.store(true, SeqCst);
        }
        h.clock.advance_secs(15);
        engine.tick().await.unwrap();
    }
    let id = h.incidents().await[0].id;
    let (_, decisions, _) = h.history(id).await;
    let want = "still rolling out after a verify window (the last check failed: \
                API error 403 Forbidden: cannot get deployments); verifying as it stands";
    assert!(decisions.iter().any(|d| d.reason == want), "{decisions:?}");
}

/// A cycle that fails part-way (here the store refuses the write that counts a record onto
/// the incident) is followed by a reload of the incidents from the store: the incident the
/// failed cycle had in hand is still verified and resolved, not left `verifying` for ever.
#[tokio::test]
async fn after_a_failed_cycle_the_incidents_are_reloaded_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    let mut engine = h.engine_after_three_anomalies().await;
    assert_eq!(h.incidents().await[0].state, "verifying");
    h.refuse_writes("UPDATE OF record_count ON incidents").await;
    h.clock.advance_secs(5);
    h.ingest(&["shop/cart"], "cpu_saturation", None).await;
    let err = engine.process_pending().await.unwrap_err();
    assert!(err.to_string().contains("the disk is full"), "{err}");
    h.accept_writes().await;
    h.clock.advance_secs(5);
    engine.process_pending().await.unwrap();
    engine.tick().await.unwrap();
    h.clock.advance_secs(121);
    engine.tick().await.unwrap();
    let incidents = h.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0].state, "resolved");
    assert_eq!(
        incidents[0].record_count, 4,
        "the record counted once, after the reload"
    );
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1, "acted once");
}

/// A cycle that fails between an action's call and the write of its result, or between that
/// write and its incident's next step, is followed by a reload that moves the incident on as
/// after a restart; but the heal API did not stop, so its history says the cycle failed, not
/// that it restarted (the call may well have completed).
#[tokio::test]
async fn the_reload_after_a_failed_cycle_says_the_cycle_failed_not_a_restart() {
    // (refused write, the call fails, the incident's state after the reload, the decision
    // the reload adds, how its reason ends)
    let cases = [
        (
            "UPDATE OF result ON actions",
            false,
            "verifying",
            "interrupted",
            "action interrupted by a failed cycle; verifying instead of repeating it",
        ),
        (
            "UPDATE OF state ON incidents WHEN NEW.state = 'verifying'",
            false,
            "verifying",
            "verifying",
            "the action had finished before a failed cycle; verifying from when it did",
        ),
        (
            "UPDATE OF state ON incidents WHEN NEW.state = 'failed'",
            true,
            "failed",
            "failed",
            " (recorded before a failed cycle)",
        ),
    ];
    for (refused, fail, state, outcome, reason) in cases {
        let dir = tempfile::tempdir().unwrap();
        let cluster = FakeCluster {
            fail_execute: fail,
            ..FakeCluster::default()
        };
        let mut h = Harness::new(dir.path(), "enforce", "", cluster);
        let mut engine = h.recovered_engine().await;
        h.refuse_writes(refused).await;
        h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
        let err = engine.process_pending().await.unwrap_err();
        assert!(
            err.to_string().contains("the disk is full"),
            "{refused}: {err}"
        );
        assert_eq!(h.incidents().await[0].state, "acting", "{refused}");
        h.accept_writes().await;
        h.clock.advance_secs(5);
        engine.process_pending().await.unwrap();
        // The batch's records are not observed again after the reload: the one incident.
        let incidents = h.incidents().await;
        assert_eq!(incidents.len(), 1, "{refused}: {incidents:?}");
        let (inc, decisions, actions) = h.history(incidents[0].id).await;
        assert_eq!(inc.state, state, "{refused}");
        let added = decisions.last().unwrap();
        assert_eq!(added.outcome, outcome, "{refused}");
        assert!(
            added.reason.ends_with(reason),
            "{refused}: {}",
            added.reason
        );
        assert_eq!(actions.len(), 1, "{refused}");
        if outcome == "interrupted" {
            assert_eq!(actions[0].result, "interrupted");
            assert_eq!(
                actions[0].detail.as_deref(),
                Some(
                    "the heal API's cycle failed during the call (a store write was refused); \
                     outcome unknown; not repeated"
                )
            );
        }
        let texts = decisions
            .iter()
            .map(|d| d.reason.as_str())
            .chain(actions.iter().filter_map(|a| a.detail.as_deref()));
        for text in texts {
            assert!(
                !text.contains("restart") && !text.contains("stopped"),
                "{refused}: {text}"
            );
        }
        assert_eq!(
            h.cluster.executed.lock().unwrap().len(),
            1,
            "{refused}: acted once"
        );
    }
}

/// A batch interrupted part-way, by a failed cycle or a restart, was observed again from its
/// first record: every record counted before the interruption was counted onto its incident
/// a second time, whether the incident was verifying (deduped) or closed and still holding
/// its key's records (escalated). Here the store refuses the write that marks the batch
/// processed, every record counted, or the count of its third record.
#[tokio::test]
async fn a_batch_processed_again_counts_each_record_once() {
    let refusals = [
        "UPDATE OF processed ON batches",
        "UPDATE OF record_count ON incidents WHEN NEW.record_count > 5",
    ];
    for kind in ["cpu_saturation", "error_burst"] {
        for refused in refusals {
            for by in [Interruption::FailedCycle, Interruption::Restart] {
                let case = format!("{kind}, {refused}, {by:?}");
                let dir = tempfile::tempdir().unwrap();
                let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
                let mut engine = h.recovered_engine().await;
                // Scaled up and verifying (cpu_saturation), or escalated at once for want of
                // a policy and holding its key's records (error_burst).
                h.ingest(&["shop/cart"; 3], kind, None).await;
                engine.process_pending().await.unwrap();
                // Four more, received as the action finished: no recurrence.
                h.ingest(&["shop/cart"; 4], kind, None).await;
                drop(h.interrupted(engine, refused, by).await);
                let inc = h.incidents().await;
                assert_eq!(inc.len(), 1, "{case}: {inc:?}");
                assert_eq!(inc[0].record_count, 7, "{case}");
                assert_eq!(
                    h.cluster.executed.lock().unwrap().len(),
                    usize::from(kind == "cpu_saturation"),
                    "{case}"
                );
            }
        }
    }
}

/// A batch whose records opened an incident that ended at once (its action failed, or it
/// escalated for want of a policy), interrupted as that incident closed: observed again, the
/// records that had opened it were weighed a second time and, the incident's cooldown hold
/// not rebuilt by the reload, the batch's records opened a second incident after it.
#[tokio::test]
async fn a_batch_processed_again_opens_no_second_incident_after_one_that_ended() {
    let cases = [
        ("cpu_saturation", true, "failed"),
        ("error_burst", false, "escalated"),
    ];
    for (kind, fail, state) in cases {
        for by in [Interruption::FailedCycle, Interruption::Restart] {
            let case = format!("{kind}, {by:?}");
            let dir = tempfile::tempdir().unwrap();
            let cluster = FakeCluster {
                fail_execute: fail,
                ..FakeCluster::default()
            };
            let mut h = Harness::new(dir.path(), "enforce", "", cluster);
            let engine = h.recovered_engine().await;
            h.ingest(&["shop/cart"; 6], kind, None).await;
            let refused = format!("UPDATE OF state ON incidents WHEN NEW.state = '{state}'");
            drop(h.interrupted(engine, &refused, by).await);
            let inc = h.incidents().await;
            assert_eq!(inc.len(), 1, "{case}: {inc:?}");
            assert_eq!(inc[0].state, state, "{case}");
            assert_eq!(inc[0].record_count, 6, "{case}");
            assert_eq!(
                h.cluster.executed.lock().unwrap().len(),
                usize::from(fail),
                "{case}: acted once"
            );
        }
    }
}

/// A recurrence that a failed cycle interrupted escalates as it would have without the
/// failure, its records counted once: the recurrences counted before the failure are still
/// evidence after the reload (the store refused the second's count), and the escalation that
/// the third decided is carried out after it, also after a restart (the store refused the
/// next action's intent).
#[tokio::test]
async fn a_recurrence_interrupted_part_way_escalates_once() {
    let cases = [
        (
            "UPDATE OF record_count ON incidents WHEN NEW.record_count > 4",
            Interruption::FailedCycle,
        ),
        ("INSERT ON actions", Interruption::FailedCycle),
        ("INSERT ON actions", Interruption::Restart),
    ];
    for (refused, by) in cases {
        let case = format!("{refused}, {by:?}");
        let dir = tempfile::tempdir().unwrap();
        let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
        let engine = h.engine_after_three_anomalies().await;
        h.clock.advance_secs(30);
        h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
        drop(h.interrupted(engine, refused, by).await);
        let inc = h.incidents().await;
        assert_eq!(inc.len(), 1, "{case}: {inc:?}");
        assert_eq!(inc[0].record_count, 6, "{case}");
        assert_eq!(
            (inc[0].state.as_str(), inc[0].step),
            ("verifying", 1),
            "{case}"
        );
        let plans: Vec<Plan> = h
            .cluster
            .executed
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.1.clone())
            .collect();
        assert_eq!(plans.len(), 2, "{case}: {plans:?}");
        assert_eq!(plans[1], Plan::Restart, "{case}");
        let outcomes = h.outcomes(inc[0].id).await;
        let recurred = outcomes.iter().filter(|o| *o == "recurred").count();
        assert_eq!(recurred, 1, "{case}: {outcomes:?}");
    }
}

/// Strain ends a resolved surge's hold before its time (the workload struggles: a new
/// incident, not the surge absorbed). A restart does not bring the hold back: the records
/// that follow count towards a new incident, as they would have without the restart.
#[tokio::test]
async fn a_surge_hold_that_strain_ended_stays_ended_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    let mut engine = h.recovered_engine().await;
    let surge = "traffic_surge";
    h.ingest_family(&["shop/cart"; 3], surge, None, Some("traffic"))
        .await;
    engine.process_pending().await.unwrap();
    h.clock.advance_secs(121);
    engine.tick().await.unwrap();
    assert_eq!(h.incidents().await[0].state, "resolved");
    h.clock.advance_secs(60);
    h.ingest_family(&["shop/cart"], surge, None, Some("latency"))
        .await;
    engine.process_pending().await.unwrap();
    drop(engine);
    let mut engine = h.recovered_engine().await;
    h.ingest_family(&["shop/cart"; 3], surge, None, Some("traffic"))
        .await;
    engine.process_pending().await.unwrap();
    let inc = h.incidents().await;
    assert_eq!(inc.len(), 2, "{inc:?}");
    assert_eq!(
        (inc[1].state.as_str(), inc[1].record_count),
        ("resolved", 3),
        "the resolved one absorbed none of them"
    );
    // The strain record that ended the hold is the first entry of the new incident's window,
    // rebuilt after the restart as memory had it: the first two of them open it, and the third
    // is counted onto it.
    assert_eq!(
        inc[0].record_count, 4,
        "a new one opened on the strain record and them"
    );
}

/// With one incident, shop/cart's, holding `cart_records` records after an interruption
/// `by`: shop/web's window held two records, so its next one opens its incident, on three.
async fn the_next_web_record_opens_its_incident(
    h: &mut Harness,
    engine: &mut Engine,
    by: Interruption,
    cart_records: i64,
) {
    let inc = h.incidents().await;
    assert_eq!(inc.len(), 1, "{by:?}: {inc:?}");
    assert_eq!(inc[0].record_count, cart_records, "{by:?}");
    h.clock.advance_secs(5);
    h.ingest(&["shop/web"], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    let inc = h.incidents().await;
    assert_eq!(inc.len(), 2, "{by:?}: {inc:?}");
    let web = inc.iter().find(|i| i.entity == "shop/web").unwrap();
    assert_eq!(web.record_count, 3, "{by:?}");
}

/// Records that only added to a debounce window before a failed cycle (too few to open an
/// incident of their own) were weighed again after it, the window kept: counted twice, they
/// opened an incident on too little evidence. After a restart, the window is rebuilt from the
/// evidence stored with the batch's cursor, and the records past the cursor are weighed again,
/// once. Either way the next record opens the incident.
#[tokio::test]
async fn debounce_evidence_is_not_counted_twice_after_a_failed_cycle() {
    for by in [Interruption::FailedCycle, Interruption::Restart] {
        let dir = tempfile::tempdir().unwrap();
        let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
        let engine = h.engine_after_three_anomalies().await;
        // Two records of another workload, one short of the debounce count, then one onto the
        // incident, whose count the store refuses.
        h.ingest(
            &["shop/web", "shop/web", "shop/cart"],
            "cpu_saturation",
            None,
        )
        .await;
        let mut engine = h
            .interrupted(engine, "UPDATE OF record_count ON incidents", by)
            .await;
        the_next_web_record_opens_its_incident(&mut h, &mut engine, by, 4).await;
    }
}

/// A restart forgot the debounce windows: a fault whose records straddled it opened its
/// incident only once it had filled a window again after the restart, up to
/// `engine.debounce_window_secs` late. The windows are rebuilt from the store: the incident
/// opens at the record it would have opened at without the restart, on the same count.
#[tokio::test]
async fn a_fault_that_straddles_a_restart_opens_its_incident_at_the_same_record() {
    for restart in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
        let mut engine = h.recovered_engine().await;
        // Two records of the fault, 10 s apart: one short of the count (3 within 60 s).
        for _ in 0..2 {
            h.ingest(&["shop/cart"], "cpu_saturation", None).await;
            engine.process_pending().await.unwrap();
            h.clock.advance_secs(10);
        }
        if restart {
            drop(engine);
            engine = h.recovered_engine().await;
        }
        assert!(h.incidents().await.is_empty(), "restart {restart}");
        h.ingest(&["shop/cart"], "cpu_saturation", None).await;
        engine.process_pending().await.unwrap();
        let inc = h.incidents().await;
        assert_eq!(inc.len(), 1, "restart {restart}: {inc:?}");
        assert_eq!(inc[0].record_count, 3, "restart {restart}");
        assert_eq!(inc[0].state, "verifying", "restart {restart}");
        assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    }
}

/// The recurrences counted against a verifying incident were forgotten by a restart as the
/// windows were: a fault that went on after the action escalated only once it had recurred
/// a full count again after the restart. They are rebuilt with the windows.
#[tokio::test]
async fn a_recurrence_that_straddles_a_restart_escalates_at_the_same_record() {
    for restart in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
        let mut engine = h.engine_after_three_anomalies().await;
        h.clock.advance_secs(30);
        h.ingest(&["shop/cart"; 2], "cpu_saturation", None).await;
        engine.process_pending().await.unwrap();
        h.clock.advance_secs(10);
        if restart {
            drop(engine);
            engine = h.recovered_engine().await;
        }
        assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
        h.ingest(&["shop/cart"], "cpu_saturation", None).await;
        engine.process_pending().await.unwrap();
        let plans: Vec<Plan> = h
            .cluster
            .executed
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.1.clone())
            .collect();
        assert_eq!(plans.len(), 2, "restart {restart}: {plans:?}");
        assert_eq!(plans[1], Plan::Restart, "restart {restart}");
        let inc = h.incidents().await;
        assert_eq!(inc.len(), 1, "restart {restart}: {inc:?}");
        assert_eq!(
            (inc[0].step, inc[0].record_count),
            (1, 6),
            "restart {restart}"
        );
    }
}

/// A Deployment whose newest rollout came a minute before the incidents open (a `rollback`
/// applies), running pod `cart-1`.
fn a_recent_rollout_running_cart_1() -> FakeCluster {
    FakeCluster {
        pods: Mutex::new(Some(vec!["cart-1"])),
        rollout: Some(RolloutFacts {
            current_since: jiff::Timestamp::from_second(T0 - 60).unwrap(),
            current_revision: 2,
            previous: Some(("cart-6d4f".into(), 1)),
        }),
        ..FakeCluster::default()
    }
}

/// `crash_loop: [rollback, delete_pod]`: records of pod `cart-1` open an incident, whose first
/// step rolls `shop/cart` back; the rollback replaces the pods by `pods`. 30 s later.
async fn rolled_back(h: &mut Harness, pods: Vec<&'static str>) -> Engine {
    let mut engine = h.recovered_engine().await;
    h.ingest(&["shop/cart"; 3], "crash_loop", Some("cart-1"))
        .await;
    engine.process_pending().await.unwrap();
    let plans = h.plans();
    assert!(matches!(&plans[..], [Plan::Rollback { .. }]), "{plans:?}");
    *h.cluster.pods.lock().unwrap() = Some(pods);
    h.clock.advance_secs(30);
    engine
}

/// The second step of a policy acts on the pod the recurrences that escalated to it name, not
/// on the one that opened the incident: after a rollback (or a restart) that one is gone.
/// Before, `delete_pod` still named `cart-1`, was skipped (`pod_gone`) and the incident
/// escalated to a human, so the second step of the shipped `crash_loop` and `memory_leak`
/// policies never did anything while `cart-2` crash-looped.
#[tokio::test]
async fn the_next_step_evicts_the_pod_the_recurrences_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", a_recent_rollout_running_cart_1());
    let mut engine = rolled_back(&mut h, vec!["cart-2"]).await;
    h.ingest(&["shop/cart"; 3], "crash_loop", Some("cart-2"))
        .await;
    engine.process_pending().await.unwrap();
    let plans = h.plans();
    assert!(
        matches!(&plans[..], [Plan::Rollback { .. }, Plan::DeletePod { name, .. }] if name == "cart-2"),
        "{plans:?}"
    );
    let inc = h.incidents().await;
    assert_eq!(
        (inc[0].state.as_str(), inc[0].step, inc[0].pod.as_deref()),
        ("verifying", 1, Some("cart-2"))
    );
    let (_, decisions, actions) = h.history(inc[0].id).await;
    let recurred = decisions.iter().find(|d| d.outcome == "recurred").unwrap();
    assert!(
        recurred.reason.contains("pod cart-2"),
        "{}",
        recurred.reason
    );
    assert_eq!(actions[1].action, "delete_pod");
}

/// The same with a restart between the recurrence that escalated the incident and its next
/// step (the heal API stopped while it inspected the target): the pod is stored with the
/// escalation, and the next start acts on it. Before, the store kept `cart-1`.
#[tokio::test]
async fn the_pod_the_recurrences_name_is_acted_on_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (stop, _stopped) = tokio::sync::watch::channel(false);
    let cluster = FakeCluster {
        stop_on_facts: Some(stop),
        ..a_recent_rollout_running_cart_1()
    };
    let mut h = Harness::new(dir.path(), "enforce", "", cluster);
    let mut engine = rolled_back(&mut h, vec!["cart-2"]).await;
    h.cluster.inspection_cut_by_the_stop.store(true, SeqCst);
    h.ingest(&["shop/cart"; 3], "crash_loop", Some("cart-2"))
        .await;
    engine.process_pending().await.unwrap();
    drop(engine);
    let inc = h.incidents().await;
    assert_eq!((inc[0].state.as_str(), inc[0].step), ("open", 1));
    assert_eq!(h.plans().len(), 1);

    h.cluster.inspection_cut_by_the_stop.store(false, SeqCst);
    let mut engine = h.recovered_engine().await;
    engine.process_pending().await.unwrap();
    let plans = h.plans();
    assert!(
        matches!(&plans[..], [Plan::Rollback { .. }, Plan::DeletePod { name, .. }] if name == "cart-2"),
        "{plans:?}"
    );
    assert_eq!(h.incidents().await[0].state, "verifying");
}

/// Which pod the next step regards when the recurrences that escalate to it name several, or
/// none (a workload's metric names no pod): the newest one named, and a record without a pod
/// erases none. Each case: the batches of recurrences, each `(records, pod)`, and the pod
/// evicted; with and without a restart between the batches (the recurrences' pods are
/// rebuilt from the records stored as evidence). Before, the pod that opened the incident was
/// evicted in every case.
#[tokio::test]
async fn the_next_step_regards_the_newest_pod_the_recurrences_name() {
    // Batches of `(records, the pod they name)`.
    type Batches = &'static [(usize, Option<&'static str>)];
    let cases: [(Batches, &str); 4] = [
        (&[(2, None), (1, None)], "cart-1"),
        (&[(2, Some("cart-2")), (1, None)], "cart-2"),
        (&[(1, Some("cart-2")), (2, None)], "cart-2"),
        (&[(2, Some("cart-3")), (1, Some("cart-2"))], "cart-2"),
    ];
    for (batches, evicted) in cases {
        for restart in [false, true] {
            let case = format!("{batches:?}, restart {restart}");
            let dir = tempfile::tempdir().unwrap();
            let mut h = Harness::new(dir.path(), "enforce", "", a_recent_rollout_running_cart_1());
            let mut engine = rolled_back(&mut h, vec!["cart-1", "cart-2", "cart-3"]).await;
            for (i, (records, pod)) in batches.iter().enumerate() {
                if i > 0 && restart {
                    drop(engine);
                    engine = h.recovered_engine().await;
                }
                h.ingest(&vec!["shop/cart"; *records], "crash_loop", *pod)
                    .await;
                engine.process_pending().await.unwrap();
                h.clock.advance_secs(5);
            }
            let plans = h.plans();
            assert!(
                matches!(&plans[..], [Plan::Rollback { .. }, Plan::DeletePod { name, .. }] if name == evicted),
                "{case}: {plans:?}"
            );
            assert_eq!(
                h.incidents().await[0].pod.as_deref(),
                Some(evicted),
                "{case}"
            );
        }
    }
}

/// What the windows are rebuilt from is what memory counted into them: not the records a
/// closed incident's hold absorbed, not the recurrences counted against an incident, not
/// those a rollout of another incident's action set aside. Each case: two such records
/// within the window before the restart, then two window entries, the restart, and the
/// third entry opens the incident on three records.
#[tokio::test]
async fn records_not_counted_into_a_window_are_not_counted_into_it_after_a_restart() {
    for case in ["hold", "recurrence", "rollout"] {
        let dir = tempfile::tempdir().unwrap();
        let cluster = if case == "rollout" {
            FakeCluster::still_rolling()
        } else {
            FakeCluster::default()
        };
        let mut h = Harness::new(dir.path(), "enforce", "", cluster);
        let mut engine = h.recovered_engine().await;
        let kind = match case {
            // No policy: escalated at once, it holds its key's records for the cooldown (600 s).
            "hold" => "error_burst",
            "recurrence" => "cpu_saturation",
            // Set aside while the workload rolls out a cpu_saturation incident's action.
            _ => "crash_loop",
        };
        let opening = if case == "rollout" {
            "cpu_saturation"
        } else {
            kind
        };
        h.ingest(&["shop/cart"; 3], opening, None).await;
        engine.process_pending().await.unwrap();
        match case {
            "hold" => {
                h.clock.advance_secs(590);
                h.ingest(&["shop/cart"; 2], kind, None).await;
                engine.process_pending().await.unwrap();
                h.clock.advance_secs(11); // the hold is over
            }
            "recurrence" => {
                h.clock.advance_secs(100);
                h.ingest(&["shop/cart"; 2], kind, None).await;
                engine.process_pending().await.unwrap();
                h.clock.advance_secs(21);
                engine.tick().await.unwrap(); // resolved: two recurrences are too few
            }
            _ => {
                h.clock.advance_secs(10);
                h.ingest(&["shop/cart"; 2], kind, None).await;
                engine.process_pending().await.unwrap();
                h.cluster.rolling.store(false, SeqCst);
                h.clock.advance_secs(10);
                engine.tick().await.unwrap(); // rolled out
            }
        }
        let before = h.incidents().await;
        assert_eq!(before.len(), 1, "{case}: {before:?}");
        assert_eq!(
            before[0].record_count,
            if case == "rollout" { 3 } else { 5 },
            "{case}"
        );
        h.ingest(&["shop/cart"; 2], kind, None).await;
        engine.process_pending().await.unwrap();
        drop(engine);
        let mut engine = h.recovered_engine().await;
        h.clock.advance_secs(1);
        h.ingest(&["shop/cart"], kind, None).await;
        engine.process_pending().await.unwrap();
        let inc = h.incidents().await;
        assert_eq!(inc.len(), 2, "{case}: {inc:?}");
        assert_eq!(
            (inc[0].kind.as_str(), inc[0].record_count),
            (kind, 3),
            "{case}"
        );
    }
}

/// A record the window would have let go of by the time of the restart is not rebuilt into
/// it; the one still within it is.
#[tokio::test]
async fn a_record_older_than_the_window_at_a_restart_is_not_counted() {
    for restart in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
        let mut engine = h.recovered_engine().await;
        for secs in [30, 31] {
            h.ingest(&["shop/cart"], "cpu_saturation", None).await;
            engine.process_pending().await.unwrap();
            h.clock.advance_secs(secs);
        }
        // 61 s after the first record, 31 s after the second.
        if restart {
            drop(engine);
            engine = h.recovered_engine().await;
        }
        h.ingest(&["shop/cart"], "cpu_saturation", None).await;
        engine.process_pending().await.unwrap();
        assert!(h.incidents().await.is_empty(), "restart {restart}");
        h.clock.advance_secs(1);
        h.ingest(&["shop/cart"], "cpu_saturation", None).await;
        engine.process_pending().await.unwrap();
        let inc = h.incidents().await;
        assert_eq!(inc.len(), 1, "restart {restart}: {inc:?}");
        assert_eq!(inc[0].record_count, 3, "restart {restart}");
    }
}

/// A batch that a restart (or a failed cycle) interrupted after one of its window entries
/// was stored with the cursor and before another was: the first is rebuilt, the second
/// observed again, each counted once. Before, the restart forgot the first.
#[tokio::test]
async fn a_window_entry_before_the_cursor_of_an_interrupted_batch_is_kept_across_a_restart() {
    for by in [Interruption::FailedCycle, Interruption::Restart] {
        let dir = tempfile::tempdir().unwrap();
        let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
        let engine = h.engine_after_three_anomalies().await;
        // The second count onto the incident is refused: the cursor is past the first web
        // record, not the second.
        h.ingest(
            &["shop/web", "shop/cart", "shop/web", "shop/cart"],
            "cpu_saturation",
            None,
        )
        .await;
        let mut engine = h
            .interrupted(
                engine,
                "UPDATE OF record_count ON incidents WHEN NEW.record_count > 4",
                by,
            )
            .await;
        the_next_web_record_opens_its_incident(&mut h, &mut engine, by, 5).await;
    }
}

/// A decision whose change of the incident the store refused was decided again once the
/// cycle was retried (or the heal API restarted), and written a second time: an escalation
/// for want of an action, a guard's refusal, an action's failure, and a step skipped as not
/// applying (the next step's intent refused). Each is written with the change it decides, so
/// the history reads it once.
#[tokio::test]
async fn a_decision_whose_write_was_refused_is_written_once() {
    // (incident kind, entity, the call fails, refused write, the decision)
    let cases = [
        (
            "error_burst",
            "shop/cart",
            false,
            "UPDATE OF state ON incidents WHEN NEW.state = 'escalated'",
            "escalated",
        ),
        (
            "cpu_saturation",
            "kube-system/dns",
            false,
            "UPDATE OF state ON incidents WHEN NEW.state = 'escalated'",
            "refused",
        ),
        (
            "cpu_saturation",
            "shop/cart",
            true,
            "UPDATE OF state ON incidents WHEN NEW.state = 'failed'",
            "failed",
        ),
        (
            "crash_loop",
            "shop/cart",
            false,
            "INSERT ON actions",
            "skipped",
        ),
    ];
    for (kind, entity, fail, refused, outcome) in cases {
        for by in [Interruption::FailedCycle, Interruption::Restart] {
            let case = format!("{outcome}, {by:?}");
            let dir = tempfile::tempdir().unwrap();
            let cluster = FakeCluster {
                fail_execute: fail,
                ..FakeCluster::default()
            };
            let mut h = Harness::new(dir.path(), "enforce", "", cluster);
            let engine = h.recovered_engine().await;
            h.ingest(&[entity; 3], kind, Some("cart-1")).await;
            drop(h.interrupted(engine, refused, by).await);
            let inc = h.incidents().await;
            assert_eq!(inc.len(), 1, "{case}: {inc:?}");
            let outcomes = h.outcomes(inc[0].id).await;
            let n = outcomes.iter().filter(|o| *o == outcome).count();
            assert_eq!(n, 1, "{case}: {outcomes:?}");
            // Its Event, if it has one, is posted once too, and the refusal counted once.
            let reason = match outcome {
                "refused" => Some("Refused"),
                "failed" => Some("RemediationFailed"),
                "skipped" => Some("Skipped"),
                _ => None,
            };
            let events = h.event_reasons().await;
            let posted = events.iter().filter(|e| Some(**e) == reason).count();
            assert_eq!(posted, usize::from(reason.is_some()), "{case}: {events:?}");
            if outcome == "refused" {
                let metrics = h.metrics.render();
                assert!(
                    metrics.contains(
                        r#"edgeheal_healer_actions_total{action="scale_up",result="refused"} 1"#
                    ),
                    "{case}: {metrics}"
                );
            }
            if outcome == "skipped" {
                assert_eq!(inc[0].state, "verifying", "{case}");
                assert_eq!(h.cluster.executed.lock().unwrap().len(), 1, "{case}");
            }
        }
    }
}

/// A restart forgot which closed incidents were still absorbing their key's records: a
/// persisting anomaly opened a new incident right after an escalated one, within its
/// cooldown, and a traffic surge that went on opened (and scaled) again after its incident
/// resolved. The holds are read back from the store: an escalated or failed incident holds
/// its key for `engine.cooldown_secs` (600 s) from when it closed, a resolved surge from the
/// last of its rate records it absorbed.
#[tokio::test]
async fn closed_incidents_keep_absorbing_their_records_across_a_restart() {
    for kind in ["error_burst", "traffic_surge"] {
        let dir = tempfile::tempdir().unwrap();
        let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
        let mut engine = h.recovered_engine().await;
        let family = Some("traffic");
        h.ingest_family(&["shop/cart"; 3], kind, None, family).await;
        engine.process_pending().await.unwrap();
        let mut absorbed = 3;
        if kind == "traffic_surge" {
            h.clock.advance_secs(121);
            engine.tick().await.unwrap();
            assert_eq!(h.incidents().await[0].state, "resolved");
            // The surge goes on: its hold runs from the last rate record it absorbed.
            h.clock.advance_secs(500);
            h.ingest_family(&["shop/cart"; 3], kind, None, family).await;
            engine.process_pending().await.unwrap();
            absorbed += 3;
        } else {
            let inc = &h.incidents().await[0];
            assert_eq!(inc.state, "escalated");
            // The history says until when: the cooldown (600 s) from its close.
            let closed: jiff::Timestamp = inc.closed_at.as_deref().unwrap().parse().unwrap();
            assert_eq!(
                inc.holds_until.as_deref(),
                Some(
                    closed
                        .checked_add(SignedDuration::from_secs(600))
                        .unwrap()
                        .to_string()
                        .as_str()
                )
            );
        }
        drop(engine);
        let mut engine = h.recovered_engine().await;
        h.clock.advance_secs(500);
        h.ingest_family(&["shop/cart"; 3], kind, None, family).await;
        engine.process_pending().await.unwrap();
        absorbed += 3;
        let inc = h.incidents().await;
        assert_eq!(inc.len(), 1, "{kind}: {inc:?}");
        assert_eq!(inc[0].record_count, absorbed, "{kind}");
        assert!(inc[0].holds_until.is_some(), "{kind}: {inc:?}");
        // The hold is over 600 s after the escalation, or after the last rate records the
        // surge's incident absorbed (those just now): the anomaly opens a new incident.
        h.clock
            .advance_secs(if kind == "traffic_surge" { 601 } else { 101 });
        h.ingest_family(&["shop/cart"; 3], kind, None, family).await;
        engine.process_pending().await.unwrap();
        assert_eq!(h.incidents().await.len(), 2, "{kind}");
    }
}

/// A heal API restarted with an action left pending, whose store refuses the write that marks
/// it interrupted (a full disk), as the recovery at a start would meet it.
async fn crashed_mid_action_on_a_full_disk(dir: &std::path::Path) -> Harness {
    let mut h = Harness::new(dir, "enforce", "", FakeCluster::default());
    drop(h.engine_after_three_anomalies().await);
    h.crash_mid_action().await;
    h.refuse_writes("UPDATE OF result ON actions").await;
    h
}

/// The results of the actions in the store.
async fn action_results(h: &Harness) -> Vec<String> {
    let id = h.incidents().await[0].id;
    h.history(id)
        .await
        .2
        .into_iter()
        .map(|a| a.result)
        .collect()
}

/// A stop asked for while the engine acted on the first of several queued batches: it went on
/// through the queue and started an action for each batch behind it before it looked at the
/// stop, between two cycles, so the kubelet's SIGKILL could cut any of them. It now starts
/// nothing once asked to stop: the batches behind wait in the store, and the next start acts
/// on them.
/// (Real time: paused time would let the timeout pass while the store's thread works.)
#[tokio::test]
async fn a_stop_during_an_action_starts_no_further_action() {
    let dir = tempfile::tempdir().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let cluster = FakeCluster {
        stop_on_execute: Some(stop),
        ..FakeCluster::default()
    };
    let mut h = Harness::new(dir.path(), "enforce", "", cluster);
    // One batch a workload, each enough to open an incident and act on it.
    for entity in ["shop/cart", "shop/web", "shop/api"] {
        h.ingest(&[entity; 3], "cpu_saturation", None).await;
    }
    h.run_until_stopped(stopped).await;
    let acted: Vec<String> = h
        .cluster
        .executed
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.0.clone())
        .collect();
    assert_eq!(
        acted,
        ["shop/deployment/cart"],
        "actions started after the stop"
    );
    let queued = h
        .store
        .read(|c| store::unprocessed_batches(c, 10))
        .await
        .unwrap();
    assert_eq!(queued.len(), 2, "the batches behind wait in the store");
    assert!(queued.iter().all(|b| b.observed == 0), "{queued:?}");

    // The next start acts on them.
    h.cluster.executed.lock().unwrap().clear();
    let mut engine = h.recovered_engine().await;
    engine.process_pending().await.unwrap();
    let mut acted: Vec<String> = h
        .cluster
        .executed
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.0.clone())
        .collect();
    acted.sort();
    assert_eq!(acted, ["shop/deployment/api", "shop/deployment/web"]);
    assert_eq!(h.incidents().await.len(), 3);
}

/// A stop during an action's call to the Kubernetes API, whose attempt in flight failed: the
/// client tries it no more, and the engine leaves the action as a kill would, `pending` (the
/// intent was recorded before the call), not `failed`: whether the change landed is unknown.
/// The next start finds it `interrupted`, verifies it and never calls it again. Before, the
/// client went on trying (up to `retry.max_attempts` attempts of `call_timeout_secs`) past the
/// engine's stop, and an error that reached the engine failed the incident.
#[tokio::test]
async fn a_stop_during_a_retried_call_leaves_the_action_for_the_next_start_to_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let cluster = FakeCluster {
        stop_on_execute: Some(stop),
        execute_cut_by_the_stop: true,
        ..FakeCluster::default()
    };
    let mut h = Harness::new(dir.path(), "enforce", "", cluster);
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    h.run_until_stopped(stopped).await;
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    let id = h.incidents().await[0].id;
    assert_eq!(h.incidents().await[0].state, "acting");
    assert_eq!(action_results(&h).await, ["pending"]);
    let outcomes = h.outcomes(id).await;
    assert!(outcomes.iter().any(|o| o == "act"), "{outcomes:?}");
    assert!(!outcomes.iter().any(|o| o == "failed"), "{outcomes:?}");
    assert!(
        !h.event_reasons().await.contains(&"RemediationFailed"),
        "{:?}",
        h.event_reasons().await
    );

    // The next start: verified, never called again.
    let mut engine = h.recovered_engine().await;
    assert_eq!(action_results(&h).await, ["interrupted"]);
    assert_eq!(h.incidents().await[0].state, "verifying");
    engine.process_pending().await.unwrap();
    h.clock.advance_secs(121);
    engine.tick().await.unwrap();
    assert_eq!(h.incidents().await[0].state, "resolved");
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1, "acted once");
}

/// An Events API that does not answer (a brownout of the API server's Events, every post
/// hanging) holds no action back: the engine records the "Remediating" Event, scales the
/// workload and verifies it, the Events waiting in the recorder's queue. Before, the engine
/// awaited each post, the client's retries included (about 41 s under the shipped settings),
/// before the action's call, and every incident behind it waited in turn.
#[tokio::test]
async fn an_events_api_that_does_not_answer_holds_no_action_back() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = FakeCluster {
        events_hang: true,
        ..FakeCluster::default()
    };
    let mut h = Harness::new(dir.path(), "enforce", "", cluster);
    let mut engine = h.recovered_engine().await;
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    tokio::time::timeout(std::time::Duration::from_secs(30), engine.process_pending())
        .await
        .expect("the engine waited on its Events")
        .unwrap();
    assert_eq!(action_results(&h).await, ["ok"]);
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    assert_eq!(h.incidents().await[0].state, "verifying");
    assert!(h.cluster.events.lock().unwrap().is_empty());
}

/// A stop after an action was recorded, before its call was made (it came while the engine
/// wrote the action's intent): the client makes no call, so nothing was sent, and the
/// action is withdrawn: no action row nor HPA raise, the incident `open`, the history saying
/// why. The next start decides the step again and acts, once. Before, the
/// action was left `pending`: the next start found it `interrupted` and verified an action
/// that was never taken.
#[tokio::test]
async fn a_stop_before_the_call_withdraws_the_action_for_the_next_start_to_decide_again() {
    let dir = tempfile::tempdir().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let cluster = FakeCluster::with_hpa(2, 10, 2);
    *cluster.stop_before_call.lock().unwrap() = Some(stop);
    let mut h = Harness::new(dir.path(), "enforce", HOLD_600, cluster);
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    h.run_until_stopped(stopped).await;
    assert!(h.cluster.executed.lock().unwrap().is_empty());
    let id = h.incidents().await[0].id;
    assert_eq!(h.incidents().await[0].state, "open");
    assert_eq!(h.action_count().await, 0);
    assert_eq!(h.outcomes(id).await, ["act", "withdrawn"]);
    let (_, decisions, _) = h.history(id).await;
    assert!(
        decisions[1].reason.contains(
            "stopped before the call was made (scale of shop/deployment/cart: not called)"
        ),
        "{decisions:?}"
    );
    assert!(h.raises(id).await.is_empty());
    assert_eq!(h.cluster.hpa_min(), 2);

    // The next start decides the step again, and acts once.
    h.cluster.calls_stopped.store(false, SeqCst);
    let mut engine = h.recovered_engine().await;
    engine.process_pending().await.unwrap();
    assert_eq!(action_results(&h).await, ["ok"]);
    assert_eq!(h.outcomes(id).await, ["act", "withdrawn", "act"]);
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    assert_eq!(h.cluster.hpa_min(), 3);
    let states: Vec<_> = h.raises(id).await.into_iter().map(|r| r.state).collect();
    assert_eq!(states, ["raised"]);
    h.clock.advance_secs(121);
    engine.tick().await.unwrap();
    assert_eq!(h.incidents().await[0].state, "resolved");
}

/// A heal API stopped while it inspected the target of a CPU saturation of `shop/cart` (three
/// records, enforce mode), before any action was recorded: the harness and the incident, left
/// `open`.
async fn left_open_by_a_stop_during_an_inspection(dir: &std::path::Path) -> (Harness, i64) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let cluster = FakeCluster {
        stop_on_facts: Some(stop),
        inspection_cut_by_the_stop: true.into(),
        ..FakeCluster::default()
    };
    let mut h = Harness::new(dir, "enforce", "", cluster);
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    h.run_until_stopped(stopped).await;
    let id = h.incidents().await[0].id;
    assert_eq!(h.incidents().await[0].state, "open");
    (h, id)
}

/// A stop during the inspection of a target, before any action was recorded: the incident is
/// left `open`, neither refused nor escalated, and the next start decides it, once. Before, the
/// inspection's error refused the action ("cannot inspect the target") and escalated the
/// incident to a human.
#[tokio::test]
async fn a_stop_during_an_inspection_leaves_the_incident_for_the_next_start_to_decide() {
    let dir = tempfile::tempdir().unwrap();
    let (h, id) = left_open_by_a_stop_during_an_inspection(dir.path()).await;
    assert_eq!(h.action_count().await, 0);
    let outcomes = h.outcomes(id).await;
    assert!(
        !outcomes.iter().any(|o| o == "refused" || o == "escalated"),
        "{outcomes:?}"
    );

    // The next start decides it, and acts once.
    h.cluster.inspection_cut_by_the_stop.store(false, SeqCst);
    let mut engine = h.recovered_engine().await;
    engine.process_pending().await.unwrap();
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    assert_eq!(action_results(&h).await, ["ok"]);
    assert_eq!(h.incidents().await[0].state, "verifying");
    assert_eq!(h.action_count().await, 1);
}

/// The same stop, and the heal API stays down for three hours (scaled to 0, its node gone):
/// the incident left open is not acted on at the next start, its evidence being older than
/// `engine.max_record_age_secs`, as stale records open nothing. It is refused
/// (`stale_evidence`) and handed to a human. Before, the start scaled the workload at once
/// on the strength of a CPU saturation three hours old.
#[tokio::test]
async fn an_incident_left_open_is_not_acted_on_once_its_evidence_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    let (h, id) = left_open_by_a_stop_during_an_inspection(dir.path()).await;

    h.cluster.inspection_cut_by_the_stop.store(false, SeqCst);
    h.clock.advance_secs(3 * 3600);
    let mut engine = h.recovered_engine().await;
    engine.process_pending().await.unwrap();
    assert!(
        h.cluster.executed.lock().unwrap().is_empty(),
        "acted on evidence three hours old: {:?}",
        h.cluster.executed.lock().unwrap()
    );
    assert_eq!(h.action_count().await, 0);
    let inc = &h.incidents().await[0];
    assert_eq!(inc.state, "escalated");
    assert!(
        inc.reason
            .as_deref()
            .unwrap()
            .starts_with("stale_evidence: the newest evidence is 10800s old"),
        "{:?}",
        inc.reason
    );
    assert_eq!(h.outcomes(id).await.last().unwrap(), "refused");
    assert!(h
        .metrics
        .render()
        .contains(r#"code="stale_evidence",outcome="refused"} 1"#));
}

/// A recovery the store refused at the start ended the engine's task with the heal API still
/// running: not ready for ever, alive to its liveness probe, so never restarted. It is tried
/// again after a second, and the engine starts once it succeeds.
#[tokio::test(start_paused = true)]
async fn a_recovery_the_store_refuses_at_the_start_is_tried_again() {
    let dir = tempfile::tempdir().unwrap();
    let h = crashed_mid_action_on_a_full_disk(dir.path()).await;
    let cycles = Arc::new(Cycles::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let alive = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut task = tokio::spawn(h.engine().run(cycles.clone(), stopped, alive.clone()));
    // The engine's first attempt is queued on the store's writer thread now, and the writes
    // below after it: the first attempt is refused; the next, a second later, is not.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!alive.load(SeqCst), "not ready while not recovered");
    h.accept_writes().await;
    tokio::select! {
        () = cycles.run_one() => {}
        ended = &mut task => panic!("the engine stopped instead of retrying: {ended:?}"),
    }
    assert!(alive.load(SeqCst), "recovered: ready");
    assert_eq!(action_results(&h).await, vec!["interrupted"]);
    let (inc, decisions, _) = h.history(h.incidents().await[0].id).await;
    assert_eq!(inc.state, "verifying");
    assert!(
        decisions
            .iter()
            .any(|d| d.reason
                == "action interrupted by a restart; verifying instead of repeating it"),
        "{decisions:?}"
    );
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
}

/// A recovery that failed after it acted (an incident still open at the restart, decided and
/// acted on, its result refused by the store) did start the call: the next attempt reloads as
/// after a failed cycle and says so, not that the heal API stopped during the call.
#[tokio::test(start_paused = true)]
async fn a_recovery_that_failed_after_acting_is_tried_again_as_after_a_failed_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    drop(h.engine_after_three_anomalies().await);
    h.cluster.executed.lock().unwrap().clear();
    // Stopped after the incident opened, before its action was decided.
    h.store
        .write(|tx| {
            tx.execute_batch(
                "DELETE FROM actions; DELETE FROM decisions WHERE outcome = 'act';
                 UPDATE incidents SET state = 'open', verify_until = NULL, reason = NULL;",
            )?;
            Ok(())
        })
        .await
        .unwrap();
    h.refuse_writes("UPDATE OF result ON actions").await;
    let cycles = Arc::new(Cycles::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let alive = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut task = tokio::spawn(h.engine().run(cycles.clone(), stopped, alive.clone()));
    // Once the call is made, the write of its result is queued on the store's writer thread
    // (nothing in between yields), and the writes below after it.
    while h.cluster.executed.lock().unwrap().is_empty() {
        assert!(!task.is_finished(), "the engine stopped");
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    h.accept_writes().await;
    tokio::select! {
        () = cycles.run_one() => {}
        ended = &mut task => panic!("the engine stopped instead of retrying: {ended:?}"),
    }
    assert!(alive.load(SeqCst));
    let (inc, decisions, actions) = h.history(h.incidents().await[0].id).await;
    assert_eq!(inc.state, "verifying");
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].result, "interrupted");
    assert_eq!(
        actions[0].detail.as_deref(),
        Some(
            "the heal API's cycle failed during the call (a store write was refused); \
             outcome unknown; not repeated"
        )
    );
    assert!(
        decisions.iter().any(|d| d.reason
            == "action interrupted by a failed cycle; verifying instead of repeating it"),
        "{decisions:?}"
    );
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1, "acted once");
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
}

/// A store that keeps refusing: the engine gives up after its attempts, about four minutes of
/// waits, and says why ([`edgeheal_healer::runtime::run`] then stops the heal API). A shutdown
/// meanwhile stops it without an error.
#[tokio::test(start_paused = true)]
async fn a_recovery_the_store_keeps_refusing_is_given_up_after_its_attempts() {
    use edgeheal_healer::engine::{RECOVERY_ATTEMPTS, RECOVERY_RETRY_FIRST, RECOVERY_RETRY_MAX};
    let dir = tempfile::tempdir().unwrap();
    let h = crashed_mid_action_on_a_full_disk(dir.path()).await;
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let alive = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = tokio::time::Instant::now();
    let err = h
        .engine()
        .run(Arc::default(), stopped, alive.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("the disk is full"), "{err}");
    let waited: std::time::Duration = (1..RECOVERY_ATTEMPTS)
        .map(|n| (RECOVERY_RETRY_FIRST * 2u32.pow(n - 1)).min(RECOVERY_RETRY_MAX))
        .sum();
    assert_eq!(waited.as_secs(), 243);
    assert!(
        started.elapsed() >= waited,
        "gave up after {:?}",
        started.elapsed()
    );
    assert!(!alive.load(SeqCst));
    assert_eq!(action_results(&h).await, vec!["pending"]);
    // Shut down while retrying: stopped, no error.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(h.engine().run(Arc::default(), stopped, alive.clone()));
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
    assert_eq!(action_results(&h).await, vec!["pending"]);
}

/// The heal API whose engine stopped for good stops too, with an error, so that its process
/// exits and Kubernetes restarts the pod; before, it went on serving, `/readyz` 503 and
/// `/healthz` ok, out of its Service for ever.
#[test]
fn a_heal_api_whose_engine_cannot_recover_stops_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let rt = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
    };
    let db = rt().block_on(async {
        let h = crashed_mid_action_on_a_full_disk(dir.path()).await;
        h.cfg.store.path.clone()
    });
    let keys = dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(keys.join("fluent-bit"), "fb-secret-0123456789abcdef").unwrap();
    let config = Config::from_yaml(&format!(
        "mode: shadow\nlisten: 127.0.0.1:0\nstore: {{ path: {} }}\nauth: {{ keys_dir: {} }}\n\
         guards: {{ namespaces: [shop] }}\n",
        db.display(),
        keys.display()
    ))
    .unwrap();
    let (done, ended) = std::sync::mpsc::channel();
    // On a runtime of its own, its clock paused (the retries' waits pass at once), so that a
    // heal API that does not stop fails the test instead of hanging it.
    std::thread::spawn(move || {
        let clock = Arc::new(ManualClock::new(jiff::Timestamp::from_second(T0).unwrap()));
        let ran = rt().block_on(edgeheal_healer::runtime::run(
            config,
            clock,
            std::future::pending(),
        ));
        let _ = done.send(ran.map_err(|e| e.to_string()));
    });
    let ran = ended
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the heal API stopped");
    let err = ran.unwrap_err();
    assert!(err.starts_with("engine stopped: "), "{err}");
    assert!(err.contains("the disk is full"), "{err}");
}

/// A node whose clock is off is judged by its own clock: its batches are signed by it too.
#[tokio::test]
async fn a_sender_clock_off_by_minutes_neither_hides_a_recurrence_nor_freshens_a_backlog() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    h.sender_behind_ms = 110_000;
    let mut engine = h.engine_after_three_anomalies().await;
    assert_eq!(h.cluster.executed.lock().unwrap().len(), 1);
    // The fault persists: a record every 15 s, stamped 110 s behind our clock.
    for _ in 0..4 {
        h.clock.advance_secs(15);
        h.ingest(&["shop/cart"], "cpu_saturation", None).await;
        engine.process_pending().await.unwrap();
    }
    assert_eq!(
        h.cluster.executed.lock().unwrap().len(),
        2,
        "escalated within the 120 s verify window"
    );

    // A sender 200 s ahead delivers records made 400 s ago: its stamps say
    // 200 s, its signature says how far ahead it is.
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    h.sender_behind_ms = -200_000;
    let mut engine = h.recovered_engine().await;
    let made = h.clock.now() - SignedDuration::from_secs(400 - 200);
    h.ingest_at(&["shop/cart"; 3], "cpu_saturation", made).await;
    engine.process_pending().await.unwrap();
    assert!(h.incidents().await.is_empty());
}

#[tokio::test]
async fn a_batch_weighed_long_after_it_arrived_is_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    // Committed and answered, then the heal API went down for an hour.
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    h.clock.advance_secs(3600);
    let mut engine = h.recovered_engine().await;
    engine.process_pending().await.unwrap();
    assert!(h.incidents().await.is_empty());
    assert_eq!(h.action_count().await, 0);
}

/// A record stamped after the batch that carried it was signed (an application that writes
/// local time as UTC east of Greenwich, a clock hours ahead) was made no later than it arrived:
/// a batch of them weighed an hour after it arrived is history, as any other is. Before, its
/// age came out negative, so it was never stale and opened an incident and an action an hour
/// late.
#[tokio::test]
async fn a_record_stamped_after_it_arrived_is_no_fresher_than_its_arrival() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    let ahead = h.clock.now() + SignedDuration::from_hours(9);
    h.ingest_at(&["shop/cart"; 3], "cpu_saturation", ahead)
        .await;
    h.clock.advance_secs(3600);
    let mut engine = h.recovered_engine().await;
    engine.process_pending().await.unwrap();
    assert!(h.incidents().await.is_empty());
    assert_eq!(h.action_count().await, 0);
    // Weighed as they arrive, the same records are fresh.
    h.ingest_at(&["shop/cart"; 3], "cpu_saturation", ahead)
        .await;
    engine.process_pending().await.unwrap();
    assert_eq!(h.action_count().await, 1);
}

/// Guards with a 600 s hold before a raised HPA minimum is given back.
const HOLD_600: &str = "guards: { namespaces: [shop], hpa_restore_after_secs: 600 }\n";
const HOLD_3600: &str = "guards: { namespaces: [shop], hpa_restore_after_secs: 3600 }\n";

/// A harness in `mode` with `guards` whose shop/cart runs 2 replicas under an HPA 2..=10.
fn hpa_harness(dir: &std::path::Path, mode: &str, guards: &str) -> Harness {
    Harness::new(dir, mode, guards, FakeCluster::with_hpa(2, 10, 2))
}

/// [`hpa_harness`], its engine, and the id of a resolved scale-up incident that raised the
/// HPA's minimum.
async fn hpa_raised(dir: &std::path::Path, mode: &str, guards: &str) -> (Harness, Engine, i64) {
    let mut h = hpa_harness(dir, mode, guards);
    let mut engine = h.recovered_engine().await;
    let id = scale_up_and_resolve(&mut h, &mut engine).await;
    (h, engine, id)
}

/// Opens a cpu_saturation incident on shop/cart (a scale-up), lets it resolve, and returns its
/// id.
async fn scale_up_and_resolve(h: &mut Harness, engine: &mut Engine) -> i64 {
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    h.clock.advance_secs(121);
    engine.tick().await.unwrap();
    let inc = h.incidents().await;
    assert_eq!(inc[0].state, "resolved", "{inc:?}");
    inc[0].id
}

#[tokio::test]
async fn a_raised_hpa_minimum_is_given_back_after_the_hold_and_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let (h, mut engine, id) = hpa_raised(dir.path(), "enforce", HOLD_600).await;
    assert_eq!(
        h.cluster.executed.lock().unwrap()[0].1,
        Plan::RaiseHpaMin {
            hpa: "cart-hpa".into(),
            replicas: 2,
            from: 2,
            to: 3
        }
    );
    assert_eq!(h.cluster.hpa_min(), 3);
    assert_eq!(h.raises(id).await[0].state, "raised");
    // Not before the hold has passed since the incident closed.
    h.clock.advance_secs(599);
    engine.tick().await.unwrap();
    assert!(h.cluster.restores().is_empty());
    assert_eq!(h.cluster.hpa_min(), 3);
    h.clock.advance_secs(1);
    engine.tick().await.unwrap();
    assert_eq!(
        h.cluster.restores(),
        vec![(
            Plan::RestoreHpaMin {
                hpa: "cart-hpa".into(),
                from: 3,
                to: 2
            },
            false
        )]
    );
    assert_eq!(h.cluster.hpa_min(), 2);
    let raise = &h.raises(id).await[0];
    assert_eq!(raise.state, "restored");
    assert!(
        raise.detail.as_deref().unwrap().contains("back to 2"),
        "{raise:?}"
    );
    assert!(h.outcomes(id).await.contains(&"restored".to_string()));
    assert_eq!(h.event_reasons().await.last(), Some(&"Restored"));
    let metrics = h.metrics.render();
    assert!(
        metrics.contains(r#"action="restore_hpa_min",result="ok"} 1"#),
        "{metrics}"
    );
    // One restore per raise.
    for _ in 0..3 {
        h.clock.advance_secs(3600);
        engine.tick().await.unwrap();
    }
    assert_eq!(h.cluster.restores().len(), 1);
}

#[tokio::test]
async fn a_restore_waits_until_no_incident_on_the_workload_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, mut engine, _) = hpa_raised(dir.path(), "enforce", HOLD_600).await;
    // A crash loop on the same workload opens 500 s later (rollback does not apply, the pod
    // is deleted) and is verifying when the scale-up's hold is over.
    h.clock.advance_secs(500);
    h.ingest(&["shop/cart"; 3], "crash_loop", Some("cart-1"))
        .await;
    engine.process_pending().await.unwrap();
    h.clock.advance_secs(100);
    engine.tick().await.unwrap();
    assert!(h.cluster.restores().is_empty(), "an incident is open");
    // It resolves at +621 s; the hold counts from then.
    h.clock.advance_secs(21);
    engine.tick().await.unwrap();
    assert!(h.incidents().await.iter().all(|i| i.state == "resolved"));
    h.clock.advance_secs(599);
    engine.tick().await.unwrap();
    assert!(
        h.cluster.restores().is_empty(),
        "the hold counts from the last close"
    );
    h.clock.advance_secs(1);
    engine.tick().await.unwrap();
    assert_eq!(h.cluster.restores().len(), 1);
    assert_eq!(h.cluster.hpa_min(), 2);
}

#[tokio::test]
async fn a_minimum_someone_else_changed_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (h, mut engine, id) = hpa_raised(dir.path(), "enforce", HOLD_600).await;
    // An SRE keeps a higher floor.
    h.cluster.set_hpa_min(5);
    h.clock.advance_secs(600);
    engine.tick().await.unwrap();
    assert_eq!(h.cluster.hpa_min(), 5, "left as the SRE set it");
    let raise = &h.raises(id).await[0];
    assert_eq!(raise.state, "skipped");
    assert!(
        raise
            .detail
            .as_deref()
            .unwrap()
            .contains("minReplicas is 5"),
        "{raise:?}"
    );
    assert!(h
        .outcomes(id)
        .await
        .contains(&"restore_skipped".to_string()));
    assert_eq!(h.event_reasons().await.last(), Some(&"RestoreSkipped"));
    assert!(h
        .metrics
        .render()
        .contains(r#"action="restore_hpa_min",result="skipped"} 1"#));
    // Not tried again.
    h.clock.advance_secs(3600);
    engine.tick().await.unwrap();
    assert_eq!(h.cluster.restores().len(), 1);
}

#[tokio::test]
async fn a_dry_run_raise_gets_a_dry_run_restore() {
    let dir = tempfile::tempdir().unwrap();
    let (h, mut engine, id) = hpa_raised(dir.path(), "dry-run", HOLD_600).await;
    let raise = h.cluster.executed.lock().unwrap()[0].clone();
    assert!(matches!(raise.1, Plan::RaiseHpaMin { from: 2, to: 3, .. }));
    assert!(raise.2, "raised with dryRun=All");
    assert_eq!(h.cluster.hpa_min(), 2, "a dry run changes nothing");
    h.clock.advance_secs(600);
    engine.tick().await.unwrap();
    // The raise left minReplicas at 2: the restore's precondition is 2, sent as a dry run.
    assert_eq!(
        h.cluster.restores(),
        vec![(
            Plan::RestoreHpaMin {
                hpa: "cart-hpa".into(),
                from: 2,
                to: 2
            },
            true
        )]
    );
    assert_eq!(h.cluster.hpa_min(), 2);
    assert_eq!(h.raises(id).await[0].state, "dry_run");
    assert!(h
        .outcomes(id)
        .await
        .contains(&"restore_dry_run".to_string()));
    assert!(h
        .metrics
        .render()
        .contains(r#"action="restore_hpa_min",result="dry_run"} 1"#));
}

#[tokio::test]
async fn a_second_raise_before_the_restore_gives_back_the_original_minimum() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, mut engine, first) = hpa_raised(dir.path(), "enforce", HOLD_3600).await;
    assert_eq!(h.cluster.hpa_min(), 3);
    // Past the cooldown, inside the hold: load returns and the HPA runs 3 replicas.
    h.clock.advance_secs(600);
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    assert_eq!(
        h.cluster.executed.lock().unwrap()[1].1,
        Plan::RaiseHpaMin {
            hpa: "cart-hpa".into(),
            replicas: 3,
            from: 3,
            to: 4
        }
    );
    h.clock.advance_secs(121);
    engine.tick().await.unwrap();
    let second = h.incidents().await[0].id;
    assert_ne!(first, second);
    assert_eq!(h.raises(first).await[0].state, "superseded");
    h.clock.advance_secs(3600);
    engine.tick().await.unwrap();
    // One restore, straight back to the minimum before edgeheal's first raise.
    assert_eq!(
        h.cluster.restores(),
        vec![(
            Plan::RestoreHpaMin {
                hpa: "cart-hpa".into(),
                from: 4,
                to: 2
            },
            false
        )]
    );
    assert_eq!(h.cluster.hpa_min(), 2);
    assert_eq!(h.raises(second).await[0].state, "restored");
    assert_eq!(h.raises(first).await[0].state, "superseded");
    assert!(h
        .outcomes(first)
        .await
        .contains(&"restore_superseded".to_string()));
}

#[tokio::test]
async fn a_failed_restore_is_tried_again_after_a_backoff() {
    use std::sync::atomic::Ordering::SeqCst;
    let dir = tempfile::tempdir().unwrap();
    let (h, mut engine, id) = hpa_raised(dir.path(), "enforce", HOLD_600).await;
    h.cluster.fail_restore.store(true, SeqCst);
    h.clock.advance_secs(600);
    engine.tick().await.unwrap();
    let raise = &h.raises(id).await[0];
    assert_eq!((raise.state.as_str(), raise.attempts), ("raised", 1));
    assert!(
        raise
            .detail
            .as_deref()
            .unwrap()
            .contains("next attempt in 30s"),
        "{raise:?}"
    );
    assert_eq!(h.event_reasons().await.last(), Some(&"RestoreFailed"));
    // Not again before the backoff.
    h.clock.advance_secs(29);
    engine.tick().await.unwrap();
    assert_eq!(h.cluster.restores().len(), 1);
    h.clock.advance_secs(1);
    engine.tick().await.unwrap();
    assert_eq!(h.cluster.restores().len(), 2);
    assert_eq!(h.raises(id).await[0].attempts, 2);
    // The backoff doubles; then the API server answers again.
    h.cluster.fail_restore.store(false, SeqCst);
    h.clock.advance_secs(59);
    engine.tick().await.unwrap();
    assert_eq!(h.cluster.restores().len(), 2);
    h.clock.advance_secs(1);
    engine.tick().await.unwrap();
    assert_eq!(h.cluster.restores().len(), 3);
    assert_eq!(h.cluster.hpa_min(), 2);
    assert_eq!(h.raises(id).await[0].state, "restored");
    let outcomes = h.outcomes(id).await;
    assert_eq!(
        outcomes.iter().filter(|o| *o == "restore_failed").count(),
        2,
        "{outcomes:?}"
    );
    assert!(h
        .metrics
        .render()
        .contains(r#"action="restore_hpa_min",result="failed"} 2"#));
}

#[tokio::test]
async fn a_raise_interrupted_by_a_crash_is_given_back_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = hpa_harness(dir.path(), "enforce", HOLD_600);
    {
        let _engine = h.engine_after_three_anomalies().await;
    }
    assert_eq!(h.cluster.hpa_min(), 3);
    // The raise landed but the healer died before recording its result.
    h.crash_mid_action().await;
    h.store
        .write(|tx| {
            tx.execute("UPDATE hpa_floor_raises SET state = 'raising'", [])?;
            Ok(())
        })
        .await
        .unwrap();
    // "Restart": a brand-new store handle and engine on the same database file.
    let (clock, cluster) = (h.clock.clone(), h.cluster.clone());
    drop(h);
    let mut h = Harness::new(dir.path(), "enforce", HOLD_600, FakeCluster::default());
    h.clock = clock;
    h.cluster = cluster;
    h.sig = 1000;
    let mut engine = h.recovered_engine().await;
    let id = h.incidents().await[0].id;
    assert_eq!(
        h.raises(id).await[0].state,
        "raising",
        "unknown until read back"
    );
    // Verifying instead of repeating the action; the tick reads the HPA back (3: the raise
    // landed) and the incident resolves after a quiet window.
    h.clock.advance_secs(121);
    engine.tick().await.unwrap();
    assert_eq!(h.raises(id).await[0].state, "raised");
    assert_eq!(h.incidents().await[0].state, "resolved");
    h.clock.advance_secs(600);
    engine.tick().await.unwrap();
    assert_eq!(
        h.cluster.restores(),
        vec![(
            Plan::RestoreHpaMin {
                hpa: "cart-hpa".into(),
                from: 3,
                to: 2
            },
            false
        )]
    );
    assert_eq!(h.cluster.hpa_min(), 2);
    let raises_executed = h.cluster.raises_sent();
    assert_eq!(raises_executed, 1, "the raise was not repeated");
}

#[tokio::test]
async fn a_restore_hold_of_zero_never_restores() {
    let dir = tempfile::tempdir().unwrap();
    let (h, mut engine, id) = hpa_raised(
        dir.path(),
        "enforce",
        "guards: { namespaces: [shop], hpa_restore_after_secs: 0 }\n",
    )
    .await;
    h.clock.advance_secs(86_400 * 30);
    engine.tick().await.unwrap();
    assert!(h.cluster.restores().is_empty());
    assert_eq!(h.cluster.hpa_min(), 3);
    assert_eq!(
        h.raises(id).await[0].state,
        "raised",
        "recorded all the same"
    );
}

/// An HPA raise (2 -> 3, enforce, a 600 s hold) that landed, its answer lost and the HPA not
/// readable: the harness (its reads still failing, answers still lost), the engine and the
/// incident, whose raise is `raising`.
async fn a_raise_whose_answer_is_lost(dir: &std::path::Path) -> (Harness, Engine, i64) {
    let mut h = hpa_harness(dir, "enforce", HOLD_600);
    h.cluster.lose_raise_answers.store(true, SeqCst);
    h.cluster.fail_reads.store(true, SeqCst);
    let engine = h.engine_after_three_anomalies().await;
    assert_eq!(h.cluster.hpa_min(), 3, "the raise landed");
    let id = h.incidents().await[0].id;
    assert_eq!(h.raises(id).await[0].state, "raising");
    (h, engine, id)
}

/// The raise landed but its answer was lost (a timeout after the API server applied it): the
/// action failed, yet the HPA's minimum is edgeheal's. The next tick reads the HPA back, the
/// raise takes the floor and is given back after the hold. Before, a failed raise was
/// `not_raised` and the minimum stayed up for good. While the read fails the raise waits.
#[tokio::test]
async fn a_raise_whose_answer_was_lost_is_read_back_and_given_back() {
    let dir = tempfile::tempdir().unwrap();
    let (h, mut engine, id) = a_raise_whose_answer_is_lost(dir.path()).await;
    engine.tick().await.unwrap();
    assert_eq!(h.raises(id).await[0].state, "raising", "the read failed");
    h.cluster.fail_reads.store(false, SeqCst);
    h.cluster.lose_raise_answers.store(false, SeqCst);
    engine.tick().await.unwrap();
    let raise = &h.raises(id).await[0];
    assert_eq!(raise.state, "raised", "{raise:?}");
    assert!(
        raise.detail.as_deref().unwrap().contains("landed"),
        "{raise:?}"
    );
    // Whatever became of the incident, once it is closed and the hold has passed the
    // minimum goes back.
    for _ in 0..6 {
        h.clock.advance_secs(600);
        engine.tick().await.unwrap();
    }
    assert!(h.incidents().await.iter().all(|i| i.closed_at.is_some()));
    assert_eq!(h.cluster.hpa_min(), 2);
    assert_eq!(h.raises(id).await[0].state, "restored");
}

/// An earlier raise (2 -> 3) holds the floor; a second incident's raise times out without
/// landing. Read back, the minimum is still 3: the second raise is `not_raised` and the first
/// keeps its restore to 2. Taking the floor blindly left the minimum at 3 for good.
#[tokio::test]
async fn a_raise_that_timed_out_without_landing_leaves_the_earlier_raise_its_restore() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, mut engine, first) = hpa_raised(dir.path(), "enforce", HOLD_3600).await;
    assert_eq!(h.cluster.hpa_min(), 3);
    h.cluster.drop_raises.store(true, SeqCst);
    h.clock.advance_secs(700);
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    let second = h.incidents().await[0].id;
    assert_ne!(first, second);
    assert_eq!(h.raises(second).await[0].state, "raising");
    engine.tick().await.unwrap();
    let r2 = &h.raises(second).await[0];
    assert_eq!(r2.state, "not_raised", "{r2:?}");
    assert_eq!(h.raises(first).await[0].state, "raised");
    h.cluster.drop_raises.store(false, SeqCst);
    for _ in 0..3 {
        h.clock.advance_secs(3600);
        engine.tick().await.unwrap();
    }
    assert_eq!(h.cluster.hpa_min(), 2, "{:?}", h.cluster.restores());
    assert_eq!(h.raises(first).await[0].state, "restored");
}

/// A raise whose answer was lost (it landed, 2 -> 3) cannot be read back while the API server
/// refuses the HPA's `get`; past the cooldown the load returns. No raise of that HPA is
/// planned on top of it: the scale-up is refused (`hpa_raise_unsettled`) and handed to a
/// human. Before, the second incident raised 3 -> 4, and once the reads came back the first
/// raise was taken for someone else's change (`not_raised`) and the second gave back only
/// the 3 it found: the HPA kept a floor of 3 that edgeheal had set, for good.
#[tokio::test]
async fn no_raise_is_planned_on_top_of_one_whose_outcome_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, mut engine, first) = a_raise_whose_answer_is_lost(dir.path()).await;
    h.cluster.lose_raise_answers.store(false, SeqCst);
    // Past the cooldown and the failed incident's hold; the HPA still cannot be read back.
    h.clock.advance_secs(700);
    engine.tick().await.unwrap();
    assert_eq!(h.raises(first).await[0].state, "raising");
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    let raises_sent = h.cluster.raises_sent();
    // Whatever became of the second incident, once the reads come back and the holds have
    // passed the minimum goes back to the 2 edgeheal found.
    h.cluster.fail_reads.store(false, SeqCst);
    for _ in 0..6 {
        h.clock.advance_secs(600);
        engine.tick().await.unwrap();
    }
    assert!(h.incidents().await.iter().all(|i| i.closed_at.is_some()));
    assert_eq!(
        h.cluster.hpa_min(),
        2,
        "the floor edgeheal raised is given back: {:?}",
        h.cluster.restores()
    );
    assert_eq!(raises_sent, 1, "no raise on top of an unsettled one");
    let second = h.incidents().await[0].clone();
    assert_ne!(second.id, first);
    assert_eq!(second.state, "escalated");
    assert!(
        second
            .reason
            .as_deref()
            .unwrap()
            .starts_with("hpa_raise_unsettled"),
        "{:?}",
        second.reason
    );
    assert_eq!(h.raises(first).await[0].state, "restored");
    assert!(h.raises(second.id).await.is_empty());
}

/// In dry-run mode a raise writes nothing and takes over only a dry-run raise's restore: an
/// enforced raise whose outcome is unknown (from before a switch to dry-run) does not refuse
/// it, and is still given back once it can be read back and the mode is enforce again.
#[tokio::test]
async fn a_dry_run_raise_is_recorded_beside_an_unsettled_enforced_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = hpa_harness(dir.path(), "enforce", HOLD_600);
    h.cluster.lose_raise_answers.store(true, SeqCst);
    h.cluster.fail_reads.store(true, SeqCst);
    let first = {
        let _engine = h.engine_after_three_anomalies().await;
        h.incidents().await[0].id
    };
    h.cluster.lose_raise_answers.store(false, SeqCst);
    assert_eq!(h.raises(first).await[0].state, "raising");
    let enforce = h.cfg.clone();
    h.cfg = Arc::new(edgeheal_healer::config::Config {
        mode: edgeheal_healer::Mode::DryRun,
        ..(*enforce).clone()
    });
    let mut engine = h.recovered_engine().await;
    h.clock.advance_secs(700);
    h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
    engine.process_pending().await.unwrap();
    let second = h.incidents().await[0].clone();
    assert_ne!(second.id, first);
    assert_eq!(second.state, "verifying", "{:?}", second.reason);
    let raises = h.raises(second.id).await;
    assert_eq!(
        (raises[0].mode.as_str(), raises[0].state.as_str()),
        ("dry-run", "raised")
    );
    assert_eq!(h.cluster.hpa_min(), 3, "a dry run wrote nothing");
    // Back in enforce mode with the reads answered: the enforced raise is given back.
    drop(engine);
    h.cfg = enforce;
    h.cluster.fail_reads.store(false, SeqCst);
    let mut engine = h.recovered_engine().await;
    for _ in 0..6 {
        h.clock.advance_secs(600);
        engine.tick().await.unwrap();
    }
    assert_eq!(h.raises(first).await[0].state, "restored");
    assert_eq!(h.cluster.hpa_min(), 2);
}

/// A traffic surge goes on after its incident resolved: its records are absorbed by the
/// surge hold. The floor is given back only a full hold after the last of them, not a hold
/// after the incident closed.
#[tokio::test]
async fn a_restore_waits_for_the_hold_after_the_last_absorbed_anomaly() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = hpa_harness(dir.path(), "enforce", HOLD_600);
    let mut engine = h.recovered_engine().await;
    h.ingest_family(&["shop/cart"; 3], "traffic_surge", None, Some("traffic"))
        .await;
    engine.process_pending().await.unwrap();
    h.clock.advance_secs(121);
    engine.tick().await.unwrap();
    let inc = h.incidents().await;
    assert_eq!(inc[0].state, "resolved", "{inc:?}");
    let id = inc[0].id;
    // The surge goes on: absorbed 500 s after the close, no new incident.
    h.clock.advance_secs(500);
    h.ingest_family(&["shop/cart"], "traffic_surge", None, Some("traffic"))
        .await;
    engine.process_pending().await.unwrap();
    assert_eq!(h.incidents().await.len(), 1, "absorbed");
    h.clock.advance_secs(100);
    engine.tick().await.unwrap();
    assert!(
        h.cluster.restores().is_empty(),
        "600 s after the close, 100 s after the surge's last record"
    );
    h.clock.advance_secs(500);
    engine.tick().await.unwrap();
    assert_eq!(h.cluster.restores().len(), 1);
    assert_eq!(h.raises(id).await[0].state, "restored");
}

/// The soft-heal hook's secret, in `dir/hook-key` ([`soft_heal_harness`]).
const HOOK_SECRET: &[u8] = b"soft-heal-secret-0123456789";

/// The hook's URL as a workload names it: the Service `hook.shop.svc`, on the hook's port.
fn hook_url(hook: &Hook) -> String {
    format!("http://hook.shop.svc:{}/heal", hook.addr.port())
}

/// The engine's client for `hook`, `hook.shop.svc` reached at its loopback address, stopping
/// on `stop` if given.
fn hook_client(
    h: &Harness,
    hook: &Hook,
    stop: Option<tokio::sync::watch::Receiver<bool>>,
) -> SoftHealer {
    let client = SoftHealer::with_hosts(
        h.cfg.soft_heal.as_ref().unwrap(),
        &[("hook.shop.svc", hook.addr)],
    )
    .unwrap();
    match stop {
        Some(stop) => client.stopping_on(stop),
        None => client,
    }
}

/// A harness in `mode` whose workloads name `hook` in their soft-heal annotation, and whose
/// policy heals `error_burst` with it alone; the engine's client stops on `stop` if given.
fn soft_heal_harness(
    dir: &std::path::Path,
    mode: &str,
    hook: &Hook,
    stop: Option<tokio::sync::watch::Receiver<bool>>,
) -> Harness {
    let key = dir.join("hook-key");
    std::fs::write(&key, HOOK_SECRET).unwrap();
    let cluster = FakeCluster {
        annotations: BTreeMap::from([("edgeheal.io/soft-heal-url".to_owned(), hook_url(hook))]),
        ..FakeCluster::default()
    };
    let extra = format!(
        "soft_heal: {{ key_id: healer, key_file: {} }}\npolicy: {{ error_burst: [soft_heal] }}",
        key.display()
    );
    let mut h = Harness::new(dir, mode, &extra, cluster);
    h.soft_healer = Some(hook_client(&h, hook, stop));
    h
}

/// A soft heal in enforce mode: the hook is called once, with the incident as its payload,
/// signed with the configured key (the heal API's own verifier accepts it) and keyed by the
/// incident's step; the action is recorded `ok` with the hook's answer, after an `act`
/// decision, with the Events of any action, and verified as any action is: more records of
/// the incident do not call it again, and a quiet window resolves it. Before, nothing tested
/// the engine's soft heal.
#[tokio::test]
async fn a_soft_heal_in_enforce_mode_calls_the_hook_once_and_is_verified() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Hook::start(&[Answer::Status(200)]).await;
    let mut h = soft_heal_harness(dir.path(), "enforce", &hook, None);
    let mut engine = h.recovered_engine().await;
    h.ingest(&["shop/cart"; 3], "error_burst", Some("cart-1"))
        .await;
    engine.process_pending().await.unwrap();
    let id = h.incidents().await[0].id;
    assert_eq!(hook.hits(), 1);
    let r = &hook.received()[0];
    assert_eq!((&r.method, r.uri.path()), (&http::Method::POST, "/heal"));
    assert_eq!(
        r.headers["host"],
        format!("hook.shop.svc:{}", hook.addr.port())
    );
    assert_eq!(
        r.headers["x-edgeheal-idempotency-key"],
        format!("{id}-0").as_str()
    );
    let payload: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        payload,
        serde_json::json!({"incident_id": id, "entity": "shop/cart", "kind": "error_burst",
                           "pod": "cart-1", "ts": "2026-11-21T10:00:00Z"})
    );
    let verifier = edgeheal_healer::auth::Authenticator::new(
        edgeheal_healer::keys::KeyRing::from_pairs([("healer", HOOK_SECRET)]),
        "edgeheal",
        "local",
        300,
        100,
        h.clock.clone(),
    );
    let verified = verifier
        .verify(&r.method, &r.uri, &r.headers, &r.body)
        .unwrap();
    assert_eq!(
        (verified.key_id.as_str(), verified.signed_at),
        ("healer", T0)
    );

    let (inc, decisions, actions) = h.history(id).await;
    assert_eq!(inc.state, "verifying");
    let a = &actions[..];
    assert_eq!(a.len(), 1);
    assert_eq!(
        (
            &*a[0].action,
            &*a[0].mode,
            &*a[0].result,
            a[0].detail.as_deref()
        ),
        ("soft_heal", "enforce", "ok", Some("hook answered 200"))
    );
    assert!(
        decisions
            .iter()
            .any(|d| d.outcome == "act" && d.action.as_deref() == Some("soft_heal")),
        "{decisions:?}"
    );
    assert_eq!(h.event_reasons().await, ["Remediating", "Remediated"]);
    assert!(
        h.cluster.executed.lock().unwrap().is_empty(),
        "a soft heal is no Kubernetes change"
    );

    // Deduped onto the incident; a quiet window resolves it.
    h.ingest(&["shop/cart"], "error_burst", Some("cart-1"))
        .await;
    engine.process_pending().await.unwrap();
    h.clock.advance_secs(121);
    engine.tick().await.unwrap();
    assert_eq!(h.incidents().await[0].state, "resolved");
    assert_eq!(hook.hits(), 1, "the hook was called again");
}

/// A soft heal changes no pod: the workload has nothing of it to roll out. It waited for the
/// workload's rollout status all the same, so a rollout of something else (a deploy) under way
/// held its verification back (and asked the API server every 5 s), for up to a verify window
/// more, also after a restart. It is verified from when the hook answered, the rollout not
/// asked about.
#[tokio::test]
async fn a_soft_heal_is_verified_from_its_answer_whatever_the_workload_rolls_out() {
    for restart in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let hook = Hook::start(&[Answer::Status(200)]).await;
        let mut h = soft_heal_harness(dir.path(), "enforce", &hook, None);
        h.cluster.rolling.store(true, SeqCst); // an unrelated rollout under way
        let mut engine = h.recovered_engine().await;
        h.ingest(&["shop/cart"; 3], "error_burst", Some("cart-1"))
            .await;
        engine.process_pending().await.unwrap();
        assert_eq!(hook.hits(), 1);
        if restart {
            drop(engine);
            engine = h.recovered_engine().await;
        }
        h.clock.advance_secs(60);
        engine.tick().await.unwrap();
        h.clock.advance_secs(61);
        engine.tick().await.unwrap();
        assert_eq!(
            h.incidents().await[0].state,
            "resolved",
            "restart {restart}"
        );
        assert!(
            h.cluster.rollout_checks.lock().unwrap().is_empty(),
            "restart {restart}"
        );
    }
}

/// A hook that refuses (404, not tried again): the action is recorded `failed` with its
/// answer, and the incident fails, as for any action that fails.
#[tokio::test]
async fn a_soft_heal_the_hook_refuses_fails_the_action() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Hook::start(&[Answer::Status(404)]).await;
    let mut h = soft_heal_harness(dir.path(), "enforce", &hook, None);
    let mut engine = h.recovered_engine().await;
    h.ingest(&["shop/cart"; 3], "error_burst", None).await;
    engine.process_pending().await.unwrap();
    assert_eq!(hook.hits(), 1);
    let id = h.incidents().await[0].id;
    let (inc, decisions, actions) = h.history(id).await;
    assert_eq!(inc.state, "failed");
    assert_eq!(
        (&*actions[0].result, actions[0].detail.as_deref()),
        ("failed", Some("hook failed: hook answered 404 Not Found"))
    );
    assert!(
        decisions.iter().any(|d| d.outcome == "failed"),
        "{decisions:?}"
    );
    assert_eq!(
        h.event_reasons().await,
        ["Remediating", "RemediationFailed"]
    );
}

/// In dry-run mode a soft heal is recorded (`dry_run`, naming the URL it would call) and
/// verified like any dry-run action, and the hook is not called.
#[tokio::test]
async fn a_dry_run_soft_heal_is_recorded_and_the_hook_not_called() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Hook::start(&[Answer::Status(200)]).await;
    let mut h = soft_heal_harness(dir.path(), "dry-run", &hook, None);
    let mut engine = h.recovered_engine().await;
    h.ingest(&["shop/cart"; 3], "error_burst", None).await;
    engine.process_pending().await.unwrap();
    let id = h.incidents().await[0].id;
    let (inc, _, actions) = h.history(id).await;
    assert_eq!(inc.state, "verifying");
    assert_eq!(
        (&*actions[0].action, &*actions[0].mode, &*actions[0].result),
        ("soft_heal", "dry-run", "dry_run")
    );
    assert_eq!(
        actions[0].detail.as_deref(),
        Some(&*format!("dry-run: would POST to {}", hook_url(&hook)))
    );
    assert_eq!(h.event_reasons().await, ["Remediating", "Remediated"]);
    assert_eq!(hook.hits(), 0, "called in dry-run mode");
}

/// A stop during the backoff after the hook answered 503: the call ends without another
/// attempt, and the engine leaves the action as for a Kubernetes call the stop cut, `pending`
/// (the intent was recorded before the call), not `failed`. The next start finds it
/// `interrupted`, verifies it and never calls the hook again. Before, the soft healer ignored
/// the stop (3 attempts of `soft_heal.timeout_secs` and the backoffs, about 16 s with the
/// defaults, past `engine.stop_timeout_secs`), and its last error failed the incident.
#[tokio::test]
async fn a_stop_during_the_hooks_backoff_leaves_the_action_for_the_next_start_to_verify() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Hook::start(&[Answer::Status(503)]).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut h = soft_heal_harness(dir.path(), "enforce", &hook, Some(stopped.clone()));
    h.ingest(&["shop/cart"; 3], "error_burst", None).await;
    {
        let _stop_at_backoff = hook::stop_at_the_first_backoff(stop);
        h.run_until_stopped(stopped).await;
    }
    assert_eq!(hook.hits(), 1, "attempts after the stop");
    let id = h.incidents().await[0].id;
    assert_eq!(h.incidents().await[0].state, "acting");
    assert_eq!(action_results(&h).await, ["pending"]);
    let outcomes = h.outcomes(id).await;
    assert!(outcomes.iter().any(|o| o == "act"), "{outcomes:?}");
    assert!(!outcomes.iter().any(|o| o == "failed"), "{outcomes:?}");
    assert_eq!(h.event_reasons().await, ["Remediating"]);

    // The next start, its hook client not stopping: verified, never called again.
    h.soft_healer = Some(hook_client(&h, &hook, None));
    let mut engine = h.recovered_engine().await;
    assert_eq!(action_results(&h).await, ["interrupted"]);
    assert_eq!(h.incidents().await[0].state, "verifying");
    engine.process_pending().await.unwrap();
    h.clock.advance_secs(121);
    engine.tick().await.unwrap();
    assert_eq!(h.incidents().await[0].state, "resolved");
    assert_eq!(hook.hits(), 1, "the hook was called again");
}

/// The records of a batch count in a window at the time the engine first took the batch in
/// hand, but the window was judged at the time each record was observed: a batch interrupted
/// after a cursor of it was written (a count onto another incident) and observed again more
/// than `engine.debounce_window_secs` later (a restart that took two minutes, a store that
/// refused writes as long) let go of each of its window entries at the next one, so its
/// records, still fresh (`engine.max_record_age_secs`), could never open the incident they
/// open when the batch is observed in one go. The window is judged at the batch's time, and a
/// restart rebuilds the evidence the batch's earlier records left.
#[tokio::test]
async fn a_batch_observed_again_after_longer_than_the_window_opens_its_incident() {
    // The web window entries after the cursor (observed again), or before it (stored with it).
    let bodies = [
        ["shop/cart", "shop/web", "shop/web", "shop/cart", "shop/web"],
        ["shop/web", "shop/web", "shop/cart", "shop/cart", "shop/web"],
    ];
    for (body, by) in bodies
        .iter()
        .flat_map(|b| [(b, Interruption::FailedCycle), (b, Interruption::Restart)])
    {
        let dir = tempfile::tempdir().unwrap();
        let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
        let mut engine = h.engine_after_three_anomalies().await;
        h.clock.advance_secs(1);
        // The first count onto the cart incident is written with the batch's cursor (and the
        // time it was taken in hand); the second is refused.
        h.ingest(body, "cpu_saturation", None).await;
        h.refuse_writes("UPDATE OF record_count ON incidents WHEN NEW.record_count > 4")
            .await;
        let err = engine.process_pending().await.unwrap_err();
        assert!(
            err.to_string().contains("the disk is full"),
            "{body:?} {by:?}: {err}"
        );
        h.accept_writes().await;
        // Two minutes later: past the debounce window (60 s), within the record age (300 s).
        h.clock.advance_secs(120);
        if let Interruption::Restart = by {
            drop(engine);
            engine = h.recovered_engine().await;
        }
        engine.process_pending().await.unwrap();
        let inc = h.incidents().await;
        let web: Vec<_> = inc.iter().filter(|i| i.entity == "shop/web").collect();
        assert_eq!(web.len(), 1, "{body:?} {by:?}: {inc:?}");
        assert_eq!(web[0].record_count, 3, "{body:?} {by:?}");
        let cart = inc.iter().find(|i| i.entity == "shop/cart").unwrap();
        assert_eq!(cart.record_count, 5, "{body:?} {by:?}");
    }
}

/// An action that failed, its result written, whose incident's move to `failed` the store
/// refused: the next cycle's reload (or the next start) moved the incident to `failed` with
/// its decision, but nobody was told. The notification went with the transition that was
/// refused; the recovery that finishes it now sends it, once.
#[tokio::test]
async fn a_failed_action_whose_incident_write_was_refused_is_notified_once() {
    for by in [Interruption::FailedCycle, Interruption::Restart] {
        let dir = tempfile::tempdir().unwrap();
        let cluster = FakeCluster {
            fail_execute: true,
            ..FakeCluster::default()
        };
        let mut h = Harness::new(dir.path(), "enforce", "", cluster);
        let webhook = Hook::start(&[Answer::Status(200)]).await;
        let url_file = dir.path().join("webhook-url");
        std::fs::write(&url_file, webhook.url("/notify")).unwrap();
        let notify: edgeheal_healer::config::NotifyConfig =
            serde_yaml::from_str(&format!("webhook_url_file: {}", url_file.display())).unwrap();
        let notifier = Notifier::start(&notify, h.metrics.clone()).unwrap();
        let engine_of = |h: &Harness| {
            let cluster: Arc<dyn Cluster> = h.cluster.clone();
            Engine::new(
                h.cfg.clone(),
                h.store.clone(),
                Some(cluster),
                None,
                notifier.clone(),
                h.metrics.clone(),
                h.clock.clone(),
            )
        };
        let mut engine = engine_of(&h);
        engine.recover().await.unwrap();
        h.ingest(&["shop/cart"; 3], "cpu_saturation", None).await;
        h.refuse_writes("UPDATE OF state ON incidents WHEN NEW.state = 'failed'")
            .await;
        let err = engine.process_pending().await.unwrap_err();
        assert!(
            err.to_string().contains("the disk is full"),
            "{by:?}: {err}"
        );
        h.accept_writes().await;
        if let Interruption::Restart = by {
            drop(engine);
            engine = engine_of(&h);
            engine.recover().await.unwrap();
        }
        engine.process_pending().await.unwrap();
        let inc = h.incidents().await;
        assert_eq!(inc.len(), 1, "{by:?}: {inc:?}");
        assert_eq!(inc[0].state, "failed", "{by:?}");
        // The notifier's worker posts in the background.
        for _ in 0..100 {
            if webhook.hits() > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let bodies: Vec<String> = webhook
            .received()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect();
        assert_eq!(bodies.len(), 1, "{by:?}: {bodies:?}");
        assert!(bodies[0].contains("failed"), "{by:?}: {bodies:?}");
        assert!(
            bodies[0].contains(&format!("incident {}", inc[0].id)),
            "{by:?}: {bodies:?}"
        );
    }
}

/// The upgrade to schema version 10 leaves the batches and incidents already stored without
/// the debounce evidence (`batches.observed_at`, `batch_evidence`) and without the record
/// that opened them (`incidents.opened_batch`, `opened_record`): a batch interrupted part-way
/// and an incident verifying as the upgrade found them are recovered as before, the batch
/// observed again from its cursor at the time of the start, each record once.
#[tokio::test]
async fn a_batch_and_an_incident_from_before_schema_10_are_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path(), "enforce", "", FakeCluster::default());
    let engine = h.engine_after_three_anomalies().await;
    h.ingest(
        &["shop/cart", "shop/web", "shop/cart", "shop/web"],
        "cpu_saturation",
        None,
    )
    .await;
    h.refuse_writes("UPDATE OF record_count ON incidents WHEN NEW.record_count > 4")
        .await;
    assert!(engine_fails(engine).await.contains("the disk is full"));
    h.accept_writes().await;
    // As the migration leaves rows written by the heal API before it.
    h.store
        .write(|tx| {
            tx.execute_batch(
                "UPDATE batches SET observed_at = NULL; DELETE FROM batch_evidence;
                 UPDATE incidents SET opened_batch = NULL, opened_record = NULL;",
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let batches: Vec<(i64, i64)> = h
        .store
        .read(|c| {
            let mut stmt = c.prepare("SELECT observed, processed FROM batches ORDER BY id")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
        .unwrap();
    assert_eq!(batches, [(3, 1), (1, 0)]);
    let mut engine = h.recovered_engine().await;
    engine.process_pending().await.unwrap();
    // Both web records past the cursor in the window, the second cart record counted once.
    the_next_web_record_opens_its_incident(&mut h, &mut engine, Interruption::Restart, 5).await;
}

/// The error of a cycle of `engine` expected to fail.
async fn engine_fails(mut engine: Engine) -> String {
    engine.process_pending().await.unwrap_err().to_string()
}
