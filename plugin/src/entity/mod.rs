//! Per-entity state: bounded sliding windows and baselines for one workload or
//! one pod, and the family features computed from them.
//!
//! Workload entities hold the service signals from logs (request rate, error
//! ratio, latency quantiles in a window of `window_buckets` buckets); pod
//! entities hold the resource signals from metrics (CPU, memory per container)
//! and the restart signals from events and counters. Each family is evaluated
//! only when its inputs change — a bucket rolls, a metric sample or an event
//! arrives — and the entity's `version` moves so cached verdicts are refreshed.
//! All state is fixed-size per entity, and entities live in a bounded LRU.
//!
//! The state is one struct; its signals are read in one module each:
//! `service` (log windows), `resources` (metrics per container) and
//! `restarts` (the restart window of events and counters).
//!
//! A window's clock is the newest record time it has seen; an older record
//! counts into its current bucket. So one record stamped years ahead (a node
//! booted with a wrong clock, a field mistaken for the time) would hold the
//! window there until real time caught up, and nothing would roll or expire.
//! When records far behind the clock ([`CLOCK_STEP_NS`], or a whole window if
//! longer) keep coming in time order — [`CLOCK_STEP_RECORDS`] of them over a
//! window of their own time, none near the clock between them — the clock
//! moves back to them: the log window starts over there (baselines kept),
//! and restart counts expire as it moves on from there. A workload whose
//! lines carry two clocks at once (some stamped by the app in local time,
//! say), a file lagging behind, or old events replayed out of order do not
//! swing it.
//!
//! A record far behind the clock that does not move it back is history:
//! a log line more than [`CLOCK_STEP_NS`] (and a window) older than the
//! clock — a file hours behind the others during a backlog or a DaemonSet
//! rollout — is not counted as current traffic (lag within that is), and a
//! restart event older than the restart window is not counted (it would
//! have expired). Such records still pass through and are tagged.

mod resources;
mod restarts;
mod service;

use crate::baseline::Ewma;
use crate::config::FilterConfig;
use crate::features;
use crate::forest::Walk;
use crate::verdict::Family;

use resources::ContainerTrack;
use restarts::{EventVersions, Started, RESTART_KINDS, RESTART_SLOTS};
use service::Bucket;

/// Containers tracked per pod. A further container takes the slot of one
/// that went stale, or is not tracked (see `resources`).
pub const MAX_CONTAINERS: usize = 8;

/// How far behind a window's clock a record is "far behind": ten minutes,
/// well past the lag between a node's log files that a window should absorb.
pub const CLOCK_STEP_NS: i64 = 600_000_000_000;

/// Records a run far behind a window's clock needs before the clock moves
/// back to it (besides lasting a window).
pub const CLOCK_STEP_RECORDS: u32 = 16;

/// A run of records far behind a window's clock, in time order: the steps
/// of its first and last records, and how many it has had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BehindRun {
    first: i64,
    last: i64,
    records: u32,
}

/// Whether step `idx` of a window (steps of `unit_ns`, `window` steps long)
/// is far behind its clock at step `cur`: more than [`CLOCK_STEP_NS`] and
/// more than the window behind it.
fn far_behind(cur: i64, idx: i64, unit_ns: i64, window: usize) -> bool {
    let window = i64::try_from(window).unwrap_or(i64::MAX);
    let behind_by = cur.saturating_sub(idx);
    // Most records are in the current bucket: no division for them.
    let unit_ns = unit_ns.max(1);
    behind_by > window && behind_by > (CLOCK_STEP_NS.saturating_add(unit_ns - 1) / unit_ns)
}

/// A record at step `idx` of a window (steps of `unit_ns`, `window` steps
/// long) whose clock is at step `cur`, not ahead of it; `behind` is the run
/// of records far behind the clock so far. Whether the clock moves back to
/// `idx` now: the run, in time order, has had [`CLOCK_STEP_RECORDS`] records
/// and lasted a window. (A list of old events replayed in name order, or a
/// file lagging behind the others, breaks the run.)
fn steps_back(
    cur: i64,
    idx: i64,
    unit_ns: i64,
    window: usize,
    behind: &mut Option<BehindRun>,
) -> bool {
    if !far_behind(cur, idx, unit_ns, window) {
        *behind = None;
        return false;
    }
    let window = i64::try_from(window).unwrap_or(i64::MAX);
    let run = match behind {
        Some(run) if idx >= run.last => {
            run.last = idx;
            run.records = run.records.saturating_add(1);
            *run
        }
        _ => *behind.insert(BehindRun {
            first: idx,
            last: idx,
            records: 1,
        }),
    };
    if run.records < CLOCK_STEP_RECORDS || idx.saturating_sub(run.first) < window {
        return false;
    }
    *behind = None;
    true
}

/// A container name's hash: FNV-1a, stable across targets; it only
/// distinguishes a pod's few containers.
fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Which families an update evaluated, and which of them changed: their
/// features, context or warmth differ from the last evaluation's (bit
/// `Family::index()` of each mask). An unchanged family has the score it had,
/// so only changed ones are scored again and move the entity's version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evaluated {
    all: u8,
    changed: u8,
}

