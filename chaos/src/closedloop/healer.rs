//! The real heal API (`edgeheal_healer::runtime::run`) started in process on a
//! real loopback port, in `enforce` mode, with a SQLite store and a key file in
//! a work directory and a kubeconfig pointing at the simulated cluster. Its
//! clock is a [`ManualClock`] that follows simulated time, so its debounce,
//! verify, cooldown and budget windows are simulated seconds. The handle
//! posts SigV4-signed anomaly batches and reads incidents back over its API.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use edgeheal_healer::clock::{Clock, ManualClock, SharedClock};
use edgeheal_healer::engine::Cycles;
use edgeheal_healer::Config;
use jiff::Timestamp;
use serde::Deserialize;

use super::signer::SigV4Signer;
use super::LoopError;

/// The key id the demo's pipeline signs with.
pub const KEY_ID: &str = "edge-pipeline";

/// The heal API settings the loop runs with (windows in simulated seconds).
#[derive(Debug, Clone)]
pub struct HealerSettings {
    /// Namespaces the healer may act in.
    pub namespaces: Vec<String>,
    /// Incident kind → ordered actions, in the config's vocabulary.
    pub policy: Vec<(String, Vec<String>)>,
    /// Anomalous records needed to open an incident.
    pub debounce_count: u32,
    /// Window for those records, seconds.
    pub debounce_window_secs: u64,
    /// After an action, how long a recurrence escalates instead of resolving.
    pub verify_window_secs: u64,
    /// Minimum time between actions on one target by different incidents.
    pub cooldown_secs: u64,
    /// After an action, records received within this time are not a recurrence.
    pub settle_secs: u64,
    /// At most this many actions in `budget_window_secs`.
    pub budget_max_actions: u32,
    /// The budget window, seconds.
    pub budget_window_secs: u64,
    /// Replicas added by one `scale_up`.
    pub scale_step: i32,
    /// Never scale above this.
    pub max_replicas: i32,
    /// How long after a workload's last incident closed the heal API gives back an HPA
    /// minimum it raised (`guards.hpa_restore_after_secs`; 0: never).
    pub hpa_restore_after_secs: u64,
}

impl HealerSettings {
    /// The policy the demo and the closed-loop test run: load faults scale out,
    /// bad state is restarted away, a crash-looping pod is deleted.
    pub fn demo(namespaces: &[&str]) -> Self {
        let p = |k: &str, a: &[&str]| (k.to_owned(), a.iter().map(|s| (*s).to_owned()).collect());
        Self {
            namespaces: namespaces.iter().map(|s| (*s).to_owned()).collect(),
            policy: vec![
                p("cpu_saturation", &["scale_up", "scale_up", "scale_up"]),
                p("traffic_surge", &["scale_up", "scale_up", "scale_up"]),
                p("memory_leak", &["rollout_restart"]),
                p("crash_loop", &["delete_pod", "rollout_restart"]),
                p("error_burst", &["rollout_restart"]),
                p("latency_spike", &["rollout_restart"]),
            ],
            debounce_count: 3,
            debounce_window_secs: 60,
            verify_window_secs: 300,
            cooldown_secs: 300,
            settle_secs: 180,
            budget_max_actions: 10,
            budget_window_secs: 600,
            scale_step: 3,
            max_replicas: 20,
            // The shipped default is an hour; a short hold lets a run of the loop see the floor
            // given back.
            hpa_restore_after_secs: 300,
        }
    }

    fn yaml(&self, listen: &str, dir: &Path, kubeconfig: &Path) -> String {
        let q = |p: &Path| serde_json::to_string(&p.display().to_string()).unwrap_or_default();
        let namespaces = serde_json::to_string(&self.namespaces).unwrap_or_default();
        let policy: Vec<String> = self
            .policy
            .iter()
            .map(|(k, v)| format!("  {k}: {}", serde_json::to_string(v).unwrap_or_default()))
            .collect();
        format!(
            "mode: enforce\n\
             listen: {listen}\n\
             server: {{ shutdown_delay_secs: 0 }}\n\
             store: {{ path: {db}, synchronous: normal }}\n\
             auth: {{ keys_dir: {keys} }}\n\
             kubernetes: {{ kubeconfig: {kc}, call_timeout_secs: 5, retry: {{ max_attempts: 3, initial_backoff_ms: 50 }} }}\n\
             engine: {{ debounce_count: {dc}, debounce_window_secs: {dw}, verify_window_secs: {vw}, cooldown_secs: {cd}, settle_secs: {st}, tick_secs: {tick} }}\n\
             guards: {{ namespaces: {namespaces}, scale_step: {step}, max_replicas: {maxr}, hpa_restore_after_secs: {restore} }}\n\
             budget: {{ max_actions: {bm}, window_secs: {bw} }}\n\
             policy:\n{policy}\n",
            db = q(&dir.join("healer.db")),
            keys = q(&dir.join("keys")),
            kc = q(kubeconfig),
            dc = self.debounce_count,
            dw = self.debounce_window_secs,
            vw = self.verify_window_secs,
            cd = self.cooldown_secs,
            st = self.settle_secs,
            step = self.scale_step,
            maxr = self.max_replicas,
            restore = self.hpa_restore_after_secs,
            // The loop runs an engine cycle after every simulated interval
            // (`InProcessHealer::step`); a timed one in between would see the clock
            // move under it.
            tick = 86_400,
            bm = self.budget_max_actions,
            bw = self.budget_window_secs,
            policy = policy.join("\n"),
        )
    }
}

