//! `edgeheal export vector`: the Lua scorer for Vector's `lua` transform.
//!
//! The output is one self-contained Lua 5.4 file: a generated part holding the
//! filter configuration and the model set as flat arrays (`CONFIG`, `MODEL`),
//! followed by the hand-written runtime (`lua_runtime.lua`, a port of the edge
//! core's per-entity state, scoring and tagging). Retraining needs no hand
//! edits: regenerate from the new model directory.
//!
//! Generation is deterministic: families in `Family::ALL` order, trees and
//! nodes in file order, integers in decimal and floats in Rust's shortest
//! round-trip form (`{:?}`), which Lua's `tonumber` (C `strtod`) reads back to
//! the identical `f64`. Leaf path lengths and the score denominator are
//! computed here with the core's own [`average_path_length`], so Lua only
//! walks and adds.
//!
//! With no `manifest.json` in the model directory the scorer is generated
//! without models: it keeps state and tags every record with `score: null`
//! and `model: "none"`, like the filter.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use edgeheal_plugin::classifier::ClassifierFile;
use edgeheal_plugin::config::FilterConfig;
use edgeheal_plugin::forest::{average_path_length, IsolationForestFile};
use edgeheal_plugin::manifest::{Manifest, Role, MANIFEST};
use edgeheal_plugin::model::ModelSet;
use edgeheal_plugin::verdict::Family;

use super::ExportError;

/// File name of the generated scorer.
pub const SCORER_FILE: &str = "edgeheal-scorer.lua";

/// The hand-written state runtime appended to the generated model.
pub const RUNTIME: &str = include_str!("lua_runtime.lua");

/// Nodes of all trees of one model, as the runtime walks them (1-based).
#[derive(Default)]
struct FlatTrees {
    roots: Vec<usize>,
    left: Vec<usize>,
    right: Vec<usize>,
    feature: Vec<usize>,
    /// Threshold at a split; leaf payload at a leaf (written verbatim).
    value: Vec<String>,
}

impl FlatTrees {
    /// Appends one tree; `leaf(node, depth)` gives a leaf's payload text.
    fn push(
        &mut self,
        left: &[i32],
        right: &[i32],
        feature: &[i32],
        threshold: &[f64],
        mut leaf: impl FnMut(usize, usize) -> String,
    ) {
        let base = self.left.len();
        self.roots.push(base + 1);
        // Children come after their parents (validated by the loader), so
        // one forward pass gives every node's depth.
        let mut depth = vec![0usize; left.len()];
        let nodes = left.iter().zip(right).zip(feature).zip(threshold);
        for (i, (((&l, &r), &f), &t)) in nodes.enumerate() {
            let d = depth[i];
            if l < 0 || r < 0 {
                self.left.push(0);
                self.right.push(0);
                self.feature.push(0);
                self.value.push(leaf(i, d));
                continue;
            }
            let (l, r) = (l as usize, r as usize);
            depth[l] = d + 1;
            depth[r] = d + 1;
            self.left.push(base + l + 1);
            self.right.push(base + r + 1);
            self.feature.push(f as usize + 1);
            self.value.push(format!("{t:?}"));
        }
    }

    fn write(&self, out: &mut String, indent: &str) {
        let ints = |v: &[usize]| v.iter().map(usize::to_string).collect::<Vec<_>>();
        write_array(out, indent, "roots", &ints(&self.roots));
        write_array(out, indent, "left", &ints(&self.left));
        write_array(out, indent, "right", &ints(&self.right));
        write_array(out, indent, "feature", &ints(&self.feature));
        write_array(out, indent, "value", &self.value);
    }
}

/// Writes `name = { a, b, ... },` with 12 items per line.
fn write_array(out: &mut String, indent: &str, name: &str, items: &[String]) {
    let _ = write!(out, "{indent}{name} = {{");
    for (i, item) in items.iter().enumerate() {
        if i % 12 == 0 {
            let _ = write!(out, "\n{indent}  ");
        } else {
            out.push(' ');
        }
        out.push_str(item);
        out.push(',');
    }
    let _ = writeln!(out, "\n{indent}}},");
}

fn lua_str(s: &str) -> String {
    // Lua and Rust agree on these escapes; names are validated printable text.
    format!("{s:?}")
}

