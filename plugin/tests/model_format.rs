//! The model format: round trips (model → JSON → load → identical scores),
//! one table case per validation error with its exact message, model-set
//! loading through a manifest, and a property test that whatever arrays a
//! file holds, loading either fails cleanly or yields a forest that scores.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;

use edgeheal_plugin::classifier::{ClassifierFile, ClassifierTreeFile, RandomForestClassifier};
use edgeheal_plugin::forest::{IsolationForest, IsolationForestFile, IsolationTreeFile};
use edgeheal_plugin::model::{Manifest, ModelError, Role, Thresholds, MANIFEST, MAX_FILE_BYTES};
use edgeheal_plugin::tree::{MAX_TOTAL_NODES, MAX_TREES, MAX_TREE_NODES};
use edgeheal_plugin::{Family, Incident, ModelSet};
use proptest::prelude::*;
use serde_json::{json, Value};

const THRESHOLDS: Thresholds = Thresholds {
    warning: 0.6,
    critical: 0.7,
};

/// A valid tree over 2 features: root on feature 0, its right child on feature 1.
fn tree() -> IsolationTreeFile {
    IsolationTreeFile {
        left: vec![1, -1, 3, -1, -1],
        right: vec![2, -1, 4, -1, -1],
        feature: vec![0, -2, 1, -2, -2],
        threshold: vec![0.25, -2.0, 1.5, -2.0, -2.0],
        n_samples: vec![256, 200, 56, 50, 6],
    }
}

fn forest_file() -> IsolationForestFile {
    let mut second = tree();
    second.feature[0] = 1;
    second.threshold[0] = -0.75;
    let mut m = IsolationForestFile::new("cpu", Family::Cpu, 256, THRESHOLDS, vec![tree(), second]);
    m.seal();
    m
}

fn classifier_file() -> ClassifierFile {
    let t = ClassifierTreeFile {
        left: vec![1, -1, -1],
        right: vec![2, -1, -1],
        feature: vec![4, -2, -2],
        threshold: vec![2.0, -2.0, -2.0],
        value: vec![vec![0.5, 0.5], vec![0.9, 0.1], vec![0.2, 0.8]],
    };
    let mut m = ClassifierFile::new(
        "incident",
        &[Incident::CpuSaturation, Incident::MemoryLeak],
        vec![t],
    );
    m.seal();
    m
}

fn load_forest(bytes: &[u8]) -> Result<IsolationForest, String> {
    IsolationForest::from_json(bytes, "cpu.json").map_err(|e| e.to_string())
}

/// Mutates a valid forest, re-seals it and loads it from JSON.
fn forest_err(mutate: impl FnOnce(&mut IsolationForestFile)) -> String {
    let mut m = forest_file();
    mutate(&mut m);
    m.seal();
    load_forest(&m.to_json()).map(|_| ()).unwrap_err()
}

/// Mutates the JSON text of a valid forest (no re-sealing) and loads it.
fn forest_json_err(mutate: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_slice(&forest_file().to_json()).unwrap();
    mutate(&mut v);
    load_forest(&serde_json::to_vec(&v).unwrap())
        .map(|_| ())
        .unwrap_err()
}

/// Mutates a valid in-memory forest (values JSON cannot carry) and compiles it.
fn forest_file_err(mutate: impl FnOnce(&mut IsolationForestFile)) -> String {
    let mut m = forest_file();
    mutate(&mut m);
    IsolationForest::from_file(&m, "cpu.json")
        .map(|_| ())
        .unwrap_err()
        .to_string()
}

fn classifier_err(mutate: impl FnOnce(&mut ClassifierFile)) -> String {
    let mut m = classifier_file();
    mutate(&mut m);
    m.seal();
    RandomForestClassifier::from_json(&m.to_json(), "incident.json")
        .map(|_| ())
        .unwrap_err()
        .to_string()
}

