//! The versioned JSON model format, and the set of models the filter embeds.
//!
//! A model set is a directory: one file per model ([`IsolationForestFile`] per
//! signal family, at most one [`ClassifierFile`]) and a [`Manifest`] listing
//! them with the SHA-256 of their bytes. [`ModelSet::from_manifest`] loads and
//! checks all of it; nothing reaches the scoring code unvalidated.
//!
//! # Digests
//!
//! Each model carries its own `sha256`: the hex SHA-256 of the model's
//! *canonical serialization* with `sha256` set to `""`. The canonical
//! serialization is compact `serde_json` of the file struct (fields in
//! declaration order, no whitespace) except that every float is written as a
//! JSON string of the 16 lowercase hex digits of its IEEE-754 bits (`1.0` →
//! `"3ff0000000000000"`). Float *text* is not canonical: two shortest
//! round-trip strings can denote the same `f64` (Python writes
//! `2.1164321899414062`, Rust `2.1164321899414063`), and formatters change
//! between releases. Bits do not, so any writer (the trainer, the Python
//! parity script) computes the same digest, and a file re-formatted without
//! changing a value still verifies. Files must be parsed exactly (the crate
//! enables `serde_json`'s `float_roundtrip`). Writers call `seal()`, then
//! `to_json()`.
//!
//! [`IsolationForestFile`]: crate::forest::IsolationForestFile
//! [`ClassifierFile`]: crate::classifier::ClassifierFile

use std::io;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::classifier::{ClassifierFile, RandomForestClassifier};
use crate::forest::{IsolationForest, IsolationForestFile};
pub use crate::manifest::{Manifest, ManifestFile, Role, MANIFEST};
use crate::tree::TreeProblem;
use crate::verdict::Family;

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Largest model or manifest file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 64 << 20;

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The manifest or a model file is not valid JSON of the expected shape.
    #[error("{file}: {source}")]
    Syntax {
        /// File name.
        file: String,
        /// Parser error.
        #[source]
        source: serde_json::Error,
    },
    /// A file has no `schema_version`.
    #[error("{file}: no `schema_version` (this build reads version {SCHEMA_VERSION})")]
    NoSchemaVersion {
        /// File name.
        file: String,
    },
    /// A file has a schema version this build does not read.
    #[error(
        "{file}: unsupported schema_version {found} (this build reads version {SCHEMA_VERSION})"
    )]
    SchemaVersion {
        /// File name.
        file: String,
        /// The version found.
        found: u64,
    },
    /// A model file has the wrong `type` for its role.
    #[error("{file}: `type` is {found:?}, expected {expected:?}")]
    ModelType {
        /// File name.
        file: String,
        /// The type found (empty when missing).
        found: String,
        /// The type expected.
        expected: &'static str,
    },
    /// A file is larger than [`MAX_FILE_BYTES`].
    #[error("{file}: {len} bytes, more than the limit of {max}")]
    TooLarge {
        /// File name.
        file: String,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A file listed in the manifest could not be found.
    #[error("{file}: listed in the manifest but not found")]
    Missing {
        /// File name.
        file: String,
    },
    /// A file's bytes do not match the SHA-256 the manifest lists for it.
    #[error("{file}: sha256 of the file is {actual}, the manifest says {expected}")]
    FileDigest {
        /// File name.
        file: String,
        /// Digest in the manifest.
        expected: String,
        /// Digest of the bytes.
        actual: String,
    },
    /// A model's content does not match its own `sha256` (edited after sealing).
    #[error(
        "{file}: the model's canonical sha256 is {actual}, its `sha256` field says {expected}"
    )]
    ModelDigest {
        /// File name.
        file: String,
        /// Digest in the file.
        expected: String,
        /// Digest of the content.
        actual: String,
    },
    /// A forest names a family this build does not know.
    #[error("{file}: unknown family {family:?}")]
    UnknownFamily {
        /// File name.
        file: String,
        /// The family found.
        family: String,
    },
    /// The manifest entry and the model file disagree on the family.
    #[error("{file}: the manifest says family {manifest:?}, the model says {model:?}")]
    FamilyMismatch {
        /// File name.
        file: String,
        /// Family in the manifest.
        manifest: String,
        /// Family in the model.
        model: String,
    },
    /// Two forests of a set are for the same family.
    #[error("{file}: a second forest for family {family:?}")]
    DuplicateFamily {
        /// File name of the second.
        file: String,
        /// The family.
        family: &'static str,
    },
    /// A set has more than one classifier.
    #[error("{file}: a second classifier")]
    DuplicateClassifier {
        /// File name of the second.
        file: String,
    },
    /// A model's `feature_names` are not the plugin's for its family.
    #[error("{file}: feature_names {found:?} are not the plugin's {what} features {expected:?}")]
    FeatureNames {
        /// File name.
        file: String,
        /// `cpu`, `memory`, ... or `classifier`.
        what: &'static str,
        /// The plugin's names, in order.
        expected: Vec<&'static str>,
        /// The model's names.
        found: Vec<String>,
    },
    /// A field has a value out of its allowed range.
    #[error("{file}: `{field}` {problem}")]
    Invalid {
        /// File name.
        file: String,
        /// The field (a path like `files[2].path`).
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A tree is structurally invalid.
    #[error("{file}: tree {tree}{}: {problem}", node.map(|n| format!(" node {n}")).unwrap_or_default())]
    Tree {
        /// File name.
        file: String,
        /// Tree index.
        tree: usize,
        /// Node index, when the problem is at one node.
        node: Option<usize>,
        /// What is wrong.
        problem: TreeProblem,
    },
}

