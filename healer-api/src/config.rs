//! The service configuration: one YAML file, every key documented, unknown keys rejected
//! with their full path named, explicit defaults, and semantic validation that names the key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::action::ActionKind;
use crate::tags::IncidentKind;

/// Errors loading or validating the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML did not parse or did not match the schema (unknown key, wrong type).
    #[error("invalid config at `{key}`: {message}")]
    Parse {
        /// Dotted path of the offending key.
        key: String,
        /// What was wrong.
        message: String,
    },
    /// A value parsed but is not acceptable.
    #[error("invalid config value `{key}`: {reason}")]
    Invalid {
        /// Dotted path of the offending key.
        key: &'static str,
        /// Why it is rejected.
        reason: String,
    },
}

/// What the healer is allowed to do with its decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Decide and record; never contact the Kubernetes API.
    Shadow,
    /// Send every mutation with `dryRun=All`: the API server validates, nothing changes.
    DryRun,
    /// Act for real.
    Enforce,
}

impl Mode {
    /// The name used in logs, metrics and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Shadow => "shadow",
            Mode::DryRun => "dry-run",
            Mode::Enforce => "enforce",
        }
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. Default `0.0.0.0:8080`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// `shadow`, `dry-run` or `enforce`. Default `shadow`.
    #[serde(default = "default_mode")]
    pub mode: Mode,
    /// The incident store.
    pub store: StoreConfig,
    /// Request authentication.
    pub auth: AuthConfig,
    /// Limits on what `POST /v1/anomalies` accepts.
    #[serde(default)]
    pub ingest: IngestConfig,
    /// How long the HTTP server waits for a client.
    #[serde(default)]
    pub server: ServerConfig,
    /// How to reach the Kubernetes API (unused in `shadow` mode).
    #[serde(default)]
    pub kubernetes: KubernetesConfig,
    /// Debounce, verification and cooldown windows.
    #[serde(default)]
    pub engine: EngineConfig,
    /// Safety guards applied to every action.
    pub guards: GuardsConfig,
    /// Global action budget and circuit breaker.
    #[serde(default)]
    pub budget: BudgetConfig,
    /// Incident kind → ordered actions. Kinds left out get no action (notify only).
    #[serde(default)]
    pub policy: BTreeMap<IncidentKind, Vec<ActionKind>>,
    /// Slack-compatible webhook notifications. Absent: notifications are only logged.
    #[serde(default)]
    pub notify: Option<NotifyConfig>,
    /// The soft-heal hook (a signed POST to an endpoint named by the workload).
    #[serde(default)]
    pub soft_heal: Option<SoftHealConfig>,
    /// Leader election on a `coordination.k8s.io` Lease (several replicas).
    /// Not implemented yet: a config that sets it is rejected. Run one replica.
    #[serde(default)]
    pub leader_election: Option<LeaderElectionConfig>,
    /// The pod's `terminationGracePeriodSeconds`: how long Kubernetes waits after SIGTERM
    /// before it kills the process. Keep it equal to the Deployment's (the shipped one's is
    /// 35). A shutdown first goes on serving, not ready, while the endpoints catch up
    /// (`server.shutdown_delay_secs`), then lets the requests in flight finish
    /// (`server.shutdown_timeout_secs`), then waits for the engine (`engine.stop_timeout_secs`);
    /// with [`SHUTDOWN_MARGIN_SECS`] for the rest of the exit, all three must fit in it
    /// ([`Config::shutdown_bound_secs`]), or the config is refused. Default 35, within
    /// 1..=3600.
    #[serde(default = "default_termination_grace_period")]
    pub termination_grace_period_secs: u64,
}

/// Seconds of a pod's grace period a shutdown leaves beyond `server.shutdown_delay_secs`,
/// `server.shutdown_timeout_secs` and `engine.stop_timeout_secs`: the signal's delivery, the
/// blocking work still running given at most a second
/// ([`crate::runtime::EXIT_BLOCKING_WAIT`]), the logs, the exit.
pub const SHUTDOWN_MARGIN_SECS: u64 = 5;

/// Seconds `engine.stop_timeout_secs` leaves beyond one attempt at a call to the Kubernetes API
/// (`kubernetes.call_timeout_secs`) or to a soft-heal hook (`soft_heal.timeout_secs`): once the
/// stop is signalled no call is tried again, so the attempt in flight is the last, and after it
/// the engine writes what it knows and stops.
pub const STOP_CALL_MARGIN_SECS: u64 = 2;

fn default_termination_grace_period() -> u64 {
    35
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8080))
}
fn default_mode() -> Mode {
    Mode::Shadow
}

/// SQLite store settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Database file (created if missing). Put it on a persistent volume.
    pub path: PathBuf,
    /// `full` (default: durable across power loss) or `normal` (durable across process crashes).
    #[serde(default)]
    pub synchronous: Synchronous,
    /// How many anomaly batches may wait for their commit before requests get 429. Default 256.
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
    /// How long and how much history the store keeps (see [`crate::retention`]).
    #[serde(default)]
    pub retention: RetentionConfig,
}

fn default_queue_capacity() -> usize {
    256
}

/// What the store keeps: anomaly records for `records_days` once the engine has weighed
/// them, closed incidents (with their decisions and actions) for `incidents_days`, and the
/// database's pages in use under `max_bytes`, the oldest weighed records deleted first when
/// over it. Batches the engine has not weighed yet and incidents not closed are never deleted.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days a stored anomaly batch and its records are kept once weighed. Default 7.
    #[serde(default = "default_records_days")]
    pub records_days: u32,
    /// Days a closed incident is kept with its decisions and actions. Default 90. At least the
    /// cooldown, the budget window and `guards.hpa_restore_after_secs`, which are counted
    /// from this history.
    #[serde(default = "default_incidents_days")]
    pub incidents_days: u32,
    /// Bytes of database pages in use above which the oldest weighed records are deleted
    /// even within `records_days`. Default 1 GiB (the shipped volume is 2 GiB: the file does
    /// not shrink, freed pages are reused, and the WAL needs room). At least 16 MiB.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Seconds between two prunes (the first runs at start). Default 300.
    #[serde(default = "default_prune_every_secs")]
    pub every_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            records_days: default_records_days(),
            incidents_days: default_incidents_days(),
            max_bytes: default_max_bytes(),
            every_secs: default_prune_every_secs(),
        }
    }
}

