//! Cross-crate test support for edgeheal.
