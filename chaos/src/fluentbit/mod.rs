//! # Fluent Bit's `filter_wasm`, on one machine
//!
//! Fluent Bit cannot be installed here, so the loop runs the shipped
//! `edgeheal_plugin.wasm` the way Fluent Bit 4.2 runs it:
//!
//! - [`harness`]: wasmtime standing in for Fluent Bit's WAMR (app heap,
//!   NUL-terminated copies, `record = NULL`, traps, `strlen` on the result,
//!   one persistent instance per `[FILTER]`).
//! - [`json_text`]: the "is this a JSON object" check Fluent Bit applies to
//!   what the filter returns.
//!
//! `build.rs` builds the filter for `wasm32-wasip1` from the current sources;
//! [`plugin_wasm`] is its path.

use std::path::Path;

pub mod harness;
pub mod json_text;

pub use harness::{
    DropReason, EventTime, FilterOutcome, FilterWasmConfig, FluentBitWasm, HarnessError,
};

/// The filter function the shipped configs name (`function_name`).
pub const FUNCTION_NAME: &str = "edgeheal_filter";

/// `edgeheal_plugin.wasm`, built by `build.rs` from the current sources.
pub fn plugin_wasm() -> &'static Path {
    Path::new(env!("EDGEHEAL_PLUGIN_WASM"))
}