fn default_records_days() -> u32 {
    7
}
fn default_incidents_days() -> u32 {
    90
}
fn default_max_bytes() -> u64 {
    1 << 30
}
fn default_prune_every_secs() -> u64 {
    300
}

/// The smallest `store.retention.max_bytes`.
pub const MIN_STORE_BYTES: u64 = 16 << 20;

/// SQLite `PRAGMA synchronous` level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// fsync on every commit.
    #[default]
    Full,
    /// WAL default: survives process crashes, may lose the last commits on power loss.
    Normal,
}

/// Authentication settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Directory of key files (a mounted Secret): file name = key id (SigV4 access key id or
    /// `X-Edgeheal-Key-Id`), file content = secret. Hidden files (`..data`) are ignored.
    pub keys_dir: PathBuf,
    /// SigV4 service name the pipelines sign for. Default `edgeheal`.
    #[serde(default = "default_service")]
    pub service: String,
    /// SigV4 region the pipelines sign for. Default `local`.
    #[serde(default = "default_region")]
    pub region: String,
    /// Accepted clock difference, both directions, in seconds. Default 300.
    #[serde(default = "default_skew")]
    pub max_clock_skew_secs: u64,
    /// Signatures of accepted batches remembered to refuse replays, each until its signed
    /// time leaves the window. Default 500000, within 1..=10000000: a batch a second per
    /// sender is 1,666 senders at ±300 s, and a full cache takes 25 to 33 MiB (see
    /// [`crate::replay`]). When full, batches are refused with 429 and a `Retry-After` of when
    /// the oldest signature expires (`ingest_requests_total{result="replay_cache_full"}`).
    #[serde(default = "default_replay_capacity")]
    pub replay_cache_capacity: usize,
    /// Key ids of `keys_dir` that may only read the incident history (`GET /v1/incidents`,
    /// `edgeheal-healer incidents`): keys for people. A batch of anomalies signed with one is
    /// refused with 403 and stores nothing. Default none: every key may do everything.
    #[serde(default)]
    pub read_only_keys: Vec<String>,
    /// Key ids of `keys_dir` that may only post anomalies: the pipelines' keys, which every
    /// node holds. A read of the incident history signed with one is refused with 403, so a
    /// node's key does not read what happened in every namespace. Default none.
    #[serde(default)]
    pub ingest_only_keys: Vec<String>,
}

/// What a signed request asks to do, for [`AuthConfig::allows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Post anomalies (`POST /v1/anomalies`).
    Post,
    /// Read the incident history (`GET /v1/incidents`).
    Read,
}

impl AuthConfig {
    /// Whether key `key_id` may do `access`: a key of `read_only_keys` may not post, a key of
    /// `ingest_only_keys` may not read; every other key may do both.
    pub fn allows(&self, key_id: &str, access: Access) -> bool {
        let barred = match access {
            Access::Post => &self.read_only_keys,
            Access::Read => &self.ingest_only_keys,
        };
        !barred.iter().any(|id| id == key_id)
    }

    /// What is likely a mistake in the keys' roles, given the key ids `held`: a role given to
    /// a key the directory does not hold (a typo leaves the real key with both rights), and,
    /// once roles are used at all, a held key with none (it may post and read).
    pub fn role_warnings(&self, held: &[String]) -> Vec<String> {
        let mut warnings = Vec::new();
        for (list, ids) in [
            ("auth.read_only_keys", &self.read_only_keys),
            ("auth.ingest_only_keys", &self.ingest_only_keys),
        ] {
            for id in ids.iter().filter(|id| !held.contains(id)) {
                warnings.push(format!(
                    "{list} names {id:?}, which the keys directory does not hold"
                ));
            }
        }
        if self.read_only_keys.is_empty() && self.ingest_only_keys.is_empty() {
            return warnings;
        }
        for id in held {
            if !self.read_only_keys.contains(id) && !self.ingest_only_keys.contains(id) {
                warnings.push(format!(
                    "key {id:?} is in neither auth.read_only_keys nor auth.ingest_only_keys: it may post anomalies and read the incident history"
                ));
            }
        }
        warnings
    }
}

/// The SigV4 service the pipelines sign for unless `auth.service` says otherwise.
pub fn default_service() -> String {
    "edgeheal".into()
}
/// The SigV4 region the pipelines sign for unless `auth.region` says otherwise.
pub fn default_region() -> String {
    "local".into()
}
fn default_skew() -> u64 {
    300
}
fn default_replay_capacity() -> usize {
    500_000
}

/// Limits on ingested bodies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest body on the wire, in bytes. Default 4 MiB.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Largest body after gzip decompression, in bytes. Default 32 MiB.
    #[serde(default = "default_max_decompressed")]
    pub max_decompressed_bytes: usize,
    /// Most records in one batch. Default 20000. Counted while the body is parsed: the
    /// record after the last one allowed is never built.
    #[serde(default = "default_max_records")]
    pub max_records: usize,
    /// Most values (objects, arrays, strings, numbers, booleans, nulls, nested at any depth)
    /// one record may hold. Default 10000; within 16..=1000000. A record of the pipelines
    /// holds a few dozen to a few hundred; each value takes 32 bytes and more once parsed
    /// whatever its size on the wire (one byte in msgpack), so this bounds the memory one
    /// record takes while it is checked.
    #[serde(default = "default_max_record_values")]
    pub max_record_values: usize,
    /// Bytes the request bodies in flight may take at once, all requests together: a body as
    /// it arrives, decompressed, and its records decoded, each charged before it is allocated
    /// and given back when the request is answered. A request that finds the rest taken is
    /// answered 429 with `Retry-After` at once (nothing waits holding a connection and its
    /// memory); one that alone needs more than the whole budget, 413. Default 64 MiB; at
    /// least twice `max_decompressed_bytes`, at most 4 GiB.
    #[serde(default = "default_max_inflight")]
    pub max_inflight_bytes: usize,
}

