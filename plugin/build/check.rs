//! The build's check of `models/default/` before it is embedded: every file
//! `manifest.json` lists lies beside it as a `.json` file and has the SHA-256
//! the manifest gives. The embedded set is loaded at start without computing
//! those digests again (`ModelSet::from_embedded`): under Fluent Bit's
//! interpreter they cost about a fifth of a second of CPU at every start and
//! hot reload, and bytes compiled into the artifact cannot change after this
//! check. So a file that does not match fails the build here.

use std::path::Path;

use sha2::{Digest, Sha256};

/// Checks `dir/manifest.json` against the files beside it. `Ok(false)` when
/// there is no manifest (nothing to check: the filter then embeds no set),
/// `Ok(true)` when every listed file matches, otherwise what is wrong.
pub fn manifest_matches_files(dir: &Path) -> Result<bool, String> {
    let manifest_path = dir.join("manifest.json");
    let manifest = match std::fs::read(&manifest_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("{}: {e}", manifest_path.display())),
    };
    let manifest: serde_json::Value = serde_json::from_slice(&manifest)
        .map_err(|e| format!("{}: not JSON: {e}", manifest_path.display()))?;
    let files = manifest
        .get("files")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| format!("{}: no `files` array", manifest_path.display()))?;
    for (i, entry) in files.iter().enumerate() {
        let field = |name: &str| {
            entry
                .get(name)
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| {
                    format!(
                        "{}: files[{i}] has no string `{name}`",
                        manifest_path.display()
                    )
                })
        };
        let (name, expected) = (field("path")?, field("sha256")?);
        // Only the `.json` files beside the manifest are embedded, found by
        // their file name.
        if name.contains(['/', '\\']) || !name.ends_with(".json") || name == "manifest.json" {
            return Err(format!(
                "{}: files[{i}] is {name:?}; only the .json files beside the manifest are embedded",
                manifest_path.display()
            ));
        }
        let path = dir.join(name);
        let bytes = std::fs::read(&path)
            .map_err(|e| format!("{}: listed in the manifest: {e}", path.display()))?;
        let actual = format!("{:x}", Sha256::digest(&bytes));
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(format!(
                "{}: sha256 {actual}, but the manifest gives {expected}; retrain (README, \"models/default is trained by exactly\") or restore the file",
                path.display()
            ));
        }
    }
    Ok(true)
}
