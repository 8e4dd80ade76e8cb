//! Builds the JSON-passthrough baseline (`edgeheal_passthrough_wasm.wasm`) and
//! the cgroup sampler (`edgeheal-sampler.wasm`) for `wasm32-wasip1` and passes
//! their paths on as `EDGEHEAL_PASSTHROUGH_WASM` and `EDGEHEAL_SAMPLER_WASM`. The
//! edgeheal filter itself is built by `edgeheal-chaos`'s build script (the
//! harness lives there); both share `chaos/build/wasm_build.rs`.

#[path = "../chaos/build/wasm_build.rs"]
mod wasm_build;

fn main() {
    let root = wasm_build::workspace_root();
    wasm_build::watch(
        &root,
        &[
            "tests/passthrough-wasm/src",
            "tests/passthrough-wasm/Cargo.toml",
            "sampler/src",
            "sampler/Cargo.toml",
            "Cargo.toml",
            "Cargo.lock",
        ],
    );
    let out = wasm_build::build_wasm(&root, &["edgeheal-passthrough-wasm", "edgeheal-sampler"]);
    println!(
        "cargo:rustc-env=EDGEHEAL_PASSTHROUGH_WASM={}",
        out.join("edgeheal_passthrough_wasm.wasm").display()
    );
    println!(
        "cargo:rustc-env=EDGEHEAL_SAMPLER_WASM={}",
        out.join("edgeheal-sampler.wasm").display()
    );
}