fn read(path: &Path) -> Result<Vec<u8>, ExportError> {
    fs::read(path).map_err(|source| ExportError::Io {
        path: path.to_owned(),
        source,
    })
}

/// The generated `MODEL` table for the set in `dir`, or `nil` without a manifest.
fn model_table(dir: &Path) -> Result<String, ExportError> {
    let manifest_path = dir.join(MANIFEST);
    if !manifest_path.exists() {
        // Like the plugin with an empty `models/default/`; a missing directory
        // is still an error, since that is most likely a typo.
        fs::read_dir(dir).map_err(|source| ExportError::Io {
            path: dir.to_owned(),
            source,
        })?;
        return Ok("local MODEL = nil\n".to_owned());
    }
    let manifest_bytes = read(&manifest_path)?;
    // Load exactly as the plugin does: digests, schema, structure.
    let set = ModelSet::from_manifest(&manifest_bytes, |p| fs::read(dir.join(p)).ok())?;
    let manifest = Manifest::from_json(&manifest_bytes)?;

    let mut forests: Vec<(Family, IsolationForestFile)> = Vec::new();
    let mut classifier = None;
    for entry in &manifest.files {
        let bytes = read(&dir.join(&entry.path))?;
        match entry.role {
            Role::Forest => {
                let file = IsolationForestFile::from_json(&bytes, &entry.path)?;
                if let Some(family) = Family::parse(&file.family) {
                    forests.push((family, file));
                }
            }
            Role::Classifier => classifier = Some(ClassifierFile::from_json(&bytes, &entry.path)?),
        }
    }
    forests.sort_by_key(|(family, _)| *family);

    let mut out = String::new();
    out.push_str("local MODEL = {\n");
    let _ = writeln!(out, "  id = {},", lua_str(set.id()));
    out.push_str("  forests = {\n");
    for (family, file) in &forests {
        let mut trees = FlatTrees::default();
        for tree in &file.trees {
            trees.push(
                &tree.left,
                &tree.right,
                &tree.feature,
                &tree.threshold,
                |node, depth| {
                    let n = tree.n_samples.get(node).copied().unwrap_or(1);
                    // forest.rs: exactly scikit-learn's per-tree addend.
                    let v = ((depth + 1) as f64 + average_path_length(f64::from(n))) - 1.0;
                    format!("{v:?}")
                },
            );
        }
        let denominator =
            file.trees.len() as f64 * average_path_length(f64::from(file.max_samples));
        let _ = writeln!(out, "    {} = {{", family.as_str());
        let _ = writeln!(out, "      name = {},", lua_str(&file.name));
        let _ = writeln!(out, "      warning = {:?},", file.thresholds.warning);
        let _ = writeln!(out, "      critical = {:?},", file.thresholds.critical);
        let _ = writeln!(out, "      denominator = {denominator:?},");
        trees.write(&mut out, "      ");
        out.push_str("    },\n");
    }
    out.push_str("  },\n");
    if let Some(file) = &classifier {
        let n_classes = file.classes.len();
        let mut trees = FlatTrees::default();
        let mut fractions = Vec::new();
        for tree in &file.trees {
            trees.push(
                &tree.left,
                &tree.right,
                &tree.feature,
                &tree.threshold,
                |node, _| {
                    let at = fractions.len();
                    let values = tree.value.get(node).map_or(&[][..], Vec::as_slice);
                    fractions.extend(values.iter().take(n_classes).map(|v| format!("{v:?}")));
                    at.to_string()
                },
            );
        }
        out.push_str("  classifier = {\n");
        let _ = writeln!(out, "    name = {},", lua_str(&file.name));
        let classes: Vec<String> = file.classes.iter().map(|c| lua_str(c)).collect();
        write_array(&mut out, "    ", "classes", &classes);
        trees.write(&mut out, "    ");
        write_array(&mut out, "    ", "fractions", &fractions);
        out.push_str("  },\n");
    }
    out.push_str("}\n");
    Ok(out)
}