fn default_max_body() -> usize {
    4 << 20
}
fn default_max_decompressed() -> usize {
    32 << 20
}
fn default_max_records() -> usize {
    20_000
}
fn default_max_record_values() -> usize {
    10_000
}
fn default_max_inflight() -> usize {
    64 << 20
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: default_max_body(),
            max_decompressed_bytes: default_max_decompressed(),
            max_records: default_max_records(),
            max_record_values: default_max_record_values(),
            max_inflight_bytes: default_max_inflight(),
        }
    }
}

/// How long the HTTP server waits for a client.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Seconds a client has to send a request's headers, from when it connected or its last
    /// response was sent: a connection that has not sent them by then is closed. So this is
    /// also how long a kept-alive connection may stay idle (Fluent Bit closes its own after
    /// 30 s, `net.keepalive_idle_timeout`). Default 30, within 1..=300.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
    /// Seconds a client has to send a request's whole body once its headers are in; a body
    /// still incomplete then is answered 408 and its connection closed, and what it held
    /// (its memory, its connection) is freed. Default 15 (Vector gives a request 10 s in all),
    /// within 1..=300.
    #[serde(default = "default_body_read_timeout")]
    pub body_read_timeout_secs: u64,
    /// Seconds the heal API goes on accepting and serving connections after SIGTERM, with
    /// `/readyz` answering 503 (`shutting down`), before it closes its listener: the lame-duck
    /// period in which Kubernetes takes the pod out of its Service's endpoints and kube-proxy
    /// stops sending it connections (a few seconds after the pod is marked terminating), so
    /// Fluent Bit and Vector are not refused meanwhile. The engine is told to stop at SIGTERM
    /// all the same: the batches committed meanwhile wait in the store for the next start. 0:
    /// the listener closes at once. Default 5, within 0..=300; with `shutdown_timeout_secs`
    /// and `engine.stop_timeout_secs` it fits in `termination_grace_period_secs`.
    #[serde(default = "default_shutdown_delay")]
    pub shutdown_delay_secs: u64,
    /// Seconds the requests in flight get to finish at shutdown once the listener is closed
    /// (after `shutdown_delay_secs`); connections still open then are dropped. Default 10,
    /// within 1..=300. The engine's stop comes after it (`engine.stop_timeout_secs`), and all
    /// fit in `termination_grace_period_secs`.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout_secs: u64,
}

fn default_header_read_timeout() -> u64 {
    30
}
fn default_body_read_timeout() -> u64 {
    15
}
fn default_shutdown_delay() -> u64 {
    5
}
fn default_shutdown_timeout() -> u64 {
    10
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: default_header_read_timeout(),
            body_read_timeout_secs: default_body_read_timeout(),
            shutdown_delay_secs: default_shutdown_delay(),
            shutdown_timeout_secs: default_shutdown_timeout(),
        }
    }
}

/// Kubernetes API access.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    /// Path of a kubeconfig file. Absent: in-cluster config, else `$KUBECONFIG`/`~/.kube/config`.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// Context to use from the kubeconfig. Absent: its current context.
    #[serde(default)]
    pub context: Option<String>,
    /// Retry policy for API calls.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Per-call timeout in seconds: how long one attempt at a call may take. Default 10. Once
    /// the heal API is stopping no call is tried again (nor a new one started), so the attempt
    /// in flight is the engine's last: with [`STOP_CALL_MARGIN_SECS`] it must fit in
    /// `engine.stop_timeout_secs`, or the config is refused.
    #[serde(default = "default_call_timeout")]
    pub call_timeout_secs: u64,
}

fn default_call_timeout() -> u64 {
    10
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        Self {
            kubeconfig: None,
            context: None,
            retry: RetryConfig::default(),
            call_timeout_secs: default_call_timeout(),
        }
    }
}

/// Bounded retries with exponential backoff.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in total (first try included). Default 4.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// First backoff in milliseconds, doubled each retry. Default 200.
    #[serde(default = "default_backoff")]
    pub initial_backoff_ms: u64,
    /// Backoff cap in milliseconds. Default 5000.
    #[serde(default = "default_backoff_max")]
    pub max_backoff_ms: u64,
}

fn default_attempts() -> u32 {
    4
}
fn default_backoff() -> u64 {
    200
}
fn default_backoff_max() -> u64 {
    5000
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: default_attempts(),
            initial_backoff_ms: default_backoff(),
            max_backoff_ms: default_backoff_max(),
        }
    }
}

/// Incident engine windows (all in seconds, may be as small as 1 for demos).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Anomalous records needed (same entity and incident kind) to open an incident. Default 3.
    #[serde(default = "default_debounce_count")]
    pub debounce_count: u32,
    /// Window in which those records must arrive. Default 60.
    #[serde(default = "default_debounce_window")]
    pub debounce_window_secs: u64,
    /// After an action, how long recurrence escalates instead of resolving. Default 300.
    #[serde(default = "default_verify_window")]
    pub verify_window_secs: u64,
    /// Minimum time between two actions on the same target (survives restarts). Default 900.
    #[serde(default = "default_cooldown")]
    pub cooldown_secs: u64,
    /// How often verification deadlines are checked. Default 1.
    #[serde(default = "default_tick")]
    pub tick_secs: u64,
    /// After an action, records received within this many seconds are not counted as a
    /// recurrence: new pods must start and a rollout must roll before the action can show.
    /// Default 0.
    #[serde(default)]
    pub settle_secs: u64,
    /// An anomalous record older than this when the engine weighs it (its `edgeheal.ts`, read
    /// on the heal API's clock through its batch's signature time) is stored but never opens an
    /// incident nor counts towards one: a pipeline's retry backlog or a replay of old
    /// Kubernetes events describes a past that may long have healed. Default 300, at most
    /// 86400.
    #[serde(default = "default_max_record_age")]
    pub max_record_age_secs: u64,
    /// Seconds the engine gets at shutdown, once the server has stopped, to finish the cycle
    /// it is in and stop; after them the heal API exits without it. The engine is told to stop
    /// at SIGTERM: from then on no call to the Kubernetes API or to a soft-heal hook is tried
    /// again or started, so an action's call ends with the attempt in flight
    /// (`kubernetes.call_timeout_secs` and `soft_heal.timeout_secs`, each of which with
    /// [`STOP_CALL_MARGIN_SECS`] must fit in this), and an action whose call was cut so
    /// is left pending: it was recorded before it was called, and the next start finds it
    /// `interrupted`, verifies it and never calls it again (an incident whose action was not
    /// recorded yet is decided again). What is left of it after the engine stopped goes to
    /// sending the notifications it queued and posting the Kubernetes Events it recorded (one
    /// attempt each). Default 15, within 1..=300; with
    /// `server.shutdown_delay_secs` and `server.shutdown_timeout_secs` it fits in
    /// `termination_grace_period_secs`.
    #[serde(default = "default_stop_timeout")]
    pub stop_timeout_secs: u64,
}

