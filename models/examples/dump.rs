//! Development aid: dumps what the edge sees of a run, for offline analysis.
//!
//! `cargo run --release -p edgeheal-models --example dump -- features DIR`
//! prints every family evaluation (the edge's own features) as TSV;
//! `... -- alarms DIR MODEL_DIR` prints every anomalous verdict.

use std::io::Write;
use std::path::Path;

use edgeheal_models::dataset::Dataset;
use edgeheal_models::replay::replay;
use edgeheal_plugin::manifest::MANIFEST;
use edgeheal_plugin::{features, Filter, FilterConfig, ModelSet};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(dir)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: dump features|alarms DIR [MODEL_DIR]");
    };
    let data = Dataset::open(Path::new(dir))?;
    let models = match args.get(3) {
        Some(m) => {
            let m = Path::new(m);
            let manifest = std::fs::read(m.join(MANIFEST))?;
            Some(ModelSet::from_manifest(&manifest, |p| {
                std::fs::read(m.join(p)).ok()
            })?)
        }
        None => None,
    };
    let mut filter = Filter::new(FilterConfig::default(), models);
    filter.record_evaluations(mode == "features");
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    replay(&data, &mut filter, "dump", |step| {
        let Some(entity) = step.entity else { return };
        let pod = step.observation.identity.pod.as_deref().unwrap_or("-");
        let ts = step.observation.ts_ns as f64 / 1e9;
        if mode == "features" {
            for e in step.filter.evaluations() {
                let n = features::width(e.family);
                let _ = write!(
                    out,
                    "{entity}\t{}\t{}\t{ts:.3}\t{}",
                    if e.pod_level { pod } else { "-" },
                    e.family.as_str(),
                    u8::from(e.warm)
                );
                for v in &e.features[..n] {
                    let _ = write!(out, "\t{v}");
                }
                let _ = writeln!(out);
            }
        } else if step.verdict.anomaly {
            let v = step.verdict;
            let _ = write!(
                out,
                "{entity}\t{pod}\t{ts:.3}\t{}\t{}\t{:.4}",
                v.family.map_or("-", |f| f.as_str()),
                v.incident.as_str(),
                v.score.unwrap_or(0.0)
            );
            for s in step.filter.last_combined().scores {
                let _ = write!(out, "\t{:.4}", s.unwrap_or(-1.0));
            }
            let _ = writeln!(out);
        }
    })?;
    Ok(())
}
