//! Exporters: a model set turned into code for pipelines that cannot load the
//! edge core itself. Vector has no WASM transform, so [`vector`] generates the
//! Lua scorer its `lua` transform runs.

pub mod vector;

use std::path::PathBuf;

use edgeheal_plugin::model::ModelError;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The model set does not load (it would not load in the plugin either).
    #[error("model set: {0}")]
    Model(#[from] ModelError),
}
