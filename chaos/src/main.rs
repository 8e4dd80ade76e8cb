//! The `edgeheal-chaos` binary: a thin command-line adapter over the
//! `edgeheal_chaos` library.
//!
//! - `generate`: labelled synthetic telemetry for training and evaluation.
//! - `label`: record the window of a real chaos experiment while it runs.
//! - `sim-cluster`: the simulated cluster (Kubernetes API + telemetry) on a socket.
//! - `demo`: the closed loop on embedded defaults, with a per-fault report.

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
    /// Serve a SIMULATED cluster: the Kubernetes API subset the healer uses,
    /// backed by simulated workloads whose telemetry is written as NDJSON.
    SimCluster(SimClusterArgs),
    /// The closed loop on one machine: simulated cluster with a fault of every
    /// kind -> edge filter -> SigV4 -> heal API (enforce) -> kube-rs -> the
    /// simulated cluster; prints a timeline and a per-fault table.
    Demo(DemoArgs),
}

#[derive(Parser)]
struct SimClusterArgs {
    /// Address to serve the Kubernetes API on (plain HTTP).
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: String,
    /// Where to write a kubeconfig for the simulated cluster.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulated seconds per wall second (1 = real time).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Telemetry NDJSON output (`-` = stdout).
    #[arg(long, default_value = "-")]
    telemetry: String,
    /// Inject the demo's fault schedule after this many simulated seconds
    /// (absent: no faults).
    #[arg(long)]
    faults_after: Option<u64>,
    /// Scrape interval in seconds.
    #[arg(long, default_value_t = 15)]
    interval: u32,
}

#[derive(Parser)]
struct DemoArgs {
    /// Run the native edge core instead of the `.wasm` under the Fluent Bit harness.
    #[arg(long)]
    native: bool,
    /// Run this `.wasm` filter instead of the one this build compiled.
    #[arg(long)]
    wasm: Option<PathBuf>,
    /// Directory for report.md and timeline.png.
    #[arg(long, default_value = "edgeheal-demo-report")]
    report: PathBuf,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Simulated seconds per wall second.
    #[arg(long, default_value_t = 60.0)]
    speed: f64,
    /// Keep the heal API's work directory (store, kubeconfig) here instead of a temp dir.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Simulated start (RFC 3339 UTC); default 2025-03-03T00:00:00Z (as for
    /// `generate`), so a seed always gives the same telemetry.
    #[arg(long)]
    start: Option<String>,
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

fn tick_wall(interval: u32, speed: f64) -> Result<std::time::Duration> {
    if !(speed.is_finite() && speed > 0.0 && speed <= 10_000.0) {
        bail!("--speed {speed} is outside (0, 10000]");
    }
    Ok(std::time::Duration::from_secs_f64(
        f64::from(interval) / speed,
    ))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Generate(a) => run_generate(a),
        Command::Label(a) => run_label(a),
        Command::SimCluster(a) => {
            let wall = tick_wall(a.interval, a.speed)?;
            runtime()?.block_on(cli::sim_cluster::run(cli::sim_cluster::Args {
                listen: a.listen,
                kubeconfig: a.kubeconfig,
                seed: a.seed,
                tick_wall: wall,
                telemetry: a.telemetry,
                faults_after: a.faults_after,
                interval: a.interval,
            }))
        }
        Command::Demo(a) => {
            let wall = tick_wall(15, a.speed)?;
            let start_ns = match &a.start {
                Some(s) => parse_rfc3339(s)
                    .with_context(|| format!("--start `{s}` is not RFC 3339 UTC"))?,
                None => DEFAULT_START_NS,
            };
            runtime()?.block_on(cli::demo::run(cli::demo::Args {
                start_ns,
                native: a.native,
                wasm: a.wasm,
                report: a.report,
                seed: a.seed,
                tick_wall: wall,
                work_dir: a.work_dir,
            }))
        }
    }
}

mod cli;
