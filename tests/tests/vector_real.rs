//! The shipped Vector configuration in a real Vector, when one is given:
//!
//! ```sh
//! EDGEHEAL_VECTOR=/path/to/vector cargo test -p edgeheal-tests --test vector_real -- --ignored
//! ```
//!
//! Vector cannot be installed from the registries CI reaches, so these tests
//! are ignored there; the other Vector tests run the same VRL in the `vrl`
//! crate and the scorer in vendored Lua through mlua (`vector_parity`,
//! `vector_unit_tests`), and what they emulate is what these check against a
//! real Vector: that it takes the configs as written (`vector validate`), that
//! the configs' own unit tests pass (`vector test`), that a stream through
//! the shipped transforms leaves a real Vector exactly as it leaves the
//! emulated pipeline, event for event, that the heal API stores what the
//! shipped SigV4 sink sends it (and refuses it signed with another secret),
//! and that the Kubernetes events the shipped `http_client` source lists
//! reach the scorer's input once per version, from this node only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use edgeheal_tests::vector::{mixed_stream, shipped_file, vector_dir};
use serde_json::Value as Json;
use serde_norway::Value as Yaml;

#[path = "common/vector_pipeline.rs"]
mod vector_pipeline;

use vector_pipeline::VectorPipeline;

/// The Vector binary to run (`EDGEHEAL_VECTOR`).
fn vector() -> PathBuf {
    match std::env::var_os("EDGEHEAL_VECTOR") {
        Some(path) => PathBuf::from(path),
        None => {
            panic!("set EDGEHEAL_VECTOR to a Vector binary (these tests are run with --ignored)")
        }
    }
}

/// What the Helm values' `env` gives the agents but the directory (the files
/// are read from the repository here), with values of the shape
/// they have there (the edge key as README step 2 makes it, hex; a service
/// account token, a JWT). The chart writes `customConfig` with `toYaml`,
/// which leaves `${…}` unquoted, and Vector substitutes the text before it
/// parses it: an unset variable there is a YAML null, which Vector refuses.
const HELM_ENV: &[(&str, &str)] = &[
    ("EDGEHEAL_NODE_IP", "10.0.0.5"),
    ("EDGEHEAL_ACCESS_KEY_ID", "vector"),
    (
        "EDGEHEAL_SECRET_ACCESS_KEY",
        "4f1c8e0b9a7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170615f4e3",
    ),
    (
        "EDGEHEAL_VECTOR_TOKEN",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6dmVjdG9yOnZlY3RvciJ9.c2lnbmF0dXJl",
    ),
];