fn default_debounce_count() -> u32 {
    3
}
fn default_debounce_window() -> u64 {
    60
}
fn default_verify_window() -> u64 {
    300
}
fn default_cooldown() -> u64 {
    900
}
fn default_tick() -> u64 {
    1
}
fn default_max_record_age() -> u64 {
    300
}
fn default_stop_timeout() -> u64 {
    15
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            debounce_count: default_debounce_count(),
            debounce_window_secs: default_debounce_window(),
            verify_window_secs: default_verify_window(),
            cooldown_secs: default_cooldown(),
            tick_secs: default_tick(),
            settle_secs: 0,
            max_record_age_secs: default_max_record_age(),
            stop_timeout_secs: default_stop_timeout(),
        }
    }
}

/// What to do when an HPA controls the workload to scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HpaPolicy {
    /// Raise the HPA's `minReplicas` to `guards.scale_step` above the replicas the workload
    /// runs (bounded by the HPA's `maxReplicas` and `guards.max_replicas`), and give the old
    /// minimum back `guards.hpa_restore_after_secs` after the incident is over.
    #[default]
    RaiseMin,
    /// Refuse to scale, with a reason.
    Refuse,
}

/// Guards every action must pass.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardsConfig {
    /// Namespaces the healer may act in. Empty: none.
    pub namespaces: Vec<String>,
    /// Label the workload must carry with value `"true"`. Default `edgeheal.io/heal`.
    #[serde(default = "default_opt_in")]
    pub opt_in_label: String,
    /// Never scale above this. Default 20.
    #[serde(default = "default_max_replicas")]
    pub max_replicas: i32,
    /// Replicas added by one `scale_up`. Default 1.
    #[serde(default = "default_scale_step")]
    pub scale_step: i32,
    /// `raise_min` or `refuse`. Default `raise_min`.
    #[serde(default)]
    pub hpa: HpaPolicy,
    /// How long after the last incident on a workload closed an HPA minimum edgeheal raised
    /// is set back to what it was before edgeheal's first raise, if it is still exactly the
    /// value edgeheal set (someone else's change is left alone). 0: never restore. Default
    /// 3600.
    #[serde(default = "default_hpa_restore_after")]
    pub hpa_restore_after_secs: u64,
    /// `rollback` only applies when the newest rollout is at most this old at incident open. Default 1800.
    #[serde(default = "default_rollback_window")]
    pub rollback_window_secs: u64,
}

fn default_opt_in() -> String {
    "edgeheal.io/heal".into()
}
fn default_max_replicas() -> i32 {
    20
}
fn default_scale_step() -> i32 {
    1
}
fn default_rollback_window() -> u64 {
    1800
}
fn default_hpa_restore_after() -> u64 {
    3600
}

/// The global action budget and circuit breaker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// At most this many actions in any `window_secs`. Default 10.
    #[serde(default = "default_budget_max")]
    pub max_actions: u32,
    /// Budget window. Default 600.
    #[serde(default = "default_budget_window")]
    pub window_secs: u64,
    /// This many failed actions within the window open the breaker (no actions until the
    /// window passes). Default 3.
    #[serde(default = "default_breaker")]
    pub breaker_failures: u32,
}

fn default_budget_max() -> u32 {
    10
}
fn default_budget_window() -> u64 {
    600
}
fn default_breaker() -> u32 {
    3
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            max_actions: default_budget_max(),
            window_secs: default_budget_window(),
            breaker_failures: default_breaker(),
        }
    }
}

/// Webhook notifications.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// File holding the webhook URL (a mounted Secret), so the URL is not in the config.
    pub webhook_url_file: PathBuf,
    /// Attempts per notification. Default 5.
    #[serde(default = "default_notify_attempts")]
    pub max_attempts: u32,
    /// Per-attempt timeout in seconds. Default 5.
    #[serde(default = "default_http_timeout")]
    pub timeout_secs: u64,
    /// Notifications waiting to be sent; more are dropped and counted. Default 1000.
    #[serde(default = "default_notify_queue")]
    pub queue_capacity: usize,
}

fn default_notify_attempts() -> u32 {
    5
}
fn default_http_timeout() -> u64 {
    5
}
fn default_notify_queue() -> usize {
    1000
}

/// The soft-heal hook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftHealConfig {
    /// Workload annotation naming the hook URL. Default `edgeheal.io/soft-heal-url`.
    #[serde(default = "default_soft_heal_annotation")]
    pub annotation: String,
    /// Key id sent in `X-Edgeheal-Key-Id`.
    pub key_id: String,
    /// File holding the signing secret.
    pub key_file: PathBuf,
    /// How long one attempt at a call may take, in seconds. Default 5. A call is tried at most
    /// 3 times (a 5xx, a 429 or a transport error, after 0.4 s then 0.8 s), but once the heal
    /// API is stopping no attempt is started, so the attempt in flight is the engine's last:
    /// with [`STOP_CALL_MARGIN_SECS`] it must fit in `engine.stop_timeout_secs`, or the config
    /// is refused. At least 1.
    #[serde(default = "default_http_timeout")]
    pub timeout_secs: u64,
    /// Cluster DNS suffix the hook host must end with (`<svc>.<namespace>.svc.<suffix>`).
    /// Default `cluster.local`.
    #[serde(default = "default_cluster_domain")]
    pub cluster_domain: String,
}

fn default_soft_heal_annotation() -> String {
    "edgeheal.io/soft-heal-url".into()
}
fn default_cluster_domain() -> String {
    "cluster.local".into()
}

/// Lease-based leader election.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderElectionConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease. Default `edgeheal-healer`.
    #[serde(default = "default_lease_name")]
    pub lease_name: String,
    /// Lease duration in seconds. Default 15.
    #[serde(default = "default_lease_duration")]
    pub lease_duration_secs: u64,
}

