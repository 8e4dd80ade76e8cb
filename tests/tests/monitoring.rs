//! The shipped monitoring reads what exists. The Grafana dashboard's queries and the
//! Prometheus alert rules (`pipeline-configs/prometheus/edgeheal-alerts.yaml`) are parsed as
//! PromQL (`promql-parser`), and every series, label and label value they select is one the
//! heal API's own registry serves and its code writes, one Fluent Bit 4.2 serves under the
//! names (`Alias`) the shipped configs give the edgeheal filter and the output to the heal API,
//! or one of Vector's internal metrics for a component of the shipped `vector.yaml` that
//! emits it (and, for `output`, one of its output ports). The dashboard shows every series an
//! alert reads, and its template variables are defined, used, and narrow every panel of the
//! series they offer values of.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use edgeheal_healer::metrics::{Metrics, ResultLabel};
use edgeheal_tests::fluentbit_config::{one, shipped};
use edgeheal_tests::repo_root;
use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, Expr, LabelModifier, VectorSelector};
use serde::Deserialize;
use serde_json::Value;

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The heal API's metrics as `/metrics` serves them: each series name (counters with
/// `_total`, histograms with `_bucket` / `_sum` / `_count`) with its label names, and the
/// family names of its `# TYPE` lines.
fn healer_series() -> (BTreeMap<String, BTreeSet<String>>, Vec<String>) {
    // Labelled families render only once they hold a series: touch each one.
    let metrics = Metrics::new();
    metrics.request("accepted");
    metrics.auth_failure("bad_signature");
    metrics.incident("cpu_saturation", "open");
    metrics.action("scale_up", "ok");
    metrics.refusal("cooldown", "refused");
    metrics.not_actionable("cluster_scoped", 1);
    metrics.set_mode("shadow"); // as the runtime does at start
    metrics
        .notifications
        .get_or_create(&ResultLabel {
            result: "sent".into(),
        })
        .inc();
    let text = metrics.render();
    let mut series: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut families = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            families.push(rest.split(' ').next().expect("# TYPE name").to_owned());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let end = line.find(['{', ' ']).expect("a sample line");
        let labels = series.entry(line[..end].to_owned()).or_default();
        if let Some(inner) = line[end..]
            .strip_prefix('{')
            .and_then(|l| l.split_once('}'))
        {
            // Our label values hold no `,` or `=`.
            for pair in inner.0.split(',') {
                labels.insert(pair.split_once('=').expect("label=value").0.to_owned());
            }
        }
    }
    assert!(families.len() >= 10, "{text}");
    (series, families)
}

/// Fluent Bit 4.2.8's per-plugin counters, each with the label `name` (the plugin's alias,
/// else `<plugin>.<n>`): src/flb_filter.c and src/flb_output.c (cmetrics, served by
/// `/api/v2/metrics/prometheus`) and the same names from `/api/v1/metrics/prometheus`
/// (src/http_server/api/v1/metrics.c).
const FLUENT_BIT_FILTER_SERIES: &[&str] = &[
    "fluentbit_filter_records_total",
    "fluentbit_filter_bytes_total",
    "fluentbit_filter_add_records_total",
    "fluentbit_filter_drop_records_total",
    "fluentbit_filter_drop_bytes_total",
];
const FLUENT_BIT_OUTPUT_SERIES: &[&str] = &[
    "fluentbit_output_proc_records_total",
    "fluentbit_output_proc_bytes_total",
    "fluentbit_output_errors_total",
    "fluentbit_output_retries_total",
    "fluentbit_output_retries_failed_total",
    "fluentbit_output_dropped_records_total",
    "fluentbit_output_retried_records_total",
];

/// Vector's internal metrics the alert rules read, as `internal_metrics` (namespace `vector`,
/// tag `host`) and `prometheus_exporter` serve them, from Vector 0.45's to 0.57's sources:
/// each series with the labels of its own (beside [`VECTOR_COMPONENT_LABELS`]) and what emits
/// it. Each is created at its first count.
/// - `component_errors_total`: every component's errors, `error_type` and `stage` from
///   `internal_event::prelude`, `error_code` from some (`http_client` answered other than
///   200, the Lua transform's failures), `url` from the `http_client` source's;
/// - `component_discarded_events_total`: `ComponentEventsDropped`, `intentional`;
/// - `buffer_discarded_events_total`: a sink's buffer (`BufferEventsDropped`:
///   `when_full: drop_newest` counts `intentional="true"`, the only drops of a memory
///   buffer); `buffer_type` from the buffer's span, `buffer_id` and `stage` from 0.49;
/// - `http_client_responses_total` / `http_client_errors_total`: every request of Vector's
///   HTTP client (`src/http.rs`, inside the component's span): the `http` sink, the
///   `http_client` and `prometheus_scrape` sources;
/// - `component_received_events_total`: `EventsReceived` (a `kubernetes_logs` source adds
///   `pod_name` and `pod_namespace`, which no shipped query selects);
/// - `component_sent_events_total`: `EventsSent`, `output` the port of a source or transform
///   (`_default`, or a `route`'s route); a sink counts a request's events once delivered
///   (`vector-stream`'s `Driver`: `EventStatus::Delivered`), labelled `source` and `service`
///   only when `telemetry.tags` asks.
const VECTOR_SERIES: &[(&str, &[&str], VectorEmitters)] = &[
    (
        "vector_component_errors_total",
        &["error_type", "stage", "error_code", "url"],
        VectorEmitters::Any,
    ),
    (
        "vector_component_discarded_events_total",
        &["intentional"],
        VectorEmitters::Any,
    ),
    (
        "vector_buffer_discarded_events_total",
        &["intentional", "buffer_type", "buffer_id", "stage"],
        VectorEmitters::Sinks,
    ),
    (
        "vector_http_client_responses_total",
        &["status"],
        VectorEmitters::HttpClients,
    ),
    (
        "vector_http_client_errors_total",
        &["error_kind"],
        VectorEmitters::HttpClients,
    ),
    (
        "vector_component_received_events_total",
        &[],
        VectorEmitters::Any,
    ),
    (
        "vector_component_sent_events_total",
        &["output", "source", "service"],
        VectorEmitters::Any,
    ),
];