/// `vector ARGS` with the environment the shipped configs read (`env` on top);
/// its exit status and what it printed.
fn run_vector(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> (bool, String) {
    let mut child = vector_command(args, env)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", vector().display()));
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        std::thread::spawn(move || pipe.write_all(&bytes).unwrap());
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `vector ARGS` with the environment the shipped configs read, `env` on top.
fn vector_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(vector());
    command
        .args(args)
        // Vector 0.57 and later interpolate `${VAR}` only when told to (the
        // Helm values set it; README, deploy step 4).
        .env("VECTOR_DANGEROUSLY_ALLOW_ENV_VAR_INTERPOLATION", "true")
        .env("EDGEHEAL_DIR", vector_dir())
        .env("VECTOR_SELF_NODE_NAME", "node-1")
        .env("VECTOR_LOG", "warn")
        .envs(env.iter().copied());
    command
}

/// `records` as the stream configs' `stdin` source reads them: a line each,
/// wrapped as `{"e": record}` so the source adds nothing to the record.
fn stdin_lines<S: AsRef<str>>(records: &[S]) -> Vec<u8> {
    let mut input = Vec::new();
    for record in records {
        let record: Json = serde_json::from_str(record.as_ref()).unwrap();
        serde_json::to_writer(&mut input, &serde_json::json!({ "e": record })).unwrap();
        input.push(b'\n');
    }
    input
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("edgeheal-vector-real-")
        .tempdir()
        .unwrap()
}

/// The Helm values' `customConfig`, as the chart writes it to `vector.yaml`.
fn helm_config(dir: &Path) -> PathBuf {
    let values = shipped_file("helm-values.yaml");
    let path = dir.join("helm-vector.yaml");
    std::fs::write(
        &path,
        serde_norway::to_string(&values["customConfig"]).unwrap(),
    )
    .unwrap();
    path
}

#[test]
#[ignore = "needs a Vector binary: EDGEHEAL_VECTOR=/path/to/vector ... -- --ignored"]
fn vector_validates_the_shipped_configs() {
    let dir = scratch();
    let shipped = vector_dir().join("vector.yaml");
    for (config, env) in [
        (shipped.clone(), &[][..]),
        (helm_config(dir.path()), HELM_ENV),
    ] {
        let config = config.to_str().unwrap();
        let (ok, text) = run_vector(&["validate", "--no-environment", config], None, env);
        assert!(ok, "vector validate {config}:\n{text}");
        assert!(text.contains("Validated"), "{text}");
    }
}

#[test]
#[ignore = "needs a Vector binary: EDGEHEAL_VECTOR=/path/to/vector ... -- --ignored"]
fn vector_test_passes_the_shipped_unit_tests() {
    let shipped = vector_dir().join("vector.yaml");
    let (ok, text) = run_vector(&["test", shipped.to_str().unwrap()], None, &[]);
    assert!(ok, "vector test:\n{text}");
    let names: Vec<String> = shipped_file("vector.yaml")["tests"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(!names.is_empty());
    for name in &names {
        assert!(
            text.contains(&format!("test {name} ... passed")),
            "{name} not reported passed:\n{text}"
        );
    }
}

/// A config that reads NDJSON on stdin (each line `{"e": record}`, so the
/// source adds nothing to the record), gives string timestamps Vector's
/// timestamp type as `kubernetes_logs` does, runs the shipped
/// `edgeheal_normalize`, `edgeheal_score` and `edgeheal_finalize` exactly as
/// `vector.yaml` defines them (the scorer read from `scorer_dir`), and writes
/// what `edgeheal_finalize` emits to `out` as JSON lines.
fn stream_config(scorer_dir: &Path, out: &Path) -> String {
    let shipped = shipped_file("vector.yaml");
    let transform = |name: &str, inputs: &str| {
        let mut t = shipped["transforms"][name].clone();
        t["inputs"] = Yaml::Sequence(vec![Yaml::from(inputs)]);
        t
    };
    let mut score = transform("edgeheal_score", "edgeheal_normalize");
    score["search_dirs"] = Yaml::Sequence(vec![Yaml::from(scorer_dir.to_str().unwrap())]);
    let config = serde_json::json!({
        "sources": {
            "records": {"type": "stdin", "decoding": {"codec": "json"}},
        },
        "transforms": {
            "as_kubernetes_logs": {
                "type": "remap",
                "inputs": ["records"],
                "source": ". = object!(.e)\nif is_string(.timestamp) { .timestamp = parse_timestamp(.timestamp, \"%+\") ?? .timestamp }",
            },
        },
        "sinks": {
            "out": {
                "type": "file",
                "inputs": ["edgeheal_finalize"],
                "path": out.to_str().unwrap(),
                "encoding": {"codec": "json"},
            },
        },
    });
    let mut config: Yaml = serde_norway::from_str(&config.to_string()).unwrap();
    config["transforms"]["edgeheal_normalize"] =
        transform("edgeheal_normalize", "as_kubernetes_logs");
    config["transforms"]["edgeheal_score"] = score;
    config["transforms"]["edgeheal_finalize"] = transform("edgeheal_finalize", "edgeheal_score");
    serde_norway::to_string(&config).unwrap()
}

#[test]
#[ignore = "needs a Vector binary: EDGEHEAL_VECTOR=/path/to/vector ... -- --ignored"]
fn a_stream_leaves_a_real_vector_as_it_leaves_the_emulated_pipeline() {
    let dir = scratch();
    // The shipped scorer (vector_parity checks it is the export of
    // models/default), in both.
    let scorer = std::fs::read_to_string(vector_dir().join("edgeheal-scorer.lua")).unwrap();
    let records = mixed_stream(7, 900, 6.0);
    assert!(records.len() > 4_000, "{} records", records.len());

    let config = dir.path().join("stream.yaml");
    let out = dir.path().join("out.ndjson");
    std::fs::write(&config, stream_config(&vector_dir(), &out)).unwrap();
    let input = stdin_lines(&records);
    let (ok, text) = run_vector(&["--config", config.to_str().unwrap()], Some(&input), &[]);
    assert!(ok, "vector over the stream:\n{text}");

    let written = std::fs::read_to_string(&out).unwrap();
    let real: Vec<Json> = written
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(real.len(), records.len(), "one event out for each in");
    let mut emulated = VectorPipeline::new(&scorer);
    let (mut anomalies, mut rounded) = (0, 0);
    for (i, (record, real)) in records.iter().zip(&real).enumerate() {
        // What Vector decoded: its output less the tags. Vector does not
        // turn on serde_json's `float_roundtrip` (this workspace does), so
        // a number of 16 or 17 digits may be read one unit in the last place
        // off; the rest of the record is as it was written.
        let mut decoded = real.clone();
        decoded.as_object_mut().unwrap().remove("edgeheal");
        let original: Json = serde_json::from_str(record).unwrap();
        assert!(
            within_an_ulp(&decoded, &original),
            "record {i}: {record}\n Vector read {decoded}"
        );
        rounded += usize::from(decoded != original);
        let want = emulated.run_event(&decoded.to_string());
        assert_eq!(
            real, &want,
            "record {i}: {record}\n real Vector: {real}\n emulated:    {want}"
        );
        anomalies += usize::from(real["edgeheal"]["anomaly"] == Json::Bool(true));
    }
    assert!(anomalies > 0, "the stream's faults are tagged");
    println!(
        "{} records: the same events out of a real Vector as out of the emulated pipeline; \
         {anomalies} anomalous; {rounded} read by Vector with a number one unit in the last place off",
        records.len()
    );
}

/// `a` and `b` are the same JSON but for numbers at most one unit in the
/// last place apart.
fn within_an_ulp(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) if x != y => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x.to_bits().abs_diff(y.to_bits()) <= 1,
            _ => false,
        },
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| within_an_ulp(x, y))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| within_an_ulp(v, w)))
        }
        _ => a == b,
    }
}