/// A complete tree of the given depth (2^(depth+1) - 1 nodes).
fn complete_tree(depth: u32) -> IsolationTreeFile {
    let n = (1usize << (depth + 1)) - 1;
    let mut t = IsolationTreeFile {
        left: vec![-1; n],
        right: vec![-1; n],
        feature: vec![-2; n],
        threshold: vec![-2.0; n],
        n_samples: vec![1; n],
    };
    // Depth-first order: node i at depth d has its left child at i + 1 and its
    // right child after the left subtree.
    fn fill(t: &mut IsolationTreeFile, i: usize, d: u32, depth: u32) -> usize {
        if d == depth {
            return i + 1;
        }
        t.feature[i] = 0;
        t.threshold[i] = 0.0;
        t.left[i] = (i + 1) as i32;
        let next = fill(t, i + 1, d + 1, depth);
        t.right[i] = next as i32;
        fill(t, next, d + 1, depth)
    }
    fill(&mut t, 0, 0, depth);
    t
}

#[test]
fn forest_validation_errors_name_the_file_and_the_problem() {
    let cases: Vec<(String, &str)> = vec![
        (
            load_forest(b"{\"schema_version\":1,").map(|_| ()).unwrap_err(),
            "cpu.json: EOF while parsing a value at line 1 column 20",
        ),
        (
            forest_json_err(|v| v["colour"] = json!("red")),
            "cpu.json: unknown field `colour`",
        ),
        (
            forest_json_err(|v| {
                v.as_object_mut().unwrap().remove("schema_version");
            }),
            "cpu.json: no `schema_version` (this build reads version 1)",
        ),
        (
            forest_json_err(|v| v["schema_version"] = json!(2)),
            "cpu.json: unsupported schema_version 2 (this build reads version 1)",
        ),
        (
            forest_json_err(|v| v["type"] = json!("random_forest_classifier")),
            "cpu.json: `type` is \"random_forest_classifier\", expected \"isolation_forest\"",
        ),
        // A file that does not parse as this version's shape says which
        // version or type it is, not where its shape differs.
        (
            forest_json_err(|v| {
                v["schema_version"] = json!(2);
                v["colour"] = json!("red");
            }),
            "cpu.json: unsupported schema_version 2 (this build reads version 1)",
        ),
        (
            load_forest(&classifier_file().to_json())
                .map(|_| ())
                .unwrap_err(),
            "cpu.json: `type` is \"random_forest_classifier\", expected \"isolation_forest\"",
        ),
        (
            load_forest(&vec![b' '; MAX_FILE_BYTES + 1]).map(|_| ()).unwrap_err(),
            "cpu.json: 67108865 bytes, more than the limit of 67108864",
        ),
        (
            forest_json_err(|v| v["trees"][0]["threshold"][0] = json!(0.5)),
            "cpu.json: the model's canonical sha256 is",
        ),
        (forest_err(|m| m.family = "gpu".into()), "cpu.json: unknown family \"gpu\""),
        (
            forest_err(|m| m.feature_names.swap(0, 1)),
            "cpu.json: feature_names [\"cpu_held\", \"cpu_log_ratio\"] are not the plugin's cpu features [\"cpu_log_ratio\", \"cpu_held\"]",
        ),
        (forest_err(|m| m.name.clear()), "cpu.json: `name` must have 1 to 128 characters"),
        (forest_err(|m| m.max_samples = 0), "cpu.json: `max_samples` must be at least 1"),
        (
            forest_err(|m| m.thresholds.warning = 0.8),
            "cpu.json: `thresholds` must have warning <= critical (warning 0.8, critical 0.7)",
        ),
        (
            forest_file_err(|m| m.thresholds.critical = f64::NAN),
            "cpu.json: `thresholds.critical` is NaN, not a score in (0, 1]",
        ),
        (
            forest_err(|m| m.thresholds.warning = 0.0),
            "cpu.json: `thresholds.warning` is 0, not a score in (0, 1]",
        ),
        (
            forest_err(|m| m.thresholds.critical = 1.5),
            "cpu.json: `thresholds.critical` is 1.5, not a score in (0, 1]",
        ),
        (
            forest_err(|m| m.max_samples = 200),
            "cpu.json: `max_samples` is 200 but tree 0 was grown from 256 samples (a tree's root holds at most max_samples)",
        ),
        (forest_err(|m| m.trees.clear()), "cpu.json: `trees` has 0 trees (must have 1 to 1024)"),
        (
            forest_err(|m| m.trees = vec![tree(); MAX_TREES + 1]),
            "cpu.json: `trees` has 1025 trees (must have 1 to 1024)",
        ),
        (
            forest_err(|m| m.trees[1].n_samples.pop().map(drop).unwrap()),
            "cpu.json: tree 1: `n_samples` has 4 entries, `left` has 5",
        ),
        (
            forest_err(|m| m.trees[0].threshold.pop().map(drop).unwrap()),
            "cpu.json: tree 0: `threshold` has 4 entries, `left` has 5",
        ),
        (
            forest_err(|m| {
                let t = &mut m.trees[0];
                t.left.clear();
                t.right.clear();
                t.feature.clear();
                t.threshold.clear();
                t.n_samples.clear();
            }),
            "cpu.json: tree 0: has no nodes",
        ),
        (
            forest_err(|m| m.trees[0].right[0] = -1),
            "cpu.json: tree 0 node 0: is a leaf on one side only (left 1, right -1)",
        ),
        (
            forest_err(|m| m.trees[0].right[2] = 5),
            "cpu.json: tree 0 node 2: child 5 is out of range (the tree has 5 nodes)",
        ),
        (
            forest_err(|m| m.trees[0].left[2] = -7),
            "cpu.json: tree 0 node 2: child -7 is out of range (the tree has 5 nodes)",
        ),
        (
            forest_err(|m| m.trees[0].left[2] = 1),
            "cpu.json: tree 0 node 2: child 1 does not come after its parent",
        ),
        (
            forest_err(|m| m.trees[0].left[2] = 2),
            "cpu.json: tree 0 node 2: child 2 does not come after its parent",
        ),
        (
            forest_err(|m| m.trees[0].left[2] = 4),
            "cpu.json: tree 0 node 2: child 4 already has a parent",
        ),
        (
            forest_err(|m| {
                // Node 2 becomes a leaf: 3 and 4 are nobody's children.
                m.trees[0].left[2] = -1;
                m.trees[0].right[2] = -1;
            }),
            "cpu.json: tree 0 node 3: is not reachable from the root",
        ),
        (
            forest_err(|m| m.trees[0].feature[2] = 3),
            "cpu.json: tree 0 node 2: splits on feature 3, but the model has 2 features",
        ),
        (
            forest_err(|m| m.trees[0].feature[0] = -2),
            "cpu.json: tree 0 node 0: splits on feature -2, but the model has 2 features",
        ),
        (
            forest_file_err(|m| m.trees[0].threshold[2] = f64::INFINITY),
            "cpu.json: tree 0 node 2: threshold inf is not finite",
        ),
        (
            forest_err(|m| m.trees[1].n_samples[4] = 0),
            "cpu.json: tree 1 node 4: leaf has n_samples 0 (must be at least 1)",
        ),
        (
            forest_err(|m| {
                // A chain 65 splits deep: node 2k splits into leaf 2k+1 and node 2k+2.
                let n = 2 * 65 + 1;
                let mut t = IsolationTreeFile {
                    left: vec![-1; n],
                    right: vec![-1; n],
                    feature: vec![-2; n],
                    threshold: vec![-2.0; n],
                    n_samples: vec![1; n],
                };
                for k in 0..65 {
                    t.left[2 * k] = (2 * k + 1) as i32;
                    t.right[2 * k] = (2 * k + 2) as i32;
                    t.feature[2 * k] = 0;
                    t.threshold[2 * k] = k as f64;
                }
                m.trees = vec![t];
            }),
            "cpu.json: tree 0 node 129: lies at depth 65, deeper than the limit of 64",
        ),
        (
            forest_file_err(|m| {
                let n = MAX_TREE_NODES + 1;
                m.trees = vec![IsolationTreeFile {
                    left: vec![-1; n],
                    right: vec![-1; n],
                    feature: vec![-2; n],
                    threshold: vec![-2.0; n],
                    n_samples: vec![1; n],
                }];
            }),
            "cpu.json: tree 0: has 131073 nodes, more than the limit of 131072",
        ),
        (
            forest_file_err(|m| {
                let big = complete_tree(16);
                m.trees = vec![big; MAX_TOTAL_NODES / MAX_TREE_NODES + 1];
            }),
            "cpu.json: tree 8: has 1179639 nodes, more than the limit of 1048576",
        ),
    ];
    for (got, want) in &cases {
        assert!(got.starts_with(want), "\n  got: {got}\n want: {want}");
    }
}