fn default_lease_name() -> String {
    "edgeheal-healer".into()
}
fn default_lease_duration() -> u64 {
    15
}

impl Config {
    /// Reads, parses and validates a YAML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_yaml(&text)
    }

    /// Parses and validates YAML text.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let de = serde_yaml::Deserializer::from_str(text);
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| ConfigError::Parse {
            key: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// `store.retention` against what is counted from the history it deletes.
    fn validate_retention(&self) -> Result<(), ConfigError> {
        let r = &self.store.retention;
        let bad = |key, reason: String| Err(ConfigError::Invalid { key, reason });
        for (key, days) in [
            ("store.retention.records_days", r.records_days),
            ("store.retention.incidents_days", r.incidents_days),
        ] {
            if !(1..=36_500).contains(&days) {
                return bad(key, "must be within 1..=36500".into());
            }
        }
        let kept_secs = u64::from(r.incidents_days) * 86_400;
        for (key, secs) in [
            ("engine.cooldown_secs", self.engine.cooldown_secs),
            ("budget.window_secs", self.budget.window_secs),
            (
                "guards.hpa_restore_after_secs",
                self.guards.hpa_restore_after_secs,
            ),
        ] {
            if secs > kept_secs {
                return bad(
                    "store.retention.incidents_days",
                    format!(
                        "keeps {kept_secs} s of closed incidents, less than {key} ({secs} s), which is counted from them"
                    ),
                );
            }
        }
        if r.max_bytes < MIN_STORE_BYTES {
            return bad(
                "store.retention.max_bytes",
                format!("must be at least {MIN_STORE_BYTES} (16 MiB)"),
            );
        }
        if !(1..=86_400).contains(&r.every_secs) {
            return bad(
                "store.retention.every_secs",
                "must be within 1..=86400".into(),
            );
        }
        Ok(())
    }

    /// The bounds of a shutdown against the pod's grace period.
    fn validate_shutdown(&self) -> Result<(), ConfigError> {
        let grace = self.termination_grace_period_secs;
        if !(1..=3600).contains(&grace) {
            return Err(ConfigError::Invalid {
                key: "termination_grace_period_secs",
                reason: "must be within 1..=3600".into(),
            });
        }
        if self.server.shutdown_delay_secs > 300 {
            return Err(ConfigError::Invalid {
                key: "server.shutdown_delay_secs",
                reason: "must be within 0..=300".into(),
            });
        }
        let needed = self.shutdown_bound_secs();
        if needed > grace {
            return Err(ConfigError::Invalid {
                key: "termination_grace_period_secs",
                reason: format!(
                    "{grace} s cannot hold a shutdown: server.shutdown_delay_secs ({}) + server.shutdown_timeout_secs ({}) + engine.stop_timeout_secs ({}) + {SHUTDOWN_MARGIN_SECS} s to exit = {needed} s, after which Kubernetes would kill the heal API mid-way (lower them, or raise the Deployment's terminationGracePeriodSeconds and this key with it)",
                    self.server.shutdown_delay_secs,
                    self.server.shutdown_timeout_secs,
                    self.engine.stop_timeout_secs
                ),
            });
        }
        let call = self.kubernetes.call_timeout_secs;
        let stop = self.engine.stop_timeout_secs;
        if call.saturating_add(STOP_CALL_MARGIN_SECS) > stop {
            return Err(ConfigError::Invalid {
                key: "kubernetes.call_timeout_secs",
                reason: format!(
                    "{call} s + {STOP_CALL_MARGIN_SECS} s does not fit in engine.stop_timeout_secs ({stop}): at shutdown the engine's call to the Kubernetes API ends with the attempt in flight, and the engine needs time after it to record what it knows (lower this, or raise engine.stop_timeout_secs)"
                ),
            });
        }
        if let Some(hook) = self.soft_heal.as_ref().map(|sh| sh.timeout_secs) {
            if hook == 0 {
                return Err(ConfigError::Invalid {
                    key: "soft_heal.timeout_secs",
                    reason: "must be at least 1 second".into(),
                });
            }
            if hook.saturating_add(STOP_CALL_MARGIN_SECS) > stop {
                return Err(ConfigError::Invalid {
                    key: "soft_heal.timeout_secs",
                    reason: format!(
                        "{hook} s + {STOP_CALL_MARGIN_SECS} s does not fit in engine.stop_timeout_secs ({stop}): at shutdown the engine's call to a soft-heal hook ends with the attempt in flight, and the engine needs time after it to record what it knows (lower this, or raise engine.stop_timeout_secs)"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The longest a shutdown takes, from SIGTERM to the process's exit:
    /// `server.shutdown_delay_secs` + `server.shutdown_timeout_secs` +
    /// `engine.stop_timeout_secs` + [`SHUTDOWN_MARGIN_SECS`]. A valid config's is at most
    /// `termination_grace_period_secs`.
    pub fn shutdown_bound_secs(&self) -> u64 {
        self.server
            .shutdown_delay_secs
            .saturating_add(self.server.shutdown_timeout_secs)
            .saturating_add(self.engine.stop_timeout_secs)
            .saturating_add(SHUTDOWN_MARGIN_SECS)
    }

    /// Semantic checks the schema cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn bad(key: &'static str, reason: impl Into<String>) -> ConfigError {
            ConfigError::Invalid {
                key,
                reason: reason.into(),
            }
        }
        if self.auth.max_clock_skew_secs == 0 || self.auth.max_clock_skew_secs > 3600 {
            return Err(bad("auth.max_clock_skew_secs", "must be within 1..=3600"));
        }
        if !(1..=10_000_000).contains(&self.auth.replay_cache_capacity) {
            return Err(bad(
                "auth.replay_cache_capacity",
                "must be within 1..=10000000",
            ));
        }
        for (key, ids) in [
            ("auth.read_only_keys", &self.auth.read_only_keys),
            ("auth.ingest_only_keys", &self.auth.ingest_only_keys),
        ] {
            if let Some(id) = ids.iter().find(|id| !crate::keys::is_key_id(id)) {
                return Err(bad(
                    key,
                    format!("{id:?} is not a key id (ASCII letters, digits, '-' or '_')"),
                ));
            }
        }
        if let Some(id) = self
            .auth
            .ingest_only_keys
            .iter()
            .find(|id| self.auth.read_only_keys.contains(id))
        {
            return Err(bad(
                "auth.ingest_only_keys",
                format!("{id:?} is in auth.read_only_keys too: it could do nothing"),
            ));
        }
        if self.auth.service.is_empty() || self.auth.region.is_empty() {
            return Err(bad("auth.service", "service and region must be non-empty"));
        }
        if self.store.queue_capacity == 0 {
            return Err(bad("store.queue_capacity", "must be positive"));
        }
        self.validate_retention()?;
        if self.ingest.max_body_bytes == 0
            || self.ingest.max_decompressed_bytes < self.ingest.max_body_bytes
        {
            return Err(bad(
                "ingest.max_decompressed_bytes",
                "must be positive and at least ingest.max_body_bytes",
            ));
        }
        if self.ingest.max_records == 0 {
            return Err(bad("ingest.max_records", "must be positive"));
        }
        let inflight = self.ingest.max_inflight_bytes;
        if inflight / 2 < self.ingest.max_decompressed_bytes || inflight > 4 << 30 {
            return Err(bad(
                "ingest.max_inflight_bytes",
                format!(
                    "must be at least twice ingest.max_decompressed_bytes ({}) and at most 4 GiB",
                    self.ingest.max_decompressed_bytes
                ),
            ));
        }
        for (key, secs) in [
            (
                "server.header_read_timeout_secs",
                self.server.header_read_timeout_secs,
            ),
            (
                "server.body_read_timeout_secs",
                self.server.body_read_timeout_secs,
            ),
            (
                "server.shutdown_timeout_secs",
                self.server.shutdown_timeout_secs,
            ),
            ("engine.stop_timeout_secs", self.engine.stop_timeout_secs),
        ] {
            if !(1..=300).contains(&secs) {
                return Err(bad(key, "must be within 1..=300"));
            }
        }
        self.validate_shutdown()?;
        if !(16..=1_000_000).contains(&self.ingest.max_record_values) {
            return Err(bad(
                "ingest.max_record_values",
                "must be within 16..=1000000",
            ));
        }
        if self.engine.debounce_count == 0 {
            return Err(bad("engine.debounce_count", "must be at least 1"));
        }
        for (key, v) in [
            (
                "engine.debounce_window_secs",
                self.engine.debounce_window_secs,
            ),
            ("engine.verify_window_secs", self.engine.verify_window_secs),
            ("engine.tick_secs", self.engine.tick_secs),
            ("budget.window_secs", self.budget.window_secs),
            (
                "kubernetes.call_timeout_secs",
                self.kubernetes.call_timeout_secs,
            ),
        ] {
            if v == 0 {
                return Err(bad(key, "must be at least 1 second"));
            }
        }
        if !(1..=86_400).contains(&self.engine.max_record_age_secs) {
            return Err(bad(
                "engine.max_record_age_secs",
                "must be within 1..=86400 (one day)",
            ));
        }
        if self.engine.settle_secs >= self.engine.verify_window_secs {
            return Err(bad(
                "engine.settle_secs",
                "must be below engine.verify_window_secs",
            ));
        }
        if self.kubernetes.retry.max_attempts == 0 || self.kubernetes.retry.max_attempts > 10 {
            return Err(bad(
                "kubernetes.retry.max_attempts",
                "must be within 1..=10",
            ));
        }
        if self.guards.scale_step < 1 {
            return Err(bad("guards.scale_step", "must be at least 1"));
        }
        if self.guards.max_replicas < 1 {
            return Err(bad("guards.max_replicas", "must be at least 1"));
        }
        if self.guards.opt_in_label.is_empty() {
            return Err(bad("guards.opt_in_label", "must be non-empty"));
        }
        if self
            .guards
            .namespaces
            .iter()
            .any(|n| n.is_empty() || n == "*")
        {
            return Err(bad(
                "guards.namespaces",
                "list namespaces by name; no empty names or wildcards",
            ));
        }
        if self.mode == Mode::Enforce && self.guards.namespaces.is_empty() {
            return Err(bad(
                "guards.namespaces",
                "enforce mode needs at least one namespace",
            ));
        }
        if self.budget.max_actions == 0 || self.budget.breaker_failures == 0 {
            return Err(bad(
                "budget.max_actions",
                "max_actions and breaker_failures must be positive",
            ));
        }
        for actions in self.policy.values() {
            if actions.contains(&ActionKind::SoftHeal) && self.soft_heal.is_none() {
                return Err(bad(
                    "policy",
                    "soft_heal is used but the soft_heal section is missing",
                ));
            }
        }
        if let Some(le) = &self.leader_election {
            if le.lease_duration_secs < 2 {
                return Err(bad(
                    "leader_election.lease_duration_secs",
                    "must be at least 2",
                ));
            }
            // Parsed so the shape is settled, but no replica takes a Lease
            // yet: accepting the key would let several replicas act at once.
            return Err(bad(
                "leader_election",
                "leader election is not implemented in this version; remove the section and run a single replica (the shipped Deployment has replicas: 1)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "store: { path: /tmp/x.db }\nauth: { keys_dir: /tmp/keys }\n";

    #[test]
    fn role_warnings_name_typos_and_keys_without_a_role() {
        let held: Vec<String> = ["fluent-bit", "ops", "vector"].map(String::from).into();
        let auth = |read_only: &[&str], ingest_only: &[&str]| AuthConfig {
            keys_dir: "/k".into(),
            service: default_service(),
            region: default_region(),
            max_clock_skew_secs: default_skew(),
            replay_cache_capacity: default_replay_capacity(),
            read_only_keys: read_only.iter().map(|s| s.to_string()).collect(),
            ingest_only_keys: ingest_only.iter().map(|s| s.to_string()).collect(),
        };
        assert!(
            auth(&[], &[]).role_warnings(&held).is_empty(),
            "no roles used"
        );
        assert!(auth(&["ops"], &["fluent-bit", "vector"])
            .role_warnings(&held)
            .is_empty());
        let warnings = auth(&["ops"], &["fluentbit", "vector"]).role_warnings(&held);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("auth.ingest_only_keys names \"fluentbit\""));
        assert!(warnings[1].starts_with("key \"fluent-bit\" is in neither"));
    }

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        let guards = if extra.contains("guards:") {
            ""
        } else {
            "guards: { namespaces: [shop] }\n"
        };
        Config::from_yaml(&format!("{BASE}{guards}{extra}\n"))
    }

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.mode, Mode::Shadow);
        assert_eq!(c.auth.service, "edgeheal");
        assert_eq!(c.auth.region, "local");
        assert_eq!(c.auth.max_clock_skew_secs, 300);
        assert_eq!(c.engine.debounce_count, 3);
        assert_eq!(c.engine.max_record_age_secs, 300);
        assert_eq!(c.guards.opt_in_label, "edgeheal.io/heal");
        assert_eq!(c.guards.hpa, HpaPolicy::RaiseMin);
        assert_eq!(c.guards.hpa_restore_after_secs, 3600);
        assert_eq!(
            (
                c.ingest.max_records,
                c.ingest.max_record_values,
                c.ingest.max_inflight_bytes
            ),
            (20_000, 10_000, 64 << 20)
        );
        let server = &c.server;
        assert_eq!(
            (
                server.header_read_timeout_secs,
                server.body_read_timeout_secs,
                server.shutdown_delay_secs,
                server.shutdown_timeout_secs
            ),
            (30, 15, 5, 10)
        );
        assert_eq!(
            (
                c.kubernetes.call_timeout_secs,
                c.engine.stop_timeout_secs,
                c.termination_grace_period_secs
            ),
            (10, 15, 35)
        );
        assert!(c.policy.is_empty());
    }

    /// The lame-duck delay, the requests' drain and the engine's stop, one after the other,
    /// and the margin to exit fit in the pod's grace period: the defaults exactly
    /// (5 + 10 + 15 + 5 = 35); a bound that would let Kubernetes kill the heal API mid-way is
    /// refused, naming the sum. Before, the delay did not exist and was not counted.
    #[test]
    fn the_shutdown_bounds_fit_the_grace_period() {
        let c = parse("").unwrap();
        assert_eq!(c.shutdown_bound_secs(), c.termination_grace_period_secs);
        for (extra, sum) in [
            ("server: { shutdown_delay_secs: 6 }", "= 36 s"),
            ("server: { shutdown_timeout_secs: 11 }", "= 36 s"),
            ("engine: { stop_timeout_secs: 16 }", "= 36 s"),
            ("termination_grace_period_secs: 34", "= 35 s"),
            (
                "termination_grace_period_secs: 30\nserver: { shutdown_delay_secs: 1 }",
                "server.shutdown_delay_secs (1) + server.shutdown_timeout_secs (10) + engine.stop_timeout_secs (15) + 5 s to exit = 31 s",
            ),
        ] {
            let err = parse(extra).unwrap_err().to_string();
            assert!(
                err.contains("termination_grace_period_secs") && err.contains(sum),
                "{extra}: {err}"
            );
        }
        // No delay: the listener closes at once, and the grace period before the delay
        // holds the rest.
        let at_once =
            parse("termination_grace_period_secs: 30\nserver: { shutdown_delay_secs: 0 }").unwrap();
        assert_eq!(at_once.shutdown_bound_secs(), 30);
        let longer = parse(
            "termination_grace_period_secs: 60\nserver: { shutdown_delay_secs: 5, shutdown_timeout_secs: 20 }\nengine: { stop_timeout_secs: 30 }",
        )
        .unwrap();
        assert_eq!(longer.shutdown_bound_secs(), 60);
        for (extra, key) in [
            (
                "engine: { stop_timeout_secs: 0 }",
                "engine.stop_timeout_secs",
            ),
            (
                "termination_grace_period_secs: 3601",
                "termination_grace_period_secs",
            ),
            (
                "termination_grace_period_secs: 3600\nserver: { shutdown_delay_secs: 301 }",
                "server.shutdown_delay_secs",
            ),
        ] {
            let err = parse(extra).unwrap_err().to_string();
            assert!(err.contains(key), "{extra}: {err}");
        }
    }

    /// One attempt at a call to the Kubernetes API, the last once the heal API is stopping,
    /// ends within the engine's stop with a margin: a longer one is refused, naming the key.
    /// Before, a call of 10 s tried 4 times (about 41 s with the backoff) was waited for 15 s.
    #[test]
    fn one_call_to_the_kubernetes_api_fits_in_the_engine_stop() {
        for (extra, fits) in [
            ("", true),
            ("kubernetes: { call_timeout_secs: 13 }", true),
            ("kubernetes: { call_timeout_secs: 14 }", false),
            ("engine: { stop_timeout_secs: 12 }", true),
            ("engine: { stop_timeout_secs: 11 }", false),
            (
                "kubernetes: { call_timeout_secs: 1 }\nengine: { stop_timeout_secs: 3 }",
                true,
            ),
            (
                "kubernetes: { call_timeout_secs: 600 }\nengine: { stop_timeout_secs: 2 }",
                false,
            ),
        ] {
            match parse(extra) {
                Ok(_) => assert!(fits, "{extra}: accepted"),
                Err(e) => {
                    let e = e.to_string();
                    assert!(!fits, "{extra}: {e}");
                    assert!(
                        e.contains("kubernetes.call_timeout_secs")
                            && e.contains("engine.stop_timeout_secs"),
                        "{extra}: {e}"
                    );
                }
            }
        }
    }

    /// The same for one attempt at a soft-heal hook: once the heal API is stopping the hook
    /// is not called again, so its attempt in flight is the engine's last, and it must end
    /// within the engine's stop with the margin; a timeout of 0 would fail every attempt.
    /// Before, nothing bounded it, and the hook was tried 3 times (about 16 s with the
    /// defaults) past the stop.
    #[test]
    fn one_attempt_at_a_soft_heal_hook_fits_in_the_engine_stop() {
        // `soft_heal` with `timeout` (none: its default, 5 s), the engine's stop `stop` (with
        // a Kubernetes call of 1 s, which fits); `None`: no `soft_heal` section.
        let config = |timeout: Option<Option<u64>>, stop: u64| {
            let hook = match timeout {
                None => String::new(),
                Some(None) => "soft_heal: { key_id: healer, key_file: /tmp/sh }\n".into(),
                Some(Some(t)) => format!(
                    "soft_heal: {{ key_id: healer, key_file: /tmp/sh, timeout_secs: {t} }}\n"
                ),
            };
            format!(
                "{hook}engine: {{ stop_timeout_secs: {stop} }}\nkubernetes: {{ call_timeout_secs: 1 }}"
            )
        };
        for (extra, fits) in [
            (config(Some(None), 15), true),
            (config(Some(Some(13)), 15), true),
            (config(Some(Some(14)), 15), false),
            (config(Some(None), 7), true),
            (config(Some(None), 6), false),
            (config(Some(Some(1)), 3), true),
            (config(Some(Some(600)), 3), false),
            // Without the hook, its default does not count.
            (config(None, 6), true),
        ] {
            match parse(&extra) {
                Ok(_) => assert!(fits, "{extra}: accepted"),
                Err(e) => {
                    let e = e.to_string();
                    assert!(!fits, "{extra}: {e}");
                    assert!(
                        e.contains("soft_heal.timeout_secs")
                            && e.contains("engine.stop_timeout_secs"),
                        "{extra}: {e}"
                    );
                }
            }
        }
        assert_eq!(
            parse(&config(Some(None), 15))
                .unwrap()
                .soft_heal
                .unwrap()
                .timeout_secs,
            5
        );
        let err = parse(&config(Some(Some(0)), 15)).unwrap_err().to_string();
        assert!(
            err.contains("soft_heal.timeout_secs") && err.contains("at least 1 second"),
            "{err}"
        );
    }

    #[test]
    fn parse_errors_name_the_offending_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("engine: { debounce_cont: 3 }", "engine", "debounce_cont"),
            ("mode: yolo", "mode", "yolo"),
            ("policy: { cpu_saturation: [explode] }", "policy", "explode"),
            ("policy: { meltdown: [] }", "policy", "meltdown"),
            (
                "guards: { namespaces: [shop], max_replicas: many }",
                "guards.max_replicas",
                "many",
            ),
            ("bogus: 1", "bogus", "unknown field"),
        ];
        for (extra, key, mention) in cases {
            match parse(extra).unwrap_err() {
                ConfigError::Parse { key: k, message } => {
                    assert!(k.starts_with(key), "{extra}: key {k}");
                    assert!(
                        message.contains(mention) || k.contains(mention),
                        "{extra}: {message}"
                    );
                }
                other => panic!("{extra}: expected a parse error, got {other}"),
            }
        }
    }

    #[test]
    fn semantic_errors_name_the_key() {
        let cases: &[(&str, &str)] = &[
            ("engine: { debounce_count: 0 }", "engine.debounce_count"),
            (
                "engine: { verify_window_secs: 0 }",
                "engine.verify_window_secs",
            ),
            ("auth_x: 1", "auth_x"),
            (
                "engine: { max_record_age_secs: 0 }",
                "engine.max_record_age_secs",
            ),
            (
                "engine: { max_record_age_secs: 18446744073709551615 }",
                "engine.max_record_age_secs",
            ),
            (
                "engine: { verify_window_secs: 60, settle_secs: 60 }",
                "engine.settle_secs",
            ),
            (
                "mode: enforce\nguards: { namespaces: [] }",
                "guards.namespaces",
            ),
            ("guards: { namespaces: ['*'] }", "guards.namespaces"),
            (
                "guards: { namespaces: [a], scale_step: 0 }",
                "guards.scale_step",
            ),
            ("policy: { error_burst: [soft_heal] }", "policy"),
            (
                "leader_election: { namespace: edgeheal }",
                "leader_election",
            ),
            (
                "kubernetes: { retry: { max_attempts: 0 } }",
                "kubernetes.retry.max_attempts",
            ),
            (
                "ingest: { max_record_values: 15 }",
                "ingest.max_record_values",
            ),
            (
                "ingest: { max_inflight_bytes: 67108863 }",
                "ingest.max_inflight_bytes",
            ),
            (
                "server: { body_read_timeout_secs: 0 }",
                "server.body_read_timeout_secs",
            ),
            ("server: { idle: 1 }", "server"),
            (
                "server: { header_read_timeout_secs: 301 }",
                "server.header_read_timeout_secs",
            ),
            (
                "server: { shutdown_timeout_secs: 0 }",
                "server.shutdown_timeout_secs",
            ),
        ];
        for (extra, key) in cases {
            let err = parse(extra).unwrap_err();
            assert!(err.to_string().contains(key), "{extra}: {err}");
        }
    }

    #[test]
    fn retention_has_defaults_and_keeps_what_the_guards_count_from() {
        let r = parse("").unwrap().store.retention;
        assert_eq!(
            (r.records_days, r.incidents_days, r.max_bytes, r.every_secs),
            (7, 90, 1 << 30, 300)
        );
        let with = |retention: &str, extra: &str| {
            Config::from_yaml(&format!(
                "store: {{ path: /tmp/x.db, retention: {{ {retention} }} }}\nauth: {{ keys_dir: /tmp/keys }}\nguards: {{ namespaces: [shop] {extra} }}\n"
            ))
        };
        let r = with(
            "records_days: 1, incidents_days: 2, max_bytes: 16777216",
            "",
        )
        .unwrap()
        .store
        .retention;
        assert_eq!(
            (r.records_days, r.incidents_days, r.max_bytes),
            (1, 2, 16 << 20)
        );
        let cases: &[(&str, &str, &str)] = &[
            ("records_days: 0", "", "store.retention.records_days"),
            (
                "incidents_days: 36501",
                "",
                "store.retention.incidents_days",
            ),
            ("max_bytes: 16777215", "", "store.retention.max_bytes"),
            ("every_secs: 0", "", "store.retention.every_secs"),
            // The HPA restore's hold is counted from the closed incidents: a day's history
            // cannot hold two days.
            (
                "incidents_days: 1",
                ", hpa_restore_after_secs: 172800",
                "less than guards.hpa_restore_after_secs (172800 s)",
            ),
            ("records_dayz: 1", "", "store.retention"),
        ];
        for (retention, extra, mention) in cases {
            let err = with(retention, extra).unwrap_err().to_string();
            assert!(err.contains(mention), "{retention} {extra}: {err}");
        }
        // As long as the hold is fine.
        with("incidents_days: 2", ", hpa_restore_after_secs: 172800").unwrap();
    }
}