impl Evaluated {
    fn set(&mut self, f: Family, changed: bool) {
        self.all |= 1 << f.index();
        if changed {
            self.changed |= 1 << f.index();
        }
    }

    /// Whether `f` was evaluated.
    pub fn contains(self, f: Family) -> bool {
        self.all & (1 << f.index()) != 0
    }

    /// Whether nothing was evaluated.
    pub fn is_empty(self) -> bool {
        self.all == 0
    }

    /// The evaluated families, in [`Family::ALL`] order.
    pub fn families(self) -> impl Iterator<Item = Family> {
        Family::ALL.into_iter().filter(move |f| self.contains(*f))
    }

    /// The evaluated families that changed, as a set of their own.
    pub fn changed(self) -> Evaluated {
        Evaluated {
            all: self.changed,
            changed: self.changed,
        }
    }
}

/// The state of one entity (a workload or a pod).
#[derive(Debug, Clone, PartialEq)]
pub struct EntityState {
    ring: Vec<Bucket>,
    ring_pos: usize,
    filled: usize,
    current: Bucket,
    current_idx: Option<i64>,
    /// The run of log records far behind `current_idx` (see [`steps_back`]).
    service_behind: Option<BehindRun>,
    ever_requests: bool,
    ever_lines: bool,
    rate_base: Ewma,
    rate_prev: f64,
    error_base: Ewma,
    p50_base: Ewma,
    p95_base: Ewma,

    containers: [ContainerTrack; MAX_CONTAINERS],
    cpu_base: Ewma,
    cpu_prev: f64,
    mem_base: Ewma,
    mem_ratio_prev: f64,

    restart_slots: [[u16; RESTART_KINDS]; RESTART_SLOTS],
    restart_idx: Option<i64>,
    /// The run of records far behind `restart_idx` (see [`steps_back`]).
    restarts_behind: Option<BehindRun>,
    /// The pod's containers that have started (see [`restarts`]).
    started: Started,
    /// The last version counted of the pod's latest Event objects, to pass
    /// over replayed copies (see [`EntityState::add_event`]); allocated at
    /// the first versioned event, as most entities never see one.
    event_versions: Option<Box<EventVersions>>,

    features: [f64; features::CLASSIFIER_LEN],
    evaluated: [bool; 6],
    warm: [bool; 6],
    scores: [Option<f64>; 6],
    /// Per family, the shares of its score ([`crate::forest::IsolationForest::explain`]
    /// of its features; zeros while unscored).
    shares: [Shares; 6],
    /// Per family, its forest's last walk, for the scorer to reuse.
    walks: [Option<Walk>; 6],
    version: u64,
}

/// A family's per-feature shares of its score.
pub type Shares = [f64; features::MAX_FAMILY_FEATURES];

const NO_SHARES: Shares = [0.0; features::MAX_FAMILY_FEATURES];

impl EntityState {
    /// A fresh entity for `config`'s window geometry.
    pub fn new(config: &FilterConfig) -> EntityState {
        EntityState::blank(vec![
            Bucket::default();
            config.window_buckets.max(1) as usize
        ])
    }

    fn blank(ring: Vec<Bucket>) -> EntityState {
        EntityState {
            ring,
            ring_pos: 0,
            filled: 0,
            current: Bucket::default(),
            current_idx: None,
            service_behind: None,
            ever_requests: false,
            ever_lines: false,
            rate_base: Ewma::default(),
            rate_prev: 0.0,
            error_base: Ewma::default(),
            p50_base: Ewma::default(),
            p95_base: Ewma::default(),
            containers: [ContainerTrack::default(); MAX_CONTAINERS],
            cpu_base: Ewma::default(),
            cpu_prev: 0.0,
            mem_base: Ewma::default(),
            mem_ratio_prev: 0.0,
            restart_slots: [[0; RESTART_KINDS]; RESTART_SLOTS],
            restart_idx: None,
            restarts_behind: None,
            started: Started::default(),
            event_versions: None,
            features: [0.0; features::CLASSIFIER_LEN],
            evaluated: [false; 6],
            warm: [false; 6],
            scores: [None; 6],
            shares: [[0.0; features::MAX_FAMILY_FEATURES]; 6],
            walks: [None; 6],
            version: 0,
        }
    }

    /// The most bytes an entity holds on the heap for `config`'s window
    /// geometry: its window's buckets, and the versions of its Event objects
    /// once it has seen one.
    pub fn most_heap_bytes(config: &FilterConfig) -> usize {
        config.window_buckets.max(1) as usize * std::mem::size_of::<Bucket>()
            + std::mem::size_of::<EventVersions>()
    }

    /// Resets the entity for reuse by another key, keeping its allocations.
    pub fn reset(&mut self) {
        let mut ring = std::mem::take(&mut self.ring);
        ring.iter_mut().for_each(|b| *b = Bucket::default());
        // Versions only move forward, so a cache keyed on the old key's version
        // can never match the new key's state.
        let version = self.version.wrapping_add(1);
        *self = EntityState::blank(ring);
        self.version = version;
    }