#[test]
fn classifier_validation_errors_name_the_file_and_the_problem() {
    let cases: Vec<(String, &str)> = vec![
        (
            classifier_err(|m| m.feature_names.truncate(3)),
            "incident.json: feature_names [\"cpu_log_ratio\", \"cpu_held\", \"mem_log_ratio\"] are not the plugin's classifier features",
        ),
        (
            classifier_err(|m| m.classes.clear()),
            "incident.json: `classes` has 0 classes (must have 1 to 7)",
        ),
        (
            classifier_err(|m| m.classes[1] = "gremlins".into()),
            "incident.json: `classes[1]` \"gremlins\" is not an incident kind",
        ),
        (
            classifier_err(|m| m.classes[1] = "cpu_saturation".into()),
            "incident.json: `classes[1]` \"cpu_saturation\" is listed twice",
        ),
        (
            classifier_err(|m| m.trees[0].value.pop().map(drop).unwrap()),
            "incident.json: tree 0: `value` has 2 entries, `left` has 3",
        ),
        (
            classifier_err(|m| m.trees[0].value[2].push(0.0)),
            "incident.json: tree 0 node 2: `value` has 3 entries, the model has 2 classes",
        ),
        (
            classifier_err(|m| m.trees[0].value[1] = vec![2.0, 3.0]),
            "incident.json: tree 0 node 1: leaf class fractions must be finite, non-negative and sum to 1 (sum 5)",
        ),
        (
            classifier_err(|m| m.trees[0].value[2] = vec![1.5, -0.5]),
            "incident.json: tree 0 node 2: leaf class fractions must be finite, non-negative and sum to 1 (sum 1)",
        ),
        (
            classifier_err(|m| m.trees[0].feature[0] = 21),
            "incident.json: tree 0 node 0: splits on feature 21, but the model has 21 features",
        ),
        (classifier_err(|m| m.trees.clear()), "incident.json: `trees` has 0 trees (must have 1 to 1024)"),
        (
            {
                let mut v: Value = serde_json::from_slice(&classifier_file().to_json()).unwrap();
                v["type"] = json!("isolation_forest");
                RandomForestClassifier::from_json(&serde_json::to_vec(&v).unwrap(), "incident.json")
                    .map(|_| ())
                    .unwrap_err()
                    .to_string()
            },
            "incident.json: `type` is \"isolation_forest\", expected \"random_forest_classifier\"",
        ),
    ];
    for (got, want) in &cases {
        assert!(got.starts_with(want), "\n  got: {got}\n want: {want}");
    }
}