impl ModelError {
    pub(crate) fn invalid(
        file: &str,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        ModelError::Invalid {
            file: file.to_owned(),
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// Warning and critical thresholds on a family's anomaly score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Score at or above which the family is anomalous.
    pub warning: f64,
    /// Score at or above which the anomaly is critical.
    pub critical: f64,
}

/// What every model file starts with, read on its own when a file does not
/// parse, so an unknown version or type is reported as such rather than as a
/// shape error.
#[derive(Deserialize)]
struct Header {
    schema_version: Option<u64>,
    #[serde(rename = "type")]
    model_type: Option<String>,
}

/// A file [`parse_versioned`] reads: its schema version and, for models,
/// its `type`.
pub(crate) trait Versioned {
    /// `schema_version` as parsed.
    fn schema_version(&self) -> u64;
    /// `type`, for the files that carry one.
    fn model_type(&self) -> Option<&str>;
}

/// Checks size, then parses the whole file and checks its schema version
/// and (when `expected` is given) `type`. A file that does not parse is read
/// again for those two alone, so that a file of another version or type says
/// so rather than where its shape differs. (One pass over a file that
/// parses: the default models are 2.5 MB of numbers, and the second pass
/// was 0.11e9 of the 0.42e9 wasm operators loading them took.)
pub(crate) fn parse_versioned<T: DeserializeOwned + Versioned>(
    bytes: &[u8],
    file: &str,
    expected: Option<&'static str>,
) -> Result<T, ModelError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ModelError::TooLarge {
            file: file.to_owned(),
            len: bytes.len(),
            max: MAX_FILE_BYTES,
        });
    }
    let syntax = |source| ModelError::Syntax {
        file: file.to_owned(),
        source,
    };
    match serde_json::from_slice::<T>(bytes) {
        Ok(parsed) => {
            check_header(
                Some(parsed.schema_version()),
                parsed.model_type(),
                file,
                expected,
            )?;
            Ok(parsed)
        }
        Err(shape) => {
            let header: Header = serde_json::from_slice(bytes).map_err(syntax)?;
            check_header(
                header.schema_version,
                header.model_type.as_deref(),
                file,
                expected,
            )?;
            Err(syntax(shape))
        }
    }
}

fn check_header(
    schema_version: Option<u64>,
    model_type: Option<&str>,
    file: &str,
    expected: Option<&'static str>,
) -> Result<(), ModelError> {
    match schema_version {
        None => {
            return Err(ModelError::NoSchemaVersion {
                file: file.to_owned(),
            })
        }
        Some(v) if v != u64::from(SCHEMA_VERSION) => {
            return Err(ModelError::SchemaVersion {
                file: file.to_owned(),
                found: v,
            })
        }
        Some(_) => {}
    }
    if let Some(expected) = expected {
        let found = model_type.unwrap_or_default();
        if found != expected {
            return Err(ModelError::ModelType {
                file: file.to_owned(),
                found: found.to_owned(),
                expected,
            });
        }
    }
    Ok(())
}

/// `serde_json` formatting with each float as a string of its IEEE-754 bits.
struct FloatBits;

impl serde_json::ser::Formatter for FloatBits {
    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        writer.write_all(&bits_text(f64::from(value).to_bits()))
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(&bits_text(value.to_bits()))
    }
}

