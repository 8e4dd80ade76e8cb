//! Building `wasm32-wasip1` packages of this workspace from a build script
//! with a nested cargo (shared by `chaos/build.rs` and `tests/build.rs`).
//!
//! The nested cargo uses its own target directory (`<target>/edgeheal-wasm`,
//! shared by every profile and by both build scripts) so it never waits on the
//! outer build's lock; two nested builds at once only wait on each other.
//! Cargo's own freshness check inside that directory makes reruns cheap.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the parent of the calling package).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Reruns the build script when anything under these workspace paths changes.
pub fn watch(root: &Path, paths: &[&str]) {
    for watched in paths {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=EDGEHEAL_WASM_TARGET_DIR");
}

/// Builds `packages` for `wasm32-wasip1` in release mode and returns the
/// directory holding the `.wasm` files; exits the build script with a clear
/// message when that fails.
pub fn build_wasm(root: &Path, packages: &[&str]) -> PathBuf {
    let target_dir = env::var_os("EDGEHEAL_WASM_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| outer_target_dir().join("edgeheal-wasm"));
    require_wasm_target();
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--release", "--target", "wasm32-wasip1"])
        .env("CARGO_TARGET_DIR", &target_dir)
        // The outer build's flags are for the host, not for wasm32.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    for p in packages {
        cmd.args(["-p", p]);
    }
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!(
            "building {} for wasm32-wasip1 failed ({s}); run: cargo build --release --target wasm32-wasip1 -p {}",
            packages.join(", "),
            packages.join(" -p ")
        )),
        Err(e) => fail(&format!("cannot run cargo to build the wasm modules: {e}")),
    }
    target_dir.join("wasm32-wasip1").join("release")
}

/// Stops with the command that fixes it when the toolchain has no standard
/// library for `wasm32-wasip1`: rustup adds the targets listed in
/// `rust-toolchain.toml` only when it installs the toolchain, so a `stable`
/// installed before this clone lacks it (rust-lang/rustup#4216), and the
/// nested build would otherwise end in a page of "can't find crate for `core`".
fn require_wasm_target() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    let Some(sysroot) = sysroot else {
        // Unknown sysroot: let the build itself say what is wrong.
        return;
    };
    if !sysroot.join("lib/rustlib/wasm32-wasip1").is_dir() {
        fail(&format!(
            "the wasm32-wasip1 target is not installed in {} (rustup adds the targets of \
             rust-toolchain.toml only when it installs the toolchain); run `rustup target add \
             wasm32-wasip1` (or `rustup toolchain install` in the repository), then build again",
            sysroot.display()
        ));
    }
}

/// The outer build's target directory: `OUT_DIR` is
/// `<target>/[<triple>/]<profile>/build/<pkg>-<hash>/out`, so four levels up
/// (checked by the `build` component); otherwise the ancestor that holds
/// `CACHEDIR.TAG`; otherwise a directory inside `OUT_DIR`.
fn outer_target_dir() -> PathBuf {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let mut up = out_dir.ancestors();
    if up.nth(2).and_then(Path::file_name) == Some("build".as_ref()) {
        if let Some(target) = up.nth(1) {
            return target.to_path_buf();
        }
    }
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
