//! The build's check of `models/default/` (`build/check.rs`, run by
//! `build.rs` before the files are embedded): a file whose bytes are not the
//! ones the manifest gives fails the build with a reason, because the
//! embedded set is loaded without computing its digests again.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

#[path = "../build/check.rs"]
mod check;

use check::manifest_matches_files;
use edgeheal_plugin::model::sha256_hex;

/// A fresh directory for one case.
fn scratch(case: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "edgeheal-embedded-check-{}-{case}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `cpu.json` with `bytes`, and a manifest listing `path` with `sha256`.
fn write_set(dir: &Path, bytes: &[u8], path: &str, sha256: &str) {
    std::fs::write(dir.join("cpu.json"), bytes).unwrap();
    let manifest = serde_json::json!({
        "schema_version": 1,
        "name": "t",
        "files": [{"path": path, "sha256": sha256, "role": "forest", "family": "cpu"}],
    });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
}

#[test]
fn the_committed_default_models_match_their_manifest() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default");
    if dir.join("manifest.json").exists() {
        assert_eq!(manifest_matches_files(&dir), Ok(true));
    }
}

#[test]
fn files_that_match_pass_and_no_manifest_embeds_nothing() {
    let dir = scratch("match");
    assert_eq!(manifest_matches_files(&dir), Ok(false));
    let bytes = b"{\"schema_version\":1}";
    write_set(&dir, bytes, "cpu.json", &sha256_hex(bytes));
    assert_eq!(manifest_matches_files(&dir), Ok(true));
    // Hex case is not a difference.
    write_set(&dir, bytes, "cpu.json", &sha256_hex(bytes).to_uppercase());
    assert_eq!(manifest_matches_files(&dir), Ok(true));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_changed_after_training_fails_the_build_naming_it() {
    let dir = scratch("changed");
    let trained = b"{\"schema_version\":1}";
    write_set(
        &dir,
        b"{\"schema_version\":1 }",
        "cpu.json",
        &sha256_hex(trained),
    );
    let why = manifest_matches_files(&dir).unwrap_err();
    assert!(why.contains("cpu.json: sha256 "), "{why}");
    assert!(
        why.contains(&format!("but the manifest gives {}", sha256_hex(trained))),
        "{why}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_manifest_that_cannot_be_checked_fails_the_build() {
    let dir = scratch("unusable");
    let bytes = b"{}";
    let digest = sha256_hex(bytes);
    for (path, want) in [
        ("memory.json", "memory.json: listed in the manifest: "),
        (
            "../cpu.json",
            "files[0] is \"../cpu.json\"; only the .json files beside the manifest are embedded",
        ),
        ("sub/cpu.json", "files[0] is \"sub/cpu.json\""),
        ("cpu.bin", "files[0] is \"cpu.bin\""),
        ("manifest.json", "files[0] is \"manifest.json\""),
    ] {
        write_set(&dir, bytes, path, &digest);
        let why = manifest_matches_files(&dir).unwrap_err();
        assert!(why.contains(want), "{path}: {why}");
    }
    std::fs::write(
        dir.join("manifest.json"),
        "{\"files\":[{\"path\":\"cpu.json\"}]}",
    )
    .unwrap();
    let why = manifest_matches_files(&dir).unwrap_err();
    assert!(why.contains("files[0] has no string `sha256`"), "{why}");
    std::fs::write(dir.join("manifest.json"), "{\"files\":").unwrap();
    let why = manifest_matches_files(&dir).unwrap_err();
    assert!(why.contains("manifest.json: not JSON: "), "{why}");
    std::fs::write(dir.join("manifest.json"), "{}").unwrap();
    let why = manifest_matches_files(&dir).unwrap_err();
    assert!(why.contains("manifest.json: no `files` array"), "{why}");
    let _ = std::fs::remove_dir_all(&dir);
}