/// Labels of every component's series: its span's, and `internal_metrics`' host tag.
const VECTOR_COMPONENT_LABELS: &[&str] =
    &["component_id", "component_kind", "component_type", "host"];

/// Which components emit a Vector series.
#[derive(Debug, Clone, Copy)]
enum VectorEmitters {
    Any,
    Sinks,
    /// Components that send requests with Vector's HTTP client.
    HttpClients,
}

impl VectorEmitters {
    fn includes(self, kind: &str, component_type: &str) -> bool {
        match self {
            VectorEmitters::Any => true,
            VectorEmitters::Sinks => kind == "sinks",
            VectorEmitters::HttpClients => matches!(
                (kind, component_type),
                ("sinks", "http") | ("sources", "http_client" | "prometheus_scrape")
            ),
        }
    }
}

/// Vector's `internal_event::prelude::error_type` and `error_stage` values (0.45 to 0.57).
const VECTOR_ERROR_TYPES: &[&str] = &[
    "acknowledgment_failed",
    "authentication_failed",
    "command_failed",
    "condition_failed",
    "confinement_failed",
    "configuration_failed",
    "connection_failed",
    "conversion_failed",
    "encoder_failed",
    "invalid_metric",
    "io_failed",
    "parser_failed",
    "reader_failed",
    "request_failed",
    "script_failed",
    "template_failed",
    "timed_out",
    "writer_failed",
];
const VECTOR_ERROR_STAGES: &[&str] = &["initializing", "receiving", "processing", "sending"];

/// Labels Prometheus adds to every scraped series (the target's).
const TARGET_LABELS: &[&str] = &["instance", "job"];

/// A vector selector of a query: the metric and its label matchers.
#[derive(Debug)]
struct Selector {
    name: String,
    matchers: Vec<Matcher>,
}

fn parse(expr: &str) -> Expr {
    parser::parse(expr).unwrap_or_else(|e| panic!("`{expr}` is not PromQL: {e}"))
}

fn selector(vs: &VectorSelector) -> Selector {
    let mut matchers = vs.matchers.matchers.clone();
    assert!(
        vs.matchers.or_matchers.is_empty(),
        "{vs}: `or` matchers are not checked"
    );
    let by_name = matchers.iter().position(|m| m.name == "__name__");
    let name = match (&vs.name, by_name) {
        (Some(name), _) => name.clone(),
        (None, Some(i)) => matchers.remove(i).value,
        (None, None) => panic!("{vs}: a selector without a metric name"),
    };
    Selector { name, matchers }
}

