//! The generated Vector Lua scorer under mlua (vendored Lua 5.4) against a
//! trivial Lua transform that adds one field, on the same normalized events,
//! called the way Vector's `lua` transform calls `hooks.process` (event table
//! built with Vector's value conversions, emit callback, a full GC every 16
//! events). Models: six 100-tree, depth-8 isolation forests and a classifier.
//!
//! `cargo bench -p edgeheal-tests --bench vector_lua` prints both rates and
//! their ratio side by side. It also measures, side by side in the `vrl`
//! crate, what the marker pass costs the two remaps: `edgeheal-normalize.vrl`
//! and `edgeheal_finalize` each with and without their recursive
//! `map_values` over the event (the pass that carries nulls and empty arrays
//! through Lua; README, "The tag contract").
//!
//! With `EDGEHEAL_VRL_BASELINE` naming another normalize program (say the
//! shipped one at an older commit, `git show REV:pipeline-configs/vector/edgeheal-normalize.vrl`),
//! it also times the shipped program against that one side by side on the
//! same stream, and checks that both give the same events.

use std::time::Instant;

use edgeheal_models::export::vector::{scorer_lua, SCORER_FILE};
use edgeheal_plugin::config::FilterConfig;
use edgeheal_tests::vector::{calibrate, mixed_stream};
use mlua::{FromLua, IntoLua, Lua, LuaOptions, StdLib};
use vrl::compiler::runtime::Runtime;
use vrl::compiler::state::RuntimeState;
use vrl::compiler::{Program, TimeZone};
use vrl::value::Value;

#[path = "../tests/common/vector_pipeline.rs"]
mod vector_pipeline;

use vector_pipeline::{compile, finalize_source, normalize_source, target, LuaTransform};

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

/// `source` without its marker pass: from the first `from` to the end of the
/// first `through` after it (the pass must be all of its `map_values`).
fn without_marker_pass(source: &str, from: &str, through: &str) -> String {
    let start = source.find(from).expect("the remap has a marker pass");
    let end = start + source[start..].find(through).expect("the pass ends") + through.len();
    assert!(source[start..end].contains("map_values"));
    let stripped = format!("{}{}", &source[..start], &source[end..]);
    assert!(!stripped.contains("map_values"), "one pass only");
    stripped
}

/// `program` over each of `events` (copies made before the clock starts):
/// the results, and events per second.
fn remap(program: &Program, events: &[Value]) -> (Vec<Value>, f64) {
    let mut runtime = Runtime::new(RuntimeState::default());
    let mut targets: Vec<_> = events.iter().map(|value| target(value.clone())).collect();
    let start = Instant::now();
    for target in &mut targets {
        runtime
            .resolve(target, program, &TimeZone::default())
            .unwrap();
        runtime.clear();
    }
    let rate = events.len() as f64 / start.elapsed().as_secs_f64();
    (targets.into_iter().map(|t| t.value).collect(), rate)
}

/// The best rates of `with` and `without` over `events`: after a round of
/// each to warm up, five rounds, which of the two goes first alternating
/// (the first remap after the warm-up ran measurably faster).
fn side_by_side(with: &Program, without: &Program, events: &[Value]) -> (f64, f64) {
    remap(with, events);
    remap(without, events);
    let mut best = (0.0f64, 0.0f64);
    for round in 0..5 {
        if round % 2 == 0 {
            best.0 = best.0.max(remap(with, events).1);
            best.1 = best.1.max(remap(without, events).1);
        } else {
            best.1 = best.1.max(remap(without, events).1);
            best.0 = best.0.max(remap(with, events).1);
        }
    }
    best
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
    let normalize_vrl = normalize_source();
    let normalize = compile(&normalize_vrl);
    let raw: Vec<Value> = records
        .iter()
        .map(|r| Value::from(serde_json::from_str::<serde_json::Value>(r).unwrap()))
        .collect();
    let (events, vrl_rate) = remap(&normalize, &raw);
    let mut best = (0.0f64, 0.0f64);
    for _ in 0..3 {
        best.0 = best.0.max(rate(&scorer, &events));
        best.1 = best.1.max(rate(TRIVIAL, &events));
    }
    // What the scorer emits, as `edgeheal_finalize` receives it.
    let score = LuaTransform::new(&scorer);
    let scored: Vec<Value> = events
        .iter()
        .flat_map(|e| score.process(e.clone()))
        .collect();
    let finalize_vrl = finalize_source();
    let normalize_markers = side_by_side(
        &normalize,
        &compile(&without_marker_pass(
            &normalize_vrl,
            "_marked = false\n",
            "if _marked { ._edgeheal_marked = true }\n",
        )),
        &raw,
    );
    let finalize = compile(&finalize_vrl);
    let finalize_unmarked = compile(&without_marker_pass(
        &finalize_vrl,
        "if exists(._edgeheal_marked) {",
        "\n}\n",
    ));
    let marked_events = scored.iter().filter(|e| is_marked(e)).count();
    let finalize_markers = side_by_side(&finalize, &finalize_unmarked, &scored);
    // Every event as one with a null or an empty array somewhere.
    let all_marked: Vec<Value> = scored
        .iter()
        .cloned()
        .map(|mut e| {
            if let Value::Object(fields) = &mut e {
                fields.insert("_edgeheal_marked".into(), Value::Boolean(true));
            }
            e
        })
        .collect();
    let finalize_all_marked = side_by_side(&finalize, &finalize_unmarked, &all_marked);
    let baseline = std::env::var_os("EDGEHEAL_VRL_BASELINE").map(|path| {
        let source = std::fs::read_to_string(&path).unwrap();
        let baseline = compile(&source);
        assert!(
            remap(&baseline, &raw).0 == events,
            "the baseline gives other events than the shipped program"
        );
        (path, side_by_side(&normalize, &baseline, &raw))
    });
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
    println!(
        "the marker pass in the vrl crate (best of 5, side by side; {marked_events} of {} events marked):",
        scored.len()
    );
    for (name, (with, without)) in [
        ("edgeheal-normalize.vrl", normalize_markers),
        ("edgeheal_finalize", finalize_markers),
        ("  every event marked", finalize_all_marked),
    ] {
        println!(
            "  {name:<22} with {with:>9.0} / without {without:>9.0} events/s: {:.3}",
            with / without
        );
    }
    if let Some((path, (shipped, baseline))) = baseline {
        println!(
            "edgeheal-normalize.vrl against {} (best of 5, side by side, same events):",
            path.to_string_lossy()
        );
        println!(
            "  shipped {shipped:>9.0} / baseline {baseline:>9.0} events/s: {:.3}",
            shipped / baseline
        );
    }
}

/// Whether normalization marked `event` as holding a null or an empty array.
fn is_marked(event: &Value) -> bool {
    matches!(event, Value::Object(fields) if fields.contains_key("_edgeheal_marked"))
}
