//! Vector parity: the shipped `edgeheal-normalize.vrl` (run by the `vrl`
//! crate, as Vector's `remap` runs it), the scorer that `edgeheal export
//! vector` generates (run by vendored Lua 5.4 through mlua, loaded and called
//! exactly as `vector.yaml` configures the `lua` transform, with Vector's own
//! value conversions) and the finalize remap from `vector.yaml`, against the
//! native core on the same streams: identical `anomaly`, `incident`, `action`
//! and `severity`, scores within 1e-9, and every other tag field equal.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use edgeheal_models::export::vector::{scorer_lua, SCORER_FILE};
use edgeheal_plugin::config::FilterConfig;
use edgeheal_tests::vector::{
    as_vector_runs, calibrate, load_model_set, mixed_stream, mixed_stream_go, native_tags,
    native_tags_with, rfc3339, shipped_file, GoLogger,
};
use serde_json::Value as Json;
use vrl::value::Value;

#[path = "../../plugin/tests/common/proxy_streams.rs"]
mod proxy_streams;
#[path = "common/vector_pipeline.rs"]
mod vector_pipeline;

use vector_pipeline::{
    compile, holds, normalize_source, rand_suffix, vector_dir, Remap, VectorPipeline,
};

/// Series the kubelet's `/metrics/cadvisor` serves for a container (kubelet 1.30).
const CADVISOR_SERIES: &[&str] = &[
    "container_cpu_cfs_periods_total",
    "container_cpu_cfs_throttled_periods_total",
    "container_cpu_cfs_throttled_seconds_total",
    "container_cpu_load_average_10s",
    "container_cpu_system_seconds_total",
    "container_cpu_usage_seconds_total",
    "container_cpu_user_seconds_total",
    "container_file_descriptors",
    "container_fs_inodes_free",
    "container_fs_io_time_seconds_total",
    "container_fs_limit_bytes",
    "container_fs_reads_bytes_total",
    "container_fs_reads_total",
    "container_fs_usage_bytes",
    "container_fs_writes_bytes_total",
    "container_last_seen",
    "container_memory_cache",
    "container_memory_failcnt",
    "container_memory_failures_total",
    "container_memory_mapped_file",
    "container_memory_max_usage_bytes",
    "container_memory_rss",
    "container_memory_swap",
    "container_memory_usage_bytes",
    "container_memory_working_set_bytes",
    "container_network_receive_bytes_total",
    "container_network_transmit_errors_total",
    "container_oom_events_total",
    "container_processes",
    "container_sockets",
    "container_spec_cpu_period",
    "container_spec_cpu_quota",
    "container_spec_cpu_shares",
    "container_spec_memory_limit_bytes",
    "container_spec_memory_reservation_limit_bytes",
    "container_spec_memory_swap_limit_bytes",
    "container_start_time_seconds",
    "container_tasks_state",
    "container_threads",
    "container_threads_max",
    "container_ulimits_soft",
    "machine_cpu_cores",
    "machine_memory_bytes",
    "machine_scrape_error",
];

/// The cAdvisor filter of `vector.yaml` passes exactly the series the core reads (on the
/// metric, as Vector runs a `filter` on metric events: `.name`, `.tags`), and the route
/// gives the user's sink every record but those samples: container logs (whatever the core
/// read in them), Kubernetes events, and records normalize could not tag.
#[test]
fn the_users_sink_gets_every_record_but_the_cadvisor_samples() {
    let yaml = shipped_file("vector.yaml");
    let filter = &yaml["transforms"]["edgeheal_cadvisor_used"];
    assert_eq!(filter["type"].as_str(), Some("filter"));
    assert_eq!(
        filter["inputs"].as_sequence().unwrap()[0].as_str(),
        Some("edgeheal_cadvisor")
    );
    let used = compile(filter["condition"].as_str().unwrap());
    let tags = serde_json::json!({"namespace": "shop", "pod": "cart-0", "container": "cart"});
    let mut kept = Vec::new();
    for name in CADVISOR_SERIES {
        let passes = holds(&used, &serde_json::json!({"name": name, "tags": tags}));
        // The core on the same sample, as metric_to_log writes it.
        let record = serde_json::json!({"name": name, "kind": "absolute",
            "gauge": {"value": 200_000.0}, "tags": tags, "timestamp": "2024-05-01T10:00:15Z"})
        .to_string();
        let parsed = edgeheal_plugin::json::Record::parse(record.as_bytes()).unwrap();
        let read = match edgeheal_plugin::normalize::normalize(&parsed, b"", 0).signal {
            edgeheal_plugin::Signal::Metric(m) => {
                m.name != edgeheal_plugin::observation::MetricName::Other
            }
            _ => false,
        };
        assert_eq!(passes, read, "{name}: the filter and the core disagree");
        if passes {
            kept.push(*name);
        }
    }
    assert_eq!(kept.len(), 4, "{kept:?}");

    let route = &yaml["transforms"]["edgeheal_anomalies"]["route"];
    let records = compile(route["records"].as_str().unwrap());
    let anomalies = compile(route["anomalies"].as_str().unwrap());
    let committed = fs::read_to_string(vector_dir().join(SCORER_FILE)).unwrap();
    let mut pipeline = VectorPipeline::new(&committed);
    let log = serde_json::json!({
        "message": r#"{"metric":"queue_depth","value":3,"level":"info"}"#,
        "kubernetes": {"pod_name": "cart-7d9f8c6b5-x2x9q", "pod_namespace": "shop",
            "container_name": "cart", "pod_node_name": "node-1"},
        "file": "/var/log/pods/shop_cart-7d9f8c6b5-x2x9q_0/cart/0.log",
        "source_type": "kubernetes_logs", "stream": "stdout",
        "timestamp": "2024-05-01T10:00:00Z"});
    let event = serde_json::json!({
        "reason": "BackOff", "type": "Warning", "message": "Back-off restarting failed container",
        "involvedObject": {"kind": "Pod", "name": "cart-7d9f8c6b5-x2x9q", "namespace": "shop"},
        "metadata": {"uid": "u-1", "resourceVersion": "7"},
        "lastTimestamp": "2024-05-01T10:00:05Z"});
    let sample = serde_json::json!({"name": "container_memory_working_set_bytes",
        "kind": "absolute", "gauge": {"value": 123456789.0}, "tags": tags,
        "timestamp": "2024-05-01T10:00:15Z"});
    for (record, kind, to_user) in [
        (&log, "log", true),
        (&event, "event", true),
        (&sample, "metric", false),
    ] {
        let out = pipeline.run_event(&record.to_string());
        assert_eq!(out["edgeheal"]["kind"], kind, "{out}");
        assert_eq!(holds(&records, &out), to_user, "{out}");
        assert_eq!(holds(&anomalies, &out), out["edgeheal"]["anomaly"] == true);
    }
    // Whatever the core took a container log for, and a record left untagged.
    for (event, to_user) in [
        (
            serde_json::json!({"source_type": "kubernetes_logs", "edgeheal": {"kind": "metric"}}),
            true,
        ),
        (serde_json::json!({"message": "x"}), true),
        (serde_json::json!({"edgeheal": {"kind": "metric"}}), false),
    ] {
        assert_eq!(holds(&records, &event), to_user, "{event}");
    }
}

