//! Cross-crate test support for edgeheal.

pub mod vector;
