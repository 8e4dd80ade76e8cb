//! `edgeheal-chaos demo`: the closed loop on embedded defaults — the
//! simulated cluster with a fault of every kind, the edge filter, the real
//! heal API in enforce mode — printing the timeline as it happens, then the
//! per-fault table, and writing `report.md` and `timeline.png`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use edgeheal_chaos::clock::NS_PER_S;
use edgeheal_chaos::closedloop::plan::demo_schedule;
use edgeheal_chaos::closedloop::report::{fault_table, summary, timeline_line, write};
use edgeheal_chaos::closedloop::{
    run as run_loop, EdgeFilter, HealerSettings, LoopConfig, NativeFilter, WasmFilter,
};
use edgeheal_chaos::simcluster::SimClusterConfig;
use edgeheal_chaos::FleetName;

/// Parsed arguments.
pub struct Args {
    pub native: bool,
    pub wasm: Option<PathBuf>,
    pub report: PathBuf,
    pub seed: u64,
    pub start_ns: i64,
    pub tick_wall: Duration,
    pub work_dir: Option<PathBuf>,
}

/// Simulated warm-up before the first fault (the filter's baselines settle).
const WARMUP_S: u64 = 600;
/// Simulated time after the last fault's onset.
const TAIL_S: u64 = 720;

pub async fn run(a: Args) -> Result<()> {
    let mut edge: Box<dyn EdgeFilter> = match (&a.wasm, a.native) {
        (Some(_), true) => bail!("--wasm and --native exclude each other"),
        (None, true) => Box::new(NativeFilter::embedded()?),
        (Some(path), false) => Box::new(WasmFilter::load(path)?),
        (None, false) => Box::new(WasmFilter::shipped().context(
            "loading the .wasm filter this build compiled (run `edgeheal-chaos demo --native` \
             for the same core compiled natively)",
        )?),
    };
    let temp;
    let work_dir = match &a.work_dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir().context("creating a temp dir")?;
            temp.path().to_path_buf()
        }
    };
    let start_ns = a.start_ns;
    let cfg = LoopConfig {
        seed: a.seed,
        fleet: FleetName::A,
        cluster: SimClusterConfig::fleet_a_demo(),
        interval_s: 15,
        start_ns,
        warmup_s: WARMUP_S,
        tail_s: TAIL_S,
        faults: demo_schedule(),
        healer: HealerSettings::demo(&["shop", "ml", "payments"]),
        tick_wall: a.tick_wall,
        work_dir,
    };
    let t0 = start_ns + i64::try_from(WARMUP_S).unwrap_or(0) * NS_PER_S;
    let sim_minutes =
        (WARMUP_S + cfg.faults.iter().map(|f| f.at_s).max().unwrap_or(0) + TAIL_S) / 60;
    eprintln!(
        "edgeheal demo: a SIMULATED cluster (edgeheal-chaos simulator, fleet a) -> {} -> \
         SigV4 -> edgeheal-healer (enforce, in process) -> kube-rs -> the simulated API server.\n\
         {} faults, {} simulated minutes ({} min warm-up) at {:.0}x; times below are simulated, from the end of warm-up.\n",
        edge.describe(),
        cfg.faults.len(),
        sim_minutes,
        WARMUP_S / 60,
        15.0 / a.tick_wall.as_secs_f64(),
    );
    let report = run_loop(&cfg, edge.as_mut(), &mut |e| {
        println!("{}", timeline_line(e, t0));
    })
    .await?;
    println!("\n{}", fault_table(&report));
    println!("{}", summary(&report));
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    write(&report, &a.report, &command)?;
    println!(
        "report: {} and {}",
        a.report.join("report.md").display(),
        a.report.join("timeline.png").display()
    );
    Ok(())
}
