//! # edgeheal-plugin
//!
//! The edge core of edgeheal: everything that happens to a record between the
//! pipeline handing it over and the pipeline taking it back, with no I/O.
//!
//! 1. [`json`] finds the fields it needs in the record text without building a
//!    tree, and splices the `edgeheal` tag object into the original text.
//! 2. [`normalize`] turns the shapes real pipelines carry (Fluent Bit and Vector
//!    container logs, Kubernetes events, metric samples) into an
//!    [`Observation`]: kind, time, identity, signal.
//! 3. [`entity`] keeps bounded per-workload and per-pod windows and baselines,
//!    from which [`features`] are computed.
//! 4. [`model`], [`forest`] and [`classifier`] load and evaluate the embedded
//!    forests; [`verdict`] holds the decision vocabulary.
//! 5. [`filter::Filter`] ties it together and writes the [`tags`].
//!
//! The same crate compiles to `wasm32-wasip1`, where `fluentbit` exports the
//! Fluent Bit WASM filter ABI.

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod baseline;
pub mod classifier;
pub mod config;
mod decimal;
pub mod embedded;
pub mod entity;
pub mod error;
pub mod event;
pub mod features;
pub mod filter;
pub mod forest;
mod freetext;
pub mod identity;
mod identity_memo;
pub mod json;
pub mod keyed_hash;
pub mod logline;
pub mod lru;
pub mod manifest;
pub mod metric;
pub mod model;
pub mod normalize;
pub mod observation;
pub mod scorer;
pub mod sketch;
mod swar;
pub mod tags;
mod text_table;
pub mod timestamp;
pub mod tree;
pub mod verdict;

#[cfg(test)]
mod test_rng;

#[cfg(target_arch = "wasm32")]
mod fluentbit;

pub use config::FilterConfig;
pub use error::Error;
pub use filter::Filter;
pub use model::ModelSet;
pub use observation::{Identity, Observation, RecordKind, Signal};
pub use verdict::{Action, Family, Incident, Severity, Verdict};
