//! `edgeheal export vector` through the built binary: the scorer it writes is
//! the library's, and bad model directories fail with errors that say why.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use edgeheal_models::export::vector::{scorer_lua, SCORER_FILE};
use edgeheal_plugin::FilterConfig;

fn default_models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("default")
}

fn export(model: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgeheal"))
        .args(["export", "vector", "--model"])
        .arg(model)
        .arg("--out")
        .arg(out)
        .output()
        .expect("running edgeheal")
}

#[test]
fn export_vector_writes_the_scorer_for_the_model_set() {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("nested");
    let run = export(&default_models(), &target);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let written = std::fs::read_to_string(target.join(SCORER_FILE)).unwrap();
    let expected = scorer_lua(&default_models(), &FilterConfig::default()).unwrap();
    assert_eq!(written, expected);
    assert!(written.contains("local MODEL = {"), "models were exported");
}

#[test]
fn export_vector_refuses_a_directory_without_a_manifest() {
    let empty = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let run = export(empty.path(), out.path());
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("is not a model directory"), "{stderr}");
    assert!(stderr.contains("manifest.json"), "{stderr}");
    assert!(!out.path().join(SCORER_FILE).exists());
}

#[test]
fn export_vector_refuses_a_missing_directory() {
    let out = tempfile::tempdir().unwrap();
    let run = export(Path::new("/nonexistent/edgeheal-models"), out.path());
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("/nonexistent/edgeheal-models"), "{stderr}");
}

#[test]
fn export_vector_refuses_a_tampered_model_file() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(default_models()).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    // Change one threshold digit: the file no longer matches its digest.
    let cpu = dir.path().join("cpu.json");
    let text = std::fs::read_to_string(&cpu).unwrap();
    let at = text.find("\"warning\":").expect("cpu.json has thresholds") + 10;
    let digit = text[at..].find(|c: char| c.is_ascii_digit()).unwrap() + at;
    let mut bytes = text.into_bytes();
    bytes[digit] = if bytes[digit] == b'1' { b'2' } else { b'1' };
    std::fs::write(&cpu, bytes).unwrap();
    let out = tempfile::tempdir().unwrap();
    let run = export(dir.path(), out.path());
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("model set"), "{stderr}");
    assert!(!out.path().join(SCORER_FILE).exists());
}
