//! Runs the closed loop: starts the simulated cluster and its API server, the
//! heal API, and steps the simulation tick by tick — records through the
//! edge filter, anomalies posted to the heal API, the heal API's incidents
//! polled — recording a timeline of what happened to every fault.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::edge::{tags, EdgeFilter};
use super::healer::{HealerSettings, HpaRaise, InProcessHealer, IncidentHistory};
use super::plan::PlannedFault;
use super::LoopError;
use crate::apiserver::{spawn, write_kubeconfig, RequestRecord};
use crate::clock::NS_PER_S;
use crate::fault::FaultKind;
use crate::simcluster::{SimCluster, SimClusterConfig};
use crate::{FaultStatus, FleetName, SimConfig};

/// A closed-loop run.
#[derive(Debug, Clone)]
pub struct LoopConfig {
    /// Seed of the simulation.
    pub seed: u64,
    /// The fleet.
    pub fleet: FleetName,
    /// Opt-in labels, HPAs, token.
    pub cluster: SimClusterConfig,
    /// Scrape interval, seconds.
    pub interval_s: u32,
    /// Simulated start, ns since the epoch.
    pub start_ns: i64,
    /// Fault-free time before the first fault (the filter's baselines warm up).
    pub warmup_s: u64,
    /// Simulated time after the last fault onset.
    pub tail_s: u64,
    /// The faults.
    pub faults: Vec<PlannedFault>,
    /// The heal API's settings.
    pub healer: HealerSettings,
    /// Least wall time per tick, to watch the loop at a human pace. It changes
    /// nothing the loop decides: after every tick the heal API's engine runs
    /// one cycle at the simulated time and the loop waits for it.
    pub tick_wall: Duration,
    /// Where the heal API's store, key and the kubeconfig go.
    pub work_dir: PathBuf,
}

/// What a timeline entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// The fault took effect in the simulation.
    Injected,
    /// The first anomalous record of the fault's workload left the filter.
    FirstTag,
    /// The heal API opened an incident.
    Opened,
    /// The heal API acted (or refused, or skipped).
    Action,
    /// The simulation says the fault is gone (its pods were replaced).
    Cleared,
    /// The incident resolved (no recurrence within the verify window).
    Resolved,
    /// The HPA minimum a scale-up raised was given back (or left, or the attempt failed).
    FloorRestored,
    /// The incident was escalated to a human.
    Escalated,
    /// The action failed.
    Failed,
}

impl Step {
    /// Short name.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Injected => "fault injected",
            Step::FirstTag => "first tag",
            Step::Opened => "incident opened",
            Step::Action => "action",
            Step::Cleared => "fault cleared",
            Step::Resolved => "resolved",
            Step::FloorRestored => "floor restored",
            Step::Escalated => "escalated",
            Step::Failed => "failed",
        }
    }
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    /// Simulated time, ns.
    pub t_ns: i64,
    /// What happened.
    pub step: Step,
    /// The fault it belongs to (index into the config's faults), if any.
    pub fault: Option<usize>,
    /// The workload (`namespace/name`).
    pub entity: String,
    /// Details.
    pub text: String,
}

/// What became of one fault.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultOutcome {
    /// The fault as planned.
    pub planned: PlannedFault,
    /// Its id.
    pub id: String,
    /// When it took effect (ns), if it did.
    pub onset_ns: Option<i64>,
    /// The pod it hit.
    pub pod: Option<String>,
    /// First anomalous record of its workload at or after onset: (ts ns, incident class, score).
    pub first_tag: Option<(i64, String, Option<f64>)>,
    /// Anomalous records of its workload while it was in effect.
    pub tagged_records: u64,
    /// Incident classes the filter gave those records, with counts.
    pub tag_classes: BTreeMap<String, u64>,
    /// Incidents the heal API opened for its workload while it was in effect.
    pub incidents: Vec<IncidentHistory>,
    /// When the simulation cleared it (pods replaced), ns.
    pub cleared_ns: Option<i64>,
    /// Last anomalous record of its workload after onset, ns.
    pub last_tag_ns: Option<i64>,
    /// Its status at the end.
    pub status: FaultStatus,
    /// Highest score any record of its workload got while it was in effect,
    /// with the model family behind it.
    pub max_score: Option<(f64, String)>,
}

