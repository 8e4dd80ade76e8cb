//! Cross-crate test support for edgeheal.
//!
//! - [`fluentbit_harness`]: the `.wasm` filter under wasmtime, called exactly
//!   the way Fluent Bit 4.2's `filter_wasm` calls it.
//! - [`records`]: a deterministic mixed stream of the records a node carries.
//! - [`json_check`]: output checks (valid JSON at any depth, member removal).
//! - [`fluentbit_config`]: reads the shipped Fluent Bit configs (classic and
//!   YAML) so tests can check them against the code.
//!
//! `build.rs` builds the filter and the JSON-passthrough baseline for
//! `wasm32-wasip1`; their paths are [`plugin_wasm`] and [`passthrough_wasm`].

use std::path::{Path, PathBuf};

use edgeheal_plugin::{Filter, FilterConfig, ModelSet};

pub mod fluentbit_config;
pub mod fluentbit_harness;
pub mod json_check;
pub mod records;
pub mod vector;

/// The exported filter function, as `function_name` names it.
pub const FUNCTION_NAME: &str = "edgeheal_filter";

/// The passthrough baseline's filter function.
pub const PASSTHROUGH_FUNCTION: &str = "passthrough";

/// The passthrough module's always-trapping function.
pub const TRAP_FUNCTION: &str = "passthrough_trap";

/// Where the filter reads its optional configuration (the adapter's `CONFIG_PATH`).
pub const CONFIG_PATH: &str = "/etc/edgeheal/config.json";

/// The healer's route for anomalies (the `http` output's `uri`).
pub const HEALER_ROUTE: &str = "/v1/anomalies";

/// `edgeheal_plugin.wasm`, built by `build.rs` from the current sources.
pub fn plugin_wasm() -> &'static Path {
    Path::new(env!("EDGEHEAL_PLUGIN_WASM"))
}

/// The JSON-passthrough baseline module, built by `build.rs`.
pub fn passthrough_wasm() -> &'static Path {
    Path::new(env!("EDGEHEAL_PASSTHROUGH_WASM"))
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The native filter set up exactly as the wasm adapter sets itself up with no
/// configuration file: default configuration, embedded models when they load.
pub fn native_filter() -> Filter {
    let models = ModelSet::from_embedded().and_then(Result::ok);
    Filter::new(FilterConfig::default(), models)
}
