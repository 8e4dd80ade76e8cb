//! The incident engine. It pulls committed, unprocessed batches from the store in arrival
//! order, debounces anomalous records per (entity, incident kind), dedupes them onto the open
//! incident, and drives each incident through open → acting → verifying → resolved |
//! escalated | failed (or superseded at a start in another mode, [`State::Superseded`]).
//! Every decision, action and result is written to the store before and after the side
//! effect: an action row (unique per incident step) is committed *before* the
//! Kubernetes call (or the soft-heal hook's), so a crash between the two, or a cycle of the
//! engine that fails between them (a store write refused), leaves an `interrupted` action that
//! is never repeated, and cooldowns and budgets are counted from those rows across restarts.
//! The history says which of the two came between. A stop of the heal API that cuts the call
//! ([`ClusterError::Stopped`], [`SoftHealError::Stopped`]) leaves the action `pending` as a
//! crash does, and the next start finds it `interrupted` the same way. A stop that came before
//! the call was made ([`ClusterError::NotCalled`], [`SoftHealError::NotCalled`]: while the
//! action's intent was written, say) withdraws the action: nothing was sent, so the incident is
//! left `open` for the next start to decide again, not verified as if it had been acted on.
//!
//! Each record of a batch is observed once, whatever interrupts the batch: its effect on the
//! store (a count onto an incident, the incident it opens, the escalation it decides) is
//! written in one transaction with the batch's cursor (`batches.observed`), and a batch that a
//! failed cycle or a restart interrupted is observed again from its cursor
//! ([`Engine::process_pending`]). What a closed incident absorbs is stored with it
//! (`incidents.hold_until`) and read back with the active incidents; the debounce evidence
//! not yet enough to act on is stored with the cursor and rebuilt at a start
//! (`Engine::windows`).
//!
//! A raised HPA minimum is recorded with its action ([`crate::hpa_floor`]) and given back by
//! the periodic [`Engine::tick`] once the workload's incidents are over and
//! `guards.hpa_restore_after_secs` have passed.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::{params, OptionalExtension};
use tokio::sync::{watch, Notify};

use crate::action::ActionKind;
use crate::clock::SharedClock;
use crate::cluster::{Cluster, ClusterError, EventNote, Target};
use crate::config::{Config, Mode};
use crate::hpa_floor::{self, DueRestore, NewRaise, RaiseState};
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::policy::{self, Context, Guards, Plan, Refusal};
use crate::recorder::EventRecorder;
use crate::softheal::{SoftHealError, SoftHealer};
use crate::store::{self, Mark, MarkKind, Store, StoreError};
use crate::tags::{Entity, IncidentKind, Scope, WorkloadKind};

/// Lifecycle states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Debounce passed, or the anomaly recurred after the incident's action: deciding its
    /// (next) step.
    Open,
    /// An action is running.
    Acting,
    /// Action done; watching for recurrence.
    Verifying,
    /// No recurrence within the verify window.
    Resolved,
    /// Handed to a human (policy exhausted or a guard refused).
    Escalated,
    /// The action failed.
    Failed,
    /// Closed at a start in another mode than the one its actions were only recorded in
    /// (dry-run, then enforce): what it would have done was not done, so a recurrence opens a
    /// new incident, from the policy's first action.
    Superseded,
}

impl State {
    /// The states of an incident not closed yet (`edgeheal_healer_incidents_active`).
    pub const ACTIVE: [State; 3] = [State::Open, State::Acting, State::Verifying];

    /// Every state, in the order an incident may pass through them.
    pub const ALL: [State; 7] = [
        State::Open,
        State::Acting,
        State::Verifying,
        State::Resolved,
        State::Escalated,
        State::Failed,
        State::Superseded,
    ];

    /// The store names of [`State::ALL`] (what `GET /v1/incidents?state=` takes).
    pub const NAMES: [&'static str; 7] = [
        State::ALL[0].as_str(),
        State::ALL[1].as_str(),
        State::ALL[2].as_str(),
        State::ALL[3].as_str(),
        State::ALL[4].as_str(),
        State::ALL[5].as_str(),
        State::ALL[6].as_str(),
    ];

    /// Store name.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Acting => "acting",
            State::Verifying => "verifying",
            State::Resolved => "resolved",
            State::Escalated => "escalated",
            State::Failed => "failed",
            State::Superseded => "superseded",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        State::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone)]
struct Incident {
    id: i64,
    entity: Entity,
    kind: IncidentKind,
    target: Target,
    state: State,
    step: usize,
    /// The pod its current step regards (named by records, so untrusted: the guards look it
    /// up and check that the target controls it): the one the record that opened it named,
    /// or, from the step a recurrence escalated it to, the newest one the recurrences that
    /// escalated it named ([`Engine::dedupe`]). A record that names no pod (a workload's
    /// metric) leaves it as it is. Stored with the escalation (`incidents.pod`).
    pod: Option<String>,
    opened_at: Timestamp,
    verify_until: Option<Timestamp>,
    /// When the last action finished (ms): records received up to then were
    /// produced before it and are not a recurrence.
    acted_at_ms: Option<i64>,
    /// When its newest evidence came (ms): the record that opened it, the last one counted
    /// onto it, the recurrence that moved it to its step; after a restart, when the store last
    /// changed it (`updated_at`). A step decided once that is older than
    /// `engine.max_record_age_secs` is refused ([`policy::precheck`]).
    evidence_at_ms: i64,
    /// The recurrences counted against its current step, oldest first, while too few to
    /// escalate it.
    recurrences: VecDeque<Sighting>,
    /// The workload as the API server last described it: its kind (a Deployment-named target
    /// may be found as the Argo Rollout of its name) and uid. Actions, verification and Events
    /// go to it ([`Incident::found_target`]).
    found: Option<(WorkloadKind, String)>,
    /// Verifying, but the workload may still be rolling out the action: the
    /// verify window starts once it has (see [`Cluster::rolled_out`]).
    rolling: bool,
    /// The rollout was seen unfinished at least once.
    rollout_seen_unfinished: bool,
    /// When the rollout status was last asked (ms).
    rollout_checked_ms: Option<i64>,
    /// Why the last ask for the rollout status failed, while it has not been answered since.
    rollout_error: Option<String>,
    /// The rollout status was answered at least once (since the action, or the restart).
    rollout_answered: bool,
    /// Closed: until when (ms) it absorbs its key's records, as its closing transition stored
    /// it ([`Hold`]); `None` if it does not.
    hold_until: Option<i64>,
}

impl Incident {
    /// `found_kind` and `found_uid` as stored: what the target was found as, `None` until it
    /// was looked up.
    fn found_columns(&self) -> (Option<&'static str>, Option<String>) {
        self.found
            .as_ref()
            .map(|(kind, uid)| (kind.as_str(), uid.clone()))
            .unzip()
    }

    /// The workload acted on, verified and described: the target as the API server last
    /// found it (a Deployment-named target may be the Argo Rollout of its name), or as the
    /// records named it before it was looked up (and after a restart of the heal API).
    fn found_target(&self) -> Target {
        match &self.found {
            Some((kind, _)) => Target {
                kind: *kind,
                ..self.target.clone()
            },
            None => self.target.clone(),
        }
    }
}

type Key = (Entity, IncidentKind);

/// An anomalous record counted: into its key's debounce window, or as a recurrence against
/// the incident that verifies its action. The pod it names is the one the step it leads to
/// regards: the incident's first, if the window it is in opens one; the next, if the
/// recurrences it is among escalate the incident.
#[derive(Debug, Clone)]
struct Sighting {
    /// When it was counted (ms, on the engine's clock: when its batch was taken in hand).
    at: i64,
    /// The pod it names, if any.
    pod: Option<String>,
}

impl Sighting {
    /// The pod a step regards: the one `record` names, the record that decides the step,
    /// else the newest one the `earlier` sightings counted with it name, oldest first.
    fn newest_pod<'a>(
        record: Option<&String>,
        earlier: impl DoubleEndedIterator<Item = &'a Sighting>,
    ) -> Option<String> {
        record
            .cloned()
            .or_else(|| earlier.rev().find_map(|s| s.pod.clone()))
    }
}

/// An `acting` incident whose action's result was recorded before a restart or a failed
/// cycle: incident id, step, action, result, when it finished, detail.
type Stranded = (i64, i64, String, String, Option<i64>, Option<String>);

/// What came between an action and its incident's next step when the incidents are
/// recovered from the store; the decisions, action details and log lines of the recovery
/// name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// The heal API stopped ([`Engine::recover`] at a start).
    Restart,
    /// A cycle of the engine failed part-way, a store write refused, while the heal API went
    /// on running ([`Engine::reload_if_failed`]): the call may have completed, its result not
    /// written.
    FailedCycle,
}

impl Cause {
    /// The cause as the texts name it: "action interrupted by {phrase}".
    fn phrase(self) -> &'static str {
        match self {
            Cause::Restart => "a restart",
            Cause::FailedCycle => "a failed cycle",
        }
    }

    /// The detail of an action it left `pending`, now `interrupted`.
    fn interrupted_detail(self) -> &'static str {
        match self {
            Cause::Restart => "healer stopped during the call; outcome unknown; not repeated",
            Cause::FailedCycle => {
                "the heal API's cycle failed during the call (a store write was refused); \
                 outcome unknown; not repeated"
            }
        }
    }
}

/// An active incident as recovery reads it back.
struct Recovered {
    id: i64,
    entity: String,
    workload_kind: String,
    kind: String,
    state: String,
    step: i64,
    pod: Option<String>,
    opened_at: i64,
    verify_until: Option<i64>,
    /// From when its current step's action counts evidence: when the action finished, or when
    /// its rollout was seen over (`ActionRow::verify_from`).
    evidence_from: Option<i64>,
    /// That action ran in enforce mode and changed the workload (not a soft heal): it has a
    /// rollout to wait for.
    rolls_out: Option<bool>,
    /// That action's rollout was seen over.
    rolled_out: bool,
    /// The kind and uid its target was found as.
    found_kind: Option<String>,
    found_uid: Option<String>,
    /// When it last changed or had a record counted onto it (ms): for an `open` one, when
    /// its newest evidence came.
    updated_at: i64,
}

/// The engine; run it with [`Engine::run`] or drive it with [`Engine::process_pending`] and
/// [`Engine::tick`] (tests).
#[derive(Debug)]
pub struct Engine {
    cfg: Arc<Config>,
    store: Store,
    cluster: Option<Arc<dyn Cluster>>,
    soft_healer: Option<SoftHealer>,
    notifier: Notifier,
    /// Posts the Events it records in the background ([`crate::recorder`]): none is awaited.
    events: EventRecorder,
    metrics: Arc<Metrics>,
    clock: SharedClock,
    /// The debounce windows: when (ms, on the engine's clock) each key's recent anomalous
    /// records were observed, while too few to open an incident. A record counts at the time
    /// the engine took its batch in hand (`in_hand`), the same for every record of a batch,
    /// and the window is judged at that time too (a batch observed again later opens what it
    /// would have in one go).
    ///
    /// Held in memory, as are the recurrences counted against a verifying incident, and
    /// stored without a write of their own: each batch's cursor (`batches.observed`, written
    /// with every effect a record has on the store, and when the batch is processed) carries
    /// when the batch was taken in hand and which of its records so far were counted into a
    /// window or as a recurrence ([`store::Mark`]); each incident stores the record that
    /// opened it. A restart rebuilds both from there ([`Engine::recover`]): a key's window
    /// from the window entries within `engine.debounce_window_secs` that came after the
    /// record that opened its last incident (those before were used up by it; back to when a
    /// batch still unprocessed was taken in hand, if earlier), a verifying
    /// incident's recurrences from those received after its action. So it holds what memory
    /// held: not the records an incident or a hold counted, nor those set aside while another
    /// incident's action rolled out, nor stale ones, none of which is marked. The records of
    /// a batch past its stored cursor, whose only effect was on these windows, were not
    /// stored as evidence: they are observed again, once. A failed cycle keeps what memory
    /// has (the reload carries the recurrences of an incident the store still has verifying
    /// the same step), and the batch it interrupted is observed again from where memory left
    /// it, so nothing is counted twice. Batches from before the heal API stored evidence
    /// (schema version 10) rebuild nothing: the first restart after the upgrade forgets it,
    /// as every restart did before.
    windows: HashMap<Key, VecDeque<Sighting>>,
    /// The windows and recurrences have been rebuilt from the store (once, at the start):
    /// later reloads keep what memory has.
    evidence_loaded: bool,
    active: HashMap<Key, Incident>,
    /// Closed incidents that keep absorbing their key's records for a while,
    /// so a persisting anomaly does not reopen an incident (and re-ask the
    /// guards, or act again) with every batch. Stored with each incident
    /// (`hold_until`) and read back by a recovery ([`Engine::recover`]).
    held: HashMap<Key, Hold>,
    /// For each key whose latest closed incident acted, when its evidence began to count
    /// (ms; the action's end, or its rollout's): what the key's pods reported before then was
    /// that incident's to answer. A record made before it opens nothing, however late it
    /// arrives while it is not stale (`engine.max_record_age_secs`), as it would not have
    /// been a recurrence while the incident verified. Read back from the actions by a
    /// recovery.
    answered: HashMap<Key, i64>,
    /// A cycle or a recovery failed part-way (the store): what is held in memory may differ
    /// from the store, so the next cycle reloads the incidents first, as a restart would.
    reload: bool,
    /// The batch being observed ([`InHand`]): after a failed cycle the batch is observed
    /// again from where memory left it, or from its stored cursor if that is further (a
    /// record whose effect was written, a later write failing).
    in_hand: Option<InHand>,
    /// Turns true when the heal API is stopping ([`Engine::run`]'s `shutdown`): no further
    /// record is observed, so no further action starts, and the rest of the queue waits in the
    /// store for the next start. An incident not acted on yet is left `open` for the next start
    /// to decide; an action whose call the stop cut (the Kubernetes API's,
    /// [`ClusterError::Stopped`], or the soft-heal hook's, [`SoftHealError::Stopped`]) is left
    /// `pending`, for the next start to find `interrupted`; one whose call was not made is
    /// withdrawn, its incident left `open`.
    stop: Option<watch::Receiver<bool>>,
}

