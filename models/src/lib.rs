//! edgeheal-models: training, calibration, evaluation, exporters and the native scorer.
pub mod export;