impl FaultOutcome {
    /// The first incident (by open time) attributed to the fault.
    pub fn incident(&self) -> Option<&IncidentHistory> {
        self.incidents.first()
    }

    /// Time to detect (first tag − onset), seconds.
    pub fn detect_s(&self) -> Option<f64> {
        let on = self.onset_ns?;
        self.first_tag
            .as_ref()
            .map(|(t, _, _)| (t - on) as f64 / 1e9)
    }

    /// The first successful action on the fault's incidents: (action, finished ns).
    pub fn remediation(&self) -> Option<(String, i64)> {
        self.incidents
            .iter()
            .flat_map(|i| i.actions.iter())
            .filter(|a| a.result == "ok")
            .filter_map(|a| {
                let t = a.finished_at.unwrap_or(a.started_at);
                Some((a.action.clone(), i64::try_from(t.as_nanosecond()).ok()?))
            })
            .min_by_key(|(_, t)| *t)
    }

    /// Time to remediate (successful action − onset), seconds.
    pub fn remediate_s(&self) -> Option<f64> {
        let on = self.onset_ns?;
        self.remediation().map(|(_, t)| (t - on) as f64 / 1e9)
    }

    /// Whether every incident attributed to the fault ended resolved.
    pub fn resolved(&self) -> bool {
        !self.incidents.is_empty()
            && self
                .incidents
                .iter()
                .all(|i| i.incident.state == "resolved")
    }
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct LoopReport {
    /// The filter that ran.
    pub filter: String,
    /// Scrape interval, seconds.
    pub interval_s: u32,
    /// End of warm-up (the faults' time origin), ns.
    pub t0_ns: i64,
    /// End of the run, ns.
    pub end_ns: i64,
    /// Wall time of the run.
    pub wall: Duration,
    /// Records the simulation produced.
    pub records: u64,
    /// Records the filter dropped (traps, invalid results).
    pub filter_dropped: u64,
    /// Anomalous records posted to the heal API.
    pub posted: u64,
    /// Of those, records the heal API stored as not actionable (node-level
    /// `_/<node>` or null entity).
    pub not_actionable: u64,
    /// The timeline, in time order.
    pub timeline: Vec<TimelineEntry>,
    /// Per fault, in the config's order.
    pub faults: Vec<FaultOutcome>,
    /// Every incident the heal API opened.
    pub incidents: Vec<IncidentHistory>,
    /// Incidents on workloads no fault hit (false alarms).
    pub unattributed: Vec<IncidentHistory>,
    /// Anomalous records per workload (`namespace/name`).
    pub anomalies_by_entity: BTreeMap<String, u64>,
    /// Every request the simulated API server answered.
    pub api_requests: Vec<RequestRecord>,
    /// The heal API's budget: (max actions, window seconds).
    pub budget: (u32, u64),
}

impl LoopReport {
    /// The most actions started within any budget window.
    pub fn max_actions_in_budget_window(&self) -> usize {
        let mut starts: Vec<i64> = self
            .incidents
            .iter()
            .flat_map(|i| i.actions.iter())
            .map(|a| a.started_at.as_millisecond())
            .collect();
        starts.sort_unstable();
        let window = i64::try_from(self.budget.1).unwrap_or(i64::MAX / 1000) * 1000;
        let mut best = 0;
        for (i, t) in starts.iter().enumerate() {
            let n = starts[i..].iter().take_while(|u| **u < t + window).count();
            best = best.max(n);
        }
        best
    }