/// The heal API's answer to an accepted batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Accepted {
    /// Records stored.
    pub records: u64,
    /// Of those, records about no workload (node-level, null entity): stored, never actionable.
    pub not_actionable: u64,
}

/// An incident as `GET /v1/incidents` lists it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Incident {
    /// Id.
    pub id: i64,
    /// `namespace/workload`.
    pub entity: String,
    /// Incident kind.
    pub kind: String,
    /// open | acting | verifying | resolved | escalated | failed.
    pub state: String,
    /// Pod named by the records that opened it.
    pub pod: Option<String>,
    /// Opened (RFC 3339).
    pub opened_at: Timestamp,
    /// Closed (RFC 3339).
    pub closed_at: Option<Timestamp>,
    /// Last reason.
    pub reason: Option<String>,
}

/// An action as `GET /v1/incidents/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Action {
    /// Policy step.
    pub step: i64,
    /// Action.
    pub action: String,
    /// Target `namespace/kind/name`.
    pub target: String,
    /// Started.
    pub started_at: Timestamp,
    /// Finished.
    pub finished_at: Option<Timestamp>,
    /// pending | ok | dry_run | shadow | failed | interrupted.
    pub result: String,
    /// Details.
    pub detail: Option<String>,
}

/// A decision as `GET /v1/incidents/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Decision {
    /// When.
    pub at: Timestamp,
    /// Action considered.
    pub action: Option<String>,
    /// act | refused | skipped | escalated | resolved | failed | recurred, and a raised HPA
    /// minimum's restored | restore_dry_run | restore_skipped | restore_failed |
    /// restore_superseded.
    pub outcome: String,
    /// Why.
    pub reason: String,
}

/// An incident with its history.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IncidentHistory {
    /// The incident.
    pub incident: Incident,
    /// Its decisions, oldest first.
    pub decisions: Vec<Decision>,
    /// Its actions, oldest first.
    pub actions: Vec<Action>,
    /// The HPA minimums it raised, oldest first.
    #[serde(default)]
    pub hpa_raises: Vec<HpaRaise>,
}

/// An HPA minimum an incident raised, as `GET /v1/incidents/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HpaRaise {
    /// `namespace/name` of the HPA.
    pub hpa: String,
    /// `minReplicas` found.
    pub observed_min: i32,
    /// `minReplicas` set.
    pub raised_to: i32,
    /// `minReplicas` to give back.
    pub restore_to: i32,
    /// raising | raised | not_raised | superseded | restored | dry_run | skipped.
    pub state: String,
}

impl HpaRaise {
    /// Whether it still holds the HPA's floor (its restore is to come).
    pub fn holds_the_floor(&self) -> bool {
        matches!(self.state.as_str(), "raising" | "raised")
    }
}

#[derive(Deserialize)]
struct IncidentList {
    incidents: Vec<Incident>,
    next_cursor: Option<i64>,
}

/// A running in-process heal API.
pub struct InProcessHealer {
    base: String,
    host: String,
    signer: SigV4Signer,
    clock: Arc<ManualClock>,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), edgeheal_healer::runtime::RunError>>,
    db: PathBuf,
    /// The engine's cycles, to run one after each move of the clock.
    cycles: Arc<Cycles>,
}

impl std::fmt::Debug for InProcessHealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessHealer")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn secret() -> Vec<u8> {
    use std::hash::{BuildHasher, Hasher};
    // A per-run key for a loopback-only demo: 32 bytes from the process's
    // randomly seeded hasher state, hex-encoded.
    let mut out = Vec::with_capacity(32);
    for i in 0..4u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        out.extend_from_slice(&h.finish().to_le_bytes());
    }
    hex::encode(out).into_bytes()
}

