//! Planning a run: which faults hit which workload when (random onset,
//! duration, intensity and target; well separated per workload, with a
//! configurable share deliberately overlapping), and the normal maintenance
//! (deploys, evictions) that happens in the gaps and is *not* an incident.

use serde::Serialize;

use crate::clock::NS_PER_S;
use crate::fault::{FaultKind, FaultSpec, PodTarget};
use crate::fleet::Fleet;
use crate::random::{chance, index, rng_for, uniform, SimRng};
use crate::ChaosError;

/// How faults and maintenance are planned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleConfig {
    /// Fault kinds to inject (empty: a fault-free run).
    pub kinds: Vec<FaultKind>,
    /// Probability that a fault gets a second, overlapping fault on the same workload.
    pub overlap_rate: f64,
    /// Fault-free time at the start, seconds (lets baselines form).
    pub warmup_s: f64,
    /// Fault-free gap between consecutive faults on one workload, seconds (min, max).
    pub gap_s: (f64, f64),
    /// Deploy-like rolling restarts per workload per day.
    pub deploys_per_day: f64,
    /// Single-pod evictions (pod replaced) per workload per day.
    pub evictions_per_day: f64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            kinds: crate::fault::ALL_KINDS.to_vec(),
            overlap_rate: 0.15,
            warmup_s: 1800.0,
            gap_s: (2400.0, 5400.0),
            deploys_per_day: 3.0,
            evictions_per_day: 1.0,
        }
    }
}

impl ScheduleConfig {
    /// Checks ranges.
    pub fn validate(&self) -> Result<(), ChaosError> {
        let bad = |name, reason: String| Err(ChaosError::InvalidParameter { name, reason });
        if !(0.0..=1.0).contains(&self.overlap_rate) {
            return bad(
                "overlap-rate",
                format!("{} is outside [0, 1]", self.overlap_rate),
            );
        }
        if self.gap_s.0 < 60.0 || self.gap_s.1 < self.gap_s.0 {
            return bad(
                "gap",
                format!("{:?} must be ordered and at least 60 s", self.gap_s),
            );
        }
        if self.warmup_s < 0.0 || self.deploys_per_day < 0.0 || self.evictions_per_day < 0.0 {
            return bad("schedule", "negative warmup or rate".into());
        }
        Ok(())
    }
}

/// A planned, non-incident change.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceKind {
    /// A rolling restart with a new template (a deploy).
    Deploy,
    /// One pod deleted and replaced (eviction, node drain).
    Evict {
        /// Pod index, modulo the pod count at that time.
        pod_index: usize,
    },
}

/// One planned maintenance action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Maintenance {
    /// When, ns since the epoch.
    pub at_ns: i64,
    /// Namespace.
    pub namespace: String,
    /// Workload.
    pub workload: String,
    /// What.
    pub kind: MaintenanceKind,
}

/// Faults and maintenance for a run, each sorted by time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Faults to inject.
    pub faults: Vec<FaultSpec>,
    /// Normal maintenance.
    pub maintenance: Vec<Maintenance>,
}

/// Margin kept between maintenance and any fault window of the same workload.
const MAINTENANCE_MARGIN_S: f64 = 600.0;

fn pick_target(rng: &mut SimRng, kind: FaultKind, avoid: Option<usize>) -> PodTarget {
    let (workload, pod) = kind.scopes();
    if pod && (!workload || chance(rng, 0.4)) {
        let mut i = index(rng, 64);
        if Some(i % 2) == avoid.map(|a| a % 2) {
            i += 1;
        }
        PodTarget::Index(i)
    } else {
        PodTarget::Workload
    }
}

