//! The `edgeheal` binary: a thin command-line adapter over `edgeheal_models`.
//!
//! - `train`: labelled runs → model files + `manifest.json`;
//! - `eval`: a model set on labelled runs → `metrics.json` + `report.md`;
//! - `score`: the edge filter over NDJSON on stdin → tagged NDJSON on stdout;
//! - `export vector`: a model set → the Lua scorer for Vector's `lua` transform.

use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use edgeheal_models::baseline::evaluate_baselines;
use edgeheal_models::dataset::Dataset;
use edgeheal_models::evaluate::{evaluate, EvalConfig};
use edgeheal_models::plot::write_timelines;
use edgeheal_models::random_forest::RandomForestParams;
use edgeheal_models::report::{baseline_notes, write_report};
use edgeheal_models::score::{score_stream, warn_of_fallback_key, SCORE_TAG};
use edgeheal_models::train::{train, TrainConfig};
use edgeheal_plugin::manifest::MANIFEST;
use edgeheal_plugin::{Filter, FilterConfig, ModelSet};

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
    /// Evaluate a model set on labelled runs (event-level metrics and a report).
    Eval(EvalArgs),
    /// Run the edge filter over NDJSON from stdin, tagged NDJSON to stdout.
    Score(ScoreArgs),
    /// Generate pipeline code from a model set.
    #[command(subcommand)]
    Export(ExportTarget),
}

#[derive(Subcommand)]
enum ExportTarget {
    /// The Lua scorer (`edgeheal-scorer.lua`) for Vector's `lua` transform.
    Vector(ExportVectorArgs),
}

#[derive(Parser)]
struct ExportVectorArgs {
    /// Model directory (manifest.json + the files it lists).
    #[arg(long)]
    model: PathBuf,
    /// Output directory; `edgeheal-scorer.lua` is written into it.
    #[arg(long)]
    out: PathBuf,
    /// Filter configuration (JSON, the same keys as the wasm filter's file).
    #[arg(long)]
    config: Option<PathBuf>,
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
    /// False alarms per entity-hour each family's warning (candidate)
    /// threshold may cause before the classifier's veto.
    #[arg(long, default_value_t = 0.3)]
    false_alarm_budget: f64,
    /// False alarms per entity-hour each family's critical threshold (no
    /// confirmation needed) may cause.
    #[arg(long, default_value_t = 0.01)]
    critical_budget: f64,
    /// Trees of the incident classifier.
    #[arg(long, default_value_t = RandomForestParams::default().n_estimators)]
    classifier_trees: usize,
    /// Fewest training rows a leaf of the incident classifier may hold.
    #[arg(long, default_value_t = RandomForestParams::default().min_samples_leaf)]
    classifier_min_leaf: usize,
}

#[derive(Parser)]
struct EvalArgs {
    /// Run directory to evaluate on; repeatable.
    #[arg(long, required = true)]
    data: Vec<PathBuf>,
    /// Model directory (manifest.json + files); default: the embedded models.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Output directory for metrics.json, report.md and the PNG plots.
    #[arg(long)]
    report: PathBuf,
    /// Training run for the raw isolation-forest baseline (fitted on its
    /// fault-free time); repeatable. Without it only the static-threshold
    /// baseline runs.
    #[arg(long)]
    baseline_train: Vec<PathBuf>,
}

#[derive(Parser)]
struct ScoreArgs {
    /// Model directory; default: the models embedded in this build.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Filter configuration (JSON, the same keys as the wasm filter's file).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Pipeline tag passed with every record.
    #[arg(long, default_value = SCORE_TAG)]
    tag: String,
}

fn load_models(dir: Option<&Path>) -> Result<Option<ModelSet>> {
    match dir {
        Some(dir) => {
            let manifest = std::fs::read(dir.join(MANIFEST))
                .with_context(|| format!("reading {}", dir.join(MANIFEST).display()))?;
            let set = ModelSet::from_manifest(&manifest, |p| std::fs::read(dir.join(p)).ok())
                .with_context(|| format!("loading models from {}", dir.display()))?;
            Ok(Some(set))
        }
        None => match ModelSet::from_embedded() {
            Some(r) => Ok(Some(r.context("loading the embedded models")?)),
            None => Ok(None),
        },
    }
}