/// Vector's `lua` transform hands the whole event to Lua and takes back what the scorer
/// emits, and Lua holds no null and no empty array: through it alone a `null` field would
/// come back as `""` and `[]` as `{}` (VRL's `value/lua.rs`, which the harness runs). The
/// normalize remap hands each to Lua as a marker string and `edgeheal_finalize` turns it
/// back, so every original field leaves as it came, at any depth.
#[test]
fn a_records_nulls_and_empty_arrays_come_back_from_the_lua_transform_unchanged() {
    let committed = fs::read_to_string(vector_dir().join(SCORER_FILE)).unwrap();
    let mut pipeline = VectorPipeline::new(&committed);
    let event = serde_json::json!({
        "reason": "BackOff", "type": "Warning", "message": "Back-off restarting failed container",
        "involvedObject": {"kind": "Pod", "name": "cart-7d9f8c6b5-x2x9q", "namespace": "shop"},
        "metadata": {"uid": "u-1", "resourceVersion": "7", "managedFields": [],
                     "annotations": {}, "finalizers": [null, [], {"a": null}]},
        "eventTime": null, "related": null, "count": 3, "ratio": 0.5, "empty": "",
        "lastTimestamp": "2024-05-01T10:00:05Z", "timestamp": "2024-05-01T10:00:06Z",
        "items": [1, "a", [[]], null]});
    let out = pipeline.run_event(&event.to_string());
    let mut without_tags = out.clone();
    let tags = without_tags.as_object_mut().unwrap().remove("edgeheal");
    assert_eq!(
        tags.as_ref().map(|t| &t["kind"]),
        Some(&serde_json::json!("event"))
    );
    // The source's timestamp, a timestamp, goes through Lua as a table and back.
    assert_eq!(without_tags, event, "{out}");
}

/// A model set calibrated on `records` (see [`calibrate`]) in a temporary
/// directory, removed when the returned guard drops (a failing test too).
fn calibrated(seed: u64, trees: usize, records: &[String]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    calibrate(dir.path(), seed, trees, records).unwrap();
    dir
}

/// Parity with a 20-tree set calibrated on `records` (a quarter of them
/// scored at least); returns the set's directory.
fn parity_calibrated(seed: u64, records: &[String]) -> tempfile::TempDir {
    let calibration = calibrated(seed, 20, records);
    let report = assert_parity(Some(calibration.path()), records);
    assert!(
        report.scored > records.len() / 4,
        "{} scored",
        report.scored
    );
    calibration
}

/// [`parity_calibrated`], then parity with the shipped models.
fn parity_calibrated_and_shipped(seed: u64, records: &[String]) {
    parity_calibrated(seed, records);
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default");
    assert_parity(Some(&shipped), records);
}

/// Compares two tag objects: exact for everything but floats, which must be
/// within 1e-9. Returns the fields that differ.
fn differences(native: &Json, vector: &Json) -> Vec<String> {
    fn walk(path: &str, a: &Json, b: &Json, out: &mut Vec<String>) {
        match (a, b) {
            (Json::Number(x), Json::Number(y)) => {
                let (x, y) = (
                    x.as_f64().unwrap_or(f64::NAN),
                    y.as_f64().unwrap_or(f64::NAN),
                );
                let off = (x - y).abs();
                if off.is_nan() || off > 1e-9 {
                    out.push(format!("{path}: {x} vs {y}"));
                }
            }
            (Json::Object(x), Json::Object(y)) => {
                for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                    walk(
                        &format!("{path}.{k}"),
                        x.get(k).unwrap_or(&Json::Null),
                        y.get(k).unwrap_or(&Json::Null),
                        out,
                    );
                }
            }
            (Json::Array(x), Json::Array(y)) if x.len() == y.len() => {
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    walk(&format!("{path}[{i}]"), p, q, out);
                }
            }
            _ if a == b => {}
            _ => out.push(format!("{path}: {a} vs {b}")),
        }
    }
    let mut out = Vec::new();
    walk("edgeheal", native, vector, &mut out);
    out
}

struct Report {
    records: usize,
    anomalies: usize,
    scored: usize,
    incidents: BTreeMap<String, usize>,
}

/// Runs `records` through both paths and asserts they agree everywhere.
fn assert_parity(model_dir: Option<&Path>, records: &[String]) -> Report {
    assert_parity_with(&FilterConfig::default(), model_dir, records)
}

/// [`assert_parity`] with `config` given to both (events counted as polled,
/// as the Vector scorer always counts them).
fn assert_parity_with(
    config: &FilterConfig,
    model_dir: Option<&Path>,
    records: &[String],
) -> Report {
    let models = model_dir.and_then(load_model_set);
    assert_eq!(models.is_some(), model_dir.is_some(), "the model set loads");
    let empty = std::env::temp_dir().join(format!("edgeheal-nomodels-{}", rand_suffix()));
    fs::create_dir_all(&empty).unwrap();
    let scorer = scorer_lua(model_dir.unwrap_or(&empty), config).unwrap();
    let _ = fs::remove_dir_all(&empty);
    let native = native_tags_with(as_vector_runs(config), models, records);
    let mut pipeline = VectorPipeline::new(&scorer);
    let mut report = Report {
        records: records.len(),
        anomalies: 0,
        scored: 0,
        incidents: BTreeMap::new(),
    };
    let mut mismatches = Vec::new();
    for (i, (record, want)) in records.iter().zip(&native).enumerate() {
        let got = pipeline.run(record);
        let diff = differences(want, &got);
        if !diff.is_empty() && mismatches.len() < 10 {
            mismatches.push(format!("record {i}: {record}\n  {}", diff.join("\n  ")));
        }
        if want["anomaly"] == Json::Bool(true) {
            report.anomalies += 1;
            *report
                .incidents
                .entry(want["incident"].to_string())
                .or_default() += 1;
        }
        if want["score"].is_number() {
            report.scored += 1;
        }
    }
    assert!(
        mismatches.is_empty(),
        "Vector and native disagree:\n{}",
        mismatches.join("\n")
    );
    report
}

#[test]
fn parity_without_models_tags_every_record_unscored() {
    let records = mixed_stream(11, 600, 0.3);
    let report = assert_parity(None, &records);
    assert_eq!((report.anomalies, report.scored), (0, 0));
    assert!(report.records > 3000, "{}", report.records);
}

fn parity_with_models(seconds: i64, rate: f64, min_records: usize) {
    let records = mixed_stream(5, seconds, rate);
    assert!(records.len() >= min_records, "{} records", records.len());
    let calibration = calibrated(7, 40, &records);
    let dir = calibration.path();
    let report = assert_parity(Some(dir), &records);
    eprintln!(
        "parity: {} records, {} scored, {} anomalies, incidents {:?}",
        report.records, report.scored, report.anomalies, report.incidents
    );
    assert!(report.anomalies > 0 && report.scored > report.records / 4);
    // Random (unfitted) forests over one-sided features leave most families
    // under their thresholds; renamed incidents still give several kinds.
    // Every kind, with the shipped models, is covered on chaos telemetry.
    assert!(report.incidents.len() >= 2, "{:?}", report.incidents);
}

#[test]
fn parity_with_models_on_a_mixed_stream() {
    parity_with_models(1800, 0.4, 15_000);
}

/// `explain_normal` reaches the Vector scorer: records that are not
/// anomalous carry `why` there as natively, and by default they do not.
#[test]
fn parity_with_why_on_every_record() {
    let records = mixed_stream(5, 900, 0.4);
    let calibration = calibrated(7, 40, &records);
    let dir = calibration.path();
    let explained = FilterConfig {
        explain_normal: true,
        ..FilterConfig::default()
    };
    let report = assert_parity_with(&explained, Some(dir), &records);
    assert!(report.scored > report.records / 4, "{}", report.scored);
    let normal_whys = |config: FilterConfig| {
        native_tags_with(as_vector_runs(&config), load_model_set(dir), &records)
            .iter()
            .filter(|t| t["anomaly"] == Json::Bool(false) && t["why"] != Json::Array(vec![]))
            .count()
    };
    assert!(normal_whys(explained) > report.records / 4);
    assert_eq!(normal_whys(FilterConfig::default()), 0);
}