/// The heal API's `vector` key in `healer_sink_run` (hex, as README step 2
/// makes it).
const VECTOR_KEY: &str = "9d2f6b1e0c8a7f4e3d2c1b0a99887766554433221100ffeeddccbbaa00112233";

/// `GET path` from a server on loopback; the body.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
}

/// The sum of a counter's series in a Prometheus text exposition
/// (`name{...} v` lines, or `name v`).
fn counter(metrics: &str, name: &str, labels: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
                && l.contains(labels)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |sum, v| sum + v)
}

/// What a real Vector's `edgeheal_healer` sink (as shipped: SigV4, JSON
/// batches of 100) delivered to a heal API on loopback whose `vector` key
/// is [`VECTOR_KEY`], signing with `secret`: the anomalies Vector routed
/// to it, the records the heal API stored, and its authentication failures.
fn healer_sink_run(secret: &str) -> (usize, f64, f64) {
    let dir = scratch();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("keys/vector"), VECTOR_KEY).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = edgeheal_healer::Config::from_yaml(&format!(
        "mode: shadow\nlisten: 127.0.0.1:{port}\nstore: {{ path: {}, synchronous: normal }}\n\
         auth: {{ keys_dir: {} }}\nguards: {{ namespaces: [shop] }}\npolicy: {{ cpu_saturation: [scale_up] }}\n",
        dir.path().join("healer.db").display(),
        dir.path().join("keys").display()
    ))
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let healer = runtime.spawn(edgeheal_healer::runtime::run(
        config,
        std::sync::Arc::new(edgeheal_healer::clock::SystemClock),
        async move {
            let _ = stopped.await;
        },
    ));
    let ready = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        http_get(port, "/readyz").is_some_and(|b| b.contains("ready"))
    });
    assert!(ready, "the heal API did not come up");

    // The stream config, and from the route on the shipped route and sink,
    // the sink pointed at the heal API on loopback; what the route sends
    // it is also written to a file, to count.
    let out = dir.path().join("out.ndjson");
    let routed = dir.path().join("routed.ndjson");
    let mut config: Yaml = serde_norway::from_str(&stream_config(&vector_dir(), &out)).unwrap();
    let shipped = shipped_file("vector.yaml");
    let mut route = shipped["transforms"]["edgeheal_anomalies"].clone();
    route["inputs"] = Yaml::Sequence(vec![Yaml::from("edgeheal_finalize")]);
    config["transforms"]["edgeheal_anomalies"] = route;
    let mut sink = shipped["sinks"]["edgeheal_healer"].clone();
    assert_eq!(
        sink["inputs"],
        Yaml::Sequence(vec![Yaml::from("edgeheal_anomalies.anomalies")])
    );
    sink["uri"] = Yaml::from(format!("http://127.0.0.1:{port}/v1/anomalies"));
    config["sinks"]["edgeheal_healer"] = sink;
    let mut copy = config["sinks"]["out"].clone();
    copy["inputs"] = Yaml::Sequence(vec![Yaml::from("edgeheal_anomalies.anomalies")]);
    copy["path"] = Yaml::from(routed.to_str().unwrap());
    config["sinks"]["routed"] = copy;
    let config_path = dir.path().join("healer-sink.yaml");
    std::fs::write(&config_path, serde_norway::to_string(&config).unwrap()).unwrap();

    let input = stdin_lines(&mixed_stream(11, 300, 6.0));
    let (ok, text) = run_vector(
        &["--config", config_path.to_str().unwrap()],
        Some(&input),
        &[
            ("EDGEHEAL_ACCESS_KEY_ID", "vector"),
            ("EDGEHEAL_SECRET_ACCESS_KEY", secret),
        ],
    );
    assert!(ok, "vector:\n{text}");
    let sent = std::fs::read_to_string(&routed).unwrap().lines().count();
    let metrics = http_get(port, "/metrics").unwrap();
    let stored = counter(&metrics, "edgeheal_healer_ingest_records_total", "");
    let refused = counter(&metrics, "edgeheal_healer_auth_failures_total", "");
    let _ = stop.send(());
    runtime.block_on(healer).unwrap().unwrap();
    (sent, stored, refused)
}