/// A model set in memory: file name → bytes, plus its manifest.
struct Set {
    files: HashMap<String, Vec<u8>>,
    manifest: Manifest,
}

impl Set {
    fn valid() -> Set {
        let mut set = Set {
            files: HashMap::new(),
            manifest: Manifest::new("default"),
        };
        set.add(
            "cpu.json",
            forest_file().to_json(),
            Role::Forest,
            Some(Family::Cpu),
        );
        set.add(
            "incident.json",
            classifier_file().to_json(),
            Role::Classifier,
            None,
        );
        set
    }

    fn add(&mut self, path: &str, bytes: Vec<u8>, role: Role, family: Option<Family>) {
        self.manifest.add_file(path, &bytes, role, family);
        self.files.insert(path.to_owned(), bytes);
    }

    fn load(&self) -> Result<ModelSet, ModelError> {
        ModelSet::from_manifest(&self.manifest.to_json(), |p| {
            self.files.get(p).map(Vec::as_slice)
        })
    }

    fn err(&self) -> String {
        self.load().map(|_| ()).unwrap_err().to_string()
    }
}

#[test]
fn model_sets_load_and_check_every_file() {
    let set = Set::valid();
    let models = set.load().unwrap();
    let digest = edgeheal_plugin::model::sha256_hex(&set.manifest.to_json());
    assert_eq!(models.id(), format!("default@{}", &digest[..12]));
    assert_eq!(models.forest(Family::Cpu).unwrap().n_trees(), 2);
    assert!(models.forest(Family::Memory).is_none());
    assert_eq!(
        models.classifier().unwrap().classes(),
        [Incident::CpuSaturation, Incident::MemoryLeak]
    );

    let mut missing = Set::valid();
    missing.files.remove("incident.json");
    let mut tampered = Set::valid();
    tampered.files.get_mut("cpu.json").unwrap().push(b' ');
    let mut mislabelled = Set::valid();
    mislabelled.manifest.files[0].family = Some("memory".into());
    let mut twice = Set::valid();
    let mut again = forest_file();
    again.name = "cpu2".into();
    again.seal();
    twice.add(
        "cpu2.json",
        again.to_json(),
        Role::Forest,
        Some(Family::Cpu),
    );
    let mut two_classifiers = Set::valid();
    two_classifiers.add(
        "incident2.json",
        classifier_file().to_json(),
        Role::Classifier,
        None,
    );
    let mut no_forest = Set::valid();
    no_forest.manifest.files.remove(0);
    let mut wrong_role = Set::valid();
    wrong_role.manifest.files[1].role = Role::Forest;
    wrong_role.manifest.files[1].family = Some("cpu".into());

    let cases = [
        (
            missing.err(),
            "incident.json: listed in the manifest but not found",
        ),
        (tampered.err(), "cpu.json: sha256 of the file is"),
        (
            mislabelled.err(),
            "cpu.json: the manifest says family \"memory\", the model says \"cpu\"",
        ),
        (twice.err(), "cpu2.json: a second forest for family \"cpu\""),
        (two_classifiers.err(), "incident2.json: a second classifier"),
        (no_forest.err(), "manifest.json: `files` lists no forest"),
        (
            wrong_role.err(),
            "incident.json: `type` is \"random_forest_classifier\", expected \"isolation_forest\"",
        ),
        (
            ModelSet::from_manifest(b"{}", |_| None::<Vec<u8>>)
                .map(|_| ())
                .unwrap_err()
                .to_string(),
            "manifest.json: no `schema_version`",
        ),
    ];
    for (got, want) in &cases {
        assert!(got.starts_with(want), "\n  got: {got}\n want: {want}");
    }
}

