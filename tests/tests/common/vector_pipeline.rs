//! The Vector pipeline after its sources, as `vector.yaml` wires it, for the
//! tests that run it (vector_parity.rs, vector_unit_tests.rs): the shipped VRL
//! run by the `vrl` crate as Vector's `remap` runs it, the scorer loaded and
//! called exactly as the `lua` transform loads and calls it (vendored Lua 5.4
//! through mlua, with Vector's own value conversions), and conditions as
//! `filter` and `route` evaluate them. The `vector_lua` bench times the same
//! programs.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;

use edgeheal_models::export::vector::SCORER_FILE;
use edgeheal_tests::vector::shipped_file;
pub use edgeheal_tests::vector::vector_dir;
use mlua::{FromLua, IntoLua, Lua, LuaOptions, StdLib};
use serde_json::Value as Json;
use vrl::compiler::runtime::Runtime;
use vrl::compiler::state::RuntimeState;
use vrl::compiler::{Program, TargetValue, TimeZone};
use vrl::value::{Secrets, Value};

/// A VRL program with Vector's standard library; panics with the diagnostics.
pub fn compile(source: &str) -> Program {
    match vrl::compiler::compile(source, &vrl::stdlib::all()) {
        Ok(result) => result.program,
        Err(diagnostics) => panic!("{}", vrl::diagnostic::Formatter::new(source, diagnostics)),
    }
}

/// A `remap` transform: one program, run per event with a fresh state.
pub struct Remap {
    program: Program,
    runtime: Runtime,
}

impl Remap {
    pub fn new(source: &str) -> Remap {
        Remap {
            program: compile(source),
            runtime: Runtime::new(RuntimeState::default()),
        }
    }

    pub fn run(&mut self, event: Value) -> Value {
        let mut target = target(event);
        let result = self
            .runtime
            .resolve(&mut target, &self.program, &TimeZone::default());
        self.runtime.clear();
        if let Err(e) = result {
            panic!("remap failed: {e}");
        }
        target.value
    }
}

/// The `edgeheal_score` transform: Vector's `lua` transform (version 2) as
/// `vector.yaml` configures it, running `scorer` as `edgeheal-scorer.lua`.
pub struct LuaTransform {
    lua: Lua,
}

impl LuaTransform {
    pub fn new(scorer: &str) -> LuaTransform {
        let yaml = shipped_file("vector.yaml");
        let score = &yaml["transforms"]["edgeheal_score"];
        // The safe standard libraries, `search_dirs` on `package.path`,
        // `source` evaluated, `hooks.process` evaluated to a function.
        let dir = std::env::temp_dir().join(format!(
            "edgeheal-vector-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(SCORER_FILE), scorer).unwrap();
        let lua = Lua::new_with(StdLib::ALL_SAFE, LuaOptions::default()).unwrap();
        let package: mlua::Table = lua.globals().get("package").unwrap();
        let path: String = package.get("path").unwrap();
        package
            .set("path", format!("{}/?.lua;{path}", dir.display()))
            .unwrap();
        lua.load(score["source"].as_str().unwrap()).exec().unwrap();
        let process: mlua::Function = lua
            .load(score["hooks"]["process"].as_str().unwrap())
            .eval()
            .unwrap();
        lua.set_named_registry_value("edgeheal_process", process)
            .unwrap();
        let _ = fs::remove_dir_all(&dir);
        LuaTransform { lua }
    }

    /// `hooks.process` called on one log event (`{log = ...}`, Vector's
    /// `LuaEvent`); the events it emits.
    pub fn process(&self, event: Value) -> Vec<Value> {
        let lua = &self.lua;
        let table = lua.create_table().unwrap();
        table.raw_set("log", event.into_lua(lua).unwrap()).unwrap();
        let mut emitted = Vec::new();
        lua.scope(|scope| {
            let emit = scope.create_function_mut(|_, e: mlua::Table| {
                let log: mlua::Value = e.raw_get("log")?;
                emitted.push(Value::from_lua(log, lua)?);
                Ok(())
            })?;
            let process: mlua::Function = lua.named_registry_value("edgeheal_process")?;
            process.call::<()>((table, emit))
        })
        .unwrap();
        emitted
    }
}

/// The pipeline after the sources, as `vector.yaml` wires it.
pub struct VectorPipeline {
    /// Vector's sources hand over timestamps as timestamps, not strings.
    source: Remap,
    normalize: Remap,
    score: LuaTransform,
    finalize: Remap,
}

/// The shipped `edgeheal-normalize.vrl`, the `edgeheal_normalize` remap's program.
pub fn normalize_source() -> String {
    fs::read_to_string(vector_dir().join("edgeheal-normalize.vrl")).unwrap()
}

/// The `edgeheal_finalize` remap's program, as `vector.yaml` gives it.
pub fn finalize_source() -> String {
    shipped_file("vector.yaml")["transforms"]["edgeheal_finalize"]["source"]
        .as_str()
        .unwrap()
        .to_owned()
}

impl VectorPipeline {
    pub fn new(scorer: &str) -> VectorPipeline {
        VectorPipeline {
            source: Remap::new(
                r#"if is_string(.timestamp) { .timestamp = parse_timestamp(.timestamp, "%+") ?? .timestamp }"#,
            ),
            normalize: Remap::new(&normalize_source()),
            score: LuaTransform::new(scorer),
            finalize: Remap::new(&finalize_source()),
        }
    }

    /// One record through normalize → lua → finalize; the `edgeheal` object out.
    pub fn run(&mut self, record: &str) -> Json {
        self.run_event(record)
            .get("edgeheal")
            .cloned()
            .unwrap_or(Json::Null)
    }

    /// One record through normalize → lua → finalize; the whole event out.
    pub fn run_event(&mut self, record: &str) -> Json {
        let json: Json = serde_json::from_str(record).unwrap();
        let event = self.source.run(Value::from(json));
        let out = self.process(event);
        serde_json::to_value(&out).unwrap()
    }

    /// One event as Vector hands it to `edgeheal_normalize` through
    /// normalize → lua → finalize; the event `edgeheal_finalize` emits.
    pub fn process(&mut self, event: Value) -> Value {
        let mut emitted = self.score.process(self.normalize.run(event));
        assert_eq!(emitted.len(), 1, "one event in, one out");
        let out = self.finalize.run(emitted.remove(0));
        assert!(
            out.as_object()
                .is_none_or(|o| !o.contains_key("_edgeheal_in")),
            "the scorer removes its input"
        );
        out
    }
}

/// `event` as a VRL program's target: no metadata, no secrets.
pub fn target(event: Value) -> TargetValue {
    TargetValue {
        value: event,
        metadata: Value::Object(BTreeMap::new()),
        secrets: Secrets::default(),
    }
}

/// What a condition resolves to on `event`, as Vector's `filter`, `route` and unit tests
/// evaluate it (a runtime of its own).
pub fn resolve_condition(condition: &Program, event: Value) -> Result<Value, String> {
    let mut runtime = Runtime::new(RuntimeState::default());
    runtime
        .resolve(&mut target(event), condition, &TimeZone::default())
        .map_err(|e| e.to_string())
}

/// A Vector condition (`filter`, `route`): the program's value, which must be a boolean.
pub fn holds(condition: &Program, event: &Json) -> bool {
    match resolve_condition(condition, Value::from(event.clone())) {
        Ok(Value::Boolean(b)) => b,
        other => panic!("a condition gave {other:?} on {event}"),
    }
}

/// A random number, for names of temporary directories.
pub fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(0u8)
}
