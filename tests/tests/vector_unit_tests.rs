//! The `tests` of `vector.yaml`, run as `vector test` runs them (Vector's
//! `src/config/unit_test`): each input built as Vector builds it, inserted at
//! its transform, passed on through the transforms after it as `vector.yaml`
//! wires them (the shipped VRL and scorer, run as in vector_parity.rs), and
//! every output checked as Vector checks it: each condition must hold for at
//! least one of the events extracted, and `no_outputs_from` components emit
//! nothing.
//!
//! A `log` input is `LogEvent::from_str_legacy("")` with its `log_fields`
//! inserted by path (`build_input_event`): besides its fields it carries
//! `message: ""` and, in `timestamp`, the time of the run. A `metric` input is
//! the metric.

use std::collections::BTreeMap;
use std::fs;

use edgeheal_tests::vector::shipped_file;
use serde_json::Value as Json;
use serde_norway::Value as Yaml;
use vrl::compiler::Program;
use vrl::value::Value;

#[path = "common/vector_pipeline.rs"]
mod vector_pipeline;

use edgeheal_models::export::vector::SCORER_FILE;
use vector_pipeline::{compile, resolve_condition, vector_dir, LuaTransform, Remap};

/// An event between two components: a log event (the VRL value), or a metric
/// (Vector's JSON form of it: `name`, `tags`, `kind`, one value object).
#[derive(Clone, Debug)]
enum Event {
    Log(Value),
    Metric(Json),
}

impl Event {
    /// What VRL sees of the event (a metric: `name`, `namespace`, `tags`,
    /// `kind`, `type`, `timestamp`; VRL cannot read its value).
    fn vrl_view(&self) -> Value {
        match self {
            Event::Log(v) => v.clone(),
            Event::Metric(m) => {
                let mut view = serde_json::Map::new();
                for key in ["name", "namespace", "tags", "kind", "timestamp"] {
                    if let Some(v) = m.get(key) {
                        view.insert(key.to_owned(), v.clone());
                    }
                }
                for kind in ["counter", "gauge", "set", "distribution", "histogram"] {
                    if m.get(kind).is_some() {
                        view.insert("type".to_owned(), Json::String(kind.to_owned()));
                    }
                }
                Value::from(Json::Object(view))
            }
        }
    }
}

/// A condition as a unit test (or `filter`, `route`) evaluates it: `Ok` only
/// when the program resolves to `true`.
fn check(condition: &Program, event: &Event) -> Result<(), String> {
    match resolve_condition(condition, event.vrl_view())? {
        Value::Boolean(true) => Ok(()),
        Value::Boolean(false) => Err("source execution resolved to false".to_owned()),
        other => Err(format!("source execution resolved to {other}")),
    }
}

/// `${EDGEHEAL_DIR:-/etc/vector/edgeheal}/x` as it resolves here, and the
/// other variables unset (`vector test` with no environment).
fn interpolate(text: &str) -> String {
    let dir = vector_dir();
    text.replace(
        "${EDGEHEAL_DIR:-/etc/vector/edgeheal}",
        &dir.to_string_lossy(),
    )
    .replace("${VECTOR_SELF_NODE_NAME:-}", "")
}

/// One transform of `vector.yaml`, built.
enum Transform {
    Remap(Remap),
    Lua(LuaTransform),
    Filter(Program),
    Route(Vec<(String, Program)>),
    MetricToLog(Remap),
}

impl Transform {
    fn build(config: &Yaml) -> Transform {
        let kind = config["type"].as_str().unwrap();
        match kind {
            "remap" => {
                let source = match config["file"].as_str() {
                    Some(file) => fs::read_to_string(interpolate(file)).unwrap(),
                    None => interpolate(config["source"].as_str().unwrap()),
                };
                assert_eq!(config["drop_on_error"].as_bool(), Some(false));
                Transform::Remap(Remap::new(&source))
            }
            "lua" => {
                let dirs = config["search_dirs"].as_sequence().unwrap();
                let dir = interpolate(dirs[0].as_str().unwrap());
                let scorer = fs::read_to_string(format!("{dir}/{SCORER_FILE}")).unwrap();
                Transform::Lua(LuaTransform::new(&scorer))
            }
            "filter" => Transform::Filter(compile(config["condition"].as_str().unwrap())),
            "route" => {
                assert_eq!(config["reroute_unmatched"].as_bool(), Some(false));
                let routes = config["route"].as_mapping().unwrap();
                Transform::Route(
                    routes
                        .iter()
                        .map(|(k, v)| {
                            (k.as_str().unwrap().to_owned(), compile(v.as_str().unwrap()))
                        })
                        .collect(),
                )
            }
            // `transform_one` (Legacy namespace): the metric serialized, its
            // `timestamp` made a timestamp (now when it has none) and its
            // `host` tag moved to `.host`.
            "metric_to_log" => Transform::MetricToLog(Remap::new(
                r#"if exists(.timestamp) { .timestamp = parse_timestamp!(.timestamp, "%+") } else { .timestamp = now() }
                   if exists(.tags.host) { .host = del(.tags.host) }"#,
            )),
            other => panic!("a unit test reaches a `{other}` transform: add it here"),
        }
    }