#[test]
#[ignore = "needs a Vector binary: EDGEHEAL_VECTOR=/path/to/vector ... -- --ignored"]
fn the_heal_api_stores_what_a_real_vectors_healer_sink_signs() {
    let (sent, stored, refused) = healer_sink_run(VECTOR_KEY);
    assert!(sent > 100, "{sent} anomalies routed");
    assert_eq!(stored, sent as f64, "every anomaly stored once");
    assert_eq!(refused, 0.0);
    println!("{sent} anomalies routed to the heal API, {stored} stored, {refused} refused");

    // Signed with another secret, every batch is refused and nothing stored.
    let (sent, stored, refused) = healer_sink_run(&VECTOR_KEY.replace('9', "8"));
    assert!(sent > 100, "{sent} anomalies routed");
    assert_eq!(stored, 0.0);
    assert!(refused >= 1.0, "{refused} refusals");
    println!("with another secret: {sent} routed, {stored} stored, {refused} batches refused");
}

/// A Pod event as the kubelet reports it (enough of one for the events
/// transforms: identity, version, node, times).
fn kubelet_event(pod: &str, node: &str, version: u64, count: u64, last: &str) -> Json {
    serde_json::json!({
        "metadata": {
            "name": format!("{pod}.18a0b1c2d3e4f5a6"),
            "namespace": "shop",
            "uid": format!("uid-{pod}"),
            "resourceVersion": version.to_string(),
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "involvedObject": {"kind": "Pod", "namespace": "shop", "name": pod, "apiVersion": "v1"},
        "reason": "BackOff",
        "message": "Back-off restarting failed container app",
        "source": {"component": "kubelet", "host": node},
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": last,
        "count": count,
        "type": "Warning",
    })
}

/// A stand-in API server on loopback answering every request with the next
/// of `lists` (the last one again when they run out); the requests' first
/// line and `authorization` header, as it got them.
fn api_server(lists: Vec<Json>) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                let lower = line.to_ascii_lowercase();
                if request.is_empty() || lower.starts_with("authorization:") {
                    request.push(line.trim_end().to_owned());
                }
                line.clear();
            }
            log.lock().unwrap().push(request.join(" | "));
            let body = lists[n.min(lists.len() - 1)].to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, seen)
}