#[test]
fn from_parts_rejects_a_second_forest_for_a_family() {
    let f = IsolationForest::from_file(&forest_file(), "cpu.json").unwrap();
    let set = ModelSet::from_parts("test@0", vec![f.clone()], None).unwrap();
    assert_eq!(set.id(), "test@0");
    assert_eq!(set.forests().count(), 1);
    let err = ModelSet::from_parts("test@0", vec![f.clone(), f], None)
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.to_string(), "cpu: a second forest for family \"cpu\"");
}

/// `from_embedded` does not compute the digests again (the build checked
/// the files against the manifest); here every embedded file passes them
/// all, each model's own digest included, and gives the same set.
#[test]
fn embedded_models_load_when_present_and_pass_every_digest() {
    if let Some(set) = ModelSet::from_embedded() {
        let set = set.unwrap_or_else(|e| panic!("embedded models: {e}"));
        assert!(set.forests().count() >= 1);
        let manifest = edgeheal_plugin::embedded::file(MANIFEST).unwrap();
        let verified = ModelSet::from_manifest(manifest, edgeheal_plugin::embedded::file)
            .unwrap_or_else(|e| panic!("embedded models, every digest computed: {e}"));
        assert_eq!(verified, set);
    }
}

fn grid(n_features: usize) -> Vec<Vec<f64>> {
    let values = [-1e39, -3.0, -0.75, 0.25, 0.2500000001, 1.5, 7.0, 1e39];
    (0..200)
        .map(|i| {
            (0..n_features)
                .map(|j| values[(i * 7 + j * 3 + i / 5) % values.len()])
                .collect()
        })
        .collect()
}