/// A closed incident absorbing its key's records.
#[derive(Debug, Clone, Copy)]
struct Hold {
    incident: i64,
    /// Until when (ms).
    until: i64,
    /// A resolved traffic surge: it absorbs only the surge's own rate
    /// records (see [`is_strain`]), for as long as they keep coming and a
    /// cooldown after, while strain opens a new incident at once. An
    /// escalated or failed incident absorbs everything until `until`.
    surge: bool,
}

/// The batch the engine is observing.
#[derive(Debug, Clone)]
struct InHand {
    batch: i64,
    /// How many of its records, from the first, memory has observed (their effects on the
    /// store written, if they had any).
    observed: usize,
    /// When the engine took it in hand (ms), first: the time its records count at in a
    /// window or as a recurrence, also when it is observed again after a failed cycle, or
    /// after a restart once a cursor of it was written (the time is stored with it).
    at: i64,
    /// The debounce evidence among its records observed so far.
    marks: Vec<Mark>,
    /// How many of `marks`, from the first, are stored: the others go with its next cursor.
    stored: usize,
}

/// Where a record stands in its batch: once its effect on the store is written, and with it,
/// the first `through` records of batch `batch` are observed.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    batch: i64,
    through: usize,
    /// When the batch was taken in hand ([`InHand::at`]).
    at: i64,
}

impl Cursor {
    /// The record's place in its batch.
    fn record(self) -> usize {
        self.through - 1
    }

    /// Moves the batch's stored cursor past the record, in the transaction `tx` that writes
    /// the record's effect ([`store::mark_observed`]), with the batch's evidence not stored
    /// yet (`marks`, [`Engine::unstored_marks`]).
    fn mark(self, tx: &rusqlite::Transaction<'_>, marks: &[Mark]) -> Result<(), StoreError> {
        store::mark_observed(tx, self.batch, self.through, self.at, marks)
    }
}

/// The debounce evidence a restart rebuilds (`Engine::rebuild_evidence`).
#[derive(Debug, Default)]
struct Rebuilt {
    /// Each key's window.
    windows: HashMap<Key, VecDeque<Sighting>>,
    /// Each key's recurrences: (when its batch was received, the recurrence), in the order
    /// observed.
    recurrences: HashMap<Key, Vec<(i64, Sighting)>>,
}

/// A decision of an incident's history, written in the transaction of the change it decides
/// ([`Engine::transition`], [`Engine::skip`]).
#[derive(Debug)]
struct Decided {
    action: Option<ActionKind>,
    outcome: &'static str,
    reason: String,
}

impl Decided {
    fn new(action: Option<ActionKind>, outcome: &'static str, reason: &str) -> Self {
        Self {
            action,
            outcome,
            reason: reason.to_owned(),
        }
    }

    /// Inserts it for step `step` of incident `id`, at `at` (ms), in `tx`.
    fn insert(
        &self,
        tx: &rusqlite::Transaction<'_>,
        id: i64,
        at: i64,
        step: i64,
    ) -> Result<(), StoreError> {
        tx.execute(
            "INSERT INTO decisions(incident_id, at, step, action, outcome, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, at, step, self.action.map(|a| a.as_str()), self.outcome, self.reason],
        )?;
        Ok(())
    }
}

/// The notifier's message for incident `id`'s `action` that failed with `err`.
fn failure_notice(
    action: impl std::fmt::Display,
    id: i64,
    kind: impl std::fmt::Display,
    entity: impl std::fmt::Display,
    err: &str,
) -> String {
    format!(":x: edgeheal {action} failed for incident {id} {kind} on {entity}: {err}")
}

/// Engine failures (store trouble; Kubernetes trouble is a decision outcome, not an error).
pub type EngineError = StoreError;

/// How an action's call failed, whoever made it: the Kubernetes client or the soft-heal hook.
#[derive(Debug)]
enum Call {
    /// The heal API's stop ended it ([`ClusterError::Stopped`], [`SoftHealError::Stopped`]):
    /// its last attempt failed and was not tried again, so its outcome is unknown.
    Stopped(String),
    /// The heal API was stopping before it was made ([`ClusterError::NotCalled`],
    /// [`SoftHealError::NotCalled`]): nothing was sent.
    NotCalled(String),
    /// It failed: the action's result.
    Failed(String),
}

impl From<ClusterError> for Call {
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::Stopped(why) => Call::Stopped(why),
            ClusterError::NotCalled(why) => Call::NotCalled(why),
            e => Call::Failed(e.to_string()),
        }
    }
}

impl From<SoftHealError> for Call {
    fn from(e: SoftHealError) -> Self {
        match e {
            SoftHealError::Stopped(why) => Call::Stopped(why),
            SoftHealError::NotCalled(why) => Call::NotCalled(why),
            e => Call::Failed(e.to_string()),
        }
    }
}

/// The engine's wake-up and a count of its cycles (each one: process the pending batches, then
/// check deadlines at the clock's time).
///
/// The server only wakes the engine ([`Cycles::waker`]). A caller that moves the engine's clock
/// itself — the closed-loop demo, whose clock follows a simulation — uses [`Cycles::run_one`] so
/// that the engine has seen everything up to the clock's time before the clock moves on, and
/// what it decides depends on the telemetry, not on how fast the machine runs.
#[derive(Debug)]
pub struct Cycles {
    wake: Arc<Notify>,
    started: AtomicU64,
    finished: watch::Sender<u64>,
}

impl Default for Cycles {
    fn default() -> Self {
        Self {
            wake: Arc::new(Notify::new()),
            started: AtomicU64::new(0),
            finished: watch::Sender::new(0),
        }
    }
}

impl Cycles {
    /// The notifier that starts a cycle (the server's after each committed batch).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Wakes the engine and waits until a cycle that started after this call has finished:
    /// it processed every batch committed before the call and checked deadlines at the clock's
    /// time of the call, or later if the clock moved meanwhile. Never returns if the engine is
    /// not running; callers bound it with a timeout.
    pub async fn run_one(&self) {
        let mut finished = self.finished.subscribe();
        let need = self.started.load(Ordering::SeqCst) + 1;
        self.wake.notify_one();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = finished.wait_for(|n| *n >= need).await;
    }

