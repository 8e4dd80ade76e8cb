//! The signing keys: a directory of files (a mounted Secret), file name = key id, file
//! content = secret. Several keys are active at once for rotation; the directory is rescanned
//! so a rotated Secret takes effect without a restart. Unknown key ids fail closed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;

/// Errors loading keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The directory or a file could not be read.
    #[error("cannot read key {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key file is unusable.
    #[error("key {id:?} in {dir}: {reason}")]
    Invalid {
        /// The directory.
        dir: PathBuf,
        /// The key id (file name).
        id: String,
        /// Why.
        reason: &'static str,
    },
    /// The directory holds no key.
    #[error("no keys in {0}")]
    Empty(PathBuf),
}

type Secrets = HashMap<String, Vec<u8>>;

/// The active keys, shared and atomically replaceable.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    inner: Arc<RwLock<Arc<Secrets>>>,
}

impl KeyRing {
    /// A key ring from explicit pairs (tests, benches).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: AsRef<[u8]>,
    {
        let map = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.as_ref().to_vec()))
            .collect();
        Self {
            inner: Arc::new(RwLock::new(Arc::new(map))),
        }
    }

    /// Loads every key in `dir`.
    pub fn load(dir: &Path) -> Result<Self, KeyError> {
        let ring = Self::default();
        ring.reload(dir)?;
        Ok(ring)
    }

    /// Rescans `dir`; on error the previous keys stay active.
    pub fn reload(&self, dir: &Path) -> Result<usize, KeyError> {
        let map = read_dir(dir)?;
        let n = map.len();
        let mut guard = self.inner.write().unwrap_or_else(|p| p.into_inner());
        *guard = Arc::new(map);
        Ok(n)
    }

    /// The secret for `id`, if the key is active.
    pub fn secret(&self, id: &str) -> Option<Vec<u8>> {
        let guard = self.inner.read().unwrap_or_else(|p| p.into_inner());
        guard.get(id).cloned()
    }

    /// The active key ids, sorted.
    pub fn ids(&self) -> Vec<String> {
        let guard = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let mut ids: Vec<String> = guard.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Number of active keys.
    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no key is active.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn read_dir(dir: &Path) -> Result<HashMap<String, Vec<u8>>, KeyError> {
    let read_err = |path: &Path, source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut map = HashMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| read_err(dir, e))? {
        let entry = entry.map_err(|e| read_err(dir, e))?;
        let id = entry.file_name().to_string_lossy().into_owned();
        // Kubernetes Secret volumes hold `..data` and `..2024_...` bookkeeping entries.
        if id.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let (id, secret) = read_key(&path)?;
        map.insert(id, secret);
    }
    if map.is_empty() {
        return Err(KeyError::Empty(dir.to_path_buf()));
    }
    Ok(map)
}

/// Reads one key file: its name is the key id, its content the secret
/// ([`read_secret`]).
pub fn read_key(path: &Path) -> Result<(String, Vec<u8>), KeyError> {
    let id = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((id.clone(), read_secret(path, &id)?))
}

/// Reads the secret of key `id` from `path`: at least [`MIN_SECRET_BYTES`], trailing newlines
/// dropped. `id` must be a key id: ASCII letters, digits, `-` or `_`.
pub fn read_secret(path: &Path, id: &str) -> Result<Vec<u8>, KeyError> {
    let invalid = |reason| KeyError::Invalid {
        dir: path.parent().unwrap_or(Path::new("")).to_path_buf(),
        id: id.to_owned(),
        reason,
    };
    if !is_key_id(id) {
        return Err(invalid("key id must be ASCII letters, digits, '-' or '_'"));
    }
    let mut secret = std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    while secret.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        secret.pop();
    }
    if secret.len() < MIN_SECRET_BYTES {
        return Err(invalid("secret is shorter than 16 bytes"));
    }
    Ok(secret)
}

/// Whether `id` can name a key: one or more ASCII letters, digits, `-` or `_`.
pub fn is_key_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_rotates_and_rejects_bad_keys() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(KeyRing::load(dir.path()), Err(KeyError::Empty(_))));
        std::fs::write(dir.path().join("fluent-bit"), "0123456789abcdef0123\n").unwrap();
        std::fs::create_dir(dir.path().join("..data")).unwrap();
        let ring = KeyRing::load(dir.path()).unwrap();
        assert_eq!(ring.secret("fluent-bit").unwrap(), b"0123456789abcdef0123");
        assert_eq!(ring.ids(), ["fluent-bit"]);
        assert!(ring.secret("vector").is_none());

        std::fs::write(dir.path().join("vector"), "fedcba9876543210fedc").unwrap();
        assert_eq!(ring.reload(dir.path()).unwrap(), 2);
        assert!(ring.secret("vector").is_some());

        assert_eq!(ring.ids(), ["fluent-bit", "vector"]);
        let (id, secret) = read_key(&dir.path().join("vector")).unwrap();
        assert_eq!(
            (id.as_str(), secret.as_slice()),
            ("vector", &b"fedcba9876543210fedc"[..])
        );
        std::fs::write(dir.path().join("bad.key"), "fedcba9876543210fedc").unwrap();
        let err = read_key(&dir.path().join("bad.key")).unwrap_err();
        assert!(err.to_string().contains("ASCII letters"), "{err}");
        let secret = read_secret(&dir.path().join("bad.key"), "ops").unwrap();
        assert_eq!(secret, b"fedcba9876543210fedc");
        let err = read_secret(&dir.path().join("bad.key"), "ops key").unwrap_err();
        assert!(err.to_string().contains("ASCII letters"), "{err}");
        std::fs::remove_file(dir.path().join("bad.key")).unwrap();

        std::fs::write(dir.path().join("short"), "abc").unwrap();
        let err = ring.reload(dir.path()).unwrap_err();
        assert!(err.to_string().contains("shorter"), "{err}");
        assert_eq!(ring.len(), 2, "a failed reload keeps the previous keys");
    }
}
