//! Cross-crate test support for edgeheal.
//!
//! - [`fluentbit_harness`]: the `.wasm` filter under wasmtime, called exactly
//!   the way Fluent Bit 4.2's `filter_wasm` calls it (it lives in
//!   `edgeheal_chaos::fluentbit`, where the closed loop runs it too).
//! - [`records`]: a deterministic mixed stream of the records a node carries.
//! - [`stack_traces`]: container logs with stack traces printed one line a
//!   record, and warnings that name the exception they caught.
//! - [`json_check`]: output checks (valid JSON at any depth, member removal).
//! - [`fluentbit_config`]: reads the shipped Fluent Bit configs (classic and
//!   YAML) so tests can check them against the code.
//! - [`vector::shipped_file`]: reads a shipped Vector file (`vector.yaml`,
//!   `helm-values.yaml`).
//! - [`exec_wasi`]: Fluent Bit 4.2's `exec_wasi` input under wasmtime, which
//!   runs the cgroup sampler ([`sampler_wasm`]).
//!
//! `edgeheal-chaos`'s build script builds the filter and `build.rs` the
//! JSON-passthrough baseline and the sampler for `wasm32-wasip1`; their paths
//! are [`plugin_wasm`], [`passthrough_wasm`] and [`sampler_wasm`].

use std::path::{Path, PathBuf};

use edgeheal_plugin::{Filter, FilterConfig, ModelSet};

pub use edgeheal_chaos::fluentbit::harness as fluentbit_harness;
pub use edgeheal_chaos::fluentbit::{plugin_wasm, FUNCTION_NAME};

pub mod exec_wasi;
pub mod fluentbit_config;
pub mod json_check;
pub mod records;
pub mod stack_traces;
pub mod vector;

/// A pod's `prometheus.io/*` annotations (`what` names the file in messages): asserts
/// `scrape: "true"`, returns the port and path they point Prometheus at.
pub fn scrape_annotations(annotations: &serde_json::Value, what: &str) -> (u16, String) {
    let get = |key: &str| {
        annotations[key]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no {key} annotation"))
            .to_owned()
    };
    assert_eq!(get("prometheus.io/scrape"), "true", "{what}");
    let port = get("prometheus.io/port")
        .parse()
        .unwrap_or_else(|e| panic!("{what}: prometheus.io/port: {e}"));
    (port, get("prometheus.io/path"))
}

/// The passthrough baseline's filter function.
pub const PASSTHROUGH_FUNCTION: &str = "passthrough";

/// The passthrough module's always-trapping function.
pub const TRAP_FUNCTION: &str = "passthrough_trap";

/// The passthrough module's function that traps, for records starting
/// `{"trap"`, holding a 64 KiB frame on its shadow stack (and passes the
/// others through).
pub const DEEP_TRAP_FUNCTION: &str = "passthrough_deep_trap";

/// The passthrough module's function that returns a pointer outside memory.
pub const BAD_POINTER_FUNCTION: &str = "passthrough_bad_pointer";

/// The passthrough module's function that returns `[1]` (JSON, not an object).
pub const ARRAY_FUNCTION: &str = "passthrough_array";

/// The passthrough module's function that returns `{"log":` (no JSON at all).
pub const UNPARSEABLE_FUNCTION: &str = "passthrough_unparseable";

/// Where the filter reads its optional configuration (the adapter's `CONFIG_PATH`).
pub const CONFIG_PATH: &str = "/etc/edgeheal/config.json";

/// The healer's route for anomalies (the `http` output's `uri`).
pub const HEALER_ROUTE: &str = "/v1/anomalies";

/// The JSON-passthrough baseline module, built by `build.rs`.
pub fn passthrough_wasm() -> &'static Path {
    Path::new(env!("EDGEHEAL_PASSTHROUGH_WASM"))
}

/// The cgroup sampler (`edgeheal-sampler.wasm`), built by `build.rs`.
pub fn sampler_wasm() -> &'static Path {
    Path::new(env!("EDGEHEAL_SAMPLER_WASM"))
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

/// Runs `record` through `native` and through the `.wasm` in `fb`, called as
/// Fluent Bit calls it, and returns the output; panics, showing both, when
/// the `.wasm` drops the record or writes other bytes than the native core.
pub fn same_as_native(
    native: &mut Filter,
    fb: &mut fluentbit_harness::FluentBitWasm,
    record: &records::StreamRecord,
) -> Vec<u8> {
    let shown = || String::from_utf8_lossy(&record.json).into_owned();
    let mut out = Vec::new();
    native.process(
        record.tag.as_bytes(),
        record.time.as_filter_sees_ns(),
        &record.json,
        &mut out,
    );
    let wasm = fb
        .call_function_format_json(
            FUNCTION_NAME,
            record.tag.as_bytes(),
            record.time,
            &record.json,
        )
        .unwrap_or_else(|why| panic!("{why:?} on {}", shown()));
    assert!(
        wasm == out,
        "native and wasm differ on {} at {:?}\nnative: {}\nwasm:   {}",
        shown(),
        record.time,
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&wasm)
    );
    wasm
}