    fn start(&self) -> u64 {
        self.started.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn finish(&self, cycle: u64) {
        self.finished.send_replace(cycle);
    }
}

impl Engine {
    /// Creates an engine. `cluster` must be `Some` unless the mode is shadow. Must be called
    /// within a Tokio runtime: with a cluster, it starts the worker that posts its Events.
    pub fn new(
        cfg: Arc<Config>,
        store: Store,
        cluster: Option<Arc<dyn Cluster>>,
        soft_healer: Option<SoftHealer>,
        notifier: Notifier,
        metrics: Arc<Metrics>,
        clock: SharedClock,
    ) -> Self {
        let events = match (&cluster, cfg.mode) {
            (Some(cluster), Mode::DryRun | Mode::Enforce) => {
                EventRecorder::start(cluster.clone(), cfg.mode == Mode::DryRun, metrics.clone())
            }
            _ => EventRecorder::none(metrics.clone()),
        };
        Self {
            cfg,
            store,
            cluster,
            soft_healer,
            notifier,
            events,
            metrics,
            clock,
            windows: HashMap::new(),
            evidence_loaded: false,
            active: HashMap::new(),
            held: HashMap::new(),
            answered: HashMap::new(),
            reload: false,
            in_hand: None,
            stop: None,
        }
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Startup recovery: actions left `pending` by a crash become `interrupted` (never re-run;
    /// their incident goes to verifying, so a recurrence escalates to the *next* action), and
    /// active incidents are reloaded. Incidents still `open` are decided again (no action row
    /// exists for their step, so nothing can run twice). Active incidents whose actions another
    /// mode only recorded (a start in enforce mode after dry-run) are closed `superseded`.
    /// Closed incidents still absorbing their key's records (escalated or failed within their
    /// cooldown, a resolved traffic surge whose rate goes on) hold them again. The debounce windows and the recurrences of
    /// verifying incidents are rebuilt from the evidence stored with the batches
    /// (`Engine::windows`). The history says a restart came between; after a failed cycle
    /// the engine does the same itself, saying so instead (and keeps the evidence in memory).
    pub async fn recover(&mut self) -> Result<(), EngineError> {
        self.recover_from(Cause::Restart, HashMap::new()).await
    }

    /// [`Engine::recover`], its decisions, action details and log lines naming `cause`.
    /// `before` are the incidents memory held active (after a failed cycle): an incident the
    /// store still has verifying the same step keeps the recurrences counted against it.
    async fn recover_from(
        &mut self,
        cause: Cause,
        mut before: HashMap<Key, Incident>,
    ) -> Result<(), EngineError> {
        let now = self.now().as_millisecond();
        let verify_ms = self.cfg.engine.verify_window_secs as i64 * 1000;
        let hold_until = now + self.cooldown_ms();
        let between = cause.phrase();
        let mode = self.cfg.mode;
        let (interrupted, stranded, raises, failed, superseded) = self
            .store
            .write(move |tx| {
                let mut stmt = tx.prepare("SELECT incident_id, step, action FROM actions WHERE result = 'pending'")?;
                let rows: Vec<(i64, i64, String)> =
                    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<_, _>>()?;
                for (incident, step, action) in &rows {
                    tx.execute(
                        "UPDATE actions SET result = 'interrupted', finished_at = ?1, detail = ?2
                         WHERE incident_id = ?3 AND step = ?4",
                        params![now, cause.interrupted_detail(), incident, step],
                    )?;
                    tx.execute(
                        "UPDATE incidents SET state = 'verifying', verify_until = ?1, updated_at = ?2 WHERE id = ?3 AND state = 'acting'",
                        params![now + verify_ms, now, incident],
                    )?;
                    tx.execute(
                        "INSERT INTO decisions(incident_id, at, step, action, outcome, reason) VALUES (?1, ?2, ?3, ?4, 'interrupted', ?5)",
                        params![incident, now, step, action, format!("action interrupted by {between}; verifying instead of repeating it")],
                    )?;
                }
                // An action whose result was written, with the heal API stopped (or its cycle
                // failed) before its incident moved on: verifying from when it finished, or
                // failed.
                let mut stmt = tx.prepare(
                    "SELECT i.id, i.step, a.action, a.result, a.finished_at, a.detail FROM incidents i
                     JOIN actions a ON a.incident_id = i.id AND a.step = i.step
                     WHERE i.state = 'acting' AND a.result != 'pending'",
                )?;
                let stranded: Vec<Stranded> = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
                    .collect::<Result<_, _>>()?;
                // The notification of each failure, which went with the transition that did
                // not happen: sent once this one is written.
                let mut failed = Vec::new();
                for (incident, step, action, result, finished, detail) in &stranded {
                    let detail = detail.as_deref().unwrap_or("");
                    if result == "failed" {
                        let (kind, entity): (String, String) = tx.query_row(
                            "SELECT kind, entity FROM incidents WHERE id = ?1",
                            [incident],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )?;
                        failed.push(format!(
                            "{} (recorded before {between})",
                            failure_notice(action, *incident, &kind, &entity, detail)
                        ));
                        let reason = format!("{action} failed: {detail}");
                        tx.execute(
                            "UPDATE incidents SET state = 'failed', updated_at = ?1, closed_at = ?1, reason = ?2, hold_until = ?4
                             WHERE id = ?3",
                            params![now, reason, incident, hold_until],
                        )?;
                        tx.execute(
                            "INSERT INTO decisions(incident_id, at, step, action, outcome, reason) VALUES (?1, ?2, ?3, ?4, 'failed', ?5)",
                            params![incident, now, step, action, format!("{detail} (recorded before {between})")],
                        )?;
                    } else {
                        let until = finished.unwrap_or(now) + verify_ms;
                        tx.execute(
                            "UPDATE incidents SET state = 'verifying', verify_until = ?1, updated_at = ?2, reason = ?3 WHERE id = ?4",
                            params![until, now, format!("{action}: {detail}"), incident],
                        )?;
                        tx.execute(
                            "INSERT INTO decisions(incident_id, at, step, action, outcome, reason) VALUES (?1, ?2, ?3, ?4, 'verifying', ?5)",
                            params![incident, now, step, action, format!("the action had finished before {between}; verifying from when it did")],
                        )?;
                    }
                }
                let superseded = supersede(tx, mode, now)?;
                let raises = hpa_floor::unsettled(tx)?.len();
                Ok((rows.len(), stranded.len(), raises, failed, superseded))
            })
            .await?;
        for (incident, kind) in &superseded {
            tracing::warn!(
                incident,
                kind,
                mode = mode.as_str(),
                "incident closed: its actions were only recorded, in another mode"
            );
            self.metrics.incident(kind, State::Superseded.as_str());
        }
        for note in failed {
            self.notifier.notify(note);
        }
        // From here on what memory holds may differ from the store until the end: a failure
        // is followed by a reload ([`Engine::reload_if_failed`]).
        self.reload = true;
        if stranded > 0 {
            tracing::warn!(
                stranded,
                "incidents whose action had finished before {between} were moved on"
            );
        }
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "actions interrupted by {between} were marked and will not be repeated"
            );
        }
        if raises > 0 {
            tracing::warn!(
                raises,
                "HPA raises interrupted by {between}; their outcome is read back from the HPA on the next tick"
            );
        }
        // Once, at the start: afterwards memory holds more than the store (window entries past
        // a batch's stored cursor).
        let mut rebuilt = if self.evidence_loaded {
            None
        } else {
            Some(self.rebuild_evidence(now).await?)
        };
        let rows = self
            .store
            .read(|c| {
                let mut stmt = c.prepare(
                    "SELECT i.id, i.entity, i.workload_kind, i.kind, i.state, i.step, i.pod, i.opened_at,
                       i.verify_until, COALESCE(a.verify_from, a.finished_at), a.mode = 'enforce' AND a.action != ?1,
                       a.verify_from IS NOT NULL, i.found_kind, i.found_uid, i.updated_at
                     FROM incidents i
                     LEFT JOIN actions a ON a.incident_id = i.id AND a.step = i.step
                     WHERE i.state IN ('open', 'acting', 'verifying') ORDER BY i.id",
                )?;
                let rows: Vec<Recovered> = stmt
                    .query_map([ActionKind::SoftHeal.as_str()], |r| {
                        Ok(Recovered {
                            id: r.get(0)?,
                            entity: r.get(1)?,
                            workload_kind: r.get(2)?,
                            kind: r.get(3)?,
                            state: r.get(4)?,
                            step: r.get(5)?,
                            pod: r.get(6)?,
                            opened_at: r.get(7)?,
                            verify_until: r.get(8)?,
                            evidence_from: r.get(9)?,
                            rolls_out: r.get(10)?,
                            rolled_out: r.get(11)?,
                            found_kind: r.get(12)?,
                            found_uid: r.get(13)?,
                            updated_at: r.get(14)?,
                        })
                    })?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .await?;
        let held = self
            .store
            .read(move |c| {
                let mut stmt = c.prepare(&format!(
                    "SELECT i.id, i.entity, i.kind, i.state = 'resolved', i.hold_until FROM incidents i
                     WHERE i.hold_until > ?3 AND i.state IN ('resolved', 'escalated', 'failed')
                       AND NOT {ONLY_RECORDED_ELSEWHERE}
                     ORDER BY i.id"
                ))?;
                let rows: Vec<(i64, String, String, bool, i64)> = stmt
                    .query_map(params![mode.as_str(), Mode::Enforce.as_str(), now], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .await?;
        let since = now.saturating_sub(self.max_record_age_ms());
        let answered = self
            .store
            .read(move |c| {
                let mut stmt = c.prepare(
                    "SELECT i.entity, i.kind, MAX(COALESCE(a.verify_from, a.finished_at)) FROM incidents i
                     JOIN actions a ON a.incident_id = i.id AND a.mode IN (?1, ?2)
                     WHERE i.state IN ('resolved', 'escalated', 'failed')
                     GROUP BY i.entity, i.kind
                     HAVING MAX(COALESCE(a.verify_from, a.finished_at)) > ?3",
                )?;
                let rows: Vec<(String, String, i64)> = stmt
                    .query_map(params![mode.as_str(), Mode::Enforce.as_str(), since], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .await?;
        self.answered = answered
            .into_iter()
            .filter_map(|(entity, kind, from)| {
                Some(((Entity::parse(&entity)?, IncidentKind::parse(&kind)?), from))
            })
            .collect();
        self.held.clear();
        for (incident, entity, kind, surge, until) in held {
            if let (Some(entity), Some(kind)) = (Entity::parse(&entity), IncidentKind::parse(&kind))
            {
                // The latest incident of a key holds it.
                self.held.insert(
                    (entity, kind),
                    Hold {
                        incident,
                        until,
                        surge,
                    },
                );
            }
        }
        let mut reopen = Vec::new();
        for row in rows {
            let (Some(entity), Some(kind), Some(state)) = (
                Entity::parse(&row.entity),
                IncidentKind::parse(&row.kind),
                State::parse(&row.state),
            ) else {
                continue;
            };
            let target = Target {
                namespace: entity.namespace.clone(),
                kind: WorkloadKind::parse(&row.workload_kind).unwrap_or(WorkloadKind::Deployment),
                name: entity.workload.clone(),
            };
            // The workload may still be rolling out the enforced action the restart or failed
            // cycle came between (or interrupted): unless its rollout was seen over, it is
            // asked again before the window is judged. A soft heal has none.
            let rolling = state == State::Verifying
                && row.evidence_from.is_some()
                && row.rolls_out == Some(true)
                && !row.rolled_out;
            let step = usize::try_from(row.step).unwrap_or(0);
            // After a failed cycle, the recurrences counted against an incident the store
            // still has verifying the same step are evidence still. At a start they are
            // rebuilt: those received after its action (the earlier ones were counted against
            // its earlier steps, or before a restart that left it verifying this step).
            let key = (entity.clone(), kind);
            let kept = before
                .remove(&key)
                .filter(|b| {
                    b.id == row.id
                        && b.step == step
                        && b.state == State::Verifying
                        && state == State::Verifying
                })
                .map(|b| b.recurrences);
            let recurrences = match (kept, &mut rebuilt) {
                (Some(kept), _) => kept,
                (None, Some(rebuilt)) if state == State::Verifying => rebuilt
                    .recurrences
                    .remove(&key)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(received, _)| row.evidence_from.is_none_or(|from| *received > from))
                    .map(|(_, recurrence)| recurrence)
                    .collect(),
                (None, _) => VecDeque::new(),
            };
            let inc = Incident {
                id: row.id,
                entity: entity.clone(),
                kind,
                target,
                state,
                step,
                pod: row.pod,
                opened_at: Timestamp::from_millisecond(row.opened_at)
                    .unwrap_or(Timestamp::UNIX_EPOCH),
                verify_until: row
                    .verify_until
                    .and_then(|v| Timestamp::from_millisecond(v).ok()),
                // Records made before it are no recurrence after a restart (or a failed
                // cycle) either.
                acted_at_ms: row.evidence_from,
                evidence_at_ms: row.updated_at,
                recurrences,
                found: row
                    .found_kind
                    .as_deref()
                    .and_then(WorkloadKind::parse)
                    .zip(row.found_uid),
                rolling,
                rollout_seen_unfinished: false,
                rollout_checked_ms: None,
                rollout_error: None,
                rollout_answered: false,
                hold_until: None,
            };
            if state == State::Open {
                reopen.push((entity.clone(), kind));
            }
            self.active.insert(key, inc);
        }
        if let Some(rebuilt) = rebuilt {
            // A key with an incident in progress or a hold has no window (those records were
            // counted onto it): none is marked after the incident opened, and none is let in.
            let windows = rebuilt
                .windows
                .into_iter()
                .filter(|(key, _)| !self.active.contains_key(key) && !self.held.contains_key(key))
                .collect();
            self.windows = windows;
            self.evidence_loaded = true;
        }
        // An incident left open (the heal API stopped or failed while it decided it) is
        // decided now; its step is refused if its newest evidence has grown stale
        // ([`policy::precheck`]).
        for key in reopen {
            if let Some(mut inc) = self.active.remove(&key) {
                self.advance(&mut inc).await?;
                self.keep_if_active(key, inc);
            }
        }
        self.reload = false;
        self.publish_active().await;
        Ok(())
    }

    /// Reads back the debounce evidence stored with the batches the engine took in hand within
    /// the last `engine.debounce_window_secs` before `now`, or before the time a batch still
    /// unprocessed was taken in hand if that is earlier (`Engine::windows`): each key's
    /// window entries that came after the record that opened its latest incident (those
    /// before it were used up by it, or by an earlier one), and every key's recurrences.
    async fn rebuild_evidence(&self, now: i64) -> Result<Rebuilt, EngineError> {
        let window_ms = self.window_ms();
        // A batch observed part-way is observed again at the time it was first taken in hand,
        // its window judged at that time: what memory held then is rebuilt. Not past the
        // record age, beyond which its records are stale anyway.
        let oldest_ms = now.saturating_sub(self.max_record_age_ms());
        type Read = Vec<(Key, store::Evidence, Option<(i64, usize)>)>;
        let evidence: Read = self
            .store
            .read(move |c| {
                let in_hand = store::earliest_in_hand(c)?;
                let since = in_hand
                    .map_or(now, |at| at.clamp(oldest_ms, now))
                    .saturating_sub(window_ms);
                let mut openings: HashMap<Key, Option<(i64, usize)>> = HashMap::new();
                let mut out = Vec::new();
                for e in store::debounce_evidence(c, since)? {
                    let (Some(entity), Some(kind)) = (
                        e.entity.as_deref().and_then(Entity::parse),
                        IncidentKind::parse(&e.incident),
                    ) else {
                        continue;
                    };
                    let key = (entity, kind);
                    let opened = match openings.get(&key) {
                        Some(opened) => *opened,
                        None => {
                            // An incident from before openings were stored came before every
                            // mark: it used up none of them.
                            let opened =
                                store::latest_opening(c, &key.0.to_string(), key.1.as_str())?
                                    .flatten();
                            openings.insert(key.clone(), opened);
                            opened
                        }
                    };
                    out.push((key, e, opened));
                }
                Ok(out)
            })
            .await?;
        let mut rebuilt = Rebuilt::default();
        for (key, e, opened) in evidence {
            match e.kind {
                MarkKind::Window => {
                    if opened.is_some_and(|o| (e.batch, e.record) <= o) {
                        continue;
                    }
                    rebuilt.windows.entry(key).or_default().push_back(Sighting {
                        at: e.observed_at_ms,
                        pod: e.pod,
                    });
                }
                MarkKind::Recurrence => rebuilt.recurrences.entry(key).or_default().push((
                    e.received_at_ms,
                    Sighting {
                        at: e.observed_at_ms,
                        pod: e.pod,
                    },
                )),
            }
        }
        for w in rebuilt.windows.values_mut() {
            w.make_contiguous().sort_by_key(|s| s.at);
        }
        for r in rebuilt.recurrences.values_mut() {
            r.sort_by_key(|(_, recurrence)| recurrence.at);
        }
        Ok(rebuilt)
    }

    /// `engine.debounce_window_secs` in ms.
    fn window_ms(&self) -> i64 {
        (self.cfg.engine.debounce_window_secs as i64).saturating_mul(1000)
    }

    /// Sets `edgeheal_healer_incidents_active` from the store, the record of truth: open and
    /// acting are momentary between cycles, so one counted there is stuck (a call that has
    /// not come back, or a store failure the engine has not recovered from yet).
    async fn publish_active(&self) {
        let counted = self
            .store
            .read(|c| {
                let mut stmt = c.prepare(
                    "SELECT state, count(*) FROM incidents
                     WHERE state IN ('open', 'acting', 'verifying') GROUP BY state",
                )?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await;
        let Ok(counted) = counted else {
            return; // the store is down: paged on its own; the gauge keeps its last value
        };
        for state in State::ACTIVE {
            let n = counted
                .iter()
                .find(|(s, _)| s == state.as_str())
                .map_or(0, |(_, n)| *n);
            self.metrics.active_incidents(state.as_str(), n);
        }
    }

    /// Runs until `shutdown` turns true: recovers the incidents from the store
    /// ([`Engine::recover`]), then processes batches when woken through `cycles` and checks
    /// verify deadlines every tick. `alive` is set once the recovery succeeded and cleared while
    /// the store fails (readiness goes red).
    ///
    /// A recovery the store refuses (the disk full, the database locked) is retried after
    /// [`RECOVERY_RETRY_FIRST`], then after twice as long each time, at most
    /// [`RECOVERY_RETRY_MAX`], each failure logged. After [`RECOVERY_ATTEMPTS`] failed attempts
    /// it gives up and returns the last error: the engine has stopped for good, and the caller
    /// ([`crate::runtime::run`]) stops the heal API with an error, so that Kubernetes restarts
    /// it rather than leaving it unready, out of its Service, for ever. `Ok` once `shutdown`
    /// turned true.
    pub async fn run(
        mut self,
        cycles: Arc<Cycles>,
        mut shutdown: watch::Receiver<bool>,
        alive: Arc<AtomicBool>,
    ) -> Result<(), EngineError> {
        alive.store(false, Ordering::SeqCst);
        self.stop = Some(shutdown.clone());
        if !self.recover_retrying(&mut shutdown).await? {
            return Ok(());
        }
        alive.store(true, Ordering::SeqCst);
        let mut tick = tokio::time::interval(Duration::from_secs(self.cfg.engine.tick_secs));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = cycles.wake.notified() => {}
                _ = tick.tick() => {}
            }
            let cycle = cycles.start();
            let res = async {
                self.process_pending().await?;
                if self.stopping() {
                    return Ok(());
                }
                self.tick().await
            }
            .await;
            cycles.finish(cycle);
            if let Err(e) = res {
                tracing::error!(error = %e, "engine store failure; retrying");
                alive.store(false, Ordering::SeqCst);
                self.publish_active().await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            } else {
                alive.store(true, Ordering::SeqCst);
            }
            if *shutdown.borrow() {
                break;
            }
        }
        Ok(())
    }

    /// [`Engine::recover`], retried as [`Engine::run`] says. `Ok(true)`: recovered;
    /// `Ok(false)`: `shutdown` turned true meanwhile; `Err`: the last error, once
    /// [`RECOVERY_ATTEMPTS`] attempts failed.
    async fn recover_retrying(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<bool, EngineError> {
        let mut wait = RECOVERY_RETRY_FIRST;
        let mut attempt = 1;
        loop {
            // An attempt that failed past its first write (the interrupted actions marked) may
            // have acted on a reopened incident: the next one reloads as after a failed
            // cycle, which names it so. One that failed before changed nothing.
            let recovered = if self.reload {
                self.reload_if_failed().await
            } else {
                self.active.clear();
                self.recover().await
            };
            let error = match recovered {
                Ok(()) => return Ok(true),
                Err(e) => e,
            };
            if attempt >= RECOVERY_ATTEMPTS {
                tracing::error!(
                    error = %error,
                    attempts = attempt,
                    "engine recovery failed; giving up: the heal API stops so that Kubernetes restarts it"
                );
                return Err(error);
            }
            tracing::error!(
                error = %error,
                attempt,
                retry_in_secs = wait.as_secs(),
                "engine recovery failed; retrying (the heal API is not ready until it succeeds)"
            );
            tokio::select! {
                _ = shutdown.changed() => return Ok(false),
                () = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(RECOVERY_RETRY_MAX);
            attempt += 1;
        }
    }

    /// Processes every committed, unprocessed batch. Returns how many batches were processed.
    /// After a cycle that failed part-way it first reloads the incidents from the store, as
    /// [`Engine::recover`] does at a start.
    ///
    /// Each record is observed once, also when a failed cycle or a restart interrupts its
    /// batch: a record's effect on the store (counted onto the incident it belongs to, the
    /// incident it opens, the escalation its recurrence decides) is written in one transaction
    /// with the batch's cursor, and an interrupted batch is observed again from its cursor, or
    /// after a failed cycle from where memory left it. What the effect set off (the decisions
    /// and actions of an incident opened or escalated) is the recovery's to finish, as for any
    /// incident. A record that only added to a debounce window (or counted as a recurrence)
    /// has no write of its own: it is stored as evidence with the batch's next cursor, and a
    /// restart rebuilds the windows from what is stored (`Engine::windows`); one past the
    /// stored cursor is observed again, once. So a fault whose records straddle a restart
    /// opens its incident (or escalates it) at the record it would have without the restart,
    /// never on records counted twice.
    pub async fn process_pending(&mut self) -> Result<usize, EngineError> {
        self.reload_if_failed().await?;
        let done = self.process_batches().await;
        self.reload |= done.is_err();
        done
    }

    /// After a cycle that failed part-way (a store write refused, the disk full), an incident
    /// being worked on may have left memory while the store still has it in progress, or the
    /// reverse: the incidents are reloaded from the store as at a start ([`Engine::recover`]:
    /// an action whose result was not written is `interrupted` and never repeated), so none
    /// is left unresolved or opened twice. What memory gathered that the store does not hold
    /// is kept: the debounce windows, and the recurrences counted against an incident the
    /// store still has verifying the same step. The history says the cycle failed, not that
    /// the heal API restarted: it did not stop, and the call may have completed.
    async fn reload_if_failed(&mut self) -> Result<(), EngineError> {
        if !self.reload {
            return Ok(());
        }
        tracing::warn!("reloading the incidents from the store after a failed cycle");
        let before = std::mem::take(&mut self.active);
        self.recover_from(Cause::FailedCycle, before).await
    }

    async fn process_batches(&mut self) -> Result<usize, EngineError> {
        let mut total = 0;
        loop {
            let batches = self
                .store
                .read(|c| store::unprocessed_batches(c, 64))
                .await?;
            if batches.is_empty() {
                return Ok(total);
            }
            for batch in batches {
                let id = batch.id;
                if !self.process_batch(batch).await? {
                    tracing::info!(
                        batch = id,
                        "stopping: the batches not processed yet wait in the store for the next start"
                    );
                    return Ok(total);
                }
                total += 1;
            }
        }
    }

    /// Whether the heal API is stopping: the engine then starts nothing new.
    fn stopping(&self) -> bool {
        self.stop.as_ref().is_some_and(|stop| *stop.borrow())
    }

    /// Observes the records of `batch` not observed yet, in order, then marks it processed.
    /// `Ok(false)`: the heal API is stopping and the batch was left part-way (or whole), its
    /// cursor where its last written effect put it, for the next start to go on from; an
    /// action under way when the stop came ends with its call's attempt in flight (the
    /// Kubernetes client tries nothing more, within `engine.stop_timeout_secs`), and none is
    /// started after it.
    async fn process_batch(&mut self, batch: store::UnprocessedBatch) -> Result<bool, EngineError> {
        let id = batch.id;
        let max_age_ms = self.max_record_age_ms();
        let now = self.now().as_millisecond();
        // Memory may be past the stored cursor after a failed cycle: records that only added
        // to a debounce window are in it already. A batch taken in hand before (a failed
        // cycle, a restart) keeps the time it was first taken in hand, and its evidence.
        let hand = match self.in_hand.take() {
            Some(hand) if hand.batch == id => InHand {
                observed: hand.observed.max(batch.observed),
                ..hand
            },
            _ => InHand {
                batch: id,
                observed: batch.observed,
                at: batch.observed_at_ms.unwrap_or(now),
                stored: batch.marks.len(),
                marks: batch.marks,
            },
        };
        let from = hand.observed;
        self.in_hand = Some(hand);
        let records = batch.records.len();
        let (mut stale, mut oldest_ms) = (0u64, 0i64);
        let mut observed = Ok(());
        let mut stopped = false;
        for (i, r) in batch.records.into_iter().enumerate().skip(from) {
            let Some(hand) = self.in_hand.as_mut() else {
                break;
            };
            hand.observed = i;
            let at = Cursor {
                batch: id,
                through: i + 1,
                at: hand.at,
            };
            if self.stopping() {
                stopped = true;
                break;
            }
            match age_if_stale(&r, now, max_age_ms) {
                Some(age_ms) => {
                    stale += 1;
                    oldest_ms = oldest_ms.max(age_ms);
                }
                None => {
                    observed = self.observe(r, at).await;
                    if observed.is_err() {
                        break;
                    }
                }
            }
        }
        // Also when the cycle failed: memory does not observe these records again.
        if stale > 0 {
            self.metrics.stale_anomalies.inc_by(stale);
            tracing::warn!(
                batch = id,
                records = stale,
                oldest_age_secs = oldest_ms / 1000,
                max_record_age_secs = self.cfg.engine.max_record_age_secs,
                "anomalous records too old to act on: stored, not acted on"
            );
        }
        observed?;
        if stopped {
            return Ok(false);
        }
        let Some(hand) = self.in_hand.as_mut() else {
            return Ok(true);
        };
        hand.observed = records;
        let at = hand.at;
        let marks = self.unstored_marks(None);
        self.store
            .write(move |tx| store::mark_processed(tx, id, at, &marks))
            .await?;
        self.in_hand = None;
        Ok(true)
    }

    /// Adds the record at `record` of the batch in hand to its debounce evidence, as `kind`:
    /// stored with the batch's next cursor.
    fn add_mark(&mut self, record: usize, kind: MarkKind) {
        if let Some(hand) = self.in_hand.as_mut() {
            hand.marks.push(Mark { record, kind });
        }
    }

    /// The debounce evidence of the batch in hand not stored yet, and `own` (the record's
    /// own, if it counts as evidence too): what the next cursor write appends.
    fn unstored_marks(&self, own: Option<Mark>) -> Vec<Mark> {
        let unstored = self.in_hand.as_ref().map_or(&[][..], |hand| {
            &hand.marks[hand.stored.min(hand.marks.len())..]
        });
        unstored.iter().copied().chain(own).collect()
    }

    /// After a cursor write of the batch in hand committed: `own` (as given to
    /// [`Engine::unstored_marks`]) is added, and all its evidence is stored.
    fn marks_stored(&mut self, own: Option<Mark>) {
        if let Some(hand) = self.in_hand.as_mut() {
            hand.marks.extend(own);
            hand.stored = hand.marks.len();
        }
    }

    /// Observes one record of a batch: an anomalous one is counted onto its key's active
    /// incident ([`Engine::dedupe`]) or onto the closed incident holding the key, or added to
    /// the key's debounce window, which opens an incident once it is full. What the record
    /// writes to the store is written with `at` in one transaction, and memory changes only
    /// once it is: a record whose write failed is observed again as if for the first time.
    async fn observe(&mut self, r: store::StoredRecord, at: Cursor) -> Result<(), EngineError> {
        if !r.anomaly {
            return Ok(());
        }
        let scope = Scope::of_record(r.entity.as_deref(), r.workload_kind.as_deref());
        let (Some(entity), Some(kind)) =
            (scope.workload().cloned(), IncidentKind::parse(&r.incident))
        else {
            return Ok(());
        };
        let now = self.now().as_millisecond();
        let window_ms = self.cfg.engine.debounce_window_secs as i64 * 1000;
        let threshold = self.cfg.engine.debounce_count as usize;
        let key = (entity.clone(), kind);
        if let Some(mut inc) = self.active.remove(&key) {
            let deduped = self.dedupe(&mut inc, &r, at).await;
            if deduped.is_ok() {
                self.keep_if_active(key, inc);
            } else {
                // For the reload that follows the failed cycle, which keeps the recurrences
                // counted against it if the store still has it verifying the same step.
                self.active.insert(key, inc);
            }
            return deduped;
        }
        if let Some(hold) = self.held.get(&key).copied() {
            let absorbed = !hold.surge || !is_strain(kind, r.family.as_deref());
            if now < hold.until && absorbed {
                // A surge holds its key as long as its rate records keep coming, and a
                // cooldown after.
                let until = if hold.surge {
                    now + self.cooldown_ms()
                } else {
                    hold.until
                };
                let id = hold.incident;
                let marks = self.unstored_marks(None);
                self.store
                    .write(move |tx| {
                        tx.execute(
                            "UPDATE incidents SET record_count = record_count + 1, updated_at = ?1, hold_until = ?2
                             WHERE id = ?3",
                            params![now, until, id],
                        )?;
                        at.mark(tx, &marks)
                    })
                    .await?;
                self.marks_stored(None);
                self.held.insert(key, Hold { until, ..hold });
                return Ok(());
            }
            if now < hold.until {
                // Strain ends a surge's hold before its time, for a reload or a restart too.
                // Not the record's effect: observed again, it finds no hold either.
                let id = hold.incident;
                self.store
                    .write(move |tx| {
                        tx.execute("UPDATE incidents SET hold_until = NULL WHERE id = ?1", [id])?;
                        Ok(())
                    })
                    .await?;
            }
            self.held.remove(&key);
        }
        if let Some(&from) = self.answered.get(&key) {
            if now.saturating_sub(from) > self.max_record_age_ms() {
                // Whatever was made before it is stale by now.
                self.answered.remove(&key);
            } else if made_at(&r).is_some_and(|made| made <= from) {
                tracing::debug!(
                    entity = %entity,
                    kind = kind.as_str(),
                    "anomalous record made before the last action on its workload: answered by it"
                );
                return Ok(());
            }
        }
        if self.rolling_out(&entity).await? {
            // The workload is rolling out another incident's action: its pods
            // are being replaced and started, and what they report waits until
            // the rollout is over and settled (a fault that outlasts it opens
            // then).
            return Ok(());
        }
        // Judged at the time its records count at (the batch's, `at.at`), not at the time each
        // is observed: a batch observed again long after it was taken in hand (a restart, a
        // store that refused writes for a while) opens what it opens when observed in one go.
        let w = self.windows.entry(key.clone()).or_default();
        while w.front().is_some_and(|s| s.at < at.at - window_ms) {
            w.pop_front();
        }
        if w.len() + 1 < threshold {
            w.push_back(Sighting {
                at: at.at,
                pod: r.pod.clone(),
            });
            self.add_mark(at.record(), MarkKind::Window);
            return Ok(());
        }
        let count = w.len() as i64 + 1;
        // The pod its first step regards (a workload's metrics name none, its events and logs
        // do).
        let pod = Sighting::newest_pod(r.pod.as_ref(), w.iter());
        let workload_kind = r
            .workload_kind
            .as_deref()
            .and_then(WorkloadKind::parse)
            .unwrap_or(WorkloadKind::Deployment);
        let target = Target {
            namespace: entity.namespace.clone(),
            kind: workload_kind,
            name: entity.workload.clone(),
        };
        let (ent_s, ns, wl, wk, kind_s, stored_pod) = (
            entity.to_string(),
            entity.namespace.clone(),
            entity.workload.clone(),
            workload_kind.as_str(),
            kind.as_str(),
            pod.clone(),
        );
        // The record that opens it: the window entries before it are used up.
        let (opened_batch, opened_record) = (at.batch, at.record() as i64);
        let marks = self.unstored_marks(None);
        let id = self
            .store
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO incidents(entity, namespace, workload, workload_kind, kind, state, step, pod, record_count, opened_at, updated_at, opened_batch, opened_record)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'open', 0, ?6, ?7, ?8, ?8, ?9, ?10)",
                    params![ent_s, ns, wl, wk, kind_s, stored_pod, count, now, opened_batch, opened_record],
                )?;
                let id = tx.last_insert_rowid();
                at.mark(tx, &marks)?;
                Ok(id)
            })
            .await?;
        self.marks_stored(None);
        self.windows.remove(&key);
        self.metrics.incident(kind.as_str(), "open");
        tracing::info!(incident = id, entity = %entity, kind = kind.as_str(), "incident opened");
        let mut inc = Incident {
            id,
            entity,
            kind,
            target,
            state: State::Open,
            step: 0,
            pod,
            opened_at: Timestamp::from_millisecond(now).unwrap_or(Timestamp::UNIX_EPOCH),
            verify_until: None,
            acted_at_ms: None,
            evidence_at_ms: now,
            recurrences: VecDeque::new(),
            found: None,
            rolling: false,
            rollout_seen_unfinished: false,
            rollout_checked_ms: None,
            rollout_error: None,
            rollout_answered: false,
            hold_until: None,
        };
        self.advance(&mut inc).await?;
        self.keep_if_active(key, inc);
        Ok(())
    }

    /// Counts record `r` onto `inc`, the active incident of its key. While the incident
    /// verifies its action, a record made after it is a recurrence, and the one that fills a
    /// debounce window escalates the incident to its next step: back to `open` in the
    /// transaction that counts the record, so that a failure before the step is decided
    /// leaves an open incident for the recovery to decide, not an escalation lost with the
    /// recurrences in memory.
    ///
    /// The next step regards the pod the recurrences that escalate the incident name (the
    /// record that fills the window and those counted within it before), the newest one named
    /// if they name several, stored in that transaction too: after a rollback or a restart
    /// the pod the incident opened on is gone, and the newest is the pod seen misbehaving
    /// last, the likeliest to be there still, as the records that open an incident name the
    /// pod its first step regards. Recurrences that name no pod (a workload's metrics) leave
    /// the pod the incident had.
    async fn dedupe(
        &mut self,
        inc: &mut Incident,
        r: &store::StoredRecord,
        at: Cursor,
    ) -> Result<(), EngineError> {
        let now = self.now().as_millisecond();
        self.check_rollout(inc).await?;
        let window_ms = self.cfg.engine.debounce_window_secs as i64 * 1000;
        let threshold = self.cfg.engine.debounce_count as usize;
        let settle_ms = self.cfg.engine.settle_secs as i64 * 1000;
        // Received after the settle time, and made after the action (its time read on our
        // clock): what was in flight when the action ran says nothing about it.
        let after_action = inc.acted_at_ms.is_none_or(|t| {
            r.received_at_ms > t + settle_ms && made_at(r).is_none_or(|made| made > t)
        });
        let recurs = inc.state == State::Verifying
            && !inc.rolling
            && after_action
            && is_strain(inc.kind, r.family.as_deref());
        let recent: Vec<&Sighting> = inc
            .recurrences
            .iter()
            .filter(|x| x.at >= at.at - window_ms)
            .collect();
        let escalates = recurs && recent.len() + 1 >= threshold;
        // The pod the next step regards, if the recurrences that escalate to it name one.
        let pod = if escalates {
            Sighting::newest_pod(r.pod.as_ref(), recent.iter().copied())
        } else {
            None
        };
        let mut reason =
            "anomalies recurred within the verify window; escalating to the next action".to_owned();
        if let Some(p) = pod.as_ref().filter(|p| inc.pod.as_ref() != Some(*p)) {
            reason.push_str(&format!(", on pod {p}, which the recurrences name"));
        }
        let (id, next_step) = (inc.id, inc.step as i64 + 1);
        // A recurrence that does not escalate is evidence, stored with the cursor.
        let own = (recurs && !escalates).then_some(Mark {
            record: at.record(),
            kind: MarkKind::Recurrence,
        });
        let marks = self.unstored_marks(own);
        let escalated_pod = pod.clone();
        self.store
            .write(move |tx| {
                tx.execute(
                    "UPDATE incidents SET record_count = record_count + 1, updated_at = ?1 WHERE id = ?2",
                    params![now, id],
                )?;
                if escalates {
                    tx.execute(
                        "UPDATE incidents SET state = 'open', step = ?1, pod = COALESCE(?3, pod) WHERE id = ?2",
                        params![next_step, id, escalated_pod],
                    )?;
                    Decided::new(None, "recurred", &reason).insert(tx, id, now, next_step)?;
                }
                at.mark(tx, &marks)
            })
            .await?;
        self.marks_stored(own);
        inc.evidence_at_ms = now;
        if !escalates {
            if recurs {
                inc.recurrences.push_back(Sighting {
                    at: at.at,
                    pod: r.pod.clone(),
                });
                while inc
                    .recurrences
                    .front()
                    .is_some_and(|x| x.at < at.at - window_ms)
                {
                    inc.recurrences.pop_front();
                }
            }
            return Ok(());
        }
        if pod.is_some() {
            inc.pod = pod;
        }
        inc.recurrences.clear();
        inc.step += 1;
        inc.state = State::Open;
        self.advance(inc).await
    }

    /// Keeps `inc` under `key`: among the active incidents, or, closed, holding its key's
    /// records if its closing transition stored a hold.
    fn keep_if_active(&mut self, key: Key, inc: Incident) {
        if let (State::Resolved | State::Escalated | State::Failed, Some(from)) =
            (inc.state, inc.acted_at_ms)
        {
            self.answered.insert(key.clone(), from);
        }
        match (inc.state, inc.hold_until) {
            (State::Open | State::Acting | State::Verifying, _) => {
                self.active.insert(key, inc);
            }
            (State::Resolved | State::Escalated | State::Failed, Some(until)) => {
                self.held.insert(
                    key,
                    Hold {
                        incident: inc.id,
                        until,
                        surge: inc.state == State::Resolved,
                    },
                );
            }
            // Superseded at a start ([`Engine::recover`]): its actions were only recorded, so
            // it answered nothing and holds nothing.
            (State::Resolved | State::Escalated | State::Failed, None) | (State::Superseded, _) => {
            }
        }
    }

    /// `engine.max_record_age_secs` in ms.
    fn max_record_age_ms(&self) -> i64 {
        (self.cfg.engine.max_record_age_secs as i64).saturating_mul(1000)
    }

    /// `engine.cooldown_secs` in ms.
    fn cooldown_ms(&self) -> i64 {
        (self.cfg.engine.cooldown_secs as i64).saturating_mul(1000)
    }

    /// Starts the verify window of incidents whose workload has rolled out their action, and
    /// resolves incidents whose verify window passed without recurrence. After a failed cycle
    /// it first reloads the incidents from the store, as [`Engine::process_pending`] does.
    pub async fn tick(&mut self) -> Result<(), EngineError> {
        self.reload_if_failed().await?;
        let done = self.tick_once().await;
        self.reload |= done.is_err();
        done
    }

    async fn tick_once(&mut self) -> Result<(), EngineError> {
        let rolling: Vec<Key> = self
            .active
            .iter()
            .filter(|(_, i)| i.state == State::Verifying && i.rolling)
            .map(|(k, _)| k.clone())
            .collect();
        for key in rolling {
            self.check_rollout_of(key).await?;
        }
        let now = self.now();
        let due: Vec<Key> = self
            .active
            .iter()
            .filter(|(_, i)| {
                i.state == State::Verifying
                    && !i.rolling
                    && i.verify_until.is_some_and(|v| v <= now)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            let Some(mut inc) = self.active.remove(&key) else {
                continue;
            };
            let reason = "no recurrence within the verify window";
            self.transition(
                &mut inc,
                State::Resolved,
                reason,
                Some(Decided::new(None, "resolved", reason)),
            )
            .await?;
            let secs = (now.as_millisecond() - inc.opened_at.as_millisecond()) as f64 / 1000.0;
            self.metrics.time_to_remediate.observe(secs.max(0.0));
            // A resolved traffic surge holds its key (see `transition`).
            self.keep_if_active(key, inc);
        }
        self.settle_hpa_raises().await?;
        self.restore_hpa_floors().await?;
        self.publish_active().await;
        Ok(())
    }

    /// Reads back the HPAs of raises whose outcome is unknown (a restart or a failed cycle
    /// interrupted the call, or it ended in an error after which the patch may have landed)
    /// and settles each ([`hpa_floor::settle`]). A read that fails leaves the raise for the
    /// next tick; the HPA's restores wait until then. Shadow mode never calls the API (and
    /// never raises).
    async fn settle_hpa_raises(&self) -> Result<(), EngineError> {
        let (Some(cluster), false) = (&self.cluster, self.cfg.mode == Mode::Shadow) else {
            return Ok(());
        };
        let unsettled = self.store.read(hpa_floor::unsettled).await?;
        for u in unsettled {
            // A dry-run raise wrote nothing: no read needed.
            let read = match u.mode {
                Mode::Enforce => match cluster.hpa_min_replicas(&u.namespace, &u.hpa).await {
                    Ok(Some(m)) => hpa_floor::ReadBack::Min(m),
                    Ok(None) => hpa_floor::ReadBack::Gone,
                    Err(e) => {
                        tracing::warn!(incident = u.incident_id, hpa = %u.hpa, error = %e, "could not read back an HPA raise; trying again on the next tick");
                        continue;
                    }
                },
                _ => hpa_floor::ReadBack::Gone,
            };
            let at = self.now().as_millisecond();
            let u2 = u.clone();
            let displaced = self
                .store
                .write(move |tx| hpa_floor::settle(tx, &u2, &read, at))
                .await?;
            tracing::info!(incident = u.incident_id, hpa = %u.hpa, "HPA raise settled from a read-back");
            self.displaced(displaced);
        }
        Ok(())
    }

    /// Logs (and counts, if skipped) the raise a new one took the floor from.
    fn displaced(&self, displaced: Option<hpa_floor::Displaced>) {
        if let Some(d) = displaced {
            tracing::info!(incident = d.incident_id, state = d.state.as_str(), reason = %d.reason, "earlier HPA raise displaced");
            if d.state == RaiseState::Skipped {
                self.metrics.action(RESTORE_ACTION, "skipped");
            }
        }
    }

    /// Gives back the HPA minimums whose restore is due ([`hpa_floor::due`]): a JSON patch
    /// that sets `minReplicas` back to what it was before edgeheal's first raise, with a
    /// `test` that it is still the value edgeheal left. A minimum someone else changed, or an
    /// HPA that is gone, is left alone and recorded as skipped; any other failure is tried
    /// again on a later tick after a backoff ([`RESTORE_RETRY_FIRST_SECS`], doubling up to
    /// [`RESTORE_RETRY_MAX_SECS`]). A dry-run raise (nothing was written) gets a dry-run
    /// restore; a raise that changed the HPA is given back only in enforce mode; shadow mode
    /// never calls the API. Restores are not remediations: they do not count towards the
    /// action budget or a target's cooldown.
    async fn restore_hpa_floors(&self) -> Result<(), EngineError> {
        let hold_secs = self.cfg.guards.hpa_restore_after_secs;
        let (Some(cluster), false, false) =
            (&self.cluster, self.cfg.mode == Mode::Shadow, hold_secs == 0)
        else {
            return Ok(());
        };
        let now = self.now().as_millisecond();
        let hold_ms = (hold_secs as i64).saturating_mul(1000);
        let enforce = self.cfg.mode == Mode::Enforce;
        let due = self
            .store
            .read(move |c| hpa_floor::due(c, now, hold_ms, enforce))
            .await?;
        for r in due {
            let target = Target {
                namespace: r.namespace.clone(),
                kind: WorkloadKind::parse(&r.workload_kind).unwrap_or(WorkloadKind::Deployment),
                name: r.workload.clone(),
            };
            let dry_run = r.mode == Mode::DryRun;
            let plan = Plan::RestoreHpaMin {
                hpa: r.hpa.clone(),
                from: r.left_min,
                to: r.restore_to,
            };
            let raised = format!(
                "HPA {}/{} minReplicas back to {}: incident {} raised it {} -> {}{}",
                r.namespace,
                r.hpa,
                r.restore_to,
                r.incident_id,
                r.observed_min,
                r.raised_to,
                if dry_run { " in dry-run" } else { "" }
            );
            let res = cluster.execute(&target, &plan, dry_run).await;
            let at = self.now().as_millisecond();
            let (state, outcome, result, detail) = match res {
                Ok(d) if dry_run => (RaiseState::DryRun, "restore_dry_run", "dry_run", d),
                Ok(d) => (RaiseState::Restored, "restored", "ok", d),
                // The enforced chain may have moved the minimum: a dry run had nothing to
                // give back either way.
                Err(e @ (ClusterError::Conflict(_) | ClusterError::NotFound(_))) if dry_run => (
                    RaiseState::DryRun,
                    "restore_dry_run",
                    "dry_run",
                    format!("{e}; a dry run wrote nothing to give back"),
                ),
                Err(e @ (ClusterError::Conflict(_) | ClusterError::NotFound(_))) => (
                    RaiseState::Skipped,
                    "restore_skipped",
                    "skipped",
                    format!("{e}; left as it is"),
                ),
                // Not tried (again): still due, at the next start, without a failure counted.
                Err(ClusterError::Stopped(why) | ClusterError::NotCalled(why)) => {
                    tracing::info!(incident = r.incident_id, %why, "HPA minimum restore left for the next start");
                    continue;
                }
                Err(e) => {
                    self.restore_failed(&r, &target, &raised, &e, at).await?;
                    continue;
                }
            };
            let detail = format!("{raised}: {detail}");
            let (r2, d2) = (r.clone(), detail.clone());
            self.store
                .write(move |tx| hpa_floor::finish(tx, &r2, state, outcome, at, &d2))
                .await?;
            self.metrics.action(RESTORE_ACTION, result);
            tracing::info!(incident = r.incident_id, result, %detail, "HPA minimum restore");
            let reason = if state == RaiseState::Skipped {
                self.notifier.notify(format!(
                    ":information_source: edgeheal left HPA {}/{} as it is (incident {}): {detail}",
                    r.namespace, r.hpa, r.incident_id
                ));
                "RestoreSkipped"
            } else if dry_run {
                "RestoreDryRun"
            } else {
                "Restored"
            };
            self.event_on(
                &target,
                r.workload_uid.as_deref(),
                r.incident_id,
                &r.incident_kind,
                "Normal",
                reason,
                RESTORE_ACTION,
                detail,
            );
        }
        Ok(())
    }

    /// Records a failed restore and when to try it again.
    async fn restore_failed(
        &self,
        r: &DueRestore,
        target: &Target,
        raised: &str,
        err: &ClusterError,
        at: i64,
    ) -> Result<(), EngineError> {
        let attempt = r.attempts.saturating_add(1);
        let backoff = RESTORE_RETRY_FIRST_SECS
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(RESTORE_RETRY_MAX_SECS);
        let next = at.saturating_add(backoff.saturating_mul(1000));
        let detail =
            format!("{raised}: attempt {attempt} failed: {err}; next attempt in {backoff}s");
        let (r2, d2) = (r.clone(), detail.clone());
        self.store
            .write(move |tx| hpa_floor::retry_later(tx, &r2, at, next, &d2))
            .await?;
        self.metrics.action(RESTORE_ACTION, "failed");
        tracing::warn!(incident = r.incident_id, attempt, %detail, "HPA minimum restore failed");
        if attempt == 1 {
            self.notifier.notify(format!(
                ":x: edgeheal could not restore HPA {}/{} (incident {}): {detail}",
                r.namespace, r.hpa, r.incident_id
            ));
        }
        self.event_on(
            target,
            r.workload_uid.as_deref(),
            r.incident_id,
            &r.incident_kind,
            "Warning",
            "RestoreFailed",
            RESTORE_ACTION,
            detail,
        );
        Ok(())
    }

    /// Whether an incident on `entity` is verifying an action its workload is still rolling
    /// out (asked again, at most every [`ROLLOUT_POLL_MS`]) or has rolled out less than
    /// `engine.settle_secs` ago: its new pods are still starting.
    async fn rolling_out(&mut self, entity: &Entity) -> Result<bool, EngineError> {
        let keys: Vec<Key> = self
            .active
            .iter()
            .filter(|(k, i)| &k.0 == entity && i.state == State::Verifying)
            .map(|(k, _)| k.clone())
            .collect();
        let settle_ms = self.cfg.engine.settle_secs as i64 * 1000;
        let mut busy = false;
        for key in keys {
            self.check_rollout_of(key.clone()).await?;
            let now = self.now().as_millisecond();
            busy |= self.active.get(&key).is_some_and(|inc| {
                inc.rolling || inc.acted_at_ms.is_some_and(|t| now < t + settle_ms)
            });
        }
        Ok(busy)
    }

    /// [`Engine::check_rollout`] of the active incident under `key`.
    async fn check_rollout_of(&mut self, key: Key) -> Result<(), EngineError> {
        let Some(mut inc) = self.active.remove(&key) else {
            return Ok(());
        };
        let checked = self.check_rollout(&mut inc).await;
        self.active.insert(key, inc);
        checked
    }

    /// Asks whether a verifying, rolling incident's workload has rolled out the action (at
    /// most every [`ROLLOUT_POLL_MS`]), and ends the incident's rolling phase when it has, or
    /// when it has been rolling for a whole verify window (a rollout that does not finish is
    /// verified as it stands, and what recurs then escalates). When the rollout was seen
    /// unfinished, verification starts over from now: records from pods that were still being
    /// replaced say nothing about the action.
    async fn check_rollout(&mut self, inc: &mut Incident) -> Result<(), EngineError> {
        if !(inc.state == State::Verifying && inc.rolling) {
            return Ok(());
        }
        let Some(cluster) = self.cluster.clone() else {
            inc.rolling = false;
            return Ok(());
        };
        let now = self.now();
        let now_ms = now.as_millisecond();
        if inc
            .rollout_checked_ms
            .is_some_and(|t| now_ms < t + ROLLOUT_POLL_MS)
        {
            return Ok(());
        }
        inc.rollout_checked_ms = Some(now_ms);
        let window_ms = self.cfg.engine.verify_window_secs as i64 * 1000;
        // Verified as it stands only once seen rolling (or unknown) for a whole window: a
        // rollout not yet asked about, as after a long restart, is asked first.
        let waited_out =
            inc.rollout_seen_unfinished && inc.acted_at_ms.is_none_or(|t| now_ms >= t + window_ms);
        let done = waited_out
            || match cluster.rolled_out(&inc.found_target()).await {
                Ok(done) => {
                    inc.rollout_error = None;
                    inc.rollout_answered = true;
                    done
                }
                Err(err) => {
                    tracing::warn!(incident = inc.id, error = %err, "rollout status unknown");
                    inc.rollout_error = Some(err.to_string());
                    false
                }
            };
        if !done {
            inc.rollout_seen_unfinished = true;
            return Ok(());
        }
        inc.rolling = false;
        // Seen rolling: the verify window starts over from now.
        let starts_over = inc.rollout_seen_unfinished;
        if starts_over {
            inc.acted_at_ms = Some(now_ms);
            inc.recurrences.clear();
            inc.verify_until = Some(now + jiff::SignedDuration::from_millis(window_ms));
        }
        let reason = match (waited_out, &inc.rollout_error, inc.rollout_answered) {
            (true, Some(err), false) => format!(
                "rollout status unknown for a verify window ({err}); verifying as it stands"
            ),
            (true, Some(err), true) => format!(
                "still rolling out after a verify window (the last check failed: {err}); \
                 verifying as it stands"
            ),
            (true, None, _) => {
                "still rolling out after a verify window; verifying as it stands".into()
            }
            (false, ..) => "rolled out; verifying from now".into(),
        };
        // Seen rolling, the history says so, in the transaction that stores it.
        let decided = starts_over.then(|| Decided::new(None, "verifying", &reason));
        // Stored with the action, so that a restart neither asks again nor counts what was
        // made while it rolled.
        let (id, step, from) = (inc.id, inc.step as i64, inc.acted_at_ms);
        let until = starts_over.then_some(now_ms + window_ms);
        self.store
            .write(move |tx| {
                tx.execute(
                    "UPDATE actions SET verify_from = ?1 WHERE incident_id = ?2 AND step = ?3",
                    params![from, id, step],
                )?;
                if let Some(until) = until {
                    tx.execute(
                        "UPDATE incidents SET verify_until = ?1 WHERE id = ?2",
                        params![until, id],
                    )?;
                }
                match decided {
                    Some(d) => d.insert(tx, id, now_ms, step),
                    None => Ok(()),
                }
            })
            .await
    }

    /// Writes that the current step of `inc` is skipped (`decided`) and moves the incident to
    /// the next step, in one transaction: a cycle that fails after it (or a restart) decides
    /// the incident from the next step, not this one again, and the history reads the skip
    /// once.
    async fn skip(&self, inc: &mut Incident, decided: Decided) -> Result<(), EngineError> {
        let (id, step, at) = (inc.id, inc.step as i64, self.now().as_millisecond());
        self.store
            .write(move |tx| {
                decided.insert(tx, id, at, step)?;
                tx.execute(
                    "UPDATE incidents SET step = ?1, updated_at = ?2 WHERE id = ?3",
                    params![step + 1, at, id],
                )?;
                Ok(())
            })
            .await?;
        inc.step += 1;
        Ok(())
    }

    /// Moves `inc` to `state`, and writes `decided` to its history in the same transaction:
    /// a decision is written once, with the change it decides, so that a cycle that fails
    /// between them (or a restart) neither decides it again with a second row nor loses it.
    async fn transition(
        &self,
        inc: &mut Incident,
        state: State,
        reason: &str,
        decided: Option<Decided>,
    ) -> Result<(), EngineError> {
        inc.state = state;
        let closed = !State::ACTIVE.contains(&state);
        let (id, step, now, reason) = (
            inc.id,
            inc.step as i64,
            self.now().as_millisecond(),
            reason.to_owned(),
        );
        // A closed incident absorbs its key's records for a while ([`Hold`]), so that a
        // persisting anomaly does not open a new one at once: an escalated or failed one for a
        // cooldown; a resolved traffic surge as long as its rate records keep coming, and a
        // cooldown after, since the surge may go on after the workload absorbed it and its
        // rate records are no new surge to scale for.
        inc.hold_until = match state {
            State::Escalated | State::Failed => Some(now + self.cooldown_ms()),
            State::Resolved if inc.kind == IncidentKind::TrafficSurge => {
                Some(now + self.cooldown_ms())
            }
            _ => None,
        };
        let hold_until = inc.hold_until;
        let verify_until = inc.verify_until.map(|t| t.as_millisecond());
        // What the target was found as, also when nothing was done to it (refused).
        let (found_kind, found_uid) = inc.found_columns();
        self.store
            .write(move |tx| {
                tx.execute(
                    "UPDATE incidents SET state = ?1, step = ?2, updated_at = ?3, reason = ?4, verify_until = ?5,
                       closed_at = CASE WHEN ?6 THEN ?3 ELSE NULL END,
                       found_kind = COALESCE(?8, found_kind), found_uid = COALESCE(?9, found_uid),
                       hold_until = ?10
                     WHERE id = ?7",
                    params![state.as_str(), step, now, reason, verify_until, closed, id, found_kind, found_uid, hold_until],
                )?;
                match decided {
                    Some(d) => d.insert(tx, id, now, step),
                    None => Ok(()),
                }
            })
            .await?;
        self.metrics.incident(inc.kind.as_str(), state.as_str());
        Ok(())
    }

    fn event(
        &self,
        inc: &Incident,
        type_: &'static str,
        reason: &'static str,
        action: ActionKind,
        note: String,
    ) {
        self.event_on(
            &inc.found_target(),
            inc.found.as_ref().map(|(_, uid)| uid.as_str()),
            inc.id,
            inc.kind.as_str(),
            type_,
            reason,
            action.as_str(),
            note,
        );
    }

    /// Records an Event on `target` about incident `incident` (of kind `kind`): queued, posted
    /// in the background ([`crate::recorder`]).
    #[allow(clippy::too_many_arguments)]
    fn event_on(
        &self,
        target: &Target,
        uid: Option<&str>,
        incident: i64,
        kind: &str,
        type_: &'static str,
        reason: &'static str,
        action: &str,
        note: String,
    ) {
        let ev = EventNote {
            type_,
            reason,
            action: action.to_owned(),
            note: format!("edgeheal incident {incident} ({kind}): {note}"),
            at: self.now(),
        };
        self.events.record(target, uid, ev);
    }

    /// The recorder its Events go through: [`EventRecorder::flushed`] waits until those
    /// recorded so far were posted or given up.
    pub fn events(&self) -> EventRecorder {
        self.events.clone()
    }

    /// What the guards count ([`Context`]): the last action on `inc`'s target by another
    /// incident, and the actions and failed ones in the budget window. Only the actions that
    /// were enforced and those of the current mode count: a dry-run or shadow action was only
    /// recorded, so once the heal API enforces, the budget and cooldowns an earlier mode spent
    /// hold nothing back, while a dry run still counts what was done for real, as enforcing
    /// would.
    async fn guard_context_counts(
        &self,
        inc: &Incident,
    ) -> Result<(Option<Timestamp>, u32, u32), EngineError> {
        let target = inc.target.key();
        // A Rollout's pods are named as a Deployment's, so its incidents may name it either
        // way: one cooldown for both.
        let twin = inc
            .target
            .twin()
            .map_or_else(|| target.clone(), |t| t.key());
        let id = inc.id;
        let since = self.now().as_millisecond() - self.cfg.budget.window_secs as i64 * 1000;
        let mode = self.cfg.mode.as_str();
        let enforce = Mode::Enforce.as_str();
        self.store
            .read(move |c| {
                let last: Option<i64> = c
                    .query_row(
                        "SELECT MAX(started_at) FROM actions
                         WHERE target IN (?1, ?3) AND incident_id != ?2 AND mode IN (?4, ?5)",
                        params![target, id, twin, mode, enforce],
                        |r| r.get(0),
                    )
                    .optional()?
                    .flatten();
                let (n, failed): (i64, i64) = c.query_row(
                    "SELECT COUNT(*), COALESCE(SUM(result = 'failed'), 0) FROM actions
                     WHERE started_at >= ?1 AND mode IN (?2, ?3)",
                    params![since, mode, enforce],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                Ok((
                    last.and_then(|l| Timestamp::from_millisecond(l).ok()),
                    u32::try_from(n).unwrap_or(u32::MAX),
                    u32::try_from(failed).unwrap_or(u32::MAX),
                ))
            })
            .await
    }

    /// Decides the current step of `inc` and acts on it, skipping actions that do not apply.
    /// Once the heal API is stopping it decides nothing more: the incident stays `open` in
    /// the store, no action recorded for its step, and the next start decides it
    /// ([`Engine::recover`]), its guards asked again.
    async fn advance(&self, inc: &mut Incident) -> Result<(), EngineError> {
        let actions = self.cfg.policy.get(&inc.kind).cloned().unwrap_or_default();
        loop {
            if self.stopping() {
                self.left_open(inc);
                return Ok(());
            }
            let Some(&action) = actions.get(inc.step) else {
                let reason = if actions.is_empty() {
                    format!("no action configured for {}", inc.kind)
                } else {
                    "every configured action was tried or did not apply".to_owned()
                };
                let decided = Decided::new(None, "escalated", &reason);
                self.transition(inc, State::Escalated, &reason, Some(decided))
                    .await?;
                self.notifier.notify(format!(
                    ":rotating_light: edgeheal incident {} {} on {} escalated: {reason}",
                    inc.id, inc.kind, inc.entity
                ));
                return Ok(());
            };
            let (last, in_window, failures) = self.guard_context_counts(inc).await?;
            let ctx = Context {
                now: self.now(),
                namespace: &inc.target.namespace,
                incident_opened_at: inc.opened_at,
                pod_named: inc.pod.as_deref(),
                last_action_on_target: last,
                evidence_at: Timestamp::from_millisecond(inc.evidence_at_ms)
                    .unwrap_or(Timestamp::UNIX_EPOCH),
                actions_in_window: in_window,
                failures_in_window: failures,
            };
            let guards = Guards {
                guards: &self.cfg.guards,
                budget: &self.cfg.budget,
                engine: &self.cfg.engine,
                soft_heal: self.cfg.soft_heal.as_ref(),
            };
            // Cheap guards first: a storm refused by the budget costs no API calls.
            let mut verdict = match policy::precheck(guards, &ctx) {
                Err(r) => Err(r),
                Ok(()) => match (&self.cluster, self.cfg.mode) {
                    (_, Mode::Shadow) | (None, _) => policy::evaluate(guards, action, &ctx, None),
                    (Some(cluster), _) => {
                        match cluster.facts(&inc.target, action, inc.pod.as_deref()).await {
                            Ok(f) => {
                                inc.found = Some((f.kind, f.uid.clone()));
                                policy::evaluate(guards, action, &ctx, Some(&f))
                            }
                            // The target was not inspected: nothing to refuse on.
                            Err(ClusterError::Stopped(_) | ClusterError::NotCalled(_)) => {
                                self.left_open(inc);
                                return Ok(());
                            }
                            Err(ClusterError::NotFound(what)) => Err(Refusal {
                                code: "target_not_found",
                                reason: format!("{what} not found"),
                                try_next: false,
                            }),
                            Err(e) => Err(Refusal {
                                code: "inspect_failed",
                                reason: format!(
                                    "cannot inspect the target, refusing to act blind: {e}"
                                ),
                                try_next: false,
                            }),
                        }
                    }
                },
            };
            // A raise of an HPA whose earlier raise is unsettled would chain to the wrong
            // minimum: that one is read back first, and while it cannot be, none is planned on
            // top of it.
            if let Ok(Plan::RaiseHpaMin { hpa, .. }) = &verdict {
                let hpa = hpa.clone();
                self.settle_hpa_raises().await?;
                if self.stopping() {
                    self.left_open(inc);
                    return Ok(());
                }
                if let Some(refusal) = self.raise_unsettled(&inc.target.namespace, &hpa).await? {
                    verdict = Err(refusal);
                }
            }
            match verdict {
                Err(refusal) if refusal.try_next => {
                    let reason = format!("{}: {}", refusal.code, refusal.reason);
                    self.skip(inc, Decided::new(Some(action), "skipped", &reason))
                        .await?;
                    self.metrics.refusal(refusal.code, "skipped");
                    self.event(inc, "Normal", "Skipped", action, refusal.reason.clone());
                }
                Err(refusal) => return self.refuse(inc, action, refusal).await,
                Ok(plan) => return self.act(inc, action, plan).await,
            }
        }
    }

    /// Refuses `action`, the current step of `inc`, for `refusal` (a safety guard said no):
    /// the incident is escalated to a human.
    async fn refuse(
        &self,
        inc: &mut Incident,
        action: ActionKind,
        refusal: Refusal,
    ) -> Result<(), EngineError> {
        let reason = format!("{}: {}", refusal.code, refusal.reason);
        let decided = Decided::new(Some(action), "refused", &reason);
        self.transition(inc, State::Escalated, &reason, Some(decided))
            .await?;
        // Told once the refusal is stored: a write refused decides it again.
        self.metrics.action(action.as_str(), "refused");
        self.metrics.refusal(refusal.code, "refused");
        self.event(inc, "Warning", "Refused", action, refusal.reason.clone());
        self.notifier.notify(format!(
            ":warning: edgeheal refused {action} for incident {} {} on {}: {}",
            inc.id, inc.kind, inc.entity, refusal.reason
        ));
        Ok(())
    }

    /// The refusal of a raise of HPA `namespace/hpa` while an earlier raise of it in the same
    /// mode is still unsettled (its outcome unknown, the HPA not read back:
    /// [`Engine::settle_hpa_raises`] just failed to): a raise planned from the minimum found
    /// now would take the earlier one's minimum for someone else's and give back only its
    /// own, leaving a floor edgeheal raised for good. A dry-run raise changes nothing and
    /// chains only to dry-run raises ([`hpa_floor`]): an enforced one unsettled does not
    /// refuse it. `None` if there is none.
    async fn raise_unsettled(
        &self,
        namespace: &str,
        hpa: &str,
    ) -> Result<Option<Refusal>, EngineError> {
        let unsettled = self.store.read(hpa_floor::unsettled).await?;
        Ok(unsettled
            .into_iter()
            .find(|u| u.namespace == namespace && u.hpa == hpa && u.mode == self.cfg.mode)
            .map(|u| Refusal {
                code: "hpa_raise_unsettled",
                reason: format!(
                    "the outcome of incident {}'s raise of HPA {}/{} minReplicas {} -> {} is unknown and the HPA could not be read back; no raise is planned on top of it",
                    u.incident_id, u.namespace, u.hpa, u.observed_min, u.raised_to
                ),
                try_next: false,
            }))
    }

    /// Logs that `inc` is left `open` for the next start to decide, the heal API stopping.
    fn left_open(&self, inc: &Incident) {
        tracing::info!(
            incident = inc.id,
            step = inc.step,
            "stopping: the incident is left open; the next start decides it"
        );
    }

    /// Withdraws the action of `inc`'s step that the heal API's stop kept from being called
    /// (it came while the action's intent was written): nothing was sent, so rather than leave it
    /// `pending` for the next start to find `interrupted` and verify an action that was never
    /// taken, its row goes, as does a raise it reserved (`raise`), and the incident is `open`
    /// again at the same step, for the next start to decide. The history keeps the `act`
    /// decision and says why it was withdrawn.
    async fn withdraw(
        &self,
        inc: &mut Incident,
        action: ActionKind,
        raise: Option<i64>,
        why: &str,
    ) -> Result<(), EngineError> {
        let (id, step, now) = (inc.id, inc.step as i64, self.now().as_millisecond());
        let reason = format!(
            "withdrawn: the heal API stopped before the call was made ({why}); nothing was sent, the next start decides this step again"
        );
        let decided = Decided::new(Some(action), "withdrawn", &reason);
        self.store
            .write(move |tx| {
                tx.execute(
                    "DELETE FROM actions WHERE incident_id = ?1 AND step = ?2 AND result = 'pending'",
                    params![id, step],
                )?;
                decided.insert(tx, id, now, step)?;
                tx.execute(
                    "UPDATE incidents SET state = 'open', updated_at = ?1 WHERE id = ?2",
                    params![now, id],
                )?;
                match raise {
                    Some(raise) => hpa_floor::withdraw(tx, raise),
                    None => Ok(()),
                }
            })
            .await?;
        inc.state = State::Open;
        tracing::warn!(incident = id, step, action = action.as_str(), %reason, "stopping");
        Ok(())
    }

    async fn act(
        &self,
        inc: &mut Incident,
        action: ActionKind,
        plan: Plan,
    ) -> Result<(), EngineError> {
        // The guards passed, perhaps during the stop: what was not recorded is decided again.
        if self.stopping() {
            self.left_open(inc);
            return Ok(());
        }
        let mode = self.cfg.mode;
        let now = self.now().as_millisecond();
        let (id, step, target_key) = (inc.id, inc.step as i64, inc.found_target().key());
        let (found_kind, found_uid) = inc.found_columns();
        let summary = format!("{plan:?}");
        // A raised HPA minimum is recorded with the intent, to be given back later.
        let raise = match (&plan, mode) {
            (Plan::RaiseHpaMin { hpa, from, to, .. }, Mode::Enforce | Mode::DryRun) => {
                Some((inc.target.namespace.clone(), hpa.clone(), *from, *to))
            }
            _ => None,
        };
        // Commit the intent before the side effect. The UNIQUE(incident_id, step) constraint
        // makes a second attempt at the same step impossible.
        let reserved = self
            .store
            .write(move |tx| {
                let inserted = tx.execute(
                    "INSERT INTO actions(incident_id, step, action, target, mode, started_at, result, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7) ON CONFLICT(incident_id, step) DO NOTHING",
                    params![id, step, action.as_str(), target_key, mode.as_str(), now, summary],
                )?;
                if inserted == 1 {
                    let reason = format!("guards passed in {} mode: {summary}", mode.as_str());
                    Decided::new(Some(action), "act", &reason).insert(tx, id, now, step)?;
                    tx.execute(
                        "UPDATE incidents SET state = 'acting', step = ?1, updated_at = ?2,
                           found_kind = COALESCE(?4, found_kind), found_uid = COALESCE(?5, found_uid)
                         WHERE id = ?3",
                        params![step, now, id, found_kind, found_uid],
                    )?;
                    let raise_id = match &raise {
                        Some((namespace, hpa, from, to)) => Some(hpa_floor::reserve(
                            tx,
                            &NewRaise {
                                incident_id: id,
                                step,
                                namespace,
                                hpa,
                                mode,
                                at_ms: now,
                                observed_min: *from,
                                raised_to: *to,
                            },
                        )?),
                        None => None,
                    };
                    return Ok(Some(raise_id));
                }
                Ok(None)
            })
            .await?;
        let Some(raise_id) = reserved else {
            tracing::error!(
                incident = id,
                step,
                "action for this step already recorded; not repeating it"
            );
            inc.verify_until = Some(
                self.now()
                    + jiff::SignedDuration::from_secs(self.cfg.engine.verify_window_secs as i64),
            );
            return self
                .transition(inc, State::Verifying, "step already acted on", None)
                .await;
        };
        inc.state = State::Acting;
        self.metrics.incident(inc.kind.as_str(), "acting");
        self.event(
            inc,
            "Normal",
            "Remediating",
            action,
            format!("{action} in {} mode", mode.as_str()),
        );
        let outcome: Result<String, Call> = match (&plan, mode) {
            (_, Mode::Shadow) | (Plan::Unverified(_), _) => {
                Ok("shadow: recorded, nothing called".into())
            }
            (Plan::SoftHeal { url }, Mode::DryRun) => Ok(format!("dry-run: would POST to {url}")),
            (Plan::SoftHeal { url }, Mode::Enforce) => match &self.soft_healer {
                Some(h) => {
                    let payload = serde_json::json!({
                        "incident_id": inc.id, "entity": inc.entity.to_string(), "kind": inc.kind.as_str(),
                        "pod": inc.pod, "ts": self.now().to_string(),
                    });
                    h.call(
                        url,
                        &payload,
                        &format!("{}-{}", inc.id, inc.step),
                        self.now().as_second(),
                    )
                    .await
                    .map_err(Call::from)
                }
                None => Err(Call::Failed("soft-heal is not configured".into())),
            },
            (_, _) => match &self.cluster {
                Some(c) => c
                    .execute(&inc.found_target(), &plan, mode == Mode::DryRun)
                    .await
                    .map_err(Call::from),
                None => Err(Call::Failed("no Kubernetes client".into())),
            },
        };
        let outcome = match outcome {
            // Cut by the stop, the last attempt failed or not made: its outcome is unknown, as
            // after a kill. The action stays `pending` (the intent recorded above), so the next
            // start finds it `interrupted`, verifies it and never calls it again
            // ([`Engine::recover`]); an HPA raise among it is read back.
            Err(Call::Stopped(why)) => {
                tracing::warn!(
                    incident = id,
                    action = action.as_str(),
                    %why,
                    "stopping: the action is left pending; the next start finds it interrupted and does not repeat it"
                );
                return Ok(());
            }
            Err(Call::NotCalled(why)) => return self.withdraw(inc, action, raise_id, &why).await,
            Err(Call::Failed(err)) => Err(err),
            Ok(detail) => Ok(detail),
        };
        let result = match (&outcome, mode) {
            (Err(_), _) => "failed",
            (Ok(_), Mode::Shadow) => "shadow",
            (Ok(_), Mode::DryRun) => "dry_run",
            (Ok(_), Mode::Enforce) => "ok",
        };
        let detail = match &outcome {
            Ok(d) | Err(d) => d.clone(),
        };
        let finished = self.now().as_millisecond();
        let (d2, succeeded) = (detail.clone(), outcome.is_ok());
        // A failed enforced raise may have landed all the same (a timeout, a lost answer):
        // it stays `raising` and the next tick reads the HPA back. A dry run wrote nothing.
        let settle_later = mode == Mode::Enforce;
        let displaced = self
            .store
            .write(move |tx| {
                tx.execute(
                    "UPDATE actions SET result = ?1, finished_at = ?2, detail = ?3 WHERE incident_id = ?4 AND step = ?5",
                    params![result, finished, d2, id, step],
                )?;
                match raise_id {
                    Some(raise) if succeeded => hpa_floor::confirm(tx, raise, finished, &d2),
                    Some(_) if settle_later => Ok(None),
                    Some(raise) => hpa_floor::abandon(tx, raise, finished, &d2).map(|()| None),
                    None => Ok(None),
                }
            })
            .await?;
        self.displaced(displaced);
        self.metrics.action(action.as_str(), result);
        match outcome {
            Ok(detail) => {
                tracing::info!(incident = id, action = action.as_str(), result, %detail, "action done");
                self.event(inc, "Normal", "Remediated", action, detail.clone());
                inc.verify_until = Some(
                    self.now()
                        + jiff::SignedDuration::from_secs(
                            self.cfg.engine.verify_window_secs as i64,
                        ),
                );
                inc.recurrences.clear();
                inc.acted_at_ms = Some(finished);
                // A soft heal changes no pod: the workload has nothing of it to roll out, and
                // a rollout of something else is no reason to wait.
                inc.rolling = self.cfg.mode == Mode::Enforce && action != ActionKind::SoftHeal;
                self.transition(inc, State::Verifying, &format!("{action}: {detail}"), None)
                    .await
            }
            Err(err) => {
                tracing::error!(incident = id, action = action.as_str(), error = %err, "action failed");
                self.event(inc, "Warning", "RemediationFailed", action, err.clone());
                let decided = Decided::new(Some(action), "failed", &err);
                self.transition(
                    inc,
                    State::Failed,
                    &format!("{action} failed: {err}"),
                    Some(decided),
                )
                .await?;
                self.notifier
                    .notify(failure_notice(action, inc.id, inc.kind, &inc.entity, &err));
                Ok(())
            }
        }
    }
}

/// How many times [`Engine::run`] tries to recover the incidents from the store at a start
/// before it gives up (about four minutes of waits in all).
pub const RECOVERY_ATTEMPTS: u32 = 10;

/// The wait after a recovery's first failure; twice as long after each next one.
pub const RECOVERY_RETRY_FIRST: Duration = Duration::from_secs(1);

/// The longest wait between two attempts at a recovery.
pub const RECOVERY_RETRY_MAX: Duration = Duration::from_secs(60);

/// How often the engine asks for a rolling-out workload's status (ms).
const ROLLOUT_POLL_MS: i64 = 5_000;

/// SQL: the incident `i`'s actions were only recorded, in another mode than the current one
/// (`?1`): one at least in a mode other than `?1` and `enforce` (`?2`), none enforced. Once the
/// mode is `?1` such an incident goes on no more ([`supersede`]), and, closed, neither holds
/// its key's records nor answers those made before its actions: what it did changed nothing.
/// The guards count actions alike ([`Engine::guard_context_counts`]).
const ONLY_RECORDED_ELSEWHERE: &str = "(EXISTS (SELECT 1 FROM actions o
       WHERE o.incident_id = i.id AND o.mode NOT IN (?1, ?2))
     AND NOT EXISTS (SELECT 1 FROM actions o WHERE o.incident_id = i.id AND o.mode = ?2))";

/// Closes, `superseded`, every active incident with no enforced action and one recorded in
/// another mode than `mode` (at a start after a switch from dry-run to enforce, say): its
/// actions were only recorded, so going on with it would take its policy's next action, in
/// `mode`, although the one before it was never taken. A recurrence opens a new incident
/// instead, from the policy's first action. An incident an enforced action was taken for goes
/// on in any mode: what it did is real, and starting it over would take its first action
/// again. Returns the incidents closed, with their kinds.
fn supersede(
    tx: &rusqlite::Transaction<'_>,
    mode: Mode,
    now: i64,
) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut stmt = tx.prepare(&format!(
        "SELECT i.id, i.kind, i.step,
           (SELECT GROUP_CONCAT(DISTINCT a.mode) FROM actions a WHERE a.incident_id = i.id)
         FROM incidents i
         WHERE i.state IN ('open', 'acting', 'verifying') AND {ONLY_RECORDED_ELSEWHERE}
         ORDER BY i.id"
    ))?;
    let rows: Vec<(i64, String, i64, String)> = stmt
        .query_map(params![mode.as_str(), Mode::Enforce.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut closed = Vec::with_capacity(rows.len());
    for (id, kind, step, modes) in rows {
        let reason = format!(
            "the heal API now runs in {} mode and this incident's actions were only recorded \
             ({modes} mode): closed, so that a recurrence opens a new incident, from the \
             policy's first action",
            mode.as_str()
        );
        tx.execute(
            "UPDATE incidents SET state = 'superseded', updated_at = ?1, closed_at = ?1,
               reason = ?2, hold_until = NULL, verify_until = NULL
             WHERE id = ?3",
            params![now, reason, id],
        )?;
        tx.execute(
            "INSERT INTO decisions(incident_id, at, step, action, outcome, reason)
             VALUES (?1, ?2, ?3, NULL, 'superseded', ?4)",
            params![id, now, step, reason],
        )?;
        closed.push((id, kind));
    }
    Ok(closed)
}

/// The `action` of a raised HPA minimum's restore in metrics and Events.
pub const RESTORE_ACTION: &str = "restore_hpa_min";

/// After a restore's first failure it is tried again this many seconds later, then after
/// twice as long each time, at most [`RESTORE_RETRY_MAX_SECS`].
pub const RESTORE_RETRY_FIRST_SECS: i64 = 30;

/// The longest wait between two attempts of a restore.
pub const RESTORE_RETRY_MAX_SECS: i64 = 3600;

/// When a record was made, on the heal API's clock (ms): its `edgeheal.ts`, which the sender's
/// node stamped, moved by how far the sender's clock was from ours when the batch arrived (its
/// signature's time against the receive time; a second of signature resolution and the
/// request's latency on top). A node whose clock is off is judged by its own clock. A record
/// stamped after that (an application writing local time as UTC, a clock ahead of its node's)
/// was made no later than it arrived: its time is the arrival, so a backlog of them grows old
/// as any other does.
fn made_at(r: &store::StoredRecord) -> Option<i64> {
    let offset = r
        .signed_at_ms
        .map_or(0, |s| r.received_at_ms.saturating_sub(s));
    Some(r.ts_ms?.saturating_add(offset).min(r.received_at_ms))
}

/// How old an anomalous record is `now`, if older than `max_age_ms`
/// (`engine.max_record_age_secs`): a retry backlog, a replay of old Kubernetes events, or a
/// batch the engine could only weigh long after it arrived (the heal API was down). Such
/// records stay in the history but are not evidence of a fault that is still there.
fn age_if_stale(r: &store::StoredRecord, now: i64, max_age_ms: i64) -> Option<i64> {
    let age_ms = now.saturating_sub(made_at(r)?);
    (r.anomaly && age_ms > max_age_ms).then_some(age_ms)
}

/// Whether a record that recurs while its incident is verifying shows that the action did not
/// help. A traffic surge's own signal, the request rate above its baseline, stays up for as long
/// as the surge lasts however far the workload is scaled: scaling answers the surge when the
/// workload absorbs it, so only strain (latency, errors, CPU, memory, restarts) counts against
/// a scale-up, not the rate itself. Every other record counts.
fn is_strain(kind: IncidentKind, family: Option<&str>) -> bool {
    !(kind == IncidentKind::TrafficSurge && family == Some("traffic"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_strain_counts_against_a_scaled_surge() {
        assert!(!is_strain(IncidentKind::TrafficSurge, Some("traffic")));
        for family in [Some("latency"), Some("errors"), Some("cpu"), None] {
            assert!(is_strain(IncidentKind::TrafficSurge, family), "{family:?}");
        }
        assert!(is_strain(IncidentKind::CpuSaturation, Some("traffic")));
        assert!(is_strain(IncidentKind::ErrorBurst, Some("traffic")));
    }

    #[test]
    fn every_state_name_reads_back_as_its_state() {
        for (state, name) in State::ALL.into_iter().zip(State::NAMES) {
            assert_eq!(State::parse(name), Some(state), "{name}");
        }
        let distinct: std::collections::BTreeSet<_> = State::NAMES.into_iter().collect();
        assert_eq!(distinct.len(), State::ALL.len());
        assert!(State::ACTIVE.iter().all(|s| State::ALL.contains(s)));
    }
}
