//! # edgeheal-models
//!
//! Training, calibration, evaluation, exporters and the native scorer.
//!
//! - [`isolation`] and [`random_forest`] fit the models the edge scores with
//!   (validated parameters in, the plugin's immutable model files out);
//! - [`dataset`] reads labelled runs, [`replay`] feeds them through the edge
//!   filter itself, [`alarm`] turns anomaly tags into alarms;
//! - [`calibrate`] and [`train`] make a model set (`edgeheal train`);
//! - [`evaluate`] measures a model set on labelled runs (`edgeheal eval`),
//!   against the [`baseline`] detectors; [`report`] and [`plot`] write the
//!   figures and score timelines;
//! - [`score`] runs the edge filter natively over NDJSON (`edgeheal score`);
//! - [`export`] turns a model set into code for pipelines that cannot load the
//!   edge core (the Vector Lua scorer).
#![deny(missing_docs)]

pub mod alarm;
pub mod baseline;
pub mod calibrate;
pub mod dataset;
pub mod error;
pub mod evaluate;
pub mod export;
pub mod isolation;
pub mod plot;
pub mod random_forest;
pub mod replay;
pub mod report;
pub mod rng;
pub mod score;
pub mod train;

pub use error::Error;
