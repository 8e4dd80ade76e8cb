//! Errors of the edge core. Nothing here panics: every failure is a value.

/// Everything that can go wrong in the edge core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The filter configuration is not valid JSON or has an unknown key
    /// (the message names it).
    #[error("invalid filter configuration: {0}")]
    ConfigSyntax(#[source] serde_json::Error),
    /// A configuration value is out of its allowed range.
    #[error("invalid filter configuration: `{key}` {problem}")]
    ConfigValue {
        /// The offending key.
        key: &'static str,
        /// What is wrong with its value.
        problem: &'static str,
    },
    /// A model file or manifest is invalid.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
}