/// The acceptance run: at least 100k mixed records over every fault kind.
#[test]
fn parity_with_models_on_100k_records() {
    parity_with_models(4200, 1.0, 100_000);
}

/// The scorer the repository ships is the one the exporter makes from
/// `models/default/`, and it runs.
#[test]
fn the_committed_scorer_is_regenerated_without_a_diff_and_runs() {
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default");
    let lua = scorer_lua(&default, &FilterConfig::default()).unwrap();
    let committed = fs::read_to_string(vector_dir().join(SCORER_FILE)).unwrap();
    assert!(
        lua == committed,
        "pipeline-configs/vector/{SCORER_FILE} is stale: regenerate it"
    );
    let mut pipeline = VectorPipeline::new(&committed);
    let records = mixed_stream(3, 120, 0.2);
    let native = native_tags(load_model_set(&default), &records);
    for (record, want) in records.iter().zip(&native) {
        let got = pipeline.run(record);
        assert!(differences(want, &got).is_empty(), "{record}");
    }
}

/// The `timestamp` of a record (an RFC 3339 string or epoch milliseconds).
fn timestamp_ns(record: &Json) -> i64 {
    let ts = match &record["timestamp"] {
        Json::String(s) => edgeheal_plugin::timestamp::parse_rfc3339(s),
        Json::Number(n) => n.as_i64().map(|ms| ms * 1_000_000),
        _ => None,
    };
    ts.unwrap_or_else(|| panic!("no timestamp in {record}"))
}

/// `record` with its `timestamp` moved by `by_ns` (as RFC 3339 after).
fn shifted(record: &str, by_ns: i64) -> String {
    let mut value: Json = serde_json::from_str(record).unwrap();
    value["timestamp"] = Json::String(rfc3339(timestamp_ns(&value) + by_ns));
    value.to_string()
}

/// Clocks that misbehave (`plugin/tests/clock_steps.rs`): one record
/// stamped ten years ahead, later the node's clock two hours ahead for a
/// while and stepped back, then old events replayed. Both paths move a
/// window's clock back to its records, and pass over expired events, the
/// same way.
#[test]
fn parity_when_the_clock_jumps() {
    let mut records = mixed_stream(21, 1500, 0.3);
    let n = records.len();
    let year = 365 * 86_400 * 1_000_000_000i64;
    records[n / 5] = shifted(&records[n / 5], 10 * year);
    for r in &mut records[n / 2..n * 3 / 5] {
        *r = shifted(r, 7_200 * 1_000_000_000);
    }
    // Old events again, as a relist replays them, made back-offs ten
    // minutes old: history by then, for pods whose clocks have moved on.
    let at = n * 7 / 10;
    let now = timestamp_ns(&serde_json::from_str(&records[at]).unwrap());
    let replayed: Vec<String> = records[..n / 2]
        .iter()
        .filter(|r| r.contains("involvedObject"))
        .map(|r| {
            let mut event: Json = serde_json::from_str(r).unwrap();
            event["reason"] = Json::from("BackOff");
            event["type"] = Json::from("Warning");
            event["lastTimestamp"] = Json::from(rfc3339(now - 600 * 1_000_000_000));
            event.to_string()
        })
        .collect();
    assert!(replayed.len() >= 3, "{} events to replay", replayed.len());
    records.splice(at..at, replayed);
    let n = records.len();
    let calibration = calibrated(5, 20, &records);
    let dir = calibration.path();
    let report = assert_parity(Some(dir), &records);
    assert!(report.scored > n / 4, "{} of {n} scored", report.scored);
}

/// Events listed again (`plugin/tests/event_relists.rs`): each event of
/// the stream becomes the next version of its pod's object for its reason,
/// and twice a relist emits the current version of every object seen so far
/// once more. Both paths count each version once.
#[test]
fn parity_when_events_are_listed_again() {
    let mut versions = BTreeMap::new();
    let mut records = Vec::new();
    let mut events = 0;
    for r in mixed_stream(23, 1500, 0.3) {
        if !r.contains("involvedObject") {
            records.push(r);
            continue;
        }
        events += 1;
        let mut event: Json = serde_json::from_str(&r).unwrap();
        let uid = format!(
            "{}-{}",
            event["involvedObject"]["name"].as_str().unwrap(),
            event["reason"].as_str().unwrap()
        );
        event["metadata"]["uid"] = Json::from(uid.clone());
        event["metadata"]["resourceVersion"] = Json::from((1000 + events).to_string());
        let text = event.to_string();
        versions.insert(uid, text.clone());
        records.push(text);
        // Reconnects in the middle of a crash loop.
        if events == 6 || events == 14 {
            records.extend(versions.values().cloned());
        }
    }
    assert!(events > 14, "{events} events");
    parity_calibrated(5, &records);
}

/// A pod with more containers than the core tracks
/// (`plugin/src/entity/resources.rs`): ten containers report CPU and memory
/// every 15 s, one after the other (each container's samples stamped 3 ms
/// after the previous one's, as cAdvisor stamps each series), the large
/// ones last, and one goes silent for good halfway (its slot is taken by a
/// late joiner after five minutes). Both paths track the same eight, ignore
/// the others while those are live, move the baselines by what a joining
/// container adds, and keep a memory trend per container.
#[test]
fn parity_with_a_pod_of_many_containers() {
    let live = mixed_stream(41, 1200, 0.2);
    let pod = "mesh-7d4b9c8f6-x9z2b";
    let sample = |metric: &str, container: &str, value: f64, ts_ns: i64| {
        serde_json::json!({
            "metric": metric,
            "value": value,
            "labels": {"namespace": "shop", "pod": pod, "container": container},
            "timestamp": ts_ns / 1_000_000,
        })
        .to_string()
    };
    let mut records = Vec::new();
    let mut next_round = None;
    let mut round = 0i64;
    for r in &live {
        let v: Json = serde_json::from_str(r).unwrap();
        if v["timestamp"].is_string() {
            let ts = timestamp_ns(&v);
            let due = *next_round.get_or_insert(ts);
            if ts >= due {
                for k in 0..11i64 {
                    // c3 stops halfway; c10 joins later.
                    if (k == 3 && round > 40) || (k == 10 && round < 70) {
                        continue;
                    }
                    let c = format!("c{k}");
                    let cores = 0.05 * (k + 1) as f64;
                    let mem = 2e7 * ((k + 1) * (k + 1)) as f64 * (1.0 + 0.001 * (round % 7) as f64);
                    let stamp = ts + k * 3_000_000;
                    records.push(sample(
                        "container_cpu_usage_seconds_total",
                        &c,
                        100.0 + cores * 15.0 * round as f64,
                        stamp,
                    ));
                    records.push(sample("container_memory_working_set_bytes", &c, mem, stamp));
                }
                round += 1;
                next_round = Some(due + 15_000_000_000);
            }
        }
        records.push(r.clone());
    }
    assert!(round > 75, "{round} rounds");
    parity_calibrated_and_shipped(5, &records);
}

