//! `manifest.json`: the list of files of a model set, with the SHA-256 of each
//! file's bytes and free-form training and evaluation records.
//!
//! ```json
//! {"schema_version":1,"name":"default",
//!  "files":[{"path":"cpu.json","sha256":"<hex of the file bytes>","role":"forest","family":"cpu"},
//!           {"path":"incident.json","sha256":"<hex>","role":"classifier"}],
//!  "training":{"seed":7,"data_sha256":"..."},"evaluation":{"recall":0.97}}
//! ```
//!
//! The set's id is `name@` plus the first 12 hex digits of the SHA-256 of the
//! manifest bytes, so any change to any file changes the id.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::{parse_versioned, sha256_hex, ModelError, Versioned, SCHEMA_VERSION};
use crate::verdict::Family;

/// File name of the manifest in a model set.
pub const MANIFEST: &str = "manifest.json";

/// Most files a manifest may list.
pub const MAX_MANIFEST_FILES: usize = 16;

/// What a model file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An isolation forest for one signal family.
    Forest,
    /// The incident-kind classifier.
    Classifier,
}

/// One file of a model set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Path relative to the manifest (no `..`, not absolute).
    pub path: String,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// What the file holds.
    pub role: Role,
    /// The signal family (forests only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
}

/// The manifest of a model set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Set name, the part of the id before `@`.
    pub name: String,
    /// The model files.
    pub files: Vec<ManifestFile>,
    /// How the set was trained (seed, data digest, parameters); free-form.
    #[serde(default)]
    pub training: Map<String, Value>,
    /// How the set scored on held-out data; free-form.
    #[serde(default)]
    pub evaluation: Map<String, Value>,
}

impl Versioned for Manifest {
    fn schema_version(&self) -> u64 {
        self.schema_version.into()
    }
    fn model_type(&self) -> Option<&str> {
        None
    }
}

impl Manifest {
    /// An empty manifest named `name`.
    pub fn new(name: impl Into<String>) -> Manifest {
        Manifest {
            schema_version: SCHEMA_VERSION,
            name: name.into(),
            files: Vec::new(),
            training: Map::new(),
            evaluation: Map::new(),
        }
    }

    /// Lists a file with the SHA-256 of `bytes` (the exact bytes written).
    /// `family` is for forests; pass `None` for the classifier.
    pub fn add_file(
        &mut self,
        path: impl Into<String>,
        bytes: &[u8],
        role: Role,
        family: Option<Family>,
    ) {
        self.files.push(ManifestFile {
            path: path.into(),
            sha256: sha256_hex(bytes),
            role,
            family: family.map(|f| f.as_str().to_owned()),
        });
    }

