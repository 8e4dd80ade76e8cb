//! `models/default/`: the committed manifest describes exactly the committed
//! files, and retraining with the documented command reproduces them byte
//! for byte.
//!
//! The documented commands (README): `edgeheal-chaos generate --seed 11
//! --hours 24 --out DIR11`, the same with `--seed 21` into `DIR21`, then
//! `edgeheal train --data DIR11 --data DIR21 --out models/default --seed 7`. The reproduce test does not hard-code it: it reads every
//! training run's generator parameters (`training.data[].generation`) and the
//! training seed, name and false-alarm budget from the committed manifest,
//! so it keeps working after a retrain.

use std::path::{Path, PathBuf};

use edgeheal_chaos::clock::parse_rfc3339;
use edgeheal_chaos::fault::FaultKind;
use edgeheal_chaos::generate::{generate, GenerateConfig};
use edgeheal_chaos::{FleetName, ScheduleConfig};
use edgeheal_models::train::{train, TrainConfig};
use edgeheal_plugin::manifest::{Manifest, Role, MANIFEST};
use edgeheal_plugin::model::ModelSet;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("default")
}

fn read_manifest() -> (Vec<u8>, Manifest) {
    let bytes = std::fs::read(default_dir().join(MANIFEST)).unwrap();
    let manifest = Manifest::from_json(&bytes).expect("the manifest follows the schema");
    (bytes, manifest)
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn committed_manifest_matches_its_files() {
    let (bytes, manifest) = read_manifest();
    assert_eq!(manifest.schema_version, 1);
    assert!(!manifest.files.is_empty(), "the manifest lists no model");
    let mut listed = Vec::new();
    for f in &manifest.files {
        let data = std::fs::read(default_dir().join(&f.path))
            .unwrap_or_else(|e| panic!("{} is listed but unreadable: {e}", f.path));
        assert_eq!(
            hex_sha256(&data),
            f.sha256,
            "{}: sha256 differs from the manifest",
            f.path
        );
        match f.role {
            Role::Forest => assert!(f.family.is_some(), "{}: forest without family", f.path),
            Role::Classifier => {}
        }
        listed.push(f.path.clone());
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(default_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != MANIFEST)
        .collect();
    on_disk.sort();
    listed.sort();
    assert_eq!(on_disk, listed, "every file in models/default is listed");

    // It loads as the plugin loads it, and it is what this build embeds.
    let set = ModelSet::from_manifest(&bytes, |p| std::fs::read(default_dir().join(p)).ok())
        .expect("models/default loads");
    let embedded = ModelSet::from_embedded()
        .expect("models/default is embedded")
        .expect("the embedded set loads");
    assert_eq!(set.id(), embedded.id());

    // What the reproduce test reads is present.
    let t = &manifest.training;
    assert!(
        t.get("seed").and_then(Value::as_u64).is_some(),
        "training.seed"
    );
    let data = t
        .get("data")
        .and_then(Value::as_array)
        .expect("training.data");
    assert!(!data.is_empty());
    for d in data {
        assert!(
            d.get("generation").is_some_and(Value::is_object),
            "training.data[].generation missing: retrain with the current `edgeheal train`"
        );
    }
}

/// A `GenerateConfig` from a manifest's `generation` object.
fn generate_config(g: &Value, out: PathBuf) -> GenerateConfig {
    let get = |k: &str| g.get(k).unwrap_or_else(|| panic!("generation.{k} missing"));
    let kinds = get("scenarios")
        .as_array()
        .unwrap()
        .iter()
        .map(|k| FaultKind::parse(k.as_str().unwrap()).expect("a known fault kind"))
        .collect();
    GenerateConfig {
        seed: get("seed").as_u64().unwrap(),
        hours: get("hours").as_f64().unwrap(),
        interval_s: u32::try_from(get("interval_s").as_u64().unwrap()).unwrap(),
        fleet: FleetName::parse(get("fleet").as_str().unwrap()).expect("a known fleet"),
        start_ns: parse_rfc3339(get("start").as_str().unwrap()).expect("an RFC 3339 start"),
        schedule: ScheduleConfig {
            kinds,
            overlap_rate: get("overlap_rate").as_f64().unwrap(),
            ..ScheduleConfig::default()
        },
        split: false,
        out,
    }
}

/// Runs by default: 24 simulated hours (~0.5 GB of telemetry in a temp dir)
/// generate and train in about 30 CPU-seconds in the debug profile.
#[test]
fn retraining_with_the_documented_command_reproduces_models_default() {
    let (_, manifest) = read_manifest();
    let t = &manifest.training;
    let tmp = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for (i, d) in t["data"].as_array().unwrap().iter().enumerate() {
        let dir = tmp.path().join(format!("run{i}"));
        generate(&generate_config(&d["generation"], dir.clone())).unwrap();
        dirs.push(dir);
    }
    let mut cfg = TrainConfig::new(dirs, t["seed"].as_u64().unwrap());
    cfg.name = manifest.name.clone();
    cfg.false_alarm_budget = t["calibration"]["false_alarm_budget_per_family"]
        .as_f64()
        .unwrap();
    cfg.critical_budget = t["calibration"]["critical_budget_per_family"]
        .as_f64()
        .unwrap();
    let set = train(&cfg).unwrap();
    let mut names: Vec<&str> = set.files.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    let mut committed: Vec<String> = std::fs::read_dir(default_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    committed.sort();
    assert_eq!(names, committed);
    for (name, bytes) in &set.files {
        let on_disk = std::fs::read(default_dir().join(name)).unwrap();
        assert!(
            &on_disk == bytes,
            "{name} differs from a retrain with the manifest's parameters"
        );
    }
}

/// The same pipeline (generate from manifest-style parameters, then train)
/// on a short run is deterministic — two runs give identical files — and the
/// manifest records the generator parameters it reads back.
#[test]
fn generate_then_train_is_deterministic_on_a_short_run() {
    let g = serde_json::json!({
        "seed": 11, "hours": 2.0, "interval_s": 15, "fleet": "a",
        "start": "2025-03-03T00:00:00Z", "overlap_rate": 0.15,
        "scenarios": ["cpu_stress", "memory_leak", "traffic_flood", "crash_loop", "error_burst", "latency_spike"],
    });
    let tmp = tempfile::tempdir().unwrap();
    let mut sets = Vec::new();
    for i in 0..2 {
        let dir = tmp.path().join(format!("run{i}"));
        generate(&generate_config(&g, dir.clone())).unwrap();
        let set = train(&TrainConfig::new(vec![dir], 7)).unwrap();
        sets.push(set.files);
    }
    assert_eq!(sets[0].len(), sets[1].len());
    for ((a, x), (b, y)) in sets[0].iter().zip(&sets[1]) {
        assert_eq!(a, b);
        assert!(x == y, "{a} differs between two identical runs");
    }
    // The manifest records the generator parameters it was trained on.
    let manifest = &sets[0].iter().find(|(n, _)| n == MANIFEST).unwrap().1;
    let m: Value = serde_json::from_slice(manifest).unwrap();
    assert_eq!(m["training"]["data"][0]["generation"]["seed"], 11);
    assert_eq!(m["training"]["data"][0]["generation"]["hours"], 2.0);
}
