//! The `edgeheal` binary: a thin command-line adapter over `edgeheal_models`.
//!
//! - `train`: labelled runs → model files + `manifest.json`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use edgeheal_models::train::{train, TrainConfig};

#[derive(Parser)]
#[command(
    name = "edgeheal",
    version,
    about = "edgeheal: train, evaluate and run the edge scorer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train forests and the incident classifier on labelled runs.
    Train(TrainArgs),
}

#[derive(Parser)]
struct TrainArgs {
    /// Run directory (telemetry.ndjson + labels.json); repeatable.
    #[arg(long, required = true)]
    data: Vec<PathBuf>,
    /// Output directory for the model files and manifest.json.
    #[arg(long)]
    out: PathBuf,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Name of the model set.
    #[arg(long, default_value = "default")]
    name: String,
    /// False alarms per entity-hour each family's warning threshold may cause.
    #[arg(long, default_value_t = 0.01)]
    false_alarm_budget: f64,
}

fn run_train(a: TrainArgs) -> Result<()> {
    let mut cfg = TrainConfig::new(a.data, a.seed);
    cfg.name = a.name;
    cfg.false_alarm_budget = a.false_alarm_budget;
    let set = train(&cfg).context("training failed")?;
    set.write(&a.out)
        .with_context(|| format!("writing {}", a.out.display()))?;
    for (family, c) in &set.calibration {
        eprintln!(
            "{family:>9}: warning {:.4} critical {:.4}  false alarms/entity-h {:.4}  recall {} ({} windows)",
            c.warning,
            c.critical,
            c.false_alarms_per_entity_hour,
            c.recall.map_or("-".into(), |r| format!("{r:.3}")),
            c.windows
        );
    }
    eprintln!("classifier rows: {}", set.classifier_rows);
    let id = set.model_set()?.id().to_owned();
    eprintln!("wrote {} ({id})", a.out.display());
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Train(a) => run_train(a),
    }
}
