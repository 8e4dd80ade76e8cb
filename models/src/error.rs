//! The library's error type: what can go wrong while fitting, training,
//! evaluating or scoring.

use std::path::PathBuf;

use edgeheal_plugin::model::ModelError;

/// Why a fitting, training, evaluation or scoring step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A hyperparameter is out of range.
    #[error("invalid parameter `{name}`: {problem}")]
    Parameter {
        /// The parameter.
        name: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// There is nothing (or too little) to fit on.
    #[error("cannot fit {what}: {problem}")]
    NoData {
        /// The model being fitted.
        what: String,
        /// Why the data does not suffice.
        problem: String,
    },
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file does not have the expected shape.
    #[error("{path}: {source}")]
    Json {
        /// The path.
        path: PathBuf,
        /// The parser error.
        #[source]
        source: serde_json::Error,
    },
    /// A value in a data file is invalid (an unparsable time, an unknown kind).
    #[error("{path}: {problem}")]
    Data {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A model set does not load (it would not load in the plugin either).
    #[error("model set: {0}")]
    Model(#[from] ModelError),
    /// A plot could not be drawn.
    #[error("plot {path}: {problem}")]
    Plot {
        /// The PNG being drawn.
        path: PathBuf,
        /// The backend's message.
        problem: String,
    },
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    /// An [`Error::Parameter`].
    pub fn parameter(name: &'static str, problem: impl Into<String>) -> Error {
        Error::Parameter {
            name,
            problem: problem.into(),
        }
    }
}