/// A forest grown from one sample (`plugin/src/forest.rs`): `c(1) = 0`, and
/// scikit-learn scores everything `2^-1`. The cpu forest of a calibrated
/// set is replaced by one with its warning at 0.5: both paths score the cpu
/// family 0.5 (it was 1 before) and call it anomalous.
#[test]
fn parity_with_a_forest_grown_from_one_sample() {
    use edgeheal_plugin::forest::{IsolationForestFile, IsolationTreeFile};
    use edgeheal_plugin::manifest::{Manifest, Role, MANIFEST};
    use edgeheal_plugin::model::Thresholds;
    use edgeheal_plugin::verdict::Family;

    let records = mixed_stream(37, 600, 0.3);
    let calibration = calibrated(5, 20, &records);
    let dir = calibration.path();
    let leaf = IsolationTreeFile {
        left: vec![-1],
        right: vec![-1],
        feature: vec![-2],
        threshold: vec![-2.0],
        n_samples: vec![1],
    };
    let thresholds = Thresholds {
        warning: 0.5,
        critical: 0.75,
    };
    let mut cpu = IsolationForestFile::new("cpu", Family::Cpu, 1, thresholds, vec![leaf]);
    cpu.seal();
    fs::write(dir.join("cpu.json"), cpu.to_json()).unwrap();
    let mut manifest = Manifest::new("parity");
    for family in Family::ALL {
        let path = format!("{}.json", family.as_str());
        let bytes = fs::read(dir.join(&path)).unwrap();
        manifest.add_file(path, &bytes, Role::Forest, Some(family));
    }
    let bytes = fs::read(dir.join("incident.json")).unwrap();
    manifest.add_file("incident.json", &bytes, Role::Classifier, None);
    fs::write(dir.join(MANIFEST), manifest.to_json()).unwrap();

    let native = native_tags(load_model_set(dir), &records);
    let cpu_tags = native.iter().filter(|t| t["family"] == "cpu").count();
    assert!(
        cpu_tags > 100,
        "{cpu_tags} records with the cpu family on top"
    );
    assert!(native
        .iter()
        .filter(|t| t["family"] == "cpu")
        .all(|t| t["score"] == 0.5 && t["anomaly"] == true));
    assert_parity(Some(dir), &records);
}

/// A log file lagging an hour behind the others (`plugin/src/entity/mod.rs`):
/// for a third of the stream, every log line of the workloads comes again
/// an hour old, interleaved with the live ones (a backlog being caught up).
/// Both paths tag those lines and count neither as current traffic.
#[test]
fn parity_when_a_log_file_lags_an_hour() {
    let live = mixed_stream(31, 1500, 0.3);
    let n = live.len();
    let hour = 3_600 * 1_000_000_000i64;
    let mut records = Vec::new();
    let mut lagging = Vec::new();
    for (i, r) in live.iter().enumerate() {
        records.push(r.clone());
        if (n / 3..n * 2 / 3).contains(&i) && r.contains("\"kubernetes_logs\"") {
            records.push(shifted(r, -hour));
            lagging.push(records.len() - 1);
        }
    }
    assert!(lagging.len() > 1000, "{} lagging lines", lagging.len());
    let calibration = parity_calibrated(5, &records);
    let models = load_model_set(calibration.path());
    let native = native_tags(models, &records);
    // The lagging lines are read at their own, hour-old time.
    let at = lagging[lagging.len() / 2];
    let stamp = |r: &str| timestamp_ns(&serde_json::from_str(r).unwrap());
    assert_eq!(
        edgeheal_plugin::timestamp::parse_rfc3339(native[at]["ts"].as_str().unwrap()),
        Some(stamp(&records[at]))
    );
    assert!(stamp(&records[at - 1]) - stamp(&records[at]) > hour - 1_000_000_000);
}

/// One absurd working-set sample (a counter's wrap: 1.8e19 bytes) for a
/// few pods midway (`plugin/src/baseline.rs`, `update_bounded`): both paths
/// move the pods' memory baselines by the same bounded step, and tag alike
/// before and after.
#[test]
fn parity_after_an_absurd_memory_sample() {
    let live = mixed_stream(43, 1500, 0.3);
    let n = live.len();
    let mut records = Vec::new();
    let mut absurd = 0;
    for (i, r) in live.iter().enumerate() {
        records.push(r.clone());
        if i > n / 2 && absurd < 5 && r.contains("container_memory_working_set_bytes") {
            let mut v: Json = serde_json::from_str(r).unwrap();
            v["gauge"]["value"] = serde_json::json!(1.8e19);
            records.push(v.to_string());
            absurd += 1;
        }
    }
    assert_eq!(absurd, 5);
    parity_calibrated_and_shipped(7, &records);
}

/// Pods born with several containers (`plugin/src/entity/restarts.rs`):
/// a meshed pod starts an init container, the app and its sidecar (one
/// `Started` event each), later its app restarts, and a StatefulSet pod is
/// recreated under its name (a new pod uid, not told apart yet: its starts
/// are restarts of the pod of that name). Both paths count each container's
/// first start in a pod as its birth, pass over init containers, and count
/// later starts as restarts; with the shipped models no birth raises a
/// restarts alarm.
#[test]
fn parity_when_pods_start_several_containers() {
    let mut records = mixed_stream(29, 900, 0.3);
    let started = |pod: &str, pod_uid: &str, field_path: &str, version: u32, ts_ns: i64| {
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": format!("{pod}.{field_path}"),
                "namespace": "shop",
                "uid": format!("{pod_uid}-{field_path}"),
                "resourceVersion": version.to_string(),
            },
            "involvedObject": {
                "kind": "Pod", "name": pod, "namespace": "shop", "uid": pod_uid,
                "fieldPath": field_path,
            },
            "reason": "Started",
            "message": "Started container",
            "type": "Normal",
            "count": version,
            "source": {"component": "kubelet", "host": "node-1"},
            "lastTimestamp": rfc3339(ts_ns - ts_ns.rem_euclid(1_000_000_000)),
        })
        .to_string()
    };
    let (init, app, sidecar) = (
        "spec.initContainers{istio-init}",
        "spec.containers{app}",
        "spec.containers{istio-proxy}",
    );
    let (web, db) = ("web-7d4b9c8f6-x9z2b", "db-0");
    // (share of the stream, pod, pod uid, fieldPath, version)
    let script: &[(f64, &str, &str, &str, u32)] = &[
        (0.2, web, "web-1", init, 1),
        (0.2, web, "web-1", app, 1),
        (0.2, web, "web-1", sidecar, 1),
        (0.25, db, "db-1", app, 1),
        (0.25, db, "db-1", sidecar, 1),
        (0.4, web, "web-1", app, 2),
        (0.5, db, "db-2", init, 1),
        (0.5, db, "db-2", app, 1),
        (0.5, db, "db-2", sidecar, 1),
        (0.55, db, "db-2", app, 2),
    ];
    // In order: the k events before each one were inserted at or before
    // its place, so it lands k records after its share of the stream.
    let n = records.len();
    let mut at_of = Vec::new();
    for (k, (share, pod, uid, field_path, version)) in script.iter().enumerate() {
        let at = (n as f64 * share) as usize + k;
        let ts = records[at..]
            .iter()
            .find_map(|r| {
                let r: Json = serde_json::from_str(r).unwrap();
                r["timestamp"].is_string().then(|| timestamp_ns(&r))
            })
            .unwrap();
        records.insert(at, started(pod, uid, field_path, *version, ts));
        at_of.push(at);
    }
    let births = [0, 1, 2, 3, 4];
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default");
    let native = native_tags(load_model_set(&default), &records);
    for k in births {
        let tags = &native[at_of[k]];
        assert_eq!(tags["kind"], "event");
        let restarts_alarm = tags["anomaly"] == true && tags["family"] == "restarts";
        assert!(!restarts_alarm, "birth {k}: {tags}");
    }
    let calibration = calibrated(5, 20, &records);
    let dir = calibration.path();
    assert_parity(Some(dir), &records);
    assert_parity(Some(&default), &records);
}