/// `"{bits:016x}"`, quotes included, written digit by digit: a model has
/// hundreds of thousands of floats, and going through `fmt` for each was
/// most of the time the `.wasm` takes to load its models.
fn bits_text(bits: u64) -> [u8; 18] {
    let mut text = [b'"'; 18];
    for (i, slot) in text.iter_mut().skip(1).take(16).enumerate() {
        let nibble = (bits >> (60 - 4 * i)) & 0xf;
        *slot = HEX_DIGITS.get(nibble as usize).copied().unwrap_or(b'0');
    }
    text
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Writes the canonical serialization of `value` to `writer`.
fn write_canonical<T: Serialize, W: io::Write>(value: &T, writer: W) -> bool {
    let mut ser = serde_json::Serializer::with_formatter(writer, FloatBits);
    value.serialize(&mut ser).is_ok()
}

/// The canonical serialization of `value` (what its digest is computed over).
pub fn canonical_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    if !write_canonical(value, &mut out) {
        out.clear();
    }
    out
}

/// Compact JSON of a model file (floats as shortest round-trip decimals).
pub(crate) fn model_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Hex SHA-256 of the canonical serialization of `value` (empty if it cannot
/// be serialized, which the model types never fail to).
pub(crate) fn canonical_digest<T: Serialize>(value: &T) -> String {
    let mut hasher = Sha256::new();
    if !write_canonical(value, &mut hasher) {
        return String::new();
    }
    hex(&hasher.finalize())
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 0xf] {
            if let Some(d) = HEX_DIGITS.get(usize::from(nibble)) {
                s.push(char::from(*d));
            }
        }
    }
    s
}

/// The models the filter scores with: one isolation forest per family and the
/// incident classifier, loaded from a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSet {
    id: String,
    forests: Vec<(Family, IsolationForest)>,
    classifier: Option<RandomForestClassifier>,
}

impl ModelSet {
    /// Loads a set: parses the manifest, fetches each file with `load(path)`
    /// and checks its bytes against the manifest's SHA-256, then parses and
    /// validates each model (schema version, its own digest, feature names,
    /// tree structure). A family may have at most one forest, the set at most
    /// one classifier, and at least one forest.
    pub fn from_manifest<F, B>(manifest: &[u8], load: F) -> Result<ModelSet, ModelError>
    where
        F: FnMut(&str) -> Option<B>,
        B: AsRef<[u8]>,
    {
        ModelSet::load(manifest, load, Digests::Verify)
    }

    /// The set compiled into this build from `models/default/` (see
    /// [`crate::embedded`]); `None` when no `manifest.json` was embedded.
    ///
    /// Loaded as [`ModelSet::from_manifest`] does but without computing the
    /// digests again: the build checked each file's bytes against the
    /// manifest before embedding them (`build/check.rs`; the bytes cannot
    /// change after), and `cargo test` checks each model's own digest
    /// (`tests/model_format.rs`). The two are three fifths of what loading
    /// costs, about a third of a second of CPU under Fluent Bit's
    /// interpreter at every start and hot reload. Schema, family, feature
    /// names and tree structure are still checked.
    pub fn from_embedded() -> Option<Result<ModelSet, ModelError>> {
        crate::embedded::file(MANIFEST).map(|manifest| {
            ModelSet::load(manifest, crate::embedded::file, Digests::CheckedAtBuild)
        })
    }

    fn load<F, B>(manifest: &[u8], mut load: F, digests: Digests) -> Result<ModelSet, ModelError>
    where
        F: FnMut(&str) -> Option<B>,
        B: AsRef<[u8]>,
    {
        let parsed = Manifest::from_json(manifest)?;
        let mut forests: Vec<(Family, IsolationForest)> = Vec::new();
        let mut classifier = None;
        for entry in &parsed.files {
            let file = entry.path.as_str();
            let bytes = load(file).ok_or_else(|| ModelError::Missing {
                file: file.to_owned(),
            })?;
            let bytes = bytes.as_ref();
            if digests == Digests::Verify {
                let actual = sha256_hex(bytes);
                if !actual.eq_ignore_ascii_case(&entry.sha256) {
                    return Err(ModelError::FileDigest {
                        file: file.to_owned(),
                        expected: entry.sha256.clone(),
                        actual,
                    });
                }
            }
            match entry.role {
                Role::Forest => {
                    let forest = match digests {
                        Digests::Verify => IsolationForest::from_json(bytes, file)?,
                        Digests::CheckedAtBuild => IsolationForest::from_file(
                            &IsolationForestFile::from_json(bytes, file)?,
                            file,
                        )?,
                    };
                    let declared = entry.family.as_deref().unwrap_or_default();
                    if declared != forest.family().as_str() {
                        return Err(ModelError::FamilyMismatch {
                            file: file.to_owned(),
                            manifest: declared.to_owned(),
                            model: forest.family().as_str().to_owned(),
                        });
                    }
                    add_forest(&mut forests, forest, file)?;
                }
                Role::Classifier => {
                    if classifier.is_some() {
                        return Err(ModelError::DuplicateClassifier {
                            file: file.to_owned(),
                        });
                    }
                    classifier = Some(match digests {
                        Digests::Verify => RandomForestClassifier::from_json(bytes, file)?,
                        Digests::CheckedAtBuild => RandomForestClassifier::from_file(
                            &ClassifierFile::from_json(bytes, file)?,
                            file,
                        )?,
                    });
                }
            }
        }
        if forests.is_empty() {
            return Err(ModelError::invalid(MANIFEST, "files", "lists no forest"));
        }
        let digest = sha256_hex(manifest);
        let id = format!("{}@{}", parsed.name, digest.get(..12).unwrap_or(&digest));
        Ok(ModelSet {
            id,
            forests,
            classifier,
        })
    }