    /// Changes whenever any family is re-evaluated.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether `family` has been evaluated for this entity.
    pub fn has(&self, family: Family) -> bool {
        self.evaluated.get(family.index()).copied().unwrap_or(false)
    }

    /// Whether `family`'s baseline is past warm-up (its features can be scored).
    pub fn is_warm(&self, family: Family) -> bool {
        self.warm.get(family.index()).copied().unwrap_or(false)
    }

    /// The family's last features followed by its context (zeros before its
    /// first evaluation; see [`features::context`]).
    pub fn family_features(&self, family: Family) -> &[f64] {
        let off = features::classifier_offset(family);
        self.features
            .get(off..off + features::width(family))
            .unwrap_or(&[])
    }

    /// The family's last score (set by the scorer).
    pub fn score(&self, family: Family) -> Option<f64> {
        self.scores.get(family.index()).copied().flatten()
    }

    /// The shares of the family's last score (zeros while unscored).
    pub fn shares(&self, family: Family) -> &Shares {
        self.shares.get(family.index()).unwrap_or(&NO_SHARES)
    }

    /// The family's forest's last walk (kept by the scorer; see
    /// [`crate::forest::IsolationForest::score_explained_remembered`]).
    pub fn walk_mut(&mut self, family: Family) -> Option<&mut Option<Walk>> {
        self.walks.get_mut(family.index())
    }

    /// Records the family's score and the shares of it (set by the scorer).
    pub fn set_score(&mut self, family: Family, score: Option<f64>, shares: Shares) {
        if let Some(s) = self.scores.get_mut(family.index()) {
            *s = score;
        }
        if let Some(s) = self.shares.get_mut(family.index()) {
            *s = shares;
        }
    }

    fn store(&mut self, family: Family, values: &[f64], warm: bool, done: &mut Evaluated) {
        let off = features::classifier_offset(family);
        let i = family.index();
        // Bit for bit, so a NaN equals itself and 0.0 differs from -0.0.
        let same = self.evaluated.get(i) == Some(&true)
            && self.warm.get(i) == Some(&warm)
            && self
                .features
                .get(off..off + values.len())
                .is_some_and(|old| {
                    old.iter()
                        .map(|v| v.to_bits())
                        .eq(values.iter().map(|v| v.to_bits()))
                });
        if !same {
            if let Some(slot) = self.features.get_mut(off..off + values.len()) {
                slot.copy_from_slice(values);
            }
            if let Some(e) = self.evaluated.get_mut(i) {
                *e = true;
            }
            if let Some(w) = self.warm.get_mut(i) {
                *w = warm;
            }
            self.version = self.version.wrapping_add(1);
        }
        done.set(family, !same);
    }
}

/// A second in nanoseconds (the tests' clock unit).
#[cfg(test)]
const S: i64 = 1_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::{MetricName, MetricSignal};

    #[test]
    fn an_evaluation_that_changes_nothing_keeps_the_version() {
        let config = FilterConfig::default();
        let mut e = EntityState::new(&config);
        let cpu = |v| MetricSignal {
            name: MetricName::CpuSecondsTotal,
            value: v,
        };
        let mut step = |t: i64, v: f64| {
            let before = e.version();
            let mut done = Evaluated::default();
            e.add_metric(t * S, "app", &cpu(v), &config, &mut done);
            (done, e.version() != before)
        };
        step(0, 100.0);
        // The first evaluation changes the family even if its features are
        // the zeros the state starts with.
        let (done, moved) = step(15, 107.5);
        assert!(done.contains(Family::Cpu) && done.changed().contains(Family::Cpu));
        assert!(moved);
        // Evaluated again (training records every evaluation).
        let (done, _) = step(30, 115.0);
        assert!(done.contains(Family::Cpu), "{done:?}");
        // During warm-up the baseline moves and so may the features; past it
        // a steady rate leaves them as they were.
        for t in 3..100 {
            let (done, moved) = step(15 * t, 100.0 + 7.5 * t as f64);
            assert!(done.contains(Family::Cpu));
            assert_eq!(moved, done.changed().contains(Family::Cpu));
        }
        let (done, moved) = step(15 * 100, 100.0 + 7.5 * 100.0);
        assert!(done.contains(Family::Cpu) && done.changed().is_empty() && !moved);
    }

    #[test]
    fn reset_clears_state_and_moves_the_version() {
        let config = FilterConfig::default();
        let mut e = EntityState::new(&config);
        let mut done = Evaluated::default();
        e.add_metric(
            0,
            "c",
            &MetricSignal {
                name: MetricName::MemoryWorkingSetBytes,
                value: 1e9,
            },
            &config,
            &mut done,
        );
        let v = e.version();
        e.reset();
        assert!(e.version() > v);
        assert!(!e.has(Family::Memory));
        assert_eq!(e.ring.len(), config.window_buckets as usize);
    }
}
