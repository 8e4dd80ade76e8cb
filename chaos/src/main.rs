//! The `edgeheal-chaos` binary: a thin command-line adapter over the
//! `edgeheal_chaos` library.
//!
//! - `generate`: labelled synthetic telemetry for training and evaluation.
//! - `label`: record the window of a real chaos experiment while it runs.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use edgeheal_chaos::clock::{now_ns, parse_rfc3339};
use edgeheal_chaos::fault::{FaultKind, ALL_KINDS};
use edgeheal_chaos::generate::{generate, GenerateConfig, DEFAULT_START_NS};
use edgeheal_chaos::labels::{
    close_window, open_window, read_labels, write_json_atomic, WindowEnd, WindowStart,
};
use edgeheal_chaos::{FleetName, ScheduleConfig};

#[derive(Parser)]
#[command(
    name = "edgeheal-chaos",
    version,
    about = "edgeheal chaos: labelled telemetry and experiment windows"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate labelled telemetry (telemetry.ndjson, labels.json, run.json).
    Generate(GenerateArgs),
    /// Record the start or end of a real chaos experiment's window in labels.json.
    Label(LabelArgs),
}

#[derive(Parser)]
struct GenerateArgs {
    /// Seed of every random choice (same seed, same bytes).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulated hours.
    #[arg(long, default_value_t = 24.0)]
    hours: f64,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Fault kinds to inject (repeatable): cpu_stress, memory_leak, traffic_flood,
    /// crash_loop, error_burst, latency_spike, `all` (default) or `none`.
    #[arg(long = "scenario")]
    scenarios: Vec<String>,
    /// Scrape interval in seconds.
    #[arg(long, default_value_t = 15)]
    interval: u32,
    /// Workload set: `a` or `b` (disjoint names and normal levels).
    #[arg(long, default_value = "a")]
    fleet: String,
    /// Probability that a fault gets a deliberately overlapping second fault.
    #[arg(long, default_value_t = 0.15)]
    overlap_rate: f64,
    /// Simulated start (RFC 3339 UTC).
    #[arg(long)]
    start: Option<String>,
    /// Also write one NDJSON file per record shape.
    #[arg(long)]
    split: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Edge {
    Start,
    End,
}

#[derive(Parser)]
struct LabelArgs {
    /// labels.json to update (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// `start` opens a window now; `end` closes the matching open window now.
    edge: Edge,
    /// Fault kind.
    #[arg(long)]
    kind: String,
    /// Target namespace.
    #[arg(long)]
    namespace: String,
    /// Target workload.
    #[arg(long)]
    workload: String,
    /// Target pod, for pod-level experiments.
    #[arg(long)]
    pod: Option<String>,
    /// Window id (default: derived from kind, target and start time).
    #[arg(long)]
    id: Option<String>,
    /// Experiment strength in [0, 1].
    #[arg(long, default_value_t = 1.0)]
    intensity: f64,
}

fn parse_kind(s: &str) -> Result<FaultKind> {
    FaultKind::parse(s).with_context(|| {
        let names: Vec<&str> = ALL_KINDS.iter().map(|k| k.as_str()).collect();
        format!(
            "unknown fault kind `{s}` (expected one of {})",
            names.join(", ")
        )
    })
}

fn run_generate(a: GenerateArgs) -> Result<()> {
    let mut kinds = Vec::new();
    if a.scenarios.is_empty() {
        kinds = ALL_KINDS.to_vec();
    }
    for s in &a.scenarios {
        match s.as_str() {
            "all" => kinds.extend(ALL_KINDS),
            "none" => {}
            other => kinds.push(parse_kind(other)?),
        }
    }
    kinds.sort();
    kinds.dedup();
    let Some(fleet) = FleetName::parse(&a.fleet) else {
        bail!("unknown fleet `{}` (expected a or b)", a.fleet);
    };
    let start_ns = match &a.start {
        Some(s) => {
            parse_rfc3339(s).with_context(|| format!("--start `{s}` is not RFC 3339 UTC"))?
        }
        None => DEFAULT_START_NS,
    };
    let cfg = GenerateConfig {
        seed: a.seed,
        hours: a.hours,
        interval_s: a.interval,
        fleet,
        start_ns,
        schedule: ScheduleConfig {
            kinds,
            overlap_rate: a.overlap_rate,
            ..ScheduleConfig::default()
        },
        split: a.split,
        out: a.out,
    };
    let summary = generate(&cfg).context("generating telemetry")?;
    let records: u64 = summary.manifest.records.values().sum();
    eprintln!(
        "wrote {} records ({:.1} MiB), {} labelled windows, {} h simulated in {:.2} s -> {}",
        records,
        summary.bytes as f64 / (1024.0 * 1024.0),
        summary.labels.len(),
        cfg.hours,
        summary.elapsed.as_secs_f64(),
        cfg.out.display()
    );
    Ok(())
}

fn run_label(a: LabelArgs) -> Result<()> {
    let kind = parse_kind(&a.kind)?;
    let mut labels = read_labels(&a.out)?;
    let now = now_ns();
    let label = match a.edge {
        Edge::Start => open_window(
            &mut labels,
            WindowStart {
                id: a.id,
                kind,
                namespace: a.namespace,
                workload: a.workload,
                pod: a.pod,
                intensity: a.intensity,
            },
            now,
        )?,
        Edge::End => close_window(
            &mut labels,
            &WindowEnd {
                id: a.id,
                kind,
                namespace: a.namespace,
                workload: a.workload,
                pod: a.pod,
            },
            now,
        )?,
    };
    write_json_atomic(&a.out, &labels)?;
    println!("{}", serde_json::to_string(&label)?);
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Generate(a) => run_generate(a),
        Command::Label(a) => run_label(a),
    }
}