impl InProcessHealer {
    /// Starts the heal API with `settings` in `dir` (created), acting through
    /// `kubeconfig`, its clock at `start`; returns once it answers `/readyz`.
    pub async fn start(
        settings: &HealerSettings,
        dir: &Path,
        kubeconfig: &Path,
        start: Timestamp,
    ) -> Result<Self, LoopError> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |e: std::io::Error| LoopError::Io(what, e)
        };
        let keys = dir.join("keys");
        std::fs::create_dir_all(&keys).map_err(io("creating the key directory"))?;
        let secret = secret();
        std::fs::write(keys.join(KEY_ID), &secret).map_err(io("writing the key file"))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(io("finding a free port"))?
            .port();
        let listen = format!("127.0.0.1:{port}");
        let yaml = settings.yaml(&listen, dir, kubeconfig);
        let config =
            Config::from_yaml(&yaml).map_err(|e| LoopError::Healer(format!("config: {e}")))?;
        let clock = Arc::new(ManualClock::new(start));
        let shared: SharedClock = clock.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let cycles = Arc::new(Cycles::default());
        let task = tokio::spawn(edgeheal_healer::runtime::run_with_cycles(
            config,
            shared,
            cycles.clone(),
            async move {
                let _ = rx.await;
            },
        ));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| LoopError::Healer(format!("http client: {e}")))?;
        let healer = Self {
            base: format!("http://{listen}"),
            host: listen,
            signer: SigV4Signer::new(KEY_ID, secret),
            clock,
            http,
            stop: Some(tx),
            task,
            db: dir.join("healer.db"),
            cycles,
        };
        for _ in 0..200 {
            if healer.task.is_finished() {
                return Err(LoopError::Healer(
                    "the heal API stopped during startup".into(),
                ));
            }
            let ready = healer
                .http
                .get(format!("{}/readyz", healer.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(healer);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(LoopError::Healer(
            "the heal API did not become ready within 10 s".into(),
        ))
    }

    /// The SQLite store file.
    pub fn db_path(&self) -> &Path {
        &self.db
    }

    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Moves the healer's clock to simulated time `t`.
    pub fn set_time(&self, t: Timestamp) {
        self.clock.set(t);
    }

    /// Runs the heal API's engine at the clock's time and waits for it: every accepted batch
    /// processed (incidents opened, actions taken) and every deadline checked (verification,
    /// rollouts, HPA floors), so that simulated time only moves on once the engine has seen
    /// everything up to now and what it decides depends on the telemetry, not on how fast this
    /// machine is. Runs a second cycle to use up a wake the server may have left (for the last
    /// batch), so that no cycle is under way while the clock moves on.
    pub async fn step(&self) -> Result<(), LoopError> {
        for _ in 0..2 {
            tokio::select! {
                () = self.cycles.run_one() => {}
                () = tokio::time::sleep(Duration::from_secs(20)) => {
                    return Err(LoopError::Healer(if self.task.is_finished() {
                        "the heal API stopped".into()
                    } else {
                        "the heal API's engine did not finish a cycle within 20 s".into()
                    }));
                }
            }
        }
        Ok(())
    }

    /// The healer's current (simulated) time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<reqwest::Response, LoopError> {
        let content_type = (method == reqwest::Method::POST).then_some("application/x-ndjson");
        let headers = self
            .signer
            .sign(
                method.as_str(),
                &self.host,
                path,
                content_type,
                &body,
                self.clock.now().as_second(),
            )
            .map_err(|e| LoopError::Healer(e.to_string()))?;
        self.http
            .request(method, format!("{}{path}", self.base))
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| LoopError::Healer(format!("{path}: {e}")))
    }

    /// Posts one NDJSON batch of anomalous records, SigV4-signed at the
    /// healer's (simulated) time; `Ok` only on 202.
    pub async fn post_anomalies(&self, ndjson: Vec<u8>) -> Result<Accepted, LoopError> {
        let r = self
            .send(reqwest::Method::POST, "/v1/anomalies", ndjson)
            .await?;
        let status = r.status();
        if status != reqwest::StatusCode::ACCEPTED {
            let text = r.text().await.unwrap_or_default();
            return Err(LoopError::Healer(format!(
                "POST /v1/anomalies answered {status}: {text}"
            )));
        }
        r.json()
            .await
            .map_err(|e| LoopError::Healer(format!("POST /v1/anomalies: {e}")))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, LoopError> {
        let r = self.send(reqwest::Method::GET, path, Vec::new()).await?;
        let status = r.status();
        if !status.is_success() {
            return Err(LoopError::Healer(format!("GET {path} answered {status}")));
        }
        r.json()
            .await
            .map_err(|e| LoopError::Healer(format!("GET {path}: {e}")))
    }

    /// Every incident, newest first.
    pub async fn incidents(&self) -> Result<Vec<Incident>, LoopError> {
        let mut all = Vec::new();
        let mut cursor: Option<i64> = None;
        loop {
            let path = match cursor {
                Some(c) => format!("/v1/incidents?limit=500&cursor={c}"),
                None => "/v1/incidents?limit=500".to_owned(),
            };
            let page: IncidentList = self.get_json(&path).await?;
            all.extend(page.incidents);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(all),
            }
        }
    }

    /// One incident with its decisions and actions.
    pub async fn incident(&self, id: i64) -> Result<IncidentHistory, LoopError> {
        self.get_json(&format!("/v1/incidents/{id}")).await
    }

    /// Stops the heal API gracefully, at once: it runs with no lame-duck period
    /// (`server.shutdown_delay_secs: 0`), as nothing routes to it through endpoints.
    pub async fn stop(mut self) -> Result<(), LoopError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match tokio::time::timeout(Duration::from_secs(30), &mut self.task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(LoopError::Healer(e.to_string())),
            Ok(Err(e)) => Err(LoopError::Healer(format!("heal API task: {e}"))),
            Err(_) => Err(LoopError::Healer(
                "the heal API did not stop within 30 s".into(),
            )),
        }
    }
}
