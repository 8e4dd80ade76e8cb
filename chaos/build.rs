//! Builds the Fluent Bit filter (`edgeheal_plugin.wasm`) for `wasm32-wasip1`
//! from the current sources, so the closed loop and the demo run the artifact
//! that ships, and passes its path on as `EDGEHEAL_PLUGIN_WASM`
//! (see `build/wasm_build.rs` for how the nested cargo avoids the outer lock).

#[path = "build/wasm_build.rs"]
mod wasm_build;

fn main() {
    let root = wasm_build::workspace_root();
    wasm_build::watch(
        &root,
        &[
            "plugin/src",
            "plugin/build.rs",
            "plugin/Cargo.toml",
            "models/default",
            "Cargo.toml",
            "Cargo.lock",
        ],
    );
    let out = wasm_build::build_wasm(&root, &["edgeheal-plugin"]);
    println!(
        "cargo:rustc-env=EDGEHEAL_PLUGIN_WASM={}",
        out.join("edgeheal_plugin.wasm").display()
    );
}