/// Plans faults and maintenance for `fleet` over `[start_ns, end_ns)`.
pub fn plan(
    fleet: &Fleet,
    cfg: &ScheduleConfig,
    seed: u64,
    start_ns: i64,
    end_ns: i64,
) -> Result<Plan, ChaosError> {
    cfg.validate()?;
    let mut rng = rng_for(seed, 1);
    let mut faults = Vec::new();
    let mut maintenance = Vec::new();
    let ns = |s: f64| (s * 1e9) as i64;
    for w in &fleet.workloads {
        let kinds: Vec<FaultKind> = cfg
            .kinds
            .iter()
            .copied()
            .filter(|k| k.applies_to(w.kind))
            .collect();
        let mut windows: Vec<(i64, i64)> = Vec::new();
        let mut t = start_ns + ns(cfg.warmup_s + uniform(&mut rng, 0.0, cfg.gap_s.0 / 2.0));
        // Cycle through the kinds in a shuffled order so each appears evenly.
        let mut deck: Vec<FaultKind> = Vec::new();
        while !kinds.is_empty() {
            if deck.is_empty() {
                deck = kinds.clone();
                for i in (1..deck.len()).rev() {
                    deck.swap(i, index(&mut rng, i + 1));
                }
            }
            let Some(kind) = deck.pop() else { break };
            let (dmin, dmax) = kind.duration_range_s();
            let dur = ns(uniform(&mut rng, dmin, dmax));
            if t + dur > end_ns - ns(300.0) {
                break;
            }
            let target = pick_target(&mut rng, kind, None);
            let first_pod = match target {
                PodTarget::Index(i) => Some(i),
                _ => None,
            };
            faults.push(FaultSpec {
                id: String::new(),
                kind,
                namespace: w.namespace.clone(),
                workload: w.name.clone(),
                pod: target,
                start_ns: t,
                end_ns: t + dur,
                intensity: uniform(&mut rng, 0.3, 1.0),
            });
            let mut window_end = t + dur;
            if chance(&mut rng, cfg.overlap_rate) {
                let others: Vec<FaultKind> = kinds.iter().copied().filter(|k| *k != kind).collect();
                if !others.is_empty() {
                    let second = others[index(&mut rng, others.len())];
                    let (smin, smax) = second.duration_range_s();
                    let s_start = t + ns(uniform(&mut rng, 0.1, 0.6) * dur as f64 / 1e9);
                    let s_end =
                        (s_start + ns(uniform(&mut rng, smin, smax))).min(end_ns - ns(60.0));
                    if s_end > s_start {
                        faults.push(FaultSpec {
                            id: String::new(),
                            kind: second,
                            namespace: w.namespace.clone(),
                            workload: w.name.clone(),
                            pod: pick_target(&mut rng, second, first_pod),
                            start_ns: s_start,
                            end_ns: s_end,
                            intensity: uniform(&mut rng, 0.3, 1.0),
                        });
                        window_end = window_end.max(s_end);
                    }
                }
            }
            windows.push((t, window_end));
            t = window_end + ns(uniform(&mut rng, cfg.gap_s.0, cfg.gap_s.1));
        }
        // Maintenance in the gaps.
        let days = (end_ns - start_ns) as f64 / (86_400.0 * 1e9);
        let margin = ns(MAINTENANCE_MARGIN_S);
        for (rate, deploy) in [(cfg.deploys_per_day, true), (cfg.evictions_per_day, false)] {
            let n = crate::random::poisson(&mut rng, rate * days);
            for _ in 0..n {
                let at = start_ns + ns(uniform(&mut rng, 0.0, (end_ns - start_ns) as f64 / 1e9));
                let clear = windows
                    .iter()
                    .all(|&(s, e)| at + margin < s || at > e + margin);
                if !clear || at + ns(300.0) > end_ns {
                    continue;
                }
                maintenance.push(Maintenance {
                    at_ns: at,
                    namespace: w.namespace.clone(),
                    workload: w.name.clone(),
                    kind: if deploy {
                        MaintenanceKind::Deploy
                    } else {
                        MaintenanceKind::Evict {
                            pod_index: index(&mut rng, 64),
                        }
                    },
                });
            }
        }
    }
    faults.sort_by(|a, b| {
        (a.start_ns, &a.namespace, &a.workload).cmp(&(b.start_ns, &b.namespace, &b.workload))
    });
    for (i, f) in faults.iter_mut().enumerate() {
        f.id = format!(
            "f{:04}-{}-{}-{}",
            i + 1,
            f.kind.as_str(),
            f.namespace,
            f.workload
        );
    }
    maintenance.sort_by(|a, b| {
        (a.at_ns, &a.namespace, &a.workload).cmp(&(b.at_ns, &b.namespace, &b.workload))
    });
    let _ = NS_PER_S;
    Ok(Plan {
        faults,
        maintenance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::FleetName;

    const START: i64 = 1_741_003_200_000_000_000;
    const DAY: i64 = 86_400_000_000_000;

    #[test]
    fn plans_are_deterministic_and_separated() {
        let fleet = FleetName::A.build();
        let cfg = ScheduleConfig {
            overlap_rate: 0.0,
            ..ScheduleConfig::default()
        };
        let p1 = plan(&fleet, &cfg, 7, START, START + DAY).unwrap();
        let p2 = plan(&fleet, &cfg, 7, START, START + DAY).unwrap();
        assert_eq!(p1, p2);
        assert!(p1.faults.len() >= 30, "{} faults", p1.faults.len());
        for w in &fleet.workloads {
            let mut mine: Vec<&FaultSpec> =
                p1.faults.iter().filter(|f| f.workload == w.name).collect();
            mine.sort_by_key(|f| f.start_ns);
            for pair in mine.windows(2) {
                let gap = pair[1].start_ns - pair[0].end_ns;
                assert!(gap >= (cfg.gap_s.0 * 1e9) as i64, "{} gap {gap}", w.name);
            }
            for m in p1.maintenance.iter().filter(|m| m.workload == w.name) {
                for f in &mine {
                    assert!(
                        m.at_ns + 600 * NS_PER_S < f.start_ns
                            || m.at_ns > f.end_ns + 600 * NS_PER_S
                    );
                }
            }
        }
        for f in &p1.faults {
            f.validate().unwrap();
        }
    }

    #[test]
    fn scenario_and_overlap_settings() {
        let fleet = FleetName::B.build();
        // (kinds, overlap rate, expectation)
        let cases: Vec<(Vec<FaultKind>, f64, &str)> = vec![
            (vec![], 0.0, "no faults"),
            (vec![FaultKind::MemoryLeak], 0.0, "only memory leaks"),
            (crate::fault::ALL_KINDS.to_vec(), 1.0, "overlaps"),
            (vec![FaultKind::TrafficFlood], 0.0, "no flood on daemonsets"),
        ];
        for (kinds, overlap_rate, what) in cases {
            let cfg = ScheduleConfig {
                kinds: kinds.clone(),
                overlap_rate,
                ..ScheduleConfig::default()
            };
            let p = plan(&fleet, &cfg, 3, START, START + DAY).unwrap();
            match what {
                "no faults" => assert!(p.faults.is_empty()),
                "only memory leaks" => {
                    assert!(!p.faults.is_empty());
                    assert!(p.faults.iter().all(|f| f.kind == FaultKind::MemoryLeak));
                }
                "overlaps" => {
                    let overlapping = p.faults.iter().any(|a| {
                        p.faults.iter().any(|b| {
                            a.id != b.id
                                && a.workload == b.workload
                                && a.start_ns < b.end_ns
                                && b.start_ns < a.end_ns
                        })
                    });
                    assert!(overlapping);
                }
                _ => assert!(p.faults.iter().all(|f| f.workload != "metrics-relay")),
            }
        }
    }
}