    /// A set from models already in memory (trainers and tests), with the given
    /// `id`. The same family and classifier rules as [`ModelSet::from_manifest`].
    pub fn from_parts(
        id: impl Into<String>,
        forests: Vec<IsolationForest>,
        classifier: Option<RandomForestClassifier>,
    ) -> Result<ModelSet, ModelError> {
        let mut set = Vec::with_capacity(forests.len());
        for forest in forests {
            let file = forest.name().to_owned();
            add_forest(&mut set, forest, &file)?;
        }
        Ok(ModelSet {
            id: id.into(),
            forests: set,
            classifier,
        })
    }

    /// `name@sha256-prefix`, as written to the `model` tag.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The forest of a family, if the set has one.
    pub fn forest(&self, family: Family) -> Option<&IsolationForest> {
        self.forests
            .iter()
            .find(|(f, _)| *f == family)
            .map(|(_, forest)| forest)
    }

    /// Every forest of the set, in load order.
    pub fn forests(&self) -> impl Iterator<Item = &IsolationForest> {
        self.forests.iter().map(|(_, forest)| forest)
    }

    /// The incident classifier, if the set has one.
    pub fn classifier(&self) -> Option<&RandomForestClassifier> {
        self.classifier.as_ref()
    }
}

/// Whether loading a set computes the digests its manifest and models carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Digests {
    /// Each file's bytes against the manifest, each model's own `sha256`.
    Verify,
    /// Neither: the set was checked when it was built into the artifact.
    CheckedAtBuild,
}

fn add_forest(
    forests: &mut Vec<(Family, IsolationForest)>,
    forest: IsolationForest,
    file: &str,
) -> Result<(), ModelError> {
    let family = forest.family();
    if forests.iter().any(|(f, _)| *f == family) {
        return Err(ModelError::DuplicateFamily {
            file: file.to_owned(),
            family: family.as_str(),
        });
    }
    forests.push((family, forest));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_floats_are_their_bits() {
        let v = [0.5, 3.0, -0.0, 2.116_432_189_941_406_2];
        let text = String::from_utf8(canonical_json(&(1u32, v, "a"))).unwrap();
        assert_eq!(
            text,
            r#"[1,["3fe0000000000000","4008000000000000","8000000000000000","4000ee7400000000"],"a"]"#
        );
    }

    #[test]
    fn bits_texts_are_what_fmt_writes() {
        let mut rng = crate::test_rng::Xorshift(0x005e_ed0f_b175);
        let edges = [0, 1, u64::MAX, 0x8000_0000_0000_0000, 0x0123_4567_89ab_cdef];
        let random = (0..10_000).map(|_| rng.next_u64());
        for bits in edges.into_iter().chain(random) {
            let text = bits_text(bits);
            assert_eq!(
                std::str::from_utf8(&text),
                Ok(format!("\"{bits:016x}\"").as_str())
            );
        }
    }

    #[test]
    fn hex_digest_of_empty_input() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn tree_errors_name_file_tree_and_node() {
        let e = ModelError::Tree {
            file: "cpu.json".into(),
            tree: 3,
            node: Some(17),
            problem: TreeProblem::ChildNotAfterParent { child: 9 },
        };
        assert_eq!(
            e.to_string(),
            "cpu.json: tree 3 node 17: child 9 does not come after its parent"
        );
        let e = ModelError::Tree {
            file: "cpu.json".into(),
            tree: 0,
            node: None,
            problem: TreeProblem::Empty,
        };
        assert_eq!(e.to_string(), "cpu.json: tree 0: has no nodes");
    }
}