fn run_train(a: TrainArgs) -> Result<()> {
    let mut cfg = TrainConfig::new(a.data, a.seed);
    cfg.name = a.name;
    cfg.false_alarm_budget = a.false_alarm_budget;
    cfg.critical_budget = a.critical_budget;
    cfg.classifier.n_estimators = a.classifier_trees;
    cfg.classifier.min_samples_leaf = a.classifier_min_leaf;
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

fn run_eval(a: EvalArgs) -> Result<()> {
    let Some(models) = load_models(a.model.as_deref())? else {
        bail!("no models: pass --model DIR (this build embeds none)");
    };
    let sets: Vec<Dataset> = a
        .data
        .iter()
        .map(|d| Dataset::open(d))
        .collect::<Result<_, _>>()?;
    let train: Vec<Dataset> = a
        .baseline_train
        .iter()
        .map(|d| Dataset::open(d))
        .collect::<Result<_, _>>()?;
    let cfg = EvalConfig::default();
    let ev = evaluate(&models, &sets, &cfg)?;
    let base = evaluate_baselines(&sets, &train, &cfg).context("evaluating the baselines")?;
    let data: Vec<String> = sets.iter().map(|s| s.description().to_owned()).collect();
    let train_desc: Vec<String> = train.iter().map(|s| s.description().to_owned()).collect();
    let mut rows = vec![
        ("edgeheal", &ev.metrics),
        ("static_thresholds", &base.static_thresholds),
    ];
    if let Some(m) = &base.raw_isolation_forest {
        rows.push(("raw_isolation_forest", m));
    }
    let plots = write_timelines(&a.report, &ev, &models).context("drawing score timelines")?;
    let mut notes = baseline_notes(&base, &train_desc);
    if !plots.is_empty() {
        notes.push_str(
            "\n## Score timelines\n\nOne labelled window per incident kind (the first in label order), \
             with the window family's thresholds:\n\n",
        );
        for p in &plots {
            let name = p
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            notes.push_str(&format!("![{name}]({name})\n"));
        }
    }
    write_report(&a.report, models.id(), &data, &rows, &notes)?;
    for (name, m) in &rows {
        eprintln!(
            "{name:>20}: recall {:.3} precision {:.3} f1 {:.3} mttd p50 {:.2} intervals, false alarms/workload-h {:.3}, kind accuracy {:.3}",
            m.recall, m.precision, m.f1, m.mttd_intervals_p50, m.false_alarms_per_entity_hour, m.classification_accuracy
        );
    }
    eprintln!("wrote {}", a.report.display());
    Ok(())
}

fn filter_config(path: Option<&Path>) -> Result<FilterConfig> {
    match path {
        Some(p) => {
            let text = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            Ok(FilterConfig::from_json(&text).with_context(|| format!("{}", p.display()))?)
        }
        None => Ok(FilterConfig::default()),
    }
}

fn run_score(a: ScoreArgs) -> Result<()> {
    let config = filter_config(a.config.as_deref())?;
    let models = load_models(a.model.as_deref())?;
    let mut filter = Filter::new(config, models);
    warn_of_fallback_key(filter.hash_key_source(), std::io::stderr().lock());
    let start_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let stdin = BufReader::with_capacity(1 << 20, std::io::stdin().lock());
    let stdout = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    score_stream(&mut filter, a.tag.as_bytes(), start_ns, stdin, stdout)?;
    Ok(())
}

fn run_export_vector(a: ExportVectorArgs) -> Result<()> {
    // The library exports a model-less scorer from a directory without a
    // manifest (like the plugin with an empty models/default/); from the
    // command line that is almost always a wrong path, so refuse it.
    let manifest = a.model.join(MANIFEST);
    if !manifest.is_file() {
        bail!(
            "{} is not a model directory: {} not found (train one with `edgeheal train`)",
            a.model.display(),
            manifest.display()
        );
    }
    let config = filter_config(a.config.as_deref())?;
    let path = edgeheal_models::export::vector::export(&a.model, &a.out, &config)
        .with_context(|| format!("exporting {} for Vector", a.model.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Train(a) => run_train(a),
        Command::Eval(a) => run_eval(a),
        Command::Score(a) => run_score(a),
        Command::Export(ExportTarget::Vector(a)) => run_export_vector(a),
    }
}