/// A proxy's line is read by the VRL as the core reads it: an Istio
/// sidecar's outbound call is no request of its pod's, an ingress-nginx
/// controller's proxied request (or its 503 with no upstream) a request
/// without the backend's status and latency, and the rest the workload's own.
#[test]
fn proxy_lines_are_read_by_the_vrl_as_the_core_reads_them() {
    use edgeheal_plugin::observation::Signal;
    let source = normalize_source();
    let mut normalize = Remap::new(&source);
    let istio = |code: &str, cluster: &str| {
        format!(
            r#"[2026-11-23T10:00:00.000Z] "POST /price HTTP/1.1" {code} - "-" 0 91 7 6 "-" "grpc-go/1.60" "7c2d" "pay:8080" "10.0.0.7:8080" {cluster} 10.0.0.9:51234 10.96.0.12:8080 10.0.0.9:40418 - default"#
        )
    };
    let nginx = |status: u16, upstream: &str| {
        format!(
            r#"10.0.0.1 - - [01/May/2024:10:00:00 +0000] "GET /api/items HTTP/1.1" {status} 160 "-" "curl/8.5.0" 87 0.512 {upstream}"#
        )
    };
    let reset = "upstream_reset_before_response_started{connection_failure}";
    // (line, status, latency, is_request)
    let cases: Vec<(String, Json, Json, bool)> = vec![
        (
            istio(&format!("503 UF {reset}"), "inbound|8080||"),
            503.into(),
            7.0.into(),
            true,
        ),
        (
            istio(
                &format!("503 UF,URX {reset}"),
                "outbound|8080||pay.shop.svc.cluster.local",
            ),
            Json::Null,
            Json::Null,
            false,
        ),
        (
            istio("502 - via_upstream", "PassthroughCluster"),
            Json::Null,
            Json::Null,
            false,
        ),
        (
            nginx(502, "[blog-www-80] [] 10.1.2.3:8080 150 0.012 502 0d1b5a8e"),
            Json::Null,
            Json::Null,
            true,
        ),
        (
            nginx(504, "[shop-web-80] 10.244.1.7:8080 0 0.511 504"),
            Json::Null,
            Json::Null,
            true,
        ),
        (
            nginx(503, "[blog-www-80] [] - - - - 0d1b5a8e"),
            Json::Null,
            Json::Null,
            true,
        ),
        (
            nginx(500, "[blog-www-80] [] - - - - 0d1b5a8e"),
            500.into(),
            512.0.into(),
            true,
        ),
        (
            nginx(502, "[blog-www-80] []"),
            502.into(),
            512.0.into(),
            true,
        ),
    ];
    for (line, status, latency, is_request) in cases {
        let record = serde_json::json!({
            "log": line,
            "stream": "stdout",
            "time": "2024-05-01T10:00:00Z",
            "kubernetes": {"pod_name": "cart-7d4b9c8f6-x2x9z", "namespace_name": "shop"},
        })
        .to_string();
        let want = serde_json::json!([status, latency, is_request]);
        let json: Json = serde_json::from_str(&record).unwrap();
        let out: Json = serde_json::to_value(normalize.run(Value::from(json))).unwrap();
        let got = &out["_edgeheal_in"];
        let vrl = serde_json::json!([got["status"], got["latency_ms"], got["is_request"]]);
        assert_eq!(vrl, want, "VRL on {line}");
        let rec = edgeheal_plugin::json::Record::parse(record.as_bytes()).unwrap();
        let Signal::Log(l) = edgeheal_plugin::normalize::normalize(&rec, b"kube.vector", 0).signal
        else {
            panic!("not a log: {record}")
        };
        let native = serde_json::json!([l.status, l.latency_ms, l.is_request]);
        assert_eq!(native, want, "native on {line}");
    }
}

/// The proxy streams (an Istio sidecar's failing outbound calls, an
/// ingress-nginx backend failing behind its controller) scored alike by the
/// Vector pipeline and the core with the shipped models, neither blaming the
/// caller or the controller.
#[test]
fn parity_on_proxy_streams_that_blame_no_caller() {
    use proxy_streams::{ingress_stream, sidecar_stream, Ingress, Sidecar};
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default");
    let streams = [
        ("shop/cart", sidecar_stream(Sidecar::OutboundFails)),
        (
            "ingress-nginx/ingress-nginx-controller",
            ingress_stream(Ingress::Upstream502),
        ),
    ];
    for (entity, stream) in streams {
        let records: Vec<String> = stream.into_iter().map(|(_, r)| r).collect();
        let blamed = native_tags(load_model_set(&shipped), &records)
            .iter()
            .filter(|t| t["anomaly"] == true && t["entity"] == entity)
            .count();
        assert_eq!(blamed, 0, "{entity}");
        assert_parity(Some(&shipped), &records);
    }
}

/// Every input shape the core reads (Vector and Fluent Bit container logs in
/// JSON, access-log, logfmt, klog and free-text lines; flat, `metric_to_log`
/// and Fluent Bit node metrics; core/v1 and events.k8s.io/v1 events; edge
/// cases of time, identity and units), alone and inside a scored stream.
#[test]
fn parity_on_every_input_shape() {
    let shapes: Vec<String> = include_str!("data/vector_shapes.ndjson")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    assert!(shapes.len() >= 30);
    assert_parity(None, &shapes);
    let mut records = mixed_stream(9, 900, 0.3);
    let at = records.len() / 2;
    records.splice(at..at, shapes.iter().cloned());
    let calibration = calibrated(3, 20, &records);
    let dir = calibration.path();
    assert_parity(Some(dir), &records);
}