#[test]
fn forest_round_trips_through_json_with_identical_scores() {
    let file = forest_file();
    let direct = IsolationForest::from_file(&file, "cpu.json").unwrap();
    let bytes = file.to_json();
    let loaded = IsolationForest::from_json(&bytes, "cpu.json").unwrap();
    assert_eq!(loaded, direct);
    assert_eq!(
        IsolationForestFile::from_json(&bytes, "cpu.json").unwrap(),
        file
    );
    for x in grid(3) {
        assert_eq!(
            loaded.score(&x).to_bits(),
            direct.score(&x).to_bits(),
            "{x:?}"
        );
    }
    // Pretty-printing changes the bytes, not the model: the digest still verifies.
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    let pretty =
        IsolationForest::from_json(&serde_json::to_vec_pretty(&v).unwrap(), "cpu.json").unwrap();
    assert_eq!(pretty, direct);
}

#[test]
fn sklearn_fixture_round_trips_with_identical_scores() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sklearn/");
    let original = std::fs::read(format!("{dir}memory.json")).unwrap();
    let first = IsolationForest::from_json(&original, "memory.json").unwrap();
    let rewritten = IsolationForestFile::from_json(&original, "memory.json")
        .unwrap()
        .to_json();
    let second = IsolationForest::from_json(&rewritten, "memory.json").unwrap();
    assert_eq!(first, second);
    for x in grid(4) {
        assert_eq!(first.score(&x).to_bits(), second.score(&x).to_bits());
    }
    let original = std::fs::read(format!("{dir}incident.json")).unwrap();
    let first = RandomForestClassifier::from_json(&original, "incident.json").unwrap();
    let rewritten = ClassifierFile::from_json(&original, "incident.json")
        .unwrap()
        .to_json();
    let second = RandomForestClassifier::from_json(&rewritten, "incident.json").unwrap();
    assert_eq!(first, second);
}

#[test]
fn scores_and_explanations_are_well_formed() {
    let forest = IsolationForest::from_file(&forest_file(), "cpu.json").unwrap();
    for x in grid(3) {
        let s = forest.score(&x);
        assert!(s > 0.0 && s <= 1.0, "{x:?}: {s}");
        let mut why = [0.0; 3];
        forest.explain(&x, &mut why);
        let total: f64 = why.iter().sum();
        assert!((total - 1.0).abs() < 1e-12, "{x:?}: {why:?}");
        assert!(why.iter().all(|w| *w >= 0.0));
    }
    // Feature 1 never matters in tree 0 and decides the root of tree 1.
    let mut why = [0.0; 3];
    forest.explain(&[0.0, -5.0, 0.0], &mut why);
    assert!(why[1] > 0.0 && why[2] == 0.0, "{why:?}");
    // Empty or short vectors score (missing features are 0) without panicking.
    assert_eq!(forest.score(&[]), forest.score(&[0.0, 0.0, 0.0]));
}

proptest! {
    /// Whatever arrays a file holds, loading fails with an error or yields a
    /// forest whose scores are in (0, 1] and whose explanations sum to 1 or 0.
    #[test]
    fn arbitrary_trees_load_or_fail_cleanly(
        nodes in prop::collection::vec((-2i32..12, -2i32..12, -3i32..5, -5.0f64..5.0, 0u32..4), 1..12),
        xs in prop::collection::vec(prop::collection::vec(-10.0f64..10.0, 0..5), 1..8),
    ) {
        let t = IsolationTreeFile {
            left: nodes.iter().map(|n| n.0).collect(),
            right: nodes.iter().map(|n| n.1).collect(),
            feature: nodes.iter().map(|n| n.2).collect(),
            threshold: nodes.iter().map(|n| n.3).collect(),
            n_samples: nodes.iter().map(|n| n.4).collect(),
        };
        let file = IsolationForestFile::new("p", Family::Cpu, 256, THRESHOLDS, vec![t]);
        if let Ok(forest) = IsolationForest::from_file(&file, "p.json") {
            for x in &xs {
                let s = forest.score(x);
                prop_assert!(s > 0.0 && s <= 1.0);
                let mut why = [0.0; 3];
                forest.explain(x, &mut why);
                let total: f64 = why.iter().sum();
                prop_assert!(total == 0.0 || (total - 1.0).abs() < 1e-12);
            }
        }
    }
}
