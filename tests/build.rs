//! Builds the Fluent Bit filter (`edgeheal_plugin.wasm`) and the
//! JSON-passthrough baseline for `wasm32-wasip1`, so `cargo test --workspace`
//! always tests the artifact of the current sources.
//!
//! The nested cargo uses its own target directory (`<target>/edgeheal-wasm`,
//! shared by every profile) so it never waits on the outer build's lock, and
//! passes the paths on as `EDGEHEAL_PLUGIN_WASM` / `EDGEHEAL_PASSTHROUGH_WASM`.
//! Cargo's own freshness check inside that directory makes reruns cheap.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for watched in [
        "plugin/src",
        "plugin/build.rs",
        "plugin/Cargo.toml",
        "models/default",
        "tests/passthrough-wasm/src",
        "tests/passthrough-wasm/Cargo.toml",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=EDGEHEAL_WASM_TARGET_DIR");

    let target_dir = env::var_os("EDGEHEAL_WASM_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| outer_target_dir().join("edgeheal-wasm"));
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip1",
            "-p",
            "edgeheal-plugin",
            "-p",
            "edgeheal-passthrough-wasm",
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        // The outer build's flags are for the host, not for wasm32.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    let status = cmd.status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!("building the wasm filter failed ({s}); run: cargo build -p edgeheal-plugin --target wasm32-wasip1 --release")),
        Err(e) => fail(&format!("cannot run cargo to build the wasm filter: {e}")),
    }
    let out = target_dir.join("wasm32-wasip1").join("release");
    println!(
        "cargo:rustc-env=EDGEHEAL_PLUGIN_WASM={}",
        out.join("edgeheal_plugin.wasm").display()
    );
    println!(
        "cargo:rustc-env=EDGEHEAL_PASSTHROUGH_WASM={}",
        out.join("edgeheal_passthrough_wasm.wasm").display()
    );
}

/// The outer build's target directory: the ancestor of `OUT_DIR` that holds
/// `CACHEDIR.TAG` (`<target>/[<triple>/]<profile>/build/<pkg>-<hash>/out`).
fn outer_target_dir() -> PathBuf {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out_dir.join("edgeheal-wasm-target"))
}

fn fail(message: &str) -> ! {
    println!("cargo:warning={message}");
    eprintln!("{message}");
    std::process::exit(1);
}