/// Every vector selector in `expr`, in range vectors and function arguments too.
fn selectors(expr: &Expr, out: &mut Vec<Selector>) {
    match expr {
        Expr::Aggregate(a) => {
            selectors(&a.expr, out);
            if let Some(p) = &a.param {
                selectors(p, out);
            }
        }
        Expr::Unary(u) => selectors(&u.expr, out),
        Expr::Binary(b) => {
            selectors(&b.lhs, out);
            selectors(&b.rhs, out);
        }
        Expr::Paren(p) => selectors(&p.expr, out),
        Expr::Subquery(s) => selectors(&s.expr, out),
        Expr::VectorSelector(vs) => out.push(selector(vs)),
        Expr::MatrixSelector(ms) => out.push(selector(&ms.vs)),
        Expr::Call(c) => {
            for arg in &c.args.args {
                selectors(arg, out);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// The labels of `expr`'s result where it fixes them (an aggregation's `by`, `absent`'s
/// equality matchers); `None` where they are its selectors' own labels.
fn result_labels(expr: &Expr) -> Option<BTreeSet<String>> {
    match expr {
        Expr::Aggregate(a) => match &a.modifier {
            Some(LabelModifier::Include(by)) => Some(by.labels.iter().cloned().collect()),
            None => Some(BTreeSet::new()),
            Some(LabelModifier::Exclude(_)) => None,
        },
        // A comparison with a number keeps the vector's labels; two vectors, the left's.
        Expr::Binary(b) => match &*b.lhs {
            Expr::NumberLiteral(_) => result_labels(&b.rhs),
            lhs => result_labels(lhs),
        },
        Expr::Paren(p) => result_labels(&p.expr),
        Expr::Call(c) if c.func.name == "absent" => {
            let mut labels = BTreeSet::new();
            for arg in &c.args.args {
                if let Expr::VectorSelector(vs) = &**arg {
                    for m in &vs.matchers.matchers {
                        if m.op == MatchOp::Equal && m.name != "__name__" {
                            labels.insert(m.name.clone());
                        }
                    }
                }
            }
            Some(labels)
        }
        Expr::Call(c) if c.func.name == "histogram_quantile" => {
            let mut labels = result_labels(c.args.args.get(1)?)?;
            labels.remove("le");
            Some(labels)
        }
        Expr::Call(c) => c.args.args.iter().find_map(|a| result_labels(a)),
        _ => None,
    }
}

/// The series whose appearance `expr` watches for: `X unless X offset d`, the same selector on
/// both sides, the right one shifted back.
fn appearing(expr: &Expr, out: &mut BTreeSet<String>) {
    match expr {
        Expr::Binary(b) => {
            if b.op.to_string() == "unless" {
                if let (Expr::VectorSelector(now), Expr::VectorSelector(before)) =
                    (&*b.lhs, &*b.rhs)
                {
                    if before.offset.is_some()
                        && now.offset.is_none()
                        && now.name == before.name
                        && now.matchers == before.matchers
                    {
                        out.insert(selector(now).name);
                    }
                }
            }
            appearing(&b.lhs, out);
            appearing(&b.rhs, out);
        }
        Expr::Aggregate(a) => appearing(&a.expr, out),
        Expr::Paren(p) => appearing(&p.expr, out),
        Expr::Unary(u) => appearing(&u.expr, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| appearing(a, out)),
        _ => {}
    }
}

/// The values a matcher selects: its value, or a regex's `|` alternatives (plain words only).
fn matched_values(m: &Matcher) -> Vec<String> {
    match &m.op {
        MatchOp::Equal => vec![m.value.clone()],
        MatchOp::Re(_) => {
            let words: Vec<String> = m.value.split('|').map(str::to_owned).collect();
            for w in &words {
                assert!(
                    !w.is_empty()
                        && w.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'),
                    "{}=~\"{}\": only alternations of plain values are checked",
                    m.name,
                    m.value
                );
            }
            words
        }
        MatchOp::NotEqual | MatchOp::NotRe(_) => Vec::new(),
    }
}

/// Every `.rs` file's text under `dir`, concatenated.
fn sources(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            text.push_str(&sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            text.push_str(&std::fs::read_to_string(&path).expect("source"));
        }
    }
    text
}

/// What the checks know of the series a query may select.
struct Known {
    healer: BTreeMap<String, BTreeSet<String>>,
    healer_families: Vec<String>,
    /// The heal API's source: a label value it writes appears in it as a string literal
    /// ([`Known::writes`]).
    healer_source: String,
    /// The `Alias` of the edgeheal wasm filter and of the http output to the heal API, the
    /// same in every shipped Fluent Bit config.
    filter_alias: String,
    output_alias: String,
    /// The shipped `vector.yaml`'s components.
    vector_components: BTreeMap<String, VectorComponent>,
}

/// The program that serves a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exporter {
    Healer,
    FluentBit,
    Vector,
}

/// What a selector's series is, and so which label values it may select.
enum Family<'a> {
    Healer,
    /// A Fluent Bit plugin's series, selected by `name`, the plugin's alias.
    FluentBit {
        alias: &'a str,
    },
    /// A Vector component's series, selected by `component_id`.
    Vector {
        emitters: VectorEmitters,
    },
}

/// A component of the shipped `vector.yaml`.
struct VectorComponent {
    /// `sources`, `transforms` or `sinks`.
    section: String,
    component_type: String,
    /// Its output ports, as `component_sent_events_total` labels them: `_default`, a `route`'s
    /// routes (and `_unmatched` unless `reroute_unmatched: false`); none for a sink.
    outputs: BTreeSet<String>,
}

/// The shipped `vector.yaml`'s components by id.
fn vector_components() -> BTreeMap<String, VectorComponent> {
    let config = edgeheal_tests::vector::shipped_file("vector.yaml");
    let mut out = BTreeMap::new();
    for section in ["sources", "transforms", "sinks"] {
        for (id, component) in config[section].as_mapping().expect(section) {
            let id = id.as_str().expect("component id").to_owned();
            let component_type = component["type"].as_str().expect("type").to_owned();
            let outputs = match (section, component_type.as_str()) {
                ("sinks", _) => BTreeSet::new(),
                (_, "route") => {
                    let routes = component["route"].as_mapping().expect("routes");
                    let mut outputs: BTreeSet<String> = routes
                        .keys()
                        .map(|r| r.as_str().expect("route name").to_owned())
                        .collect();
                    if component["reroute_unmatched"].as_bool() != Some(false) {
                        outputs.insert("_unmatched".to_owned());
                    }
                    outputs
                }
                _ => BTreeSet::from(["_default".to_owned()]),
            };
            let component = VectorComponent {
                section: section.to_owned(),
                component_type,
                outputs,
            };
            out.insert(id, component);
        }
    }
    out
}

impl Known {
    fn new() -> Self {
        let (healer, healer_families) = healer_series();
        let configs = shipped();
        let alias = |kind: &str, plugin: &str| -> String {
            let aliases: BTreeSet<String> = configs
                .iter()
                .map(|(file, config)| {
                    one(config, kind, plugin, file)
                        .get("alias")
                        .unwrap_or_else(|| panic!("{file}: the {plugin} {kind} has no Alias"))
                        .to_owned()
                })
                .collect();
            assert_eq!(
                aliases.len(),
                1,
                "{kind} {plugin} aliases differ: {aliases:?}"
            );
            aliases.into_iter().next().expect("one alias")
        };
        Known {
            healer,
            healer_families,
            healer_source: sources(&repo_root().join("healer-api/src")),
            filter_alias: alias("FILTER", "wasm"),
            output_alias: alias("OUTPUT", "http"),
            vector_components: vector_components(),
        }
    }

    /// Which program serves series `name`.
    fn exporter(&self, name: &str) -> Option<Exporter> {
        if self.healer.contains_key(name) {
            Some(Exporter::Healer)
        } else if FLUENT_BIT_FILTER_SERIES.contains(&name)
            || FLUENT_BIT_OUTPUT_SERIES.contains(&name)
        {
            Some(Exporter::FluentBit)
        } else if VECTOR_SERIES.iter().any(|(n, _, _)| *n == name) {
            Some(Exporter::Vector)
        } else {
            None
        }
    }

    /// Whether the heal API's source has `value` as a string literal that is not a key
    /// (`"error": …` in a JSON body is not a label value).
    fn writes(&self, value: &str) -> bool {
        let quoted = format!("\"{value}\"");
        self.healer_source.match_indices(&quoted).any(|(i, _)| {
            !self.healer_source[i + quoted.len()..]
                .trim_start()
                .starts_with(':')
        })
    }

    /// Checks one selector; returns its series' label names.
    fn check(&self, s: &Selector, context: &str) -> BTreeSet<String> {
        let names =
            |list: &[&str]| -> BTreeSet<String> { list.iter().map(|l| (*l).to_owned()).collect() };
        let vector = VECTOR_SERIES.iter().find(|(name, _, _)| *name == s.name);
        let (labels, family) = if let Some(labels) = self.healer.get(&s.name) {
            (labels.clone(), Family::Healer)
        } else if FLUENT_BIT_FILTER_SERIES.contains(&s.name.as_str()) {
            (
                names(&["name"]),
                Family::FluentBit {
                    alias: &self.filter_alias,
                },
            )
        } else if FLUENT_BIT_OUTPUT_SERIES.contains(&s.name.as_str()) {
            (
                names(&["name"]),
                Family::FluentBit {
                    alias: &self.output_alias,
                },
            )
        } else if let Some((_, own, emitters)) = vector {
            let mut labels = names(VECTOR_COMPONENT_LABELS);
            labels.extend(names(own));
            (
                labels,
                Family::Vector {
                    emitters: *emitters,
                },
            )
        } else {
            panic!(
                "{context}: `{}` is neither a heal API series ({:?}) nor a Fluent Bit or Vector one",
                s.name,
                self.healer.keys()
            );
        };
        let required = match family {
            Family::Healer => None,
            Family::FluentBit { .. } => Some("name"),
            Family::Vector { .. } => Some("component_id"),
        };
        if let Some(label) = required {
            assert!(
                s.matchers
                    .iter()
                    .any(|m| m.name == label && !matched_values(m).is_empty()),
                "{context}: `{}` must select edgeheal's component by `{label}`",
                s.name
            );
        }
        for m in &s.matchers {
            assert!(
                labels.contains(&m.name) || TARGET_LABELS.contains(&m.name.as_str()),
                "{context}: `{}` has no label `{}` (it has {labels:?})",
                s.name,
                m.name
            );
            if TARGET_LABELS.contains(&m.name.as_str()) {
                continue;
            }
            for value in matched_values(m) {
                match family {
                    Family::Healer => assert!(
                        self.writes(&value),
                        "{context}: the heal API never writes {}=\"{value}\" on `{}`",
                        m.name,
                        s.name
                    ),
                    Family::FluentBit { alias } => assert_eq!(
                        value, alias,
                        "{context}: `{}` is not the shipped configs' Alias",
                        s.name
                    ),
                    Family::Vector { emitters } => {
                        self.check_vector_value(s, &m.name, &value, emitters, context)
                    }
                }
            }
        }
        labels
    }

    /// A value a query selects on a Vector series: a shipped component that emits the series,
    /// an output port of every component the selector names, or one of the values Vector
    /// writes for the label.
    fn check_vector_value(
        &self,
        s: &Selector,
        label: &str,
        value: &str,
        emitters: VectorEmitters,
        context: &str,
    ) {
        let series = s.name.as_str();
        let component = |id: &str| -> &VectorComponent {
            self.vector_components
                .get(id)
                .unwrap_or_else(|| panic!("{context}: vector.yaml has no component `{id}`"))
        };
        let known = match label {
            "component_id" => {
                let c = component(value);
                emitters.includes(&c.section, &c.component_type)
            }
            "output" => {
                let ids: Vec<String> = s
                    .matchers
                    .iter()
                    .filter(|m| m.name == "component_id")
                    .flat_map(matched_values)
                    .collect();
                !ids.is_empty() && ids.iter().all(|id| component(id).outputs.contains(value))
            }
            "component_kind" => ["source", "transform", "sink"].contains(&value),
            // The shipped sinks' buffers are memory buffers (vector_config.rs), which drop only
            // as `when_full: drop_newest` does: intentionally.
            "intentional" if series == "vector_buffer_discarded_events_total" => value == "true",
            "intentional" => ["true", "false"].contains(&value),
            // A status code, or a regex's `5..` for a class of them.
            "status" => {
                value.len() == 3
                    && value.starts_with(['1', '2', '3', '4', '5'])
                    && value.chars().all(|c| c.is_ascii_digit() || c == '.')
            }
            "error_type" => VECTOR_ERROR_TYPES.contains(&value),
            "stage" if series == "vector_component_errors_total" => {
                VECTOR_ERROR_STAGES.contains(&value)
            }
            _ => panic!("{context}: values of `{label}` on `{series}` are not checked"),
        };
        assert!(
            known,
            "{context}: Vector never writes {label}=\"{value}\" on `{series}`"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Prometheus alert rules.

/// A Prometheus rule file (`rule_files`), as `promtool check rules` reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleGroup {
    name: String,
    #[serde(default)]
    interval: Option<String>,
    rules: Vec<AlertRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertRule {
    alert: String,
    expr: String,
    #[serde(default, rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// A Prometheus duration (`model.ParseDuration`): `0`, or numbers each with a unit, the
/// units from `y` down to `ms`, each at most once and in that order.
fn is_duration(text: &str) -> bool {
    const UNITS: [&str; 7] = ["y", "w", "d", "h", "m", "s", "ms"];
    if text == "0" {
        return true;
    }
    let mut rest = text;
    let mut next = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = if rest.starts_with("ms") {
            "ms"
        } else {
            rest.get(..1).unwrap_or("")
        };
        match UNITS.iter().position(|u| *u == unit) {
            Some(i) if i >= next => {
                next = i + 1;
                rest = &rest[unit.len()..];
            }
            _ => return false,
        }
    }
    !text.is_empty()
}

/// The `{{ $labels.x }}` an annotation template reads.
fn template_labels(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("$labels.") {
        let tail = &rest[i + "$labels.".len()..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

/// The shipped alert rules.
fn alert_rules() -> RuleFile {
    serde_norway::from_str(&read("pipeline-configs/prometheus/edgeheal-alerts.yaml"))
        .expect("a Prometheus rule file")
}

#[test]
fn alert_rules_are_valid_and_read_only_what_exists() {
    let rules = alert_rules();
    let known = Known::new();
    let fresh = Metrics::new().render();
    let (mut groups, mut alerts) = (BTreeSet::new(), BTreeSet::new());
    let mut selected = BTreeSet::new();
    for group in &rules.groups {
        assert!(groups.insert(&group.name), "group {} twice", group.name);
        if let Some(interval) = &group.interval {
            assert!(is_duration(interval), "{}: interval {interval}", group.name);
        }
        for rule in &group.rules {
            let name = &rule.alert;
            assert!(alerts.insert(name), "alert {name} twice");
            assert!(
                name.starts_with("Edgeheal") && name.chars().all(|c| c.is_ascii_alphanumeric()),
                "{name}: alert names are EdgehealCamelCase"
            );
            if let Some(f) = &rule.for_ {
                assert!(is_duration(f), "{name}: `for: {f}` is not a duration");
            }
            assert!(
                matches!(
                    rule.labels.get("severity").map(String::as_str),
                    Some("critical" | "warning")
                ),
                "{name}: severity critical or warning"
            );
            for key in ["summary", "description"] {
                assert!(
                    rule.annotations.get(key).is_some_and(|t| t.len() > 20),
                    "{name}: no {key}"
                );
            }
            let expr = parse(&rule.expr);
            let mut found = Vec::new();
            selectors(&expr, &mut found);
            assert!(!found.is_empty(), "{name}: selects nothing");
            // Vector creates a counter at its first count, which `increase` and `rate` do
            // not see: an alert on one that must fire on a single event (no `for:`) also
            // fires when the series appears.
            if rule.for_.is_none() {
                let mut appears = BTreeSet::new();
                appearing(&expr, &mut appears);
                for s in found.iter().filter(|s| s.name.starts_with("vector_")) {
                    assert!(
                        appears.contains(&s.name),
                        "{name}: `{}` is created at its first count; add `or ... ({0} unless {0} offset d)`",
                        s.name
                    );
                }
            }
            let mut series_labels = BTreeSet::new();
            for s in &found {
                series_labels.extend(known.check(s, name));
                selected.insert(s.name.clone());
                // A heal API series an alert selects by value exists from the start, at 0:
                // `increase` sees its first count.
                if known.healer.contains_key(&s.name) {
                    for m in &s.matchers {
                        for value in matched_values(m) {
                            let at_zero = fresh.lines().any(|l| {
                                l.starts_with(&format!("{}{{", s.name))
                                    && l.contains(&format!("{}=\"{value}\"", m.name))
                                    && l.ends_with(" 0")
                            });
                            assert!(
                                at_zero,
                                "{name}: `{}{{{}=\"{value}\"}}` is not created at 0 when the heal API starts",
                                s.name,
                                m.name
                            );
                        }
                    }
                }
            }
            let result = result_labels(&expr).unwrap_or_else(|| {
                series_labels
                    .iter()
                    .cloned()
                    .chain(TARGET_LABELS.iter().map(|l| (*l).to_owned()))
                    .collect()
            });
            for text in rule.annotations.values() {
                for label in template_labels(text) {
                    assert!(
                        result.contains(&label),
                        "{name}: `$labels.{label}` is not a label of its alerts ({result:?})"
                    );
                }
            }
        }
    }
    // What a production install must hear about.
    for series in [
        "edgeheal_healer_ingest_requests_total",
        "edgeheal_healer_auth_failures_total",
        "edgeheal_healer_actions_total",
        "edgeheal_healer_guard_refusals_total",
        "fluentbit_filter_drop_records_total",
        "fluentbit_output_dropped_records_total",
        "vector_component_discarded_events_total",
        "vector_buffer_discarded_events_total",
    ] {
        assert!(selected.contains(series), "no alert reads {series}");
    }
}

/// The checks above fail on what they are meant to catch.
#[test]
fn the_rule_checks_catch_wrong_names_labels_and_values() {
    let known = Known::new();
    let check = |expr: &str| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut found = Vec::new();
            selectors(&parse(expr), &mut found);
            for s in &found {
                known.check(s, "case");
            }
        }))
        .is_ok()
    };
    assert!(check(
        r#"sum by (result) (rate(edgeheal_healer_ingest_requests_total{result=~"overloaded|unavailable"}[5m]))"#
    ));
    // A result the heal API never writes (it writes `unavailable` for a 503).
    assert!(!check(
        r#"rate(edgeheal_healer_ingest_requests_total{result="error"}[5m])"#
    ));
    assert!(!check(
        r#"rate(edgeheal_healer_actions_total{outcome="failed"}[5m])"#
    ));
    assert!(!check("rate(edgeheal_healer_action_total[5m])"));
    assert!(check(
        r#"rate(fluentbit_filter_drop_records_total{name="edgeheal",instance="n1"}[5m])"#
    ));
    assert!(!check(
        r#"rate(fluentbit_filter_drop_records_total{name="wasm.0"}[5m])"#
    ));
    assert!(!check("rate(fluentbit_filter_drop_records_total[5m])"));
    assert!(!check(
        r#"rate(fluentbit_output_errors_total{name="edgeheal"}[5m])"#
    ));
    assert!(!check(
        "sum(rate(edgeheal_healer_ingest_requests_total[5m])"
    ));
    assert!(check(
        r#"rate(vector_component_discarded_events_total{component_id="edgeheal_score",intentional="false"}[5m])"#
    ));
    assert!(check(
        r#"rate(vector_http_client_responses_total{component_id=~"edgeheal_healer|edgeheal_k8s_events",status="503"}[5m])"#
    ));
    // Not a component of vector.yaml; not selected by component; a transform has no buffer;
    // a remap sends no HTTP requests; Vector writes no such value.
    assert!(!check(
        r#"rate(vector_component_errors_total{component_id="edgeheal_scorer"}[5m])"#
    ));
    assert!(!check(
        r#"rate(vector_component_errors_total{error_type="script_failed"}[5m])"#
    ));
    assert!(!check(
        r#"rate(vector_buffer_discarded_events_total{component_id="edgeheal_score"}[5m])"#
    ));
    assert!(!check(
        r#"rate(vector_http_client_responses_total{component_id="edgeheal_normalize"}[5m])"#
    ));
    assert!(!check(
        r#"rate(vector_component_discarded_events_total{component_id="edgeheal_healer",intentional="no"}[5m])"#
    ));
    assert!(!check(
        r#"rate(vector_http_client_responses_total{component_id="edgeheal_healer",status="5xx"}[5m])"#
    ));
    assert!(!check(
        r#"rate(vector_component_errors_total{component_id="edgeheal_healer",error_type="request_error"}[5m])"#
    ));
    assert!(!check(
        r#"rate(vector_component_errors_total{component_id="edgeheal_healer",reason="x"}[5m])"#
    ));
    // Output ports: the route's, a remap's default one; not a route it lacks, not an
    // `_unmatched` it does not make, none on a sink.
    assert!(check(
        r#"rate(vector_component_sent_events_total{component_id="edgeheal_anomalies",output="anomalies"}[5m])"#
    ));
    assert!(check(
        r#"rate(vector_component_sent_events_total{component_id=~"edgeheal_normalize|edgeheal_finalize",output="_default"}[5m])"#
    ));
    assert!(check(
        r#"rate(vector_component_sent_events_total{component_id="edgeheal_healer"}[5m])"#
    ));
    assert!(!check(
        r#"rate(vector_component_sent_events_total{component_id="edgeheal_anomalies",output="anomaly"}[5m])"#
    ));
    assert!(!check(
        r#"rate(vector_component_sent_events_total{component_id="edgeheal_anomalies",output="_unmatched"}[5m])"#
    ));
    assert!(!check(
        r#"rate(vector_component_sent_events_total{component_id=~"edgeheal_normalize|edgeheal_anomalies",output="_default"}[5m])"#
    ));
    assert!(!check(
        r#"rate(vector_component_sent_events_total{component_id="edgeheal_healer",output="_default"}[5m])"#
    ));
    assert!(!check(
        r#"rate(vector_component_received_events_total{component_id="edgeheal_logs",pod_name="x"}[5m])"#
    ));

    let one = |expr: &str| {
        let mut found = Vec::new();
        selectors(&parse(expr), &mut found);
        found.remove(0)
    };
    let variable = |all_is_any| Variable {
        selector: "x".to_owned(),
        label: "job".to_owned(),
        regex: true,
        all_is_any,
    };
    let vars = BTreeMap::from([
        ("job".to_owned(), variable(true)),
        ("pinned".to_owned(), variable(false)),
    ]);
    let covered = |panel: &str, alert: &str| covers(&one(panel), &one(alert), &vars);
    assert!(covered(r#"x{job=~"$job"}"#, r#"x{a="1"}"#));
    assert!(covered(r#"x{job=~"${job}",a="1"}"#, r#"x{a="1"}"#));
    // "All" is `.*` only to a regex matcher; a variable without that "All" shows some series,
    // an undefined one none, and a target label narrowed to a value one target's.
    assert!(!covered(r#"x{job="$job"}"#, r#"x"#));
    assert!(!covered(r#"x{job=~"$pinned"}"#, r#"x"#));
    assert!(!covered(r#"x{job=~"$nope"}"#, r#"x"#));
    assert!(!covered(r#"x{instance="10.0.0.1:2020"}"#, r#"x"#));
    assert!(covered(r#"x{a=~"1|2"}"#, r#"x{a="1"}"#));
    assert!(covered(r#"x{a!="3"}"#, r#"x{a!="3",b="1"}"#));
    assert!(!covered(r#"y"#, r#"x"#));
    assert!(!covered(r#"x{a="2"}"#, r#"x{a="1"}"#));
    assert!(!covered(r#"x{a=~"1|2"}"#, r#"x{a=~"1|3"}"#));
    assert!(!covered(r#"x{a="1"}"#, r#"x"#));
    assert!(!covered(r#"x{a!="3"}"#, r#"x{b="1"}"#));

    let appears = |expr: &str| {
        let mut out = BTreeSet::new();
        appearing(&parse(expr), &mut out);
        out
    };
    assert_eq!(
        appears("sum(rate(x[5m])) > 0 or sum(x{a=\"b\"} unless x{a=\"b\"} offset 5m)"),
        BTreeSet::from(["x".to_owned()])
    );
    assert!(appears("x unless y offset 5m").is_empty());
    assert!(appears("x unless x").is_empty());
    assert!(appears("x{a=\"b\"} unless x offset 5m").is_empty());
    assert!(appears("x or x offset 5m").is_empty());

    let labels = |expr: &str| result_labels(&parse(expr));
    assert_eq!(
        labels("sum by (code) (increase(x[5m])) > 0"),
        Some(BTreeSet::from(["code".to_owned()]))
    );
    assert_eq!(
        labels("histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) > 1"),
        Some(BTreeSet::new())
    );
    assert_eq!(labels("rate(x[5m]) > 0"), None);
    assert_eq!(
        template_labels("{{ $labels.result }} and {{$labels.instance}}"),
        ["result", "instance"]
    );
    for ok in ["5m", "1h30m", "90s", "0", "2d", "100ms", "1w2d"] {
        assert!(is_duration(ok), "{ok}");
    }
    for bad in ["", "5", "m", "5min", "30m1h", "1.5h", "5m5m"] {
        assert!(!is_duration(bad), "{bad}");
    }
}

// ---------------------------------------------------------------------------------------
// Grafana dashboard.

fn collect_panels<'a>(panels: &'a [Value], out: &mut Vec<&'a Value>) {
    for p in panels {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            collect_panels(inner, out);
        }
    }
}

/// A panel query as Prometheus receives it: Grafana replaces its built-in variables before it
/// sends the query, `$__rate_interval` (at least four scrape intervals) and `$__range` (the
/// dashboard's time range in seconds, `21600s` for its default 6h); a template variable
/// (`$job`) stays inside the label value that holds it. Any other built-in fails here, whole
/// (`$__range_s` is not `$__range`), rather than reach the parser half replaced.
fn as_sent(expr: &str) -> String {
    const BUILT_INS: &[(&str, &str)] = &[("__rate_interval", "1m"), ("__range", "21600s")];
    let mut sent = String::new();
    let mut rest = expr;
    while let Some(i) = rest.find("$__") {
        sent.push_str(&rest[..i]);
        let (name, tail) = identifier(&rest[i + 1..]);
        let value = BUILT_INS
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("`{expr}`: Grafana's `${name}` is not substituted here"))
            .1;
        sent.push_str(value);
        rest = tail;
    }
    sent.push_str(rest);
    sent
}

/// The variable name `text` starts with (Grafana's `\w+`), and the text after it.
fn identifier(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    text.split_at(end)
}

/// The template variables `text` names, in Grafana's `$name`, `${name}`, `${name:format}`
/// and `[[name]]`: not its built-ins (`$__…`, [`as_sent`]), nor a `$1` (a regex group in
/// `label_replace`) or a `$` that ends a regex.
fn references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |name: &str| {
        if name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && !name.starts_with("__")
        {
            out.push(name.to_owned());
        }
    };
    for (i, _) in text.match_indices('$') {
        let rest = &text[i + 1..];
        add(identifier(rest.strip_prefix('{').unwrap_or(rest)).0);
    }
    for (i, _) in text.match_indices("[[") {
        add(identifier(&text[i + 2..]).0);
    }
    out
}

/// The variable a matcher's whole value is (`$name` or `${name}`).
fn variable_of(m: &Matcher) -> Option<&str> {
    let value = &m.value;
    let name = value
        .strip_prefix("${")
        .and_then(|v| v.strip_suffix('}'))
        .or_else(|| value.strip_prefix('$'))?;
    let (name, rest) = identifier(name);
    (!name.is_empty() && rest.is_empty()).then_some(name)
}

/// A query variable of the dashboard: Grafana's `label_values(selector, label)`.
#[derive(Debug)]
struct Variable {
    /// The selector whose series' values of `label` the variable offers.
    selector: String,
    label: String,
    /// Grafana sends several values (`multi`) or all of them (`includeAll`) as a regex.
    regex: bool,
    /// Picked "All", it sends `.*` (`allValue`): it can show every series.
    all_is_any: bool,
}

impl Variable {
    fn new(v: &Value) -> Variable {
        let name = v["name"].as_str().expect("name");
        let definition = v["definition"].as_str().expect("definition");
        // Grafana runs `query`; `definition` is what its variable list shows.
        let query = v["query"]["query"].as_str().or(v["query"].as_str());
        assert_eq!(
            query,
            Some(definition),
            "${name}: query and definition differ"
        );
        let (selector, label) = definition
            .strip_prefix("label_values(")
            .and_then(|d| d.strip_suffix(')'))
            .and_then(|d| d.rsplit_once(','))
            .unwrap_or_else(|| {
                panic!("${name}: `{definition}` is not label_values(metric, label)")
            });
        let flag = |key: &str| v[key].as_bool().unwrap_or(false);
        Variable {
            selector: selector.trim().to_owned(),
            label: label.trim().to_owned(),
            regex: flag("multi") || flag("includeAll"),
            all_is_any: flag("includeAll") && v["allValue"] == ".*",
        }
    }
}

/// The dashboard reads only series that exist, with label values they have, shows every
/// metric family of the heal API, and every series an alert reads: whoever is paged finds
/// the same numbers on it, over time.
#[test]
fn grafana_dashboard_queries_what_exists_and_shows_what_alerts_read() {
    let dashboard: Value =
        serde_json::from_str(&read("pipeline-configs/grafana/edgeheal-dashboard.json"))
            .expect("the dashboard is JSON");
    assert_eq!(dashboard["uid"], "edgeheal-healer");
    check_dashboard(&dashboard, &Known::new());
}

/// The checks of [`grafana_dashboard_queries_what_exists_and_shows_what_alerts_read`]; its
/// template variables are defined once and used, each query names only defined ones, and a
/// query variable, a regex matcher's whole value on the label it offers values of, narrows
/// every panel selector of the program whose series it reads (`$job` the heal API's).
fn check_dashboard(dashboard: &Value, known: &Known) {
    assert!(dashboard["schemaVersion"].as_i64().expect("schemaVersion") >= 38);
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating");
    let mut names = BTreeSet::new();
    for v in variables {
        let name = v["name"].as_str().expect("variable name");
        assert!(names.insert(name), "variable ${name} twice");
    }
    let datasource = variables
        .iter()
        .find(|v| v["type"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(datasource["query"], "prometheus");
    let ds_ref = format!("${{{}}}", datasource["name"].as_str().expect("name"));

    // (where, query, whether a panel shows it)
    let mut exprs: Vec<(String, String, bool)> = Vec::new();
    let mut vars = BTreeMap::new();
    for v in variables.iter().filter(|v| v["type"] == "query") {
        let name = v["name"].as_str().expect("name");
        assert_eq!(
            v["datasource"]["uid"],
            ds_ref.as_str(),
            "${name}: datasource"
        );
        let var = Variable::new(v);
        exprs.push((format!("${name}"), var.selector.clone(), false));
        vars.insert(name.to_owned(), var);
    }
    let mut panels = Vec::new();
    collect_panels(dashboard["panels"].as_array().expect("panels"), &mut panels);
    let mut ids = BTreeSet::new();
    for p in &panels {
        assert!(
            ids.insert(p["id"].as_i64().expect("panel id")),
            "duplicate panel id"
        );
        if p["type"] == "row" {
            continue;
        }
        let title = p["title"].as_str().expect("title");
        assert_eq!(
            p["datasource"]["uid"],
            ds_ref.as_str(),
            "{title}: datasource"
        );
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no queries");
        for t in targets {
            let expr = t["expr"].as_str().expect("expr");
            exprs.push((title.to_owned(), as_sent(expr), true));
        }
    }
    let exporter_of = |selector: &Selector| {
        known
            .exporter(&selector.name)
            .unwrap_or_else(|| panic!("`{}`: no program serves it", selector.name))
    };
    // The program whose series a variable offers values of, and that series.
    let offered_by = |var: &Variable| {
        let mut found = Vec::new();
        selectors(&parse(&var.selector), &mut found);
        let series = found.swap_remove(0);
        (exporter_of(&series), series.name)
    };
    let mut used = BTreeSet::new();
    // (where, selector) of what the panels show
    let mut shown = Vec::new();
    for (context, expr, in_panel) in &exprs {
        for name in references(expr) {
            assert!(
                names.contains(name.as_str()),
                "{context}: `{expr}` names ${name}, which the dashboard does not define"
            );
            if *in_panel {
                used.insert(name);
            }
        }
        let mut found = Vec::new();
        selectors(&parse(expr), &mut found);
        assert!(!found.is_empty(), "{context}: `{expr}` selects nothing");
        for s in &found {
            known.check(s, context);
            for m in s
                .matchers
                .iter()
                .filter(|m| !references(&m.value).is_empty())
            {
                let name = variable_of(m).unwrap_or_else(|| {
                    panic!("{context}: `{m}`: a variable is a matcher's whole value")
                });
                let var = vars
                    .get(name)
                    .unwrap_or_else(|| panic!("{context}: `{m}`: ${name} is not a query variable"));
                assert_eq!(
                    m.name, var.label,
                    "{context}: `{m}`: ${name} offers values of `{}`",
                    var.label
                );
                let (exporter, series) = offered_by(var);
                assert_eq!(
                    exporter_of(s),
                    exporter,
                    "{context}: `{m}` on `{}`: ${name} offers the values of `{series}`",
                    s.name
                );
                assert!(
                    !var.regex || matches!(m.op, MatchOp::Re(_)),
                    "{context}: `{m}`: Grafana sends ${name}'s values as a regex, `=~`"
                );
            }
        }
        if *in_panel {
            shown.extend(found.into_iter().map(|s| (context.as_str(), s)));
        }
    }
    for (name, var) in &vars {
        assert!(used.contains(name), "no panel query uses ${name}");
        let exporter = offered_by(var).0;
        for (context, s) in shown.iter().filter(|(_, s)| exporter_of(s) == exporter) {
            assert!(
                s.matchers
                    .iter()
                    .any(|m| m.name == var.label && variable_of(m) == Some(name.as_str())),
                "{context}: `{}` is not narrowed by ${name} ({}=~\"${name}\")",
                s.name,
                var.label
            );
        }
    }
    let series: BTreeSet<&str> = shown.iter().map(|(_, s)| s.name.as_str()).collect();
    for family in &known.healer_families {
        assert!(
            series.iter().any(|u| u.starts_with(family.as_str())),
            "the dashboard does not show {family}"
        );
    }
    for rule in alert_rules().groups.iter().flat_map(|g| &g.rules) {
        let mut found = Vec::new();
        selectors(&parse(&rule.expr), &mut found);
        for s in found {
            assert!(
                shown.iter().any(|(_, d)| covers(d, &s, &vars)),
                "{}: no panel shows `{}` as the alert selects it ({:?})",
                rule.alert,
                s.name,
                s.matchers
            );
        }
    }
}

/// Whether dashboard selector `d` shows every series alert selector `a` selects: the same
/// metric, and each label `d` narrows narrowed by `a` to values among `d`'s, or by the same
/// negative matcher. A variable narrows nothing only where "All" sends `.*` to a regex
/// matcher; any other shows some series, and covers no alert (nor does a target label
/// narrowed to a value).
fn covers(d: &Selector, a: &Selector, vars: &BTreeMap<String, Variable>) -> bool {
    d.name == a.name
        && d.matchers.iter().all(|m| {
            if let Some(name) = variable_of(m) {
                return matches!(m.op, MatchOp::Re(_))
                    && vars.get(name).is_some_and(|v| v.all_is_any);
            }
            let wanted = matched_values(m);
            if wanted.is_empty() {
                return a.matchers.iter().any(|x| x == m);
            }
            let asked: Vec<String> = a
                .matchers
                .iter()
                .filter(|x| x.name == m.name)
                .flat_map(matched_values)
                .collect();
            !asked.is_empty() && asked.iter().all(|v| wanted.contains(v))
        })
}

/// The dashboard checks fail on a variable a query names and the dashboard lacks, one no
/// query uses, a pipeline query the node filter misses, and a filter that would hide what an
/// alert reads; and Grafana's built-ins are replaced whole.
#[test]
fn the_dashboard_checks_catch_undefined_unused_and_unapplied_variables() {
    let shipped: Value =
        serde_json::from_str(&read("pipeline-configs/grafana/edgeheal-dashboard.json"))
            .expect("the dashboard is JSON");
    let known = Known::new();
    let passes = |change: &dyn Fn(&mut Value)| {
        let mut dashboard = shipped.clone();
        change(&mut dashboard);
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_dashboard(&dashboard, &known)
        }))
        .is_ok()
    };
    // The first query of panel `id`, rewritten by `edit`.
    let query = |id: i64, edit: fn(&str) -> String| {
        move |d: &mut Value| {
            let panel = d["panels"]
                .as_array_mut()
                .expect("panels")
                .iter_mut()
                .find(|p| p["id"] == id)
                .expect("panel");
            let expr = &mut panel["targets"][0]["expr"];
            let edited = edit(expr.as_str().expect("expr"));
            assert_ne!(
                expr.as_str(),
                Some(edited.as_str()),
                "panel {id}: no change"
            );
            *expr = Value::from(edited);
        }
    };
    let variable = |name: &'static str, edit: fn(&mut Value)| {
        move |d: &mut Value| {
            let list = d["templating"]["list"].as_array_mut().expect("list");
            edit(list.iter_mut().find(|v| v["name"] == name).expect(name));
        }
    };
    assert!(passes(&|_| {}));
    // Fluent Bit panels 21 to 24, Vector's 26 to 29.
    assert!(!passes(
        &query(23, |e| e.replace("$fb_instance", "$fb_instanc"))
    ));
    assert!(!passes(
        &query(23, |e| e.replace("$fb_instance", "[[fb_node]]"))
    ));
    assert!(!passes(&query(21, |e| e.replacen(
        ",instance=~\"$fb_instance\"",
        "",
        1
    ))));
    assert!(!passes(
        &query(28, |e| e.replace("$vector_instance", "$fb_instance"))
    ));
    assert!(!passes(&query(24, |e| e.replace("instance=~", "instance="))));
    assert!(!passes(&query(26, |e| e
        .replace("\"$vector_instance\"", "\"$vector_instance|x\""))));
    assert!(!passes(
        &query(21, |e| e.replace("$__rate_interval", "$__interval"))
    ));
    // "All" sends an alternation of the values Grafana knew at load, or no "All": the Fluent
    // Bit panels no longer show every series the alerts read.
    assert!(!passes(
        &variable("fb_instance", |v| v["allValue"] = Value::Null)
    ));
    assert!(!passes(
        &variable("fb_instance", |v| v["includeAll"] = false.into())
    ));
    // Values of another label than the one the queries narrow.
    assert!(!passes(&variable("vector_instance", |v| {
        let host = v["definition"]
            .as_str()
            .expect("definition")
            .replace(", instance)", ", host)");
        v["query"]["query"] = host.clone().into();
        v["definition"] = host.into();
    })));
    assert!(!passes(&|d: &mut Value| {
        let list = d["templating"]["list"].as_array_mut().expect("list");
        let mut unused = list.last().expect("a variable").clone();
        unused["name"] = "fb_node".into();
        list.push(unused);
    }));
    assert!(!passes(&|d: &mut Value| {
        let list = d["templating"]["list"].as_array_mut().expect("list");
        let twice = list.last().expect("a variable").clone();
        list.push(twice);
    }));

    assert_eq!(
        as_sent("rate(x[$__rate_interval]) and y[$__range] @ end()"),
        "rate(x[1m]) and y[21600s] @ end()"
    );
    for unknown in ["x[$__range_s]", "x[$__interval]", "x[$__rate_interval_ms]"] {
        assert!(
            std::panic::catch_unwind(|| as_sent(unknown)).is_err(),
            "{unknown}"
        );
    }
    assert_eq!(
        references(r#"x{a=~"$fb_instance",b=~"${job}",c=~"${v:regex}",d=~"[[old]]"}[$__range]"#),
        ["fb_instance", "job", "v", "old"]
    );
    assert!(
        references(r#"label_replace(x, "a", "$1", "b", "(.*)") + y{c=~"[[:alpha:]]+$"}"#)
            .is_empty()
    );
}