/// What the VRL writes to `._edgeheal_in` for each input shape is what the
/// native core's normalization reads: kind, identity, whether a log carries
/// a signal (a stack trace's continuation line does not) and a log's level,
/// status, latency and request-ness. (The tags carry a log's signal only
/// through its scores, so a level read differently could pass unseen.)
#[test]
fn normalized_records_match_on_every_input_shape() {
    let source = normalize_source();
    let mut normalize = Remap::new(&source);
    let mut mismatches = Vec::new();
    for line in include_str!("data/vector_shapes.ndjson")
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        mismatches.extend(normalized_difference(&mut normalize, line));
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// How the VRL's `._edgeheal_in` for the Vector record `line` differs from
/// what the native core's normalization reads of it (see
/// `normalized_records_match_on_every_input_shape`), if it does.
fn normalized_difference(normalize: &mut Remap, line: &str) -> Option<String> {
    use edgeheal_plugin::observation::Signal;
    let json: Json = serde_json::from_str(line).unwrap();
    let out: Json = serde_json::to_value(normalize.run(Value::from(json))).unwrap();
    let got = &out["_edgeheal_in"];
    let rec = edgeheal_plugin::json::Record::parse(line.as_bytes()).unwrap();
    let obs = edgeheal_plugin::normalize::normalize(&rec, b"kube.vector", 0);
    let id = &obs.identity;
    let mut want = serde_json::json!({
        "kind": obs.kind.as_str(),
        "namespace": id.namespace.as_deref(),
        "workload": id.workload.as_deref(),
        "workload_kind": id.workload.as_ref().and(id.workload_kind.map(|k| k.as_str())),
        "pod": id.pod.as_deref(),
        "container": id.container.as_deref(),
        "node": id.node.as_deref(),
    });
    let mut keys = vec![
        "kind",
        "namespace",
        "workload",
        "workload_kind",
        "pod",
        "container",
        "node",
    ];
    if obs.kind == edgeheal_plugin::RecordKind::Log {
        // A line that only continues a stack trace carries no signal.
        want["signal"] = serde_json::json!(match obs.signal {
            Signal::Log(_) => "log",
            _ => "none",
        });
        keys.push("signal");
    }
    if let Signal::Log(l) = obs.signal {
        want["level"] = serde_json::json!(l.level.map(|l| format!("{l:?}").to_lowercase()));
        want["status"] = serde_json::json!(l.status);
        want["latency_ms"] = serde_json::json!(l.latency_ms);
        want["is_request"] = serde_json::json!(l.is_request);
        keys.extend(["level", "status", "latency_ms", "is_request"]);
    }
    if let Signal::Metric(m) = obs.signal {
        // `NodeMemoryPercent` → `node_memory_percent`, as the VRL names it.
        let mut name = String::new();
        for c in format!("{:?}", m.name).chars() {
            if c.is_ascii_uppercase() && !name.is_empty() {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
        }
        want["metric"] = serde_json::json!(name);
        want["value"] = serde_json::json!(m.value);
        keys.extend(["metric", "value"]);
    }
    let pick = |v: &Json| {
        keys.iter()
            .map(|k| (k.to_string(), v.get(k).cloned().unwrap_or(Json::Null)))
            .collect::<serde_json::Map<String, Json>>()
    };
    let diff = differences(&Json::Object(pick(&want)), &Json::Object(pick(got)));
    (!diff.is_empty()).then(|| format!("{line}\n  {}", diff.join("\n  ")))
}

/// Each line of every trace of the shared generator, and the odd lines next
/// to them that must stay lines of their own (a numbered list, a Rails-like
/// line that is none, Node.js-like places that are none), alone in a Vector
/// record: the VRL reads each as the core does, its signal and its level.
#[test]
fn normalized_trace_lines_match() {
    use edgeheal_tests::stack_traces::{failure, vector_record, Trace, ODD_LINES};
    let source = normalize_source();
    let mut normalize = Remap::new(&source);
    let first = "2024-05-01 10:00:00.123 ERROR 1 --- [consumer-1] c.e.Worker : processing failed";
    let mut lines: Vec<String> = ODD_LINES.iter().map(|l| l.to_string()).collect();
    for trace in Trace::TRACES {
        lines.extend(failure(trace, first, 3));
    }
    let mismatches: Vec<String> = lines
        .iter()
        .filter_map(|line| normalized_difference(&mut normalize, &vector_record(line)))
        .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Stack traces printed one line a record (Java, Python, Go, Node.js, Ruby,
/// Rails and Rust traces of `stack_trace_lines.rs`: frames, `Caused by:`,
/// Python's source lines and exception groups) and warnings naming the
/// exception they caught: the VRL reads each line as the core does (a
/// continuation carries no signal; see `normalized_records_match_on_every_input_shape`
/// for each shape), and the Vector scorer tags every record as the native
/// core does. With the shipped models the failures are error bursts on both
/// paths, and the consumer's traces are no traffic surge.
#[test]
fn parity_on_stack_traces_printed_one_line_a_record() {
    use edgeheal_tests::stack_traces;
    let records: Vec<String> = stack_traces::stream(17, 1500, 3, 12)
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    let calibration = calibrated(19, 20, &records);
    assert_parity(Some(calibration.path()), &records);
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default");
    let report = assert_parity(Some(&shipped), &records);
    assert!(
        report.incidents.contains_key("\"error_burst\"")
            && !report.incidents.contains_key("\"traffic_surge\""),
        "{:?}",
        report.incidents
    );
}

/// Parity on the chaos generator's own telemetry (fleet b, every fault
/// kind, both pipelines' record shapes) scored by the shipped models: more
/// than 100k records, every fault kind labelled in the run.
#[test]
fn parity_with_the_default_models_on_chaos_telemetry_of_every_fault_kind() {
    use edgeheal_chaos::fault::ALL_KINDS;
    use edgeheal_chaos::generate::{generate, GenerateConfig, DEFAULT_START_NS};
    use edgeheal_chaos::{FleetName, ScheduleConfig};

    let dir = tempfile::tempdir().unwrap();
    generate(&GenerateConfig {
        seed: 21,
        hours: 3.5,
        interval_s: 15,
        fleet: FleetName::parse("b").unwrap(),
        start_ns: DEFAULT_START_NS,
        schedule: ScheduleConfig::default(),
        split: false,
        out: dir.path().to_path_buf(),
    })
    .unwrap();
    let labels: Json =
        serde_json::from_slice(&fs::read(dir.path().join("labels.json")).unwrap()).unwrap();
    for kind in ALL_KINDS {
        assert!(
            labels
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["kind"] == kind.as_str()),
            "no {} window in the run",
            kind.as_str()
        );
    }
    // Fluent Bit's own node inputs (`cpu`, `mem`: no time of their own in
    // the body, the generator writes Fluent Bit's `date`) never reach a
    // Vector pipeline, whose host metrics come from `host_metrics`; with no
    // record time each side would stamp its own arrival time.
    let fluent_bit_node_input = |r: &str| {
        let v: Json = serde_json::from_str(r).unwrap();
        v.get("date").is_some() && (v.get("cpu_p").is_some() || v.get("Mem.total").is_some())
    };
    let all: Vec<String> = fs::read_to_string(dir.path().join("telemetry.ndjson"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let records: Vec<String> = all
        .iter()
        .filter(|r| !fluent_bit_node_input(r))
        .cloned()
        .collect();
    assert!(all.len() - records.len() < all.len() / 10);
    assert!(records.len() >= 100_000, "{} records", records.len());
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default");
    let report = assert_parity(Some(&default), &records);
    eprintln!(
        "chaos parity: {} records, {} scored, {} anomalies, incidents {:?}",
        report.records, report.scored, report.anomalies, report.incidents
    );
    assert!(report.incidents.len() >= 4, "{:?}", report.incidents);
}

/// The `edgeheal_events` remap of `vector.yaml` as Vector runs it on this
/// node: `${VECTOR_SELF_NODE_NAME:-}` interpolated when the config loads,
/// and, for the test, its one `now()` pinned to a simulated clock.
fn events_remap(node: &str, now_ns: i64) -> Remap {
    let yaml = shipped_file("vector.yaml");
    let source = yaml["transforms"]["edgeheal_events"]["source"]
        .as_str()
        .unwrap();
    assert_eq!(source.matches("${").count(), 1, "one interpolation");
    assert_eq!(source.matches("now()").count(), 1);
    let source = source
        .replace("${VECTOR_SELF_NODE_NAME:-}", node)
        .replace("now()", &format!("t'{}'", rfc3339(now_ns)));
    Remap::new(&source)
}

/// What Vector's `remap` emits for a result: an object is one event, an
/// array one event per element (`VrlTarget::into_events`).
fn emitted(result: Value) -> Vec<Json> {
    match serde_json::to_value(&result).unwrap() {
        Json::Array(items) => items,
        object => vec![object],
    }
}

/// Vector's `dedupe` transform as `edgeheal_events_once` configures it: an
/// event whose `fields.match` values were seen among the last
/// `cache.num_events` distinct ones is dropped.
fn dedupe(events: &[Json]) -> Vec<Json> {
    let yaml = shipped_file("vector.yaml");
    let once = &yaml["transforms"]["edgeheal_events_once"];
    assert_eq!(once["type"].as_str(), Some("dedupe"));
    let fields: Vec<String> = once["fields"]["match"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    let capacity = once["cache"]["num_events"].as_u64().unwrap() as usize;
    let mut cache: std::collections::VecDeque<Vec<Json>> = std::collections::VecDeque::new();
    let mut out = Vec::new();
    for e in events {
        let key: Vec<Json> = fields
            .iter()
            .map(|f| f.split('.').fold(e, |v, k| &v[k]).clone())
            .collect();
        if let Some(at) = cache.iter().position(|k| *k == key) {
            let k = cache.remove(at).unwrap();
            cache.push_back(k);
            continue;
        }
        cache.push_back(key);
        if cache.len() > capacity {
            cache.pop_front();
        }
        out.push(e.clone());
    }
    out
}

/// One kubelet Event object of a pod, moved on as the kubelet's correlator
/// does: each occurrence bumps `count`, `lastTimestamp` and the object's
/// `resourceVersion`.
struct KubeletEvent {
    pod: &'static str,
    node: &'static str,
    reason: &'static str,
    count: u32,
    first_ns: i64,
    last_ns: i64,
    resource_version: u64,
}

impl KubeletEvent {
    fn json(&self) -> Json {
        let warning = self.reason != "Started";
        serde_json::json!({
            "metadata": {
                // The kubelet's names: the pod's, then a hex suffix per object.
                "name": format!("{}.18{:014x}", self.pod, self.reason.bytes().map(u64::from).product::<u64>()),
                "namespace": "shop",
                "uid": format!("uid-{}-{}", self.pod, self.reason),
                "resourceVersion": self.resource_version.to_string(),
                "creationTimestamp": rfc3339(self.first_ns),
            },
            "involvedObject": {
                "kind": "Pod",
                "namespace": "shop",
                "name": self.pod,
                "uid": format!("pod-{}", self.pod),
                "apiVersion": "v1",
                "fieldPath": "spec.containers{app}",
            },
            "reason": self.reason,
            "message": match self.reason {
                "Started" => "Started container app",
                "Unhealthy" => "Liveness probe failed: HTTP probe failed with statuscode: 500",
                _ => "Back-off restarting failed container app",
            },
            "source": {"component": "kubelet", "host": self.node},
            "firstTimestamp": rfc3339(self.first_ns),
            "lastTimestamp": rfc3339(self.last_ns),
            "count": self.count,
            "type": if warning { "Warning" } else { "Normal" },
            "eventTime": null,
            "reportingComponent": "kubelet",
            "reportingInstance": self.node,
        })
    }
}

/// Vector has no events source: `vector.yaml` lists the kubelet's Pod events
/// every 10 s, `edgeheal_events` passes on this node's, changed in the last
/// 180 s, and `edgeheal_events_once` each version once. A crash loop polled
/// that way (each version listed up to 18 times, in name order, beside another node's crash loop, a healthy pod and
/// an hour-old back-off) is tagged exactly as if each version had arrived
/// once: every first arrival gets the native core's tag for that stream, the
/// repeats leave no trace, and the other node's events never arrive.
#[test]
fn events_polled_from_the_api_server_count_once_per_version_on_their_node() {
    const S: i64 = 1_000_000_000;
    let t0: i64 = 1_772_359_200 * S; // 2026-03-01T10:00:00Z
    let mut rv = 5_000u64;
    let mut objects: BTreeMap<(&str, &str), KubeletEvent> = BTreeMap::new();
    // (seconds after t0, pod, node, reason): a crash loop here and one on
    // node-2, each starting with the pod's first start (its birth); a
    // healthy pod started once; a back-off from an hour ago.
    let mut timeline: Vec<(i64, &'static str, &'static str, &'static str)> = vec![
        (-3_000, "old-6b5d8f7c9-aaaaa", "node-1", "BackOff"),
        (2, "cart-7c9d8f6b5-bbbbb", "node-1", "Started"),
        (3, "api-5f9c7d8b4d-qwh4z", "node-1", "Started"),
        (4, "web-7d4b9c8f6-x2x9z", "node-2", "Started"),
    ];
    let mut at = 17;
    let mut backoff = 10;
    for _ in 0..7 {
        timeline.push((at, "api-5f9c7d8b4d-qwh4z", "node-1", "BackOff"));
        timeline.push((at + 1, "web-7d4b9c8f6-x2x9z", "node-2", "BackOff"));
        at += backoff + 2;
        timeline.push((at, "api-5f9c7d8b4d-qwh4z", "node-1", "Started"));
        timeline.push((at + 1, "web-7d4b9c8f6-x2x9z", "node-2", "Started"));
        at += 13;
        backoff = (backoff * 2).min(40);
    }
    timeline.sort();

    // Vector's side: a poll every 10 s of everything kept so far.
    let mut next = 0;
    let mut polled = Vec::new();
    let mut poll_ns = t0;
    while poll_ns <= t0 + (at + 30) * S {
        while next < timeline.len() && t0 + timeline[next].0 * S <= poll_ns {
            let (s, pod, node, reason) = timeline[next];
            rv += 1;
            let e = objects.entry((pod, reason)).or_insert(KubeletEvent {
                pod,
                node,
                reason,
                count: 0,
                first_ns: t0 + s * S,
                last_ns: 0,
                resource_version: 0,
            });
            e.count += 1;
            e.last_ns = t0 + s * S;
            e.resource_version = rv;
            next += 1;
        }
        let mut items: Vec<Json> = objects.values().map(KubeletEvent::json).collect();
        items.sort_by(|a, b| {
            a["metadata"]["name"]
                .as_str()
                .cmp(&b["metadata"]["name"].as_str())
        });
        // As the http_client source decodes the body: the EventList, plus
        // Vector's own `timestamp` and `source_type`.
        let list = serde_json::json!({
            "kind": "EventList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": rv.to_string()},
            "items": items,
            "timestamp": rfc3339(poll_ns),
            "source_type": "http_client",
        });
        let mut remap = events_remap("node-1", poll_ns);
        polled.extend(emitted(remap.run(Value::from(list))));
        poll_ns += 10 * S;
    }

    // Only node-1's events, none older than the horizon, each version at
    // least once and at most 18 times.
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for e in &polled {
        assert_eq!(e["source"]["host"], "node-1", "{e}");
        let key = (
            e["metadata"]["uid"].as_str().unwrap().to_owned(),
            e["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        *seen.entry(key).or_default() += 1;
    }
    let node1_versions = timeline
        .iter()
        .filter(|(s, _, node, _)| *node == "node-1" && *s >= 0)
        .count();
    assert_eq!(
        seen.len(),
        node1_versions,
        "every version of node-1, no old one"
    );
    assert!(seen.values().all(|&n| n <= 18), "{seen:?}");
    assert!(polled.len() > 2 * seen.len(), "{} polled", polled.len());

    // The same versions once each, in the order they first arrived.
    let mut first = std::collections::BTreeSet::new();
    let once: Vec<(usize, String)> = polled
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            first.insert((
                e["metadata"]["uid"].to_string(),
                e["metadata"]["resourceVersion"].to_string(),
            ))
        })
        .map(|(i, e)| (i, e.to_string()))
        .collect();
    // What edgeheal_events_once passes on: exactly those, in that order.
    let deduped = dedupe(&polled);
    assert_eq!(
        deduped.iter().map(Json::to_string).collect::<Vec<_>>(),
        once.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>()
    );
    // And the core counts a version once on its own too: the whole polled
    // stream, repeats and all, tags each first arrival as the native core
    // tags the versions once each.
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default");
    let texts: Vec<String> = once.iter().map(|(_, t)| t.clone()).collect();
    let native = native_tags(load_model_set(&default), &texts);
    let scorer = fs::read_to_string(vector_dir().join(SCORER_FILE)).unwrap();
    let mut pipeline = VectorPipeline::new(&scorer);
    let tags: Vec<Json> = polled
        .iter()
        .map(|e| pipeline.run(&e.to_string()))
        .collect();
    for ((i, text), want) in once.iter().zip(&native) {
        let diff = differences(want, &tags[*i]);
        assert!(diff.is_empty(), "{text}\n  {}", diff.join("\n  "));
    }
    // The crash loop is one; the healthy pod is not.
    let api = |t: &Json| t["pod"] == "api-5f9c7d8b4d-qwh4z";
    assert!(
        tags.iter()
            .any(|t| api(t) && t["incident"] == "crash_loop" && t["anomaly"] == true),
        "the crash loop is caught"
    );
    assert!(tags
        .iter()
        .filter(|t| t["pod"] == "cart-7c9d8f6b5-bbbbb")
        .all(|t| t["anomaly"] == false));
}

/// A liveness probe failing every 3 s: Vector's poll every 10 s lists only
/// the last version of each interval, and the core counts the occurrences
/// in between from the Event's `count` (`events_polled`). Each polled
/// version is tagged as the native core with the default configuration
/// tags it when it sees every version once (a watch, as Fluent Bit's input
/// does): the same restart window, the same verdict.
#[test]
fn probe_failures_faster_than_the_poll_count_as_a_watch_counts_them() {
    const S: i64 = 1_000_000_000;
    let t0: i64 = 1_772_359_200 * S;
    let mut probe = KubeletEvent {
        pod: "api-5f9c7d8b4d-qwh4z",
        node: "node-1",
        reason: "Unhealthy",
        count: 0,
        first_ns: t0 + 9 * S,
        last_ns: 0,
        resource_version: 7_000,
    };
    // Every version: (lastTimestamp, the Event).
    let versions: Vec<(i64, Json)> = (0..40)
        .map(|i| {
            probe.count += 1;
            probe.resource_version += 1;
            probe.last_ns = t0 + (9 + 3 * i) * S;
            (probe.last_ns, probe.json())
        })
        .collect();
    let mut polled = Vec::new();
    let mut poll_ns = t0;
    while poll_ns <= t0 + 140 * S {
        let items: Vec<Json> = versions
            .iter()
            .rev()
            .find(|(ns, _)| *ns <= poll_ns)
            .map(|(_, e)| e.clone())
            .into_iter()
            .collect();
        let list = serde_json::json!({
            "kind": "EventList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": "9000"},
            "items": items,
            "timestamp": rfc3339(poll_ns),
            "source_type": "http_client",
        });
        polled.extend(emitted(
            events_remap("node-1", poll_ns).run(Value::from(list)),
        ));
        poll_ns += 10 * S;
    }
    let polled = dedupe(&polled);
    assert!(
        (10..=15).contains(&polled.len()),
        "{} versions polled",
        polled.len()
    );

    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default");
    let watched: Vec<String> = versions.iter().map(|(_, e)| e.to_string()).collect();
    let native = native_tags_with(FilterConfig::default(), load_model_set(&default), &watched);
    let scorer = fs::read_to_string(vector_dir().join(SCORER_FILE)).unwrap();
    let mut pipeline = VectorPipeline::new(&scorer);
    for e in &polled {
        let got = pipeline.run(&e.to_string());
        let at = versions
            .iter()
            .position(|(_, v)| v["metadata"]["resourceVersion"] == e["metadata"]["resourceVersion"])
            .unwrap();
        let diff = differences(&native[at], &got);
        assert!(
            diff.is_empty(),
            "version {}:\n  {}",
            at + 1,
            diff.join("\n  ")
        );
    }
}

/// What else a poll can bring: with the node unknown every event passes (as
/// the Fluent Bit grep rule with `NODE_NAME` unset), an event with no
/// `source.host` passes on every node, and a body that is no EventList (a
/// `Status`: http_client drops non-200 answers before the remap, so this is a
/// safeguard), items that are no objects and events
/// with no time of their own give no event.
#[test]
fn the_event_split_passes_what_the_fluent_bit_grep_passes() {
    const S: i64 = 1_000_000_000;
    let now = 1_772_359_200 * S;
    let event = |host: Option<&str>, last: Option<i64>| {
        let mut e = serde_json::json!({
            "metadata": {"name": "api-5f9c7d8b4d-qwh4z.1", "namespace": "shop"},
            "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "api-5f9c7d8b4d-qwh4z"},
            "reason": "BackOff",
            "type": "Warning",
            "source": {"component": "kubelet"},
        });
        if let Some(host) = host {
            e["source"]["host"] = Json::from(host);
        }
        if let Some(ns) = last {
            e["lastTimestamp"] = Json::from(rfc3339(ns));
        }
        e
    };
    let split = |node: &str, body: Json| emitted(events_remap(node, now).run(Value::from(body)));
    let list = |items: Vec<Json>| serde_json::json!({"kind": "EventList", "items": items});

    let elsewhere = event(Some("node-2"), Some(now - 5 * S));
    assert_eq!(
        split("node-1", list(vec![elsewhere.clone()])),
        Vec::<Json>::new()
    );
    assert_eq!(split("", list(vec![elsewhere.clone()])), vec![elsewhere]);
    let hostless = event(None, Some(now - 5 * S));
    assert_eq!(
        split("node-1", list(vec![hostless.clone()])),
        vec![hostless]
    );
    // Only the 180 s before the poll; an event stamped ahead passes.
    let ahead = event(Some("node-1"), Some(now + 5 * S));
    let edge = event(Some("node-1"), Some(now - 180 * S));
    let before = event(Some("node-1"), Some(now - 181 * S));
    assert_eq!(
        split("node-1", list(vec![ahead.clone(), edge.clone(), before])),
        vec![ahead, edge]
    );
    // Only the creation time: read as the core reads it.
    let mut created = event(Some("node-1"), None);
    created["metadata"]["creationTimestamp"] = Json::from(rfc3339(now - 2 * S));
    assert_eq!(split("node-1", list(vec![created.clone()])), vec![created]);

    for body in [
        serde_json::json!({"kind": "Status", "status": "Failure", "code": 403}),
        serde_json::json!({"kind": "EventList", "items": null}),
        serde_json::json!({"kind": "EventList", "items": {"0": event(None, Some(now))}}),
        list(vec![
            Json::from("text"),
            Json::from(7),
            Json::Null,
            serde_json::json!([1]),
        ]),
        list(vec![event(Some("node-1"), None)]),
    ] {
        assert_eq!(split("node-1", body.clone()), Vec::<Json>::new(), "{body}");
    }
}

/// Go services log durations in Go's units (`sketch.rs`, `fields.rs`
/// `zap_durations`): the fleet's `api`, whose latency spikes, logs with
/// slog (integer nanoseconds under `duration`) or zap (float seconds under
/// `latency`, beside `caller`), and `cache` with the other one. With the
/// shipped models the core tags `api`'s spike about as often as when the
/// same requests are logged in milliseconds, and raises no latency alarm
/// elsewhere; the Vector scorer agrees record for record.
#[test]
fn go_services_are_read_in_their_own_units() {
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default");
    let latency_alarms = |records: &[String]| {
        let mut by_entity = BTreeMap::new();
        for t in native_tags(load_model_set(&default), records) {
            if t["anomaly"] == true && t["family"] == "latency" {
                let entity = t["entity"].as_str().unwrap_or("").to_owned();
                *by_entity.entry(entity).or_insert(0usize) += 1;
            }
        }
        by_entity
    };
    let in_ms = latency_alarms(&mixed_stream(31, 1800, 0.3));
    let spike_in_ms = in_ms["shop/api"];
    assert!(spike_in_ms > 100, "{in_ms:?}");
    assert_eq!(in_ms.len(), 1, "{in_ms:?}");
    for logger in [GoLogger::Slog, GoLogger::Zap] {
        let records = mixed_stream_go(31, 1800, 0.3, logger);
        let in_go = latency_alarms(&records);
        let spike = in_go.get("shop/api").copied().unwrap_or(0);
        assert!(
            spike * 10 >= spike_in_ms * 8 && spike * 10 <= spike_in_ms * 12,
            "{logger:?}: {in_go:?} against {in_ms:?} in ms"
        );
        assert_eq!(in_go.len(), 1, "{logger:?}: {in_go:?}");
        let calibration = calibrated(13, 20, &records);
        assert_parity(Some(calibration.path()), &records);
        assert_parity(Some(&default), &records);
    }
}