/// The complete scorer for the model set in `model_dir` and `config`, with
/// [`FilterConfig::events_polled`] set whatever `config` says: Vector's
/// events come from lists (`pipeline-configs/vector/vector.yaml`).
pub fn scorer_lua(model_dir: &Path, config: &FilterConfig) -> Result<String, ExportError> {
    let model = model_table(model_dir)?;
    let mut out = String::with_capacity(model.len() + RUNTIME.len() + 1024);
    out.push_str(
        "-- edgeheal-scorer.lua: the edgeheal scorer for Vector's `lua` transform (version 2).\n\
         --\n\
         -- GENERATED by `edgeheal export vector --model DIR --out DIR`: do not edit.\n\
         -- Retrain, then regenerate. The generated part (CONFIG, MODEL) comes first,\n\
         -- the hand-written runtime (models/src/export/lua_runtime.lua) after it.\n\
         -- Load it with `require('edgeheal-scorer')` from the transform's\n\
         -- `search_dirs`; see pipeline-configs/vector/vector.yaml.\n\n",
    );
    out.push_str("local CONFIG = {\n");
    let _ = writeln!(out, "  max_entities = {},", config.max_entities);
    let _ = writeln!(out, "  bucket_seconds = {},", config.bucket_seconds);
    let _ = writeln!(out, "  window_buckets = {},", config.window_buckets);
    let _ = writeln!(
        out,
        "  baseline_half_life = {:?},",
        config.baseline_half_life
    );
    let _ = writeln!(out, "  warmup = {},", config.warmup);
    let _ = writeln!(
        out,
        "  restart_window_seconds = {},",
        config.restart_window_seconds
    );
    let _ = writeln!(out, "  explain_normal = {},", config.explain_normal);
    // Vector has no events source: the pipeline lists them (vector.yaml).
    out.push_str("  events_polled = true,\n");
    out.push_str("}\n\n");
    out.push_str(&model);
    out.push('\n');
    out.push_str(RUNTIME);
    Ok(out)
}

/// Writes [`SCORER_FILE`] for the model set in `model_dir` to `out_dir`
/// (created when missing) and returns its path.
pub fn export(
    model_dir: &Path,
    out_dir: &Path,
    config: &FilterConfig,
) -> Result<PathBuf, ExportError> {
    let lua = scorer_lua(model_dir, config)?;
    fs::create_dir_all(out_dir).map_err(|source| ExportError::Io {
        path: out_dir.to_owned(),
        source,
    })?;
    let path = out_dir.join(SCORER_FILE);
    fs::write(&path, lua).map_err(|source| ExportError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// The committed scorer is what `edgeheal export vector` makes from
    /// `models/default/` today. `EDGEHEAL_BLESS=1` rewrites it.
    #[test]
    fn committed_scorer_matches_models_default() {
        let dir = repo().join("models").join("default");
        let lua = scorer_lua(&dir, &FilterConfig::default()).unwrap();
        let committed = repo()
            .join("pipeline-configs")
            .join("vector")
            .join(SCORER_FILE);
        if std::env::var_os("EDGEHEAL_BLESS").is_some() {
            fs::write(&committed, &lua).unwrap();
        }
        let on_disk = fs::read_to_string(&committed).unwrap_or_default();
        assert!(
            on_disk == lua,
            "{} is stale: run `edgeheal export vector --model models/default --out pipeline-configs/vector`",
            committed.display()
        );
    }

    #[test]
    fn generation_is_deterministic_and_needs_no_models() {
        let empty =
            std::env::temp_dir().join(format!("edgeheal-export-empty-{}", std::process::id()));
        fs::create_dir_all(&empty).unwrap();
        let a = scorer_lua(&empty, &FilterConfig::default()).unwrap();
        let b = scorer_lua(&empty, &FilterConfig::default()).unwrap();
        assert_eq!(a, b);
        assert!(a.contains("local MODEL = nil\n"));
        assert!(a.ends_with(RUNTIME));
        let _ = fs::remove_dir_all(&empty);
    }

    #[test]
    fn a_missing_model_directory_is_an_error() {
        let err =
            scorer_lua(Path::new("/nonexistent/edgeheal"), &FilterConfig::default()).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/edgeheal"), "{err}");
    }

    #[test]
    fn floats_are_written_to_round_trip() {
        for v in [
            0.1,
            1.0 / 3.0,
            -2.0,
            1e-300,
            6.02214076e23,
            f64::MIN_POSITIVE,
        ] {
            let text = format!("{v:?}");
            assert_eq!(
                text.parse::<f64>().unwrap().to_bits(),
                v.to_bits(),
                "{text}"
            );
            assert!(
                text.contains('.') || text.contains('e'),
                "{text} would read as a Lua integer"
            );
        }
    }
}