    /// The events the transform emits for `event`, by output (`id`, or
    /// `id.route` for a route).
    fn run(&mut self, id: &str, event: Event) -> Vec<(String, Event)> {
        match (self, event) {
            (Transform::Remap(remap), Event::Log(v)) => match remap.run(v) {
                // An array is one event per element (`VrlTarget::into_events`).
                Value::Array(items) => items
                    .into_iter()
                    .map(|v| (id.to_owned(), Event::Log(v)))
                    .collect(),
                v => vec![(id.to_owned(), Event::Log(v))],
            },
            (Transform::Lua(lua), Event::Log(v)) => lua
                .process(v)
                .into_iter()
                .map(|v| (id.to_owned(), Event::Log(v)))
                .collect(),
            (Transform::Filter(condition), event) => match check(condition, &event) {
                Ok(()) => vec![(id.to_owned(), event)],
                Err(_) => vec![],
            },
            (Transform::Route(routes), event) => routes
                .iter()
                .filter(|(_, condition)| check(condition, &event).is_ok())
                .map(|(name, _)| (format!("{id}.{name}"), event.clone()))
                .collect(),
            (Transform::MetricToLog(remap), Event::Metric(m)) => {
                vec![(id.to_owned(), Event::Log(remap.run(Value::from(m))))]
            }
            (_, event) => panic!("{id} cannot take {event:?}"),
        }
    }
}

/// `vector.yaml`'s transforms, built afresh (a unit test runs its own topology).
struct Topology {
    config: Yaml,
    transforms: BTreeMap<String, Transform>,
}

impl Topology {
    fn new() -> Topology {
        Topology {
            config: shipped_file("vector.yaml"),
            transforms: BTreeMap::new(),
        }
    }

    /// `event` inserted at transform `at`: every event each output emits.
    fn insert(&mut self, at: &str, event: Event, outputs: &mut BTreeMap<String, Vec<Event>>) {
        let config = self.config["transforms"][at].clone();
        assert!(config.is_mapping(), "no transform {at}");
        let transform = self
            .transforms
            .entry(at.to_owned())
            .or_insert_with(|| Transform::build(&config));
        for (output, event) in transform.run(at, event) {
            outputs
                .entry(output.clone())
                .or_default()
                .push(event.clone());
            let consumers: Vec<String> = self.config["transforms"]
                .as_mapping()
                .unwrap()
                .iter()
                .filter(|(_, c)| {
                    c["inputs"]
                        .as_sequence()
                        .unwrap()
                        .iter()
                        .any(|i| i.as_str() == Some(output.as_str()))
                })
                .map(|(k, _)| k.as_str().unwrap().to_owned())
                .collect();
            for consumer in consumers {
                self.insert(&consumer, event.clone(), outputs);
            }
        }
    }
}

/// A unit test's input event, as `build_input_event` builds it.
fn input_event(input: &Yaml) -> Event {
    match input["type"].as_str().unwrap() {
        "log" => {
            // `LogEvent::from_str_legacy("")`.
            let mut event = Remap::new(r#".message = "" ; .timestamp = now()"#)
                .run(Value::Object(BTreeMap::new()));
            for (path, value) in input["log_fields"].as_mapping().unwrap() {
                let path = vrl::path::parse_value_path(path.as_str().unwrap()).unwrap();
                let value = Value::from(serde_json::to_value(value).unwrap());
                event.insert(&path, value);
            }
            Event::Log(event)
        }
        "metric" => {
            let mut metric = serde_json::to_value(&input["metric"]).unwrap();
            // Metric values are f64: serialized, 12 is 12.0.
            for kind in ["counter", "gauge"] {
                if let Some(v) = metric[kind]["value"].as_f64() {
                    metric[kind]["value"] = Json::from(v);
                }
            }
            Event::Metric(metric)
        }
        other => panic!("input type {other}"),
    }
}

/// One unit test; its failures as `vector test` would report them.
fn run_unit_test(test: &Yaml) -> Vec<String> {
    let name = test["name"].as_str().unwrap();
    let mut topology = Topology::new();
    let mut outputs = BTreeMap::new();
    for input in test["inputs"].as_sequence().unwrap() {
        topology.insert(
            input["insert_at"].as_str().unwrap(),
            input_event(input),
            &mut outputs,
        );
    }
    let mut failures = Vec::new();
    for output in test["outputs"].as_sequence().into_iter().flatten() {
        let from = output["extract_from"].as_str().unwrap();
        let events = outputs.get(from).cloned().unwrap_or_default();
        if events.is_empty() {
            failures.push(format!("{name}: no events from {from}"));
            continue;
        }
        for condition in output["conditions"].as_sequence().unwrap() {
            assert_eq!(condition["type"].as_str(), Some("vrl"));
            let program = compile(condition["source"].as_str().unwrap());
            let errors: Vec<String> = events
                .iter()
                .map(|e| check(&program, e))
                .filter_map(Result::err)
                .collect();
            if errors.len() == events.len() {
                failures.push(format!(
                    "{name}: {from}: {}; events: {events:?}",
                    errors.join("; ")
                ));
            }
        }
    }
    for from in test["no_outputs_from"].as_sequence().into_iter().flatten() {
        let from = from.as_str().unwrap();
        if let Some(events) = outputs.get(from).filter(|e| !e.is_empty()) {
            failures.push(format!(
                "{name}: expected no outputs from {from}, got {events:?}"
            ));
        }
    }
    failures
}

#[test]
fn the_shipped_vector_unit_tests_pass_on_events_built_as_vector_builds_them() {
    let yaml = shipped_file("vector.yaml");
    let tests = yaml["tests"].as_sequence().unwrap();
    let failures: Vec<String> = tests.iter().flat_map(run_unit_test).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