    /// Pretty-printed JSON with a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Parses and checks a manifest: schema version, set name, file count,
    /// paths, digests, and that forests (only) name a known family.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, ModelError> {
        let manifest: Manifest = parse_versioned(bytes, MANIFEST, None)?;
        manifest.check()?;
        Ok(manifest)
    }

    fn check(&self) -> Result<(), ModelError> {
        let invalid =
            |field: String, problem: String| ModelError::invalid(MANIFEST, field, problem);
        check_name(&self.name).map_err(|p| invalid("name".into(), p))?;
        if self.files.len() > MAX_MANIFEST_FILES {
            return Err(invalid(
                "files".into(),
                format!(
                    "lists {} files, more than the limit of {MAX_MANIFEST_FILES}",
                    self.files.len()
                ),
            ));
        }
        for (i, f) in self.files.iter().enumerate() {
            let field = |name: &str| format!("files[{i}].{name}");
            if !safe_path(&f.path) {
                return Err(invalid(
                    field("path"),
                    format!("{:?} must be a relative path without `..`", f.path),
                ));
            }
            if self.files.iter().take(i).any(|g| g.path == f.path) {
                return Err(invalid(
                    field("path"),
                    format!("{:?} is listed twice", f.path),
                ));
            }
            if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(field("sha256"), "must be 64 hex digits".into()));
            }
            match (f.role, f.family.as_deref()) {
                (Role::Forest, None) => {
                    return Err(invalid(field("family"), "is required for a forest".into()))
                }
                (Role::Forest, Some(name)) if Family::parse(name).is_none() => {
                    return Err(ModelError::UnknownFamily {
                        file: MANIFEST.to_owned(),
                        family: name.to_owned(),
                    })
                }
                (Role::Classifier, Some(_)) => {
                    return Err(invalid(field("family"), "is only for forests".into()))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Model and set names: 1 to 128 characters, none of them control characters.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 128 {
        return Err("must have 1 to 128 characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

fn safe_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains('\0')
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != ".." && seg != ".")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn manifest(files: &str) -> String {
        format!(r#"{{"schema_version":1,"name":"default","files":[{files}]}}"#)
    }

    #[test]
    fn rejects_bad_manifests_with_the_field() {
        let cases = [
            (
                r#"{"name":"x","files":[]}"#.to_owned(),
                "manifest.json: no `schema_version`",
            ),
            (
                r#"{"schema_version":2,"name":"x","files":[]}"#.to_owned(),
                "manifest.json: unsupported schema_version 2",
            ),
            (
                manifest(&format!(
                    r#"{{"path":"../cpu.json","sha256":"{HEX}","role":"forest","family":"cpu"}}"#
                )),
                "manifest.json: `files[0].path` \"../cpu.json\" must be a relative path",
            ),
            (
                manifest(&format!(
                    r#"{{"path":"/etc/cpu.json","sha256":"{HEX}","role":"forest","family":"cpu"}}"#
                )),
                "manifest.json: `files[0].path`",
            ),
            (
                manifest(r#"{"path":"cpu.json","sha256":"abc","role":"forest","family":"cpu"}"#),
                "manifest.json: `files[0].sha256` must be 64 hex digits",
            ),
            (
                manifest(&format!(
                    r#"{{"path":"cpu.json","sha256":"{HEX}","role":"forest"}}"#
                )),
                "manifest.json: `files[0].family` is required for a forest",
            ),
            (
                manifest(&format!(
                    r#"{{"path":"gpu.json","sha256":"{HEX}","role":"forest","family":"gpu"}}"#
                )),
                "manifest.json: unknown family \"gpu\"",
            ),
            (
                manifest(&format!(
                    r#"{{"path":"i.json","sha256":"{HEX}","role":"classifier","family":"cpu"}}"#
                )),
                "manifest.json: `files[0].family` is only for forests",
            ),
            (
                manifest(&format!(
                    r#"{{"path":"a.json","sha256":"{HEX}","role":"classifier"}},{{"path":"a.json","sha256":"{HEX}","role":"classifier"}}"#
                )),
                "manifest.json: `files[1].path` \"a.json\" is listed twice",
            ),
            (
                manifest(&format!(
                    r#"{{"path":"a.json","sha256":"{HEX}","role":"oracle"}}"#
                )),
                "manifest.json: unknown variant `oracle`",
            ),
            (
                r#"{"schema_version":1,"name":"","files":[]}"#.to_owned(),
                "manifest.json: `name` must have 1 to 128 characters",
            ),
            (
                r#"{"schema_version":1,"name":"x","files":[],"extra":1}"#.to_owned(),
                "manifest.json: unknown field `extra`",
            ),
        ];
        for (text, want) in cases {
            let err = Manifest::from_json(text.as_bytes())
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(want), "{text}\n  got: {err}\n want: {want}");
        }
    }

    #[test]
    fn written_manifests_read_back() {
        let mut m = Manifest::new("default");
        m.add_file("cpu.json", b"{}", Role::Forest, Some(Family::Cpu));
        m.add_file("incident.json", b"[]", Role::Classifier, None);
        m.training.insert("seed".into(), Value::from(7));
        assert_eq!(Manifest::from_json(&m.to_json()).unwrap(), m);
    }
}
