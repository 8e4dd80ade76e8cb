#!/usr/bin/env python3
"""Export scikit-learn forests in edgeheal's model format, with reference scores.

Trains, on fixed data generated from fixed seeds,
  * an IsolationForest(n_estimators=100, max_samples=256, random_state=42)
    over the `memory` family's features, and
  * a small RandomForestClassifier over the classifier's 21 features,
exports both in the plugin's versioned JSON format (sealed with the digest
the Rust side computes), writes a manifest, and writes test
vectors with scikit-learn's `score_samples` and `predict_proba` for each.
`plugin/tests/sklearn_parity.rs` checks the Rust scores against them to 1e-9.

The test vectors include training rows, outliers, values beyond float32 range,
and, for 300 random splits, the split threshold itself, its float32 rounding
and the float32 values on either side of it: scikit-learn casts X to float32
while thresholds stay float64, so these are the cases a port gets wrong.

Usage (Python 3.11; pip install scikit-learn numpy):
    python3 scripts/sklearn_parity.py [--out plugin/tests/fixtures/sklearn]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import struct

import numpy as np
import sklearn
from sklearn.ensemble import IsolationForest, RandomForestClassifier

SCHEMA_VERSION = 1

# plugin/src/features.rs: the memory family, then every family concatenated
# (each family's context after its features: `mem_held`, `mem_rise`,
# `rate_last_log_ratio`, `rate_now_log_ratio`, `error_excess`).
MEMORY = ["mem_log_ratio", "mem_trend"]
CLASSIFIER = [
    "cpu_log_ratio", "cpu_held",
    "mem_log_ratio", "mem_trend", "mem_held", "mem_rise",
    "rate_log_ratio", "rate_held", "rate_last_log_ratio", "rate_now_log_ratio",
    "error_ratio", "error_ratio_delta", "error_log_ratio", "error_excess",
    "p50_log_ratio", "p95_log_ratio", "slow_share",
    "restarts", "backoffs", "oom_kills", "unhealthy",
]
# Which classifier features each incident kind moves (offsets into CLASSIFIER).
INCIDENTS = {
    "cpu_saturation": [0, 1],
    "memory_leak": [2, 3, 4, 5],
    "traffic_surge": [6, 7, 8, 9],
    "error_burst": [10, 11, 12, 13],
    "latency_spike": [14, 15, 16],
    "crash_loop": [17, 18, 20],
}


# --- digests (plugin/src/model.rs) ------------------------------------------

def canonical(value) -> str:
    """The serialization a model's `sha256` is computed over: compact JSON of
    the model with fields in declaration order, every float written as a JSON
    string of the 16 hex digits of its IEEE-754 bits."""
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canonical(v) for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return '"' + struct.pack(">d", float(value)).hex() + '"'
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(type(value))


def seal(model: dict) -> bytes:
    """Sets `sha256` to the digest of the canonical form with it empty; returns
    the file's bytes (compact JSON; Python's float repr round-trips)."""
    model["sha256"] = ""
    model["sha256"] = hashlib.sha256(canonical(model).encode()).hexdigest()
    return json.dumps(model, separators=(",", ":"), allow_nan=False).encode()


# --- data ----------------------------------------------------------------------

def iforest_data(rng: np.random.Generator) -> np.ndarray:
    """2,000 rows: three clusters of different scales, repeated values,
    a coarse column, a large-magnitude column, and uniform outliers."""
    a = rng.normal([0.0, 0.0, 0.5, 1e6], [1.0, 0.3, 0.1, 50.0], size=(650, 4))
    b = rng.normal([4.0, 1.5, 0.8, 1e6 + 400.0], [0.5, 0.2, 0.05, 20.0], size=(650, 4))
    c = rng.normal([-3.0, -1.0, 0.2, 1e6 - 300.0], [0.8, 0.5, 0.1, 80.0], size=(600, 4))
    outliers = rng.uniform([-12.0, -6.0, -1.0, 1e6 - 2000.0], [12.0, 6.0, 2.0, 1e6 + 2000.0], size=(60, 4))
    X = np.vstack([a, b, c, outliers])
    X[:, 2] = np.round(X[:, 2] * 4.0) / 4.0  # repeated values on a 0.25 grid
    X[:, 1] = np.round(X[:, 1], 2)
    repeats = X[rng.integers(0, len(X), size=40)]  # exact duplicate rows
    X = np.vstack([X, repeats])
    X = X[rng.permutation(len(X))]
    # The memory family has two features: keep the coarse grid column and
    # the large-magnitude one (the float32 cases that matter).
    return X[:, [2, 3]][:, : len(MEMORY)]


def classifier_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n_per = 200
    rows, labels = [], []
    for name, cols in INCIDENTS.items():
        x = rng.normal(0.0, 1.0, size=(n_per, len(CLASSIFIER)))
        x[:, 17:] = rng.poisson(0.2, size=(n_per, 4))  # the restarts counts
        for col in cols:
            x[:, col] += rng.uniform(2.0, 6.0, size=n_per)
        rows.append(x)
        labels += [name] * n_per
    X = np.vstack(rows)
    y = np.array(labels)
    order = rng.permutation(len(X))
    return X[order], y[order]


# --- export --------------------------------------------------------------------

def tree_arrays(tree, feature_map):
    t = tree.tree_
    leaf = t.children_left == -1
    feature = np.where(leaf, -2, feature_map[np.maximum(t.feature, 0)])
    threshold = np.where(leaf, -2.0, t.threshold)
    return {
        "left": [int(v) for v in t.children_left],
        "right": [int(v) for v in t.children_right],
        "feature": [int(v) for v in feature],
        "threshold": [float(v) for v in threshold],
    }


def export_iforest(m: IsolationForest, n_features: int, thresholds: dict) -> dict:
    # Mirror sklearn's own scoring: trees see X[:, estimators_features_[i]]
    # only when max_features < n_features (_compute_chunked_score_samples).
    subsample = m._max_features != n_features
    trees = []
    for est, feats in zip(m.estimators_, m.estimators_features_):
        fmap = np.asarray(feats) if subsample else np.arange(n_features)
        arrays = tree_arrays(est, fmap)
        arrays["n_samples"] = [int(v) for v in est.tree_.n_node_samples]
        trees.append(arrays)
    return {
        "schema_version": SCHEMA_VERSION,
        "type": "isolation_forest",
        "name": "sklearn-parity-memory",
        "family": "memory",
        "feature_names": MEMORY,
        "max_samples": int(m._max_samples),
        "thresholds": thresholds,
        "trees": trees,
        "sha256": "",
    }


def export_classifier(m: RandomForestClassifier) -> dict:
    trees = []
    for est in m.estimators_:
        arrays = tree_arrays(est, np.arange(len(CLASSIFIER)))
        value = est.tree_.value[:, 0, :]
        # sklearn >= 1.4 stores class fractions; older releases store counts.
        value = value / value.sum(axis=1, keepdims=True)
        arrays["value"] = [[float(p) for p in row] for row in value]
        trees.append(arrays)
    return {
        "schema_version": SCHEMA_VERSION,
        "type": "random_forest_classifier",
        "name": "sklearn-parity-incident",
        "feature_names": CLASSIFIER,
        "classes": [str(c) for c in m.classes_],
        "trees": trees,
        "sha256": "",
    }


def threshold_probes(rng, model: dict, X: np.ndarray, n: int) -> list[list[float]]:
    """Vectors whose value on a split's feature sits exactly at, and around,
    the split's threshold (in float64 and after sklearn's float32 cast)."""
    out = []
    internal = [(t, i) for t, tree in enumerate(model["trees"]) for i, l in enumerate(tree["left"]) if l != -1]
    for k in rng.choice(len(internal), size=n, replace=False):
        t, i = internal[k]
        feat = model["trees"][t]["feature"][i]
        thr = model["trees"][t]["threshold"][i]
        base = X[rng.integers(0, len(X))].astype(np.float64)
        f32 = np.float32(thr)
        for v in (thr, float(f32), float(np.nextafter(f32, np.float32(np.inf))),
                  float(np.nextafter(f32, np.float32(-np.inf)))):
            x = base.copy()
            x[feat] = v
            out.append([float(z) for z in x])
    return out


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(here, "..", "plugin", "tests", "fixtures", "sklearn"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    # Isolation forest.
    rng = np.random.default_rng(20240607)
    X = iforest_data(rng)
    iforest = IsolationForest(n_estimators=100, max_samples=256, random_state=42).fit(X)
    train_scores = -iforest.score_samples(X)
    thresholds = {
        "warning": float(np.quantile(train_scores, 0.95)),
        "critical": float(np.quantile(train_scores, 0.99)),
    }
    forest_model = export_iforest(iforest, X.shape[1], thresholds)
    forest_bytes = seal(forest_model)

    vectors = [[float(v) for v in row] for row in X[rng.choice(len(X), size=250, replace=False)]]
    vectors += [[float(v) for v in row] for row in rng.uniform(-20.0, 20.0, size=(50, 4)) + [0, 0, 0, 1e6]]
    vectors += [[float(v) for v in row] for row in rng.normal(0.0, 1e4, size=(25, 4))]
    vectors += [
        [1e39, -1e39, 0.0, 1e6],  # beyond float32: +-inf after the cast
        [-1e39, 1e39, 3e38, -3e38],
        [0.0, 0.0, 0.0, 0.0],
        [5e-324, -5e-324, 1e-45, 1e-46],  # subnormals, some flushed to 0 in float32
    ]
    # The probes above are written over the generator's four columns; keep
    # the two the forest sees (see `iforest_data`).
    vectors = vectors[:250] + [row[2:4] for row in vectors[250:]]
    vectors += threshold_probes(rng, forest_model, X, 300)
    scores = iforest.score_samples(np.array(vectors))

    # Classifier.
    rng_c = np.random.default_rng(7)
    Xc, yc = classifier_data(rng_c)
    clf = RandomForestClassifier(n_estimators=25, max_depth=8, random_state=7).fit(Xc, yc)
    clf_model = export_classifier(clf)
    clf_bytes = seal(clf_model)
    cvectors = [[float(v) for v in row] for row in Xc[rng_c.choice(len(Xc), size=150, replace=False)]]
    cvectors += [[float(v) for v in row] for row in rng_c.normal(0.0, 3.0, size=(50, len(CLASSIFIER)))]
    cvectors += threshold_probes(rng_c, clf_model, Xc, 50)
    proba = clf.predict_proba(np.array(cvectors))
    predicted = clf.predict(np.array(cvectors))

    manifest = {
        "schema_version": SCHEMA_VERSION,
        "name": "sklearn-parity",
        "files": [
            {"path": "memory.json", "sha256": hashlib.sha256(forest_bytes).hexdigest(), "role": "forest", "family": "memory"},
            {"path": "incident.json", "sha256": hashlib.sha256(clf_bytes).hexdigest(), "role": "classifier"},
        ],
        "training": {
            "script": "scripts/sklearn_parity.py",
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
            "iforest": {"n_estimators": 100, "max_samples": 256, "random_state": 42, "data_seed": 20240607,
                        "rows": int(X.shape[0])},
            "classifier": {"n_estimators": 25, "max_depth": 8, "random_state": 7, "data_seed": 7,
                           "rows": int(Xc.shape[0])},
        },
        "evaluation": {},
    }
    reference = {
        "sklearn": sklearn.__version__,
        "iforest": {"x": vectors, "score_samples": [float(s) for s in scores]},
        "classifier": {
            "x": cvectors,
            "predict_proba": [[float(p) for p in row] for row in proba],
            "predict": [str(p) for p in predicted],
        },
    }
    files = {
        "memory.json": forest_bytes,
        "incident.json": clf_bytes,
        "manifest.json": (json.dumps(manifest, indent=2) + "\n").encode(),
        "reference.json": (json.dumps(reference) + "\n").encode(),
    }
    for name, data in files.items():
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")
    n_nodes = sum(len(t["left"]) for t in forest_model["trees"])
    print(f"isolation forest: {len(forest_model['trees'])} trees, {n_nodes} nodes, "
          f"{len(vectors)} vectors; classifier: {len(clf_model['trees'])} trees, {len(cvectors)} vectors")


if __name__ == "__main__":
    main()
