//! The cgroup sampler as Fluent Bit runs it: `edgeheal-sampler.wasm` under
//! the `exec_wasi` stand-in (a new instance every 15 s, stdout read back with
//! `fgets`, each line through the `json` parser), over a node's kubelet log
//! links and cgroup v2 tree mounted where the shipped configs mount them;
//! its records then through the `.wasm` filter and the native core.

use std::fs;
use std::path::Path;
use std::time::Duration;

use edgeheal_tests::exec_wasi::{collect, Collection, ExecWasiConfig};
use edgeheal_tests::fluentbit_harness::{EventTime, FilterWasmConfig, FluentBitWasm};
use edgeheal_tests::{native_filter, plugin_wasm, sampler_wasm};
use serde_json::Value;

/// Where the shipped configs mount them (`accessible_paths`).
const LOGS: &str = "/var/log/containers";
const CGROUP: &str = "/host/sys/fs/cgroup";

const T0_S: u64 = 1_772_359_200;

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    fn new() -> Node {
        let node = Node {
            dir: tempfile::tempdir().unwrap(),
        };
        write(&node.cgroup().join("cgroup.controllers"), "cpu memory\n");
        node
    }

    fn logs(&self) -> std::path::PathBuf {
        self.dir.path().join("logs")
    }

    fn cgroup(&self) -> std::path::PathBuf {
        self.dir.path().join("cgroup")
    }

    /// A container: its log link and its cgroup (containerd, systemd driver).
    fn container(&self, pod: &str, container: &str, id: &str) -> std::path::PathBuf {
        write(
            &self.logs().join(format!("{pod}_shop_{container}-{id}.log")),
            "",
        );
        self.cgroup()
            .join("kubepods.slice/kubepods-burstable.slice")
            .join(format!("kubepods-burstable-pod{}.slice", &id[..8]))
            .join(format!("cri-containerd-{id}.scope"))
    }

    fn config(&self) -> ExecWasiConfig {
        ExecWasiConfig {
            accessible_paths: vec![
                (self.logs(), LOGS.to_string()),
                (self.cgroup(), CGROUP.to_string()),
            ],
            ..ExecWasiConfig::default()
        }
    }

    fn collect(&self, at_s: u64) -> Collection {
        collect(sampler_wasm(), &self.config(), Duration::from_secs(at_s)).unwrap()
    }
}

fn set(dir: &Path, cpu_usec: u64, memory: u64) {
    write(&dir.join("cpu.stat"), &format!("usage_usec {cpu_usec}\n"));
    write(&dir.join("memory.current"), &format!("{memory}\n"));
    write(&dir.join("memory.stat"), "inactive_file 1048576\n");
    write(&dir.join("memory.max"), "1073741824\n");
    write(&dir.join("cpu.max"), "100000 100000\n");
}

