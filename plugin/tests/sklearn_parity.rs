//! scikit-learn parity: the forests exported by `scripts/sklearn_parity.py`
//! score every reference vector within 1e-9 of scikit-learn's own output.
//!
//! Regenerate the fixture with `python3 scripts/sklearn_parity.py`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use edgeheal_plugin::classifier::ClassifierFile;
use edgeheal_plugin::forest::IsolationForestFile;
use edgeheal_plugin::{Family, Incident, ModelSet};
use serde::Deserialize;

const TOLERANCE: f64 = 1e-9;

#[derive(Deserialize)]
struct Reference {
    sklearn: String,
    iforest: IforestReference,
    classifier: ClassifierReference,
}

#[derive(Deserialize)]
struct IforestReference {
    x: Vec<Vec<f64>>,
    score_samples: Vec<f64>,
}

#[derive(Deserialize)]
struct ClassifierReference {
    x: Vec<Vec<f64>>,
    predict_proba: Vec<Vec<f64>>,
    predict: Vec<String>,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sklearn")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn models() -> ModelSet {
    ModelSet::from_manifest(&read("manifest.json"), |path| {
        std::fs::read(dir().join(path)).ok()
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

fn reference() -> Reference {
    serde_json::from_slice(&read("reference.json")).unwrap()
}

#[test]
fn isolation_forest_matches_score_samples() {
    let set = models();
    let reference = reference();
    let forest = set.forest(Family::Memory).expect("memory forest");
    assert_eq!(forest.n_trees(), 100);
    assert_eq!(forest.max_samples(), 256);
    let r = &reference.iforest;
    assert!(r.x.len() > 1000, "{} vectors", r.x.len());
    let mut worst = (0.0f64, 0usize);
    for (i, (x, s)) in r.x.iter().zip(&r.score_samples).enumerate() {
        let diff = (forest.score(x) - (-s)).abs();
        if diff > worst.0 {
            worst = (diff, i);
        }
    }
    println!(
        "sklearn {}: {} vectors, max |ours - (-score_samples)| = {:e} (vector {})",
        reference.sklearn,
        r.x.len(),
        worst.0,
        worst.1
    );
    assert!(
        worst.0 <= TOLERANCE,
        "vector {}: {:?} differs by {:e}",
        worst.1,
        r.x[worst.1],
        worst.0
    );
}

#[test]
fn classifier_matches_predict_proba_and_predict() {
    let set = models();
    let reference = reference();
    let clf = set.classifier().expect("classifier");
    let r = &reference.classifier;
    let n = clf.classes().len();
    let mut out = vec![0.0; n];
    let mut worst = 0.0f64;
    for (i, ((x, want), label)) in r.x.iter().zip(&r.predict_proba).zip(&r.predict).enumerate() {
        clf.predict_proba(x, &mut out);
        assert_eq!(want.len(), n);
        for (a, b) in out.iter().zip(want) {
            worst = worst.max((a - b).abs());
        }
        let (class, p) = clf.predict(x);
        assert_eq!(Some(class), Incident::parse(label), "vector {i}");
        assert!(want.iter().all(|q| *q <= p), "vector {i}");
    }
    println!(
        "classifier: {} vectors, max |ours - predict_proba| = {worst:e}",
        r.x.len()
    );
    assert!(worst <= TOLERANCE, "differs by {worst:e}");
}

#[test]
fn python_and_rust_compute_the_same_digests() {
    // The script seals with its own canonical writer; Rust must agree on every
    // model, including floats whose shortest decimal text differs between
    // Python and Rust (ties at 17 digits).
    let forest = IsolationForestFile::from_json(&read("memory.json"), "memory.json").unwrap();
    assert_eq!(forest.digest(), forest.sha256);
    let clf = ClassifierFile::from_json(&read("incident.json"), "incident.json").unwrap();
    assert_eq!(clf.digest(), clf.sha256);
    // Rust's own file text reads back to the same model.
    let again = ClassifierFile::from_json(&clf.to_json(), "incident.json").unwrap();
    assert_eq!(again, clf);
}

#[test]
fn set_id_is_name_and_manifest_digest_prefix() {
    let set = models();
    let (name, digest) = set.id().split_once('@').unwrap();
    assert_eq!(name, "sklearn-parity");
    assert_eq!(digest.len(), 12);
    assert!(edgeheal_plugin::model::sha256_hex(&read("manifest.json")).starts_with(digest));
}
