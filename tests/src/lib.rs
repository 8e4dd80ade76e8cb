//! Cross-crate test support for edgeheal.
//!
//! - [`fluentbit_harness`]: the `.wasm` filter under wasmtime, called exactly
//!   the way Fluent Bit 4.2's `filter_wasm` calls it (it lives in
//!   `edgeheal_chaos::fluentbit`, where the closed loop runs it too).
//! - [`records`]: a deterministic mixed stream of the records a node carries.
//! - [`json_check`]: output checks (valid JSON at any depth, member removal).
//! - [`fluentbit_config`]: reads the shipped Fluent Bit configs (classic and
//!   YAML) so tests can check them against the code.
//!
//! `edgeheal-chaos`'s build script builds the filter and `build.rs` the
//! JSON-passthrough baseline for `wasm32-wasip1`; their paths are
//! [`plugin_wasm`] and [`passthrough_wasm`].

use std::path::{Path, PathBuf};

use edgeheal_plugin::{Filter, FilterConfig, ModelSet};

pub use edgeheal_chaos::fluentbit::harness as fluentbit_harness;
pub use edgeheal_chaos::fluentbit::{plugin_wasm, FUNCTION_NAME};

pub mod fluentbit_config;
pub mod json_check;
pub mod records;
pub mod vector;

/// The passthrough baseline's filter function.
pub const PASSTHROUGH_FUNCTION: &str = "passthrough";

/// The passthrough module's always-trapping function.
pub const TRAP_FUNCTION: &str = "passthrough_trap";

/// The passthrough module's function that returns a pointer outside memory.
pub const BAD_POINTER_FUNCTION: &str = "passthrough_bad_pointer";

/// The passthrough module's function that returns `[1]` (JSON, not an object).
pub const ARRAY_FUNCTION: &str = "passthrough_array";

/// Where the filter reads its optional configuration (the adapter's `CONFIG_PATH`).
pub const CONFIG_PATH: &str = "/etc/edgeheal/config.json";

/// The healer's route for anomalies (the `http` output's `uri`).
pub const HEALER_ROUTE: &str = "/v1/anomalies";

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