fn id(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

#[test]
fn samples_reach_the_filter_as_metric_records_of_their_pods() {
    let node = Node::new();
    let cart = node.container("cart-7c9d8f6b5-x2x9z", "cart", &id(0xc1));
    let db = node.container("db-0", "postgres", &id(0xd2));
    let mut native = native_filter();
    let mut wasm = FluentBitWasm::load(plugin_wasm(), &FilterWasmConfig::default()).unwrap();
    let mut out = Vec::new();
    let mut tags = Vec::new();
    let (mut cart_usec, mut db_usec) = (0u64, 0u64);
    for k in 0..12u64 {
        let at = T0_S + 15 * k;
        cart_usec += 3_000_000; // 0.2 cores
        db_usec += 7_500_000; // 0.5 cores
        set(&cart, cart_usec, (200 << 20) + (k << 20));
        set(&db, db_usec, 512 << 20);
        let run = node.collect(at);
        assert_eq!(run.stderr, "");
        assert_eq!(run.parse_errors, 0);
        // Four records a container: CPU, working set, both limits.
        assert_eq!(run.records.len(), 8, "{:?}", run.records);
        let time = EventTime {
            sec: at as i64,
            nsec: 0,
        };
        for record in &run.records {
            let body: Value = serde_json::from_str(record).unwrap();
            assert_eq!(body["timestamp"], at * 1000);
            native.process(
                b"edgeheal.samples",
                time.as_filter_sees_ns(),
                record.as_bytes(),
                &mut out,
            );
            let kept = wasm.filter(b"edgeheal.samples", time, record.as_bytes());
            assert_eq!(kept.kept(), Some(&out[..]), "wasm and native differ");
            let tagged: Value = serde_json::from_slice(&out).unwrap();
            tags.push(tagged["edgeheal"].clone());
        }
    }
    for tag in &tags {
        assert_eq!(tag["kind"], "metric", "{tag}");
        assert_eq!(tag["namespace"], "shop");
        assert!(tag.get("error").is_none(), "{tag}");
    }
    let cart_tags: Vec<&Value> = tags
        .iter()
        .filter(|t| t["pod"] == "cart-7c9d8f6b5-x2x9z")
        .collect();
    assert_eq!(cart_tags.len(), 48);
    for t in &cart_tags {
        assert_eq!(t["entity"], "shop/cart");
        assert_eq!(t["workload_kind"], "deployment");
        assert_eq!(t["container"], "cart");
    }
    assert!(tags
        .iter()
        .filter(|t| t["pod"] == "db-0")
        .all(|t| t["entity"] == "shop/db" && t["workload_kind"] == "statefulset"));
}

/// With no cgroup tree where the configs mount it, the run says so on
/// Fluent Bit's log and writes no record; with no log links it says that.
#[test]
fn a_missing_mount_is_reported_not_hidden() {
    let node = Node::new();
    fs::create_dir_all(node.logs()).unwrap();
    let only_logs = ExecWasiConfig {
        accessible_paths: vec![(node.logs(), LOGS.to_string())],
        ..ExecWasiConfig::default()
    };
    let run = collect(sampler_wasm(), &only_logs, Duration::from_secs(T0_S)).unwrap();
    assert!(run.records.is_empty());
    assert!(
        run.stderr.contains("no cgroup tree at /host/sys/fs/cgroup"),
        "{}",
        run.stderr
    );
    let only_cgroup = ExecWasiConfig {
        accessible_paths: vec![(node.cgroup(), CGROUP.to_string())],
        ..ExecWasiConfig::default()
    };
    let run = collect(sampler_wasm(), &only_cgroup, Duration::from_secs(T0_S)).unwrap();
    assert!(run.records.is_empty());
    assert!(run.stderr.contains("/var/log/containers"), "{}", run.stderr);

    // Containers named, none of their cgroups found (an unknown layout, a
    // sandboxed runtime): said, not silent.
    write(
        &node.logs().join(format!("web-1_shop_web-{}.log", id(0xe1))),
        "",
    );
    let run = node.collect(T0_S);
    assert!(run.records.is_empty());
    assert!(
        run.stderr
            .contains("1 containers named in /var/log/containers, none of their cgroups found"),
        "{}",
        run.stderr
    );

    // Their cgroups found, but nothing in them readable: said too. Before, on cgroup v2 such
    // a container counted as sampled, and the run was silent.
    let cgroup = node.container("web-2", "web", &id(0xe2));
    fs::create_dir_all(cgroup.join("cpu.stat")).unwrap();
    let run = node.collect(T0_S);
    assert!(run.records.is_empty());
    assert!(
        run.stderr.contains(
            "2 containers named in /var/log/containers, none of their cgroups found (or readable)"
        ),
        "{}",
        run.stderr
    );
}

/// Fifteen minutes of a steady pod, then a memory leak (24 MiB every 15 s
/// towards its 1 GiB limit): the samples alone (no log line, no event),
/// through the shipped models, raise a `memory_leak` alarm for that pod
/// within two minutes of the leak, and none before it. (CPU stress alone is
/// only a warning-level score the classifier does not confirm: the models
/// learnt it together with the latency it causes in the logs.)
#[test]
fn a_memory_leak_seen_only_in_the_samples_is_caught_by_the_shipped_models() {
    let node = Node::new();
    let cart = node.container("cart-7c9d8f6b5-x2x9z", "cart", &id(0xc1));
    let mut native = native_filter();
    let mut out = Vec::new();
    let mut usec = 0u64;
    const FAULT: u64 = 60;
    let mut first_alarm = None;
    for k in 0..FAULT + 12 {
        let at = T0_S + 15 * k;
        usec += 3_000_000 + (k % 3) * 150_000;
        let leak = k.saturating_sub(FAULT) * (24 << 20);
        set(&cart, usec, (200 << 20) + ((k % 4) << 20) + leak);
        let run = node.collect(at);
        assert_eq!(run.records.len(), 4);
        let time = EventTime {
            sec: at as i64,
            nsec: 0,
        };
        for record in &run.records {
            native.process(
                b"edgeheal.samples",
                time.as_filter_sees_ns(),
                record.as_bytes(),
                &mut out,
            );
            let tagged: Value = serde_json::from_slice(&out).unwrap();
            let tag = &tagged["edgeheal"];
            if tag["anomaly"] == true {
                assert!(k >= FAULT, "false alarm at sample {k}: {tag}");
                assert_eq!(tag["entity"], "shop/cart");
                assert_eq!(tag["incident"], "memory_leak", "{tag}");
                assert_eq!(tag["family"], "memory", "{tag}");
                first_alarm.get_or_insert(k);
            }
        }
    }
    let first = first_alarm.expect("the leak is caught");
    assert!(first < FAULT + 8, "caught at sample {first}");
}