    /// Mutating API requests whose path names `namespace/workload`'s
    /// Deployment, its HPA, or its pods.
    pub fn mutations_of(&self, workload: &str) -> Vec<&RequestRecord> {
        let (ns, name) = workload.split_once('/').unwrap_or(("", workload));
        let dep = format!("/namespaces/{ns}/deployments/{name}");
        let hpa = format!("/namespaces/{ns}/horizontalpodautoscalers/{name}");
        let pod = format!("/namespaces/{ns}/pods/{name}-");
        self.api_requests
            .iter()
            .filter(|r| r.is_mutation())
            .filter(|r| {
                r.path.ends_with(&dep)
                    || r.path.contains(&format!("{dep}/"))
                    || r.path.ends_with(&hpa)
                    || r.path.contains(&pod)
            })
            .collect()
    }
}

fn ts(ns: i64) -> Timestamp {
    Timestamp::from_nanosecond(i128::from(ns)).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn ns_of(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(0)
}

/// Which fault an incident on `entity` opened at `at_ns` belongs to: the
/// latest fault on that workload that took effect at or before it (and was
/// not over more than a verify window before it).
fn attribute(
    faults: &[(PlannedFault, Option<i64>, i64)],
    entity: &str,
    at_ns: i64,
    slack_ns: i64,
) -> Option<usize> {
    faults
        .iter()
        .enumerate()
        .filter(|(_, (p, on, end))| {
            p.workload == entity && on.is_some_and(|o| o <= at_ns) && at_ns <= end + slack_ns
        })
        .max_by_key(|(_, (_, on, _))| *on)
        .map(|(i, _)| i)
}

/// A fault as the loop sees it after a tick: plan, onset, effective end,
/// status, clearing time, pod hit.
type FaultView = (
    PlannedFault,
    Option<i64>,
    i64,
    FaultStatus,
    Option<i64>,
    Option<String>,
);

struct Tracker {
    seen_states: BTreeMap<i64, (String, usize, usize)>,
    /// Incidents whose raised HPA minimum is still to be given back: read again after
    /// they closed.
    holding_floor: BTreeSet<i64>,
    timeline: Vec<TimelineEntry>,
}

impl Tracker {
    fn push(&mut self, e: TimelineEntry, on_event: &mut dyn FnMut(&TimelineEntry)) {
        on_event(&e);
        self.timeline.push(e);
    }
}

/// Runs the loop; `on_event` sees every timeline entry as it happens.
pub async fn run(
    cfg: &LoopConfig,
    edge: &mut dyn EdgeFilter,
    on_event: &mut dyn FnMut(&TimelineEntry),
) -> Result<LoopReport, LoopError> {
    let wall = Instant::now();
    let sim = SimConfig {
        seed: cfg.seed,
        start_ns: cfg.start_ns,
        interval_s: cfg.interval_s,
        fleet: cfg.fleet.build(),
    };
    let cluster = SimCluster::new(sim, &cfg.cluster)?;
    let t0_ns = cfg.start_ns + i64::try_from(cfg.warmup_s).unwrap_or(0) * NS_PER_S;
    for (i, f) in cfg.faults.iter().enumerate() {
        let spec = f.spec(format!("f{}-{}", i + 1, f.kind.as_str()), t0_ns);
        cluster.with_sim(|s| s.inject(spec))?;
    }
    let last_onset = cfg.faults.iter().map(|f| f.at_s).max().unwrap_or(0);
    let end_ns = t0_ns + i64::try_from(last_onset + cfg.tail_s).unwrap_or(0) * NS_PER_S;

    std::fs::create_dir_all(&cfg.work_dir)
        .map_err(|e| LoopError::Io(cfg.work_dir.display().to_string(), e))?;
    let (url, server) = spawn(cluster.api().clone()).await?;
    let kubeconfig = cfg.work_dir.join("kubeconfig");
    write_kubeconfig(&kubeconfig, &url)?;
    let healer =
        InProcessHealer::start(&cfg.healer, &cfg.work_dir, &kubeconfig, ts(cfg.start_ns)).await?;

    let mut tracker = Tracker {
        seen_states: BTreeMap::new(),
        holding_floor: BTreeSet::new(),
        timeline: Vec::new(),
    };
    let n = cfg.faults.len();
    let mut first_tag: Vec<Option<(i64, String, Option<f64>)>> = vec![None; n];
    let mut last_tag: Vec<Option<i64>> = vec![None; n];
    let mut tagged: Vec<u64> = vec![0; n];
    let mut max_score: Vec<Option<(f64, String)>> = vec![None; n];
    let mut classes: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new(); n];
    let mut announced: BTreeSet<(usize, Step)> = BTreeSet::new();
    let mut by_entity: BTreeMap<String, u64> = BTreeMap::new();
    let (mut records_total, mut posted, mut not_actionable) = (0u64, 0u64, 0u64);
    let slack_ns = i64::try_from(cfg.healer.verify_window_secs).unwrap_or(0) * NS_PER_S * 2;
    let mut records = Vec::new();
    let mut out = Vec::with_capacity(8192);

    loop {
        let tick_started = Instant::now();
        if cluster.now_ns() >= end_ns {
            break;
        }
        records.clear();
        cluster.step(&mut records)?;
        let now_ns = cluster.now_ns();
        records_total += records.len() as u64;
        // Fault states after this tick.
        let states: Vec<FaultView> = cluster.with_sim(|s| {
            s.faults()
                .iter()
                .zip(&cfg.faults)
                .map(|(f, p)| {
                    (
                        p.clone(),
                        f.activated_ns,
                        f.effective_end_ns(),
                        f.status,
                        f.cleared_ns,
                        f.pod.clone(),
                    )
                })
                .collect()
        });
        for (i, (p, on, _, _, _, pod)) in states.iter().enumerate() {
            if let Some(on) = on {
                if announced.insert((i, Step::Injected)) {
                    let target = pod
                        .as_deref()
                        .map_or(String::new(), |p| format!(" pod {p}"));
                    tracker.push(
                        TimelineEntry {
                            t_ns: *on,
                            step: Step::Injected,
                            fault: Some(i),
                            entity: p.workload.clone(),
                            text: format!(
                                "{} (intensity {:.2}){target}",
                                p.kind.as_str(),
                                p.intensity
                            ),
                        },
                        on_event,
                    );
                }
            }
        }
        let windows: Vec<(PlannedFault, Option<i64>, i64)> = states
            .iter()
            .map(|(p, on, end, ..)| (p.clone(), *on, *end))
            .collect();
        let mut batch = Vec::new();
        for r in &records {
            edge.process(&r.tag, r.ts_ns, r.line.as_bytes(), &mut out);
            let Some(tag) = tags(&out) else { continue };
            if let (Some(entity), Some(score)) = (tag.entity.as_deref(), tag.score) {
                for (i, (p, on, end)) in windows.iter().enumerate() {
                    let in_window = on.is_some_and(|o| o <= r.ts_ns) && r.ts_ns < *end;
                    if in_window
                        && p.workload == entity
                        && max_score[i].as_ref().is_none_or(|(m, _)| score > *m)
                    {
                        let family = tag.family.clone().unwrap_or_else(|| "-".into());
                        max_score[i] = Some((score, family));
                    }
                }
            }
            if !tag.anomaly {
                continue;
            }
            batch.extend_from_slice(&out);
            batch.push(b'\n');
            posted += 1;
            let Some(entity) = tag.entity.clone() else {
                continue;
            };
            *by_entity.entry(entity.clone()).or_default() += 1;
            for (i, (p, on, end)) in windows.iter().enumerate() {
                let Some(on) = on else { continue };
                if p.workload != entity || r.ts_ns < *on {
                    continue;
                }
                if r.ts_ns < *end {
                    tagged[i] += 1;
                    *classes[i].entry(tag.incident.clone()).or_default() += 1;
                }
                last_tag[i] = Some(r.ts_ns);
                if first_tag[i].is_none() && r.ts_ns < *end {
                    first_tag[i] = Some((r.ts_ns, tag.incident.clone(), tag.score));
                    tracker.push(
                        TimelineEntry {
                            t_ns: r.ts_ns,
                            step: Step::FirstTag,
                            fault: Some(i),
                            entity: entity.clone(),
                            text: format!(
                                "{} record tagged {} (score {}), {:.0} s after onset",
                                tag.kind,
                                tag.incident,
                                tag.score.map_or("-".into(), |s| format!("{s:.2}")),
                                (r.ts_ns - on) as f64 / 1e9
                            ),
                        },
                        on_event,
                    );
                }
            }
        }
        healer.set_time(ts(now_ns));
        if !batch.is_empty() {
            not_actionable += healer.post_anomalies(batch).await?.not_actionable;
        }
        healer.step().await?;
        for (i, (p, _, _, status, cleared, _)) in states.iter().enumerate() {
            if *status == FaultStatus::Cleared && announced.insert((i, Step::Cleared)) {
                tracker.push(
                    TimelineEntry {
                        t_ns: cleared.unwrap_or(now_ns),
                        step: Step::Cleared,
                        fault: Some(i),
                        entity: p.workload.clone(),
                        text: "the affected pods were replaced; the fault is gone".into(),
                    },
                    on_event,
                );
            }
        }
        poll(&healer, &windows, slack_ns, &mut tracker, on_event).await?;
        let spent = tick_started.elapsed();
        if spent < cfg.tick_wall {
            tokio::time::sleep(cfg.tick_wall - spent).await;
        }
    }
    let final_states: Vec<(PlannedFault, Option<i64>, i64)> = cluster.with_sim(|s| {
        s.faults()
            .iter()
            .zip(&cfg.faults)
            .map(|(f, p)| (p.clone(), f.activated_ns, f.effective_end_ns()))
            .collect()
    });
    poll(&healer, &final_states, slack_ns, &mut tracker, on_event).await?;
    let mut incidents = Vec::new();
    for inc in healer.incidents().await? {
        incidents.push(healer.incident(inc.id).await?);
    }
    incidents.sort_by_key(|i| i.incident.id);
    healer.stop().await?;
    server.abort();

    let sim_faults = cluster.with_sim(|s| s.faults().to_vec());
    let mut faults = Vec::with_capacity(n);
    let mut attributed = BTreeSet::new();
    for (i, (p, f)) in cfg.faults.iter().zip(&sim_faults).enumerate() {
        let mine: Vec<IncidentHistory> = incidents
            .iter()
            .filter(|h| {
                attribute(
                    &final_states,
                    &h.incident.entity,
                    ns_of(h.incident.opened_at),
                    slack_ns,
                ) == Some(i)
            })
            .cloned()
            .collect();
        attributed.extend(mine.iter().map(|h| h.incident.id));
        faults.push(FaultOutcome {
            planned: p.clone(),
            id: f.spec.id.clone(),
            onset_ns: f.activated_ns,
            pod: f.pod.clone(),
            first_tag: first_tag[i].clone(),
            tagged_records: tagged[i],
            tag_classes: classes[i].clone(),
            incidents: mine,
            cleared_ns: f.cleared_ns,
            last_tag_ns: last_tag[i],
            status: f.status,
            max_score: max_score[i].clone(),
        });
    }
    let unattributed = incidents
        .iter()
        .filter(|h| !attributed.contains(&h.incident.id))
        .cloned()
        .collect();
    let mut timeline = tracker.timeline;
    // Entries of one instant in fault order, not in the order the polls
    // happened to see them (two incidents the healer resolves at the same
    // time may show up in either order).
    timeline.sort_by_key(|e| (e.t_ns, e.step, e.fault));
    Ok(LoopReport {
        filter: edge.describe(),
        filter_dropped: edge.dropped(),
        interval_s: cfg.interval_s,
        t0_ns,
        end_ns: cluster.now_ns(),
        wall: wall.elapsed(),
        records: records_total,
        posted,
        not_actionable,
        timeline,
        faults,
        incidents,
        unattributed,
        anomalies_by_entity: by_entity,
        api_requests: cluster.api().requests(),
        budget: (cfg.healer.budget_max_actions, cfg.healer.budget_window_secs),
    })
}

/// Reads the heal API's incidents and adds what changed to the timeline.
async fn poll(
    healer: &InProcessHealer,
    windows: &[(PlannedFault, Option<i64>, i64)],
    slack_ns: i64,
    tracker: &mut Tracker,
    on_event: &mut dyn FnMut(&TimelineEntry),
) -> Result<(), LoopError> {
    for inc in healer.incidents().await? {
        let known = tracker.seen_states.get(&inc.id).cloned();
        if known.as_ref().is_some_and(|(s, ..)| *s == inc.state)
            && matches!(inc.state.as_str(), "resolved" | "escalated" | "failed")
            && !tracker.holding_floor.contains(&inc.id)
        {
            continue;
        }
        let h = healer.incident(inc.id).await?;
        let fault = attribute(windows, &inc.entity, ns_of(inc.opened_at), slack_ns);
        let (_, seen_actions, seen_decisions) = known.clone().unwrap_or_default();
        if known.is_none() {
            let pod = inc
                .pod
                .as_deref()
                .map_or(String::new(), |p| format!(" (pod {p})"));
            tracker.push(
                TimelineEntry {
                    t_ns: ns_of(inc.opened_at),
                    step: Step::Opened,
                    fault,
                    entity: inc.entity.clone(),
                    text: format!("#{} {}{pod}", inc.id, inc.kind),
                },
                on_event,
            );
        }
        for a in h.actions.iter().skip(seen_actions) {
            if a.result == "pending" {
                break;
            }
            tracker.push(
                TimelineEntry {
                    t_ns: ns_of(a.finished_at.unwrap_or(a.started_at)),
                    step: Step::Action,
                    fault,
                    entity: inc.entity.clone(),
                    text: format!(
                        "#{} {} -> {}: {}",
                        inc.id,
                        a.action,
                        a.result,
                        a.detail.as_deref().unwrap_or("")
                    ),
                },
                on_event,
            );
        }
        let done_actions = h
            .actions
            .iter()
            .take_while(|a| a.result != "pending")
            .count();
        if h.hpa_raises.iter().any(HpaRaise::holds_the_floor) {
            tracker.holding_floor.insert(inc.id);
        } else {
            tracker.holding_floor.remove(&inc.id);
        }
        for d in h.decisions.iter().skip(seen_decisions) {
            if matches!(
                d.outcome.as_str(),
                "restored" | "restore_dry_run" | "restore_skipped" | "restore_failed"
            ) {
                tracker.push(
                    TimelineEntry {
                        t_ns: ns_of(d.at),
                        step: Step::FloorRestored,
                        fault,
                        entity: inc.entity.clone(),
                        text: format!("#{} {}: {}", inc.id, d.outcome, d.reason),
                    },
                    on_event,
                );
            }
            if matches!(d.outcome.as_str(), "refused" | "skipped" | "recurred") {
                tracker.push(
                    TimelineEntry {
                        t_ns: ns_of(d.at),
                        step: Step::Action,
                        fault,
                        entity: inc.entity.clone(),
                        text: format!(
                            "#{} {} {}: {}",
                            inc.id,
                            d.action.as_deref().unwrap_or("-"),
                            d.outcome,
                            d.reason
                        ),
                    },
                    on_event,
                );
            }
        }
        let step = match inc.state.as_str() {
            "resolved" => Some(Step::Resolved),
            "escalated" => Some(Step::Escalated),
            "failed" => Some(Step::Failed),
            _ => None,
        };
        if let Some(step) = step {
            if known.as_ref().is_none_or(|(s, ..)| *s != inc.state) {
                tracker.push(
                    TimelineEntry {
                        t_ns: inc.closed_at.map_or(0, ns_of),
                        step,
                        fault,
                        entity: inc.entity.clone(),
                        text: format!(
                            "#{} {}: {}",
                            inc.id,
                            inc.kind,
                            inc.reason.as_deref().unwrap_or("")
                        ),
                    },
                    on_event,
                );
            }
        }
        tracker
            .seen_states
            .insert(inc.id, (inc.state.clone(), done_actions, h.decisions.len()));
    }
    Ok(())
}

/// Which kind of fault an incident class answers.
pub fn intended_incident(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::CpuStress => "cpu_saturation",
        FaultKind::MemoryLeak => "memory_leak",
        FaultKind::TrafficFlood => "traffic_surge",
        FaultKind::CrashLoop => "crash_loop",
        FaultKind::ErrorBurst => "error_burst",
        FaultKind::LatencySpike => "latency_spike",
    }
}
