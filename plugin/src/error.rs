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
    /// The entity table the configuration allows would hold more memory than
    /// the filter's state may take ([`crate::config::STATE_BUDGET_BYTES`]).
    #[error(
        "invalid filter configuration: `max_entities` {max_entities} with `window_buckets` \
         {window_buckets} may hold {needed_mib} MiB of state (up to {entity_bytes} bytes an \
         entity), more than the {budget_mib} MiB the filter allows: lower `max_entities` or \
         `window_buckets`"
    )]
    StateTooLarge {
        /// The configured cap on entities.
        max_entities: usize,
        /// The configured buckets a window.
        window_buckets: u32,
        /// The most bytes one entity may hold.
        entity_bytes: usize,
        /// The most the table may hold, in MiB, rounded up.
        needed_mib: u64,
        /// [`crate::config::STATE_BUDGET_BYTES`] in MiB.
        budget_mib: u64,
    },
    /// A model file or manifest is invalid.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
}
