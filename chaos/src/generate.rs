//! A whole generated run, written to a directory:
//!
//! - `telemetry.ndjson`: every record of every shape, one JSON object per line,
//!   in time order (the consumer replays it top to bottom);
//! - `<shape>.ndjson` per shape as well, with `split` (each in time order);
//! - `labels.json`: the ground-truth fault windows;
//! - `run.json`: seed, hours, interval, fleet, scenario, workloads and their
//!   normal levels, record counts.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::clock::{rfc3339, Precision, NS_PER_S};
use crate::fault::FaultKind;
use crate::fleet::FleetName;
use crate::labels::{write_json_atomic, Label};
use crate::schedule::{plan, Maintenance, ScheduleConfig};
use crate::sim::{NormalLevels, SimConfig, Simulation};
use crate::sink::{NdjsonSink, MERGED_FILE};
use crate::ChaosError;

/// The default simulated start: Monday 2025-03-03T00:00:00Z.
pub const DEFAULT_START_NS: i64 = 1_740_960_000 * NS_PER_S;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateConfig {
    /// Seed.
    pub seed: u64,
    /// Simulated hours.
    pub hours: f64,
    /// Scrape interval, seconds.
    pub interval_s: u32,
    /// Which fleet.
    pub fleet: FleetName,
    /// Simulated start, ns.
    pub start_ns: i64,
    /// Fault and maintenance planning.
    pub schedule: ScheduleConfig,
    /// Also write one file per shape.
    pub split: bool,
    /// Output directory (created if missing).
    pub out: PathBuf,
}

/// `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunManifest {
    /// Generator name and version.
    pub generator: String,
    /// Seed.
    pub seed: u64,
    /// Simulated hours.
    pub hours: f64,
    /// Scrape interval, seconds.
    pub interval_s: u32,
    /// Fleet name.
    pub fleet: String,
    /// Simulated start (RFC 3339).
    pub start: String,
    /// Simulated end (RFC 3339).
    pub end: String,
    /// Fault kinds injected.
    pub scenarios: Vec<FaultKind>,
    /// Overlap rate.
    pub overlap_rate: f64,
    /// Nodes.
    pub nodes: Vec<String>,
    /// Workloads and their normal levels.
    pub workloads: Vec<NormalLevels>,
    /// Planned non-incident maintenance (deploys, evictions).
    pub maintenance: Vec<MaintenanceEntry>,
    /// Number of labelled windows.
    pub labels: usize,
    /// Files written.
    pub files: Vec<String>,
    /// Records per shape.
    pub records: std::collections::BTreeMap<String, u64>,
}

/// A maintenance action as listed in `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceEntry {
    /// When (RFC 3339).
    pub at: String,
    /// What.
    #[serde(flatten)]
    pub action: Maintenance,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The manifest written to `run.json`.
    pub manifest: RunManifest,
    /// The labels written to `labels.json`.
    pub labels: Vec<Label>,
    /// Bytes of `telemetry.ndjson`.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: std::time::Duration,
}

/// Generates a run into `cfg.out`.
pub fn generate(cfg: &GenerateConfig) -> Result<RunSummary, ChaosError> {
    let started = Instant::now();
    if !(cfg.hours > 0.0 && cfg.hours <= 24.0 * 31.0) {
        return Err(ChaosError::InvalidParameter {
            name: "hours",
            reason: format!("{} is outside (0, 744]", cfg.hours),
        });
    }
    std::fs::create_dir_all(&cfg.out).map_err(|source| ChaosError::Io {
        path: cfg.out.clone(),
        source,
    })?;
    let fleet = cfg.fleet.build();
    let end_ns = cfg.start_ns + (cfg.hours * 3600.0 * 1e9) as i64;
    let plan = plan(&fleet, &cfg.schedule, cfg.seed, cfg.start_ns, end_ns)?;
    let mut sim = Simulation::new(SimConfig {
        seed: cfg.seed,
        start_ns: cfg.start_ns,
        interval_s: cfg.interval_s,
        fleet: fleet.clone(),
    })?;
    sim.apply_plan(&plan)?;
    let mut sink = NdjsonSink::create(&cfg.out, cfg.split)?;
    sim.run_until(end_ns, &mut sink)?;
    let counts = sink.counts().clone();
    let bytes = sink.bytes();
    sink.finish()?;
    let labels = sim.labels();
    write_json_atomic(&cfg.out.join("labels.json"), &labels)?;
    let mut files = vec![MERGED_FILE.to_owned()];
    if cfg.split {
        files.extend(
            crate::telemetry::Shape::ALL
                .iter()
                .map(|s| format!("{}.ndjson", s.as_str())),
        );
    }
    files.push("labels.json".into());
    files.push("run.json".into());
    let manifest = RunManifest {
        generator: format!("edgeheal-chaos {}", env!("CARGO_PKG_VERSION")),
        seed: cfg.seed,
        hours: cfg.hours,
        interval_s: cfg.interval_s,
        fleet: fleet.name.clone(),
        start: rfc3339(cfg.start_ns, Precision::Seconds),
        end: rfc3339(end_ns, Precision::Seconds),
        scenarios: cfg.schedule.kinds.clone(),
        overlap_rate: cfg.schedule.overlap_rate,
        nodes: fleet.nodes.clone(),
        workloads: sim.normal_levels(),
        maintenance: plan
            .maintenance
            .iter()
            .map(|m| MaintenanceEntry {
                at: rfc3339(m.at_ns, Precision::Seconds),
                action: m.clone(),
            })
            .collect(),
        labels: labels.len(),
        files,
        records: counts
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), *v))
            .collect(),
    };
    write_json_atomic(&cfg.out.join("run.json"), &manifest)?;
    Ok(RunSummary {
        manifest,
        labels,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// Path of the merged telemetry file in a run directory.
pub fn telemetry_path(dir: &Path) -> PathBuf {
    dir.join(MERGED_FILE)
}