#[test]
#[ignore = "needs a Vector binary: EDGEHEAL_VECTOR=/path/to/vector ... -- --ignored"]
fn events_listed_from_the_api_server_reach_the_scorer_once_per_version_from_this_node() {
    let now = |ago_s: i64| {
        edgeheal_tests::vector::rfc3339(
            (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
                - ago_s)
                * 1_000_000_000,
        )
    };
    let list = |items: Vec<Json>| {
        serde_json::json!({"kind": "EventList", "apiVersion": "v1",
                           "metadata": {"resourceVersion": "9"}, "items": items})
    };
    // Poll 1: a back-off here, one on another node, one here from an hour
    // ago. Poll 2 on: the same, the back-off here in its next version.
    let first = list(vec![
        kubelet_event("api-5f9c7d8b4d-qwh4z", "node-1", 7, 3, &now(5)),
        kubelet_event("web-7d4b9c8f6-x2x9z", "node-2", 8, 3, &now(5)),
        kubelet_event("old-6b5d8f7c9-aaaaa", "node-1", 2, 9, &now(3_600)),
    ]);
    let mut second = first.clone();
    second["items"][0] = kubelet_event("api-5f9c7d8b4d-qwh4z", "node-1", 9, 4, &now(1));
    let (port, requests) = api_server(vec![first, second]);

    // The shipped source, transforms and their wiring, the source pointed at
    // the stand-in over plain HTTP; what edgeheal_events_once passes on is
    // written to a file.
    let dir = scratch();
    let out = dir.path().join("events.ndjson");
    let shipped = shipped_file("vector.yaml");
    let mut source = shipped["sources"]["edgeheal_k8s_events"].clone();
    let endpoint = source["endpoint"].as_str().unwrap().to_owned();
    let path = endpoint
        .strip_prefix("https://kubernetes.default.svc")
        .unwrap()
        .to_owned();
    source["endpoint"] = Yaml::from(format!("http://127.0.0.1:{port}{path}"));
    source["scrape_interval_secs"] = Yaml::from(2);
    source["scrape_timeout_secs"] = Yaml::from(1);
    source.as_mapping_mut().unwrap().remove("tls");
    let config = serde_json::json!({"sinks": {"out": {
        "type": "file", "inputs": ["edgeheal_events_once"],
        "path": out.to_str().unwrap(), "encoding": {"codec": "json"}}}});
    let mut config: Yaml = serde_norway::from_str(&config.to_string()).unwrap();
    config["sources"] = Yaml::Mapping(Default::default());
    config["sources"]["edgeheal_k8s_events"] = source;
    config["transforms"] = Yaml::Mapping(Default::default());
    for name in ["edgeheal_events", "edgeheal_events_once"] {
        config["transforms"][name] = shipped["transforms"][name].clone();
    }
    let config_path = dir.path().join("events.yaml");
    std::fs::write(&config_path, serde_norway::to_string(&config).unwrap()).unwrap();

    // Vector until it has polled four times, then stopped as Kubernetes
    // stops it (SIGTERM), which flushes the file.
    let mut child = vector_command(
        &["--config", config_path.to_str().unwrap()],
        &[("EDGEHEAL_VECTOR_TOKEN", "the-token")],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let polled = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        requests.lock().unwrap().len() >= 4
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.stdin.take();
    let stopped = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&stopped.stderr);
    assert!(
        polled,
        "Vector polled {:?}:\n{log}",
        requests.lock().unwrap()
    );

    let requests = requests.lock().unwrap().clone();
    for r in &requests {
        assert!(r.starts_with(&format!("GET {path} HTTP/1.1")), "{r}");
        assert!(r.contains("uthorization: Bearer the-token"), "{r}");
    }
    let passed: Vec<Json> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let versions: Vec<(&str, &str)> = passed
        .iter()
        .map(|e| {
            (
                e["involvedObject"]["name"].as_str().unwrap(),
                e["metadata"]["resourceVersion"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [("api-5f9c7d8b4d-qwh4z", "7"), ("api-5f9c7d8b4d-qwh4z", "9")],
        "this node's recent versions, each once, over {} polls:\n{log}",
        requests.len()
    );
    println!(
        "{} polls: {} events passed on ({versions:?})",
        requests.len(),
        passed.len()
    );
}
