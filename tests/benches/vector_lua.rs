//! The generated Vector Lua scorer under mlua (vendored Lua 5.4) against a
//! trivial Lua transform that adds one field, on the same normalized events,
//! called the way Vector's `lua` transform calls `hooks.process` (event table
//! built with Vector's value conversions, emit callback, a full GC every 16
//! events). Models: six 100-tree, depth-8 isolation forests and a classifier.
//!
//! `cargo bench -p edgeheal-tests --bench vector_lua` prints both rates and
//! their ratio side by side.

use std::collections::BTreeMap;
use std::time::Instant;

use edgeheal_models::export::vector::{scorer_lua, SCORER_FILE};
use edgeheal_plugin::config::FilterConfig;
use edgeheal_tests::vector::{calibrate, mixed_stream};
use mlua::{FromLua, IntoLua, Lua, LuaOptions, StdLib};
use vrl::compiler::runtime::Runtime;
use vrl::compiler::state::RuntimeState;
use vrl::compiler::{TargetValue, TimeZone};
use vrl::value::{Secrets, Value};

const TRIVIAL: &str = r#"
local M = {}
function M.process(event, emit)
  event.log.processed = true
  emit(event)
end
return M
"#;

/// Vector runs a full collection every 16 invocations.
const GC_INTERVAL: usize = 16;

fn normalized(records: &[String]) -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipeline-configs/vector");
    let source = std::fs::read_to_string(dir.join("edgeheal-normalize.vrl")).unwrap();
    let program = vrl::compiler::compile(&source, &vrl::stdlib::all())
        .unwrap()
        .program;
    let mut runtime = Runtime::new(RuntimeState::default());
    records
        .iter()
        .map(|r| {
            let json: serde_json::Value = serde_json::from_str(r).unwrap();
            let mut target = TargetValue {
                value: Value::from(json),
                metadata: Value::Object(BTreeMap::new()),
                secrets: Secrets::default(),
            };
            runtime
                .resolve(&mut target, &program, &TimeZone::default())
                .unwrap();
            runtime.clear();
            target.value
        })
        .collect()
}

/// Events per second of `module`'s `process` over `events`.
fn rate(module: &str, events: &[Value]) -> f64 {
    let lua = Lua::new_with(StdLib::ALL_SAFE, LuaOptions::default()).unwrap();
    let m: mlua::Table = lua.load(module).set_name(SCORER_FILE).eval().unwrap();
    let process: mlua::Function = m.get("process").unwrap();
    let mut out = 0usize;
    let start = Instant::now();
    for (i, event) in events.iter().enumerate() {
        let table = lua.create_table().unwrap();
        table
            .raw_set("log", event.clone().into_lua(&lua).unwrap())
            .unwrap();
        lua.scope(|scope| {
            let emit = scope.create_function_mut(|lua, e: mlua::Table| {
                let log: mlua::Value = e.raw_get("log")?;
                let _ = Value::from_lua(log, lua)?;
                out += 1;
                Ok(())
            })?;
            process.call::<()>((table, emit))
        })
        .unwrap();
        if (i + 1) % GC_INTERVAL == 0 {
            lua.gc_collect().unwrap();
        }
    }
    assert_eq!(out, events.len());
    events.len() as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let records = mixed_stream(5, 900, 0.6);
    let dir = std::env::temp_dir().join(format!("edgeheal-bench-models-{}", std::process::id()));
    calibrate(&dir, 7, 100, &records).unwrap();
    let scorer = scorer_lua(&dir, &FilterConfig::default()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let start = Instant::now();
    let events = normalized(&records);
    let vrl_rate = events.len() as f64 / start.elapsed().as_secs_f64();
    let mut best = (0.0f64, 0.0f64);
    for _ in 0..3 {
        best.0 = best.0.max(rate(&scorer, &events));
        best.1 = best.1.max(rate(TRIVIAL, &events));
    }
    println!(
        "vector lua, {} events (best of 3, Vector's GC cadence):",
        events.len()
    );
    println!(
        "  edgeheal scorer (6 x 100-tree forests + classifier): {:>10.0} events/s",
        best.0
    );
    println!(
        "  trivial add-field transform:                         {:>10.0} events/s",
        best.1
    );
    println!(
        "  ratio scorer / trivial:                              {:>10.3}",
        best.0 / best.1
    );
    println!("  (edgeheal-normalize.vrl in the vrl crate:            {vrl_rate:>10.0} events/s)");
}
