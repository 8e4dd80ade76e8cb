//! The sampler on cgroup trees laid out as the kubelet and the container
//! runtimes lay them out: v2 with the systemd driver (containerd, CRI-O with
//! its conmon scope), v2 with cgroupfs, v2 nested under kind's
//! `kubelet.slice`, v1 with `cpu,cpuacct` joined and apart; and on what a
//! node can also hold: files that do not parse, names that are not the
//! kubelet's, more containers than the cap.

// A test fails by panicking; the crate's no-panic lints are for the program.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::fs;
use std::path::Path;

use edgeheal_sampler::{
    cgroup_container_id, parse_log_link, sample, ContainerName, Summary, MAX_CONTAINERS,
};
use serde_json::{json, Value};

const NOW_MS: i64 = 1_772_359_215_000;

fn id(n: u8) -> String {
    format!("{:02x}", n).repeat(32)
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// The kubelet's link for a container (the target does not matter).
fn link(logs: &Path, pod: &str, ns: &str, container: &str, id: &str) {
    write(&logs.join(format!("{pod}_{ns}_{container}-{id}.log")), "");
}

fn v2_files(dir: &Path, usage_usec: u64, current: u64, inactive: u64, max: &str, cpu_max: &str) {
    write(
        &dir.join("cpu.stat"),
        &format!("usage_usec {usage_usec}\nuser_usec 1\nsystem_usec 2\nnr_periods 0\n"),
    );
    write(&dir.join("memory.current"), &format!("{current}\n"));
    write(
        &dir.join("memory.stat"),
        &format!("anon 1\nfile 9\nactive_file 5\ninactive_file {inactive}\nslab 3\n"),
    );
    write(&dir.join("memory.max"), &format!("{max}\n"));
    write(&dir.join("cpu.max"), &format!("{cpu_max}\n"));
}

fn run(logs: &Path, root: &Path) -> (Summary, Vec<Value>) {
    let mut out = Vec::new();
    let summary = sample(logs, root, NOW_MS, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let records = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (summary, records)
}

fn record(metric: &str, value: Value, pod: &str, container: &str) -> Value {
    json!({
        "metric": metric,
        "value": value,
        "labels": {"namespace": "shop", "pod": pod, "container": container},
        "timestamp": NOW_MS,
    })
}

fn cpu_limit(cores: f64, pod: &str, container: &str) -> Value {
    json!({
        "metric": "kube_pod_container_resource_limits",
        "value": cores,
        "labels": {"namespace": "shop", "pod": pod, "container": container, "resource": "cpu", "unit": "core"},
        "timestamp": NOW_MS,
    })
}

#[test]
fn log_links_name_containers() {
    let (got, name) = parse_log_link(&format!(
        "cart-7c9d8f6b5-x2x9z_shop_cart-server-{}.log",
        id(1)
    ))
    .unwrap();
    assert_eq!(got, id(1));
    assert_eq!(
        name,
        ContainerName {
            namespace: "shop".into(),
            pod: "cart-7c9d8f6b5-x2x9z".into(),
            container: "cart-server".into(),
        }
    );
    for bad in [
        format!("cart_shop_cart-{}.txt", id(1)),
        format!("cart_shop_cart-{}.log", &id(1)[1..]),
        format!("cart_shop_cart-{}.log", id(0xab).to_uppercase()),
        format!("cart_shop-{}.log", id(1)),
        format!("cart_shop_x_cart-{}.log", id(1)),
        format!("_shop_cart-{}.log", id(1)),
        "cart_shop_cart.log".to_string(),
        String::new(),
    ] {
        assert_eq!(parse_log_link(&bad), None, "{bad}");
    }
}

#[test]
fn cgroup_names_carry_the_container_id() {
    let i = id(7);
    for name in [
        format!("cri-containerd-{i}.scope"),
        format!("crio-{i}.scope"),
        format!("docker-{i}.scope"),
        i.clone(),
    ] {
        assert_eq!(cgroup_container_id(&name), Some(i.as_str()), "{name}");
    }
    for name in [
        format!("crio-conmon-{i}.scope"),
        format!("kubepods-burstable-pod{i}.slice"),
        "kubepods.slice".to_string(),
        format!("cri-containerd-{}.scope", &i[1..]),
    ] {
        assert_eq!(cgroup_container_id(&name), None, "{name}");
    }
}

/// cgroup v2, systemd driver: containerd and CRI-O scopes below the QoS
/// slices, CRI-O's conmon beside its container, the pause container (no
/// log link), and a decoy outside the kubelet's tree.
#[test]
fn v2_systemd_containerd_and_cri_o() {
    let tmp = tempfile::tempdir().unwrap();
    let (logs, root) = (tmp.path().join("logs"), tmp.path().join("cgroup"));
    write(
        &root.join("cgroup.controllers"),
        "cpuset cpu io memory pids\n",
    );
    link(&logs, "cart-7c9d8f6b5-x2x9z", "shop", "cart", &id(1));
    link(&logs, "api-0", "shop", "api", &id(2));
    let burstable = root.join("kubepods.slice/kubepods-burstable.slice");
    let pod1 = burstable.join("kubepods-burstable-pod0a1b_2c3d.slice");
    v2_files(
        &pod1.join(format!("cri-containerd-{}.scope", id(1))),
        12_500_000,
        300 << 20,
        100 << 20,
        "536870912",
        "50000 100000",
    );
    v2_files(
        &pod1.join(format!("cri-containerd-{}.scope", id(9))),
        1,
        1,
        0,
        "max",
        "max 100000",
    );
    let pod2 = root.join("kubepods.slice/kubepods-pod4e5f.slice");
    v2_files(
        &pod2.join(format!("crio-{}.scope", id(2))),
        3_000_000,
        64 << 20,
        70 << 20,
        "max",
        "max 100000",
    );
    v2_files(
        &pod2.join(format!("crio-conmon-{}.scope", id(2))),
        9,
        9,
        0,
        "9",
        "9 9",
    );
    v2_files(
        &root.join(format!("system.slice/decoy/{}", id(1))),
        7,
        7,
        0,
        "7",
        "7 7",
    );

    let (summary, records) = run(&logs, &root);
    assert_eq!(
        summary,
        Summary {
            named: 2,
            sampled: 2,
            records: 6
        }
    );
    let cart = "cart-7c9d8f6b5-x2x9z";
    assert_eq!(
        records,
        vec![
            record(
                "container_cpu_usage_seconds_total",
                json!(12.5),
                cart,
                "cart"
            ),
            record(
                "container_memory_working_set_bytes",
                json!(200u64 << 20),
                cart,
                "cart"
            ),
            record(
                "container_spec_memory_limit_bytes",
                json!(536_870_912u64),
                cart,
                "cart"
            ),
            cpu_limit(0.5, cart, "cart"),
            record(
                "container_cpu_usage_seconds_total",
                json!(3.0),
                "api-0",
                "api"
            ),
            // Inactive file pages above usage: the working set is 0, not negative.
            record(
                "container_memory_working_set_bytes",
                json!(0),
                "api-0",
                "api"
            ),
        ]
    );
}

/// cgroup v2 with the cgroupfs driver, and kind's nesting under
/// `kubelet.slice`.
#[test]
fn v2_cgroupfs_and_kind() {
    for base in ["kubepods/besteffort/pod0a1b", "kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod0a1b.slice"] {
        let tmp = tempfile::tempdir().unwrap();
        let (logs, root) = (tmp.path().join("logs"), tmp.path().join("cgroup"));
        write(&root.join("cgroup.controllers"), "cpu memory\n");
        link(&logs, "web-1", "shop", "web", &id(3));
        let dir = if base.starts_with("kubelet") {
            root.join(base).join(format!("cri-containerd-{}.scope", id(3)))
        } else {
            root.join(base).join(id(3))
        };
        v2_files(&dir, 2_000_000, 10 << 20, 1 << 20, "max", "max 100000");
        let (summary, records) = run(&logs, &root);
        assert_eq!(summary.sampled, 1, "{base}");
        assert_eq!(
            records,
            vec![
                record("container_cpu_usage_seconds_total", json!(2.0), "web-1", "web"),
                record("container_memory_working_set_bytes", json!(9u64 << 20), "web-1", "web"),
            ],
            "{base}"
        );
    }
}

/// The records of container `db` of pod `db-0` whose cgroups [`v1_files`] wrote.
fn db_0_v1_records() -> Vec<Value> {
    vec![
        record(
            "container_cpu_usage_seconds_total",
            json!(7.25),
            "db-0",
            "db",
        ),
        record(
            "container_memory_working_set_bytes",
            json!(96u64 << 20),
            "db-0",
            "db",
        ),
        cpu_limit(1.5, "db-0", "db"),
    ]
}

fn v1_files(memory: &Path, cpuacct: &Path, cpu: &Path) {
    write(&memory.join("memory.usage_in_bytes"), "104857600\n");
    write(
        &memory.join("memory.stat"),
        "cache 9\ninactive_file 1\ntotal_inactive_file 4194304\n",
    );
    write(
        &memory.join("memory.limit_in_bytes"),
        "9223372036854771712\n",
    );
    write(&cpuacct.join("cpuacct.usage"), "7250000000\n");
    write(&cpu.join("cpu.cfs_quota_us"), "150000\n");
    write(&cpu.join("cpu.cfs_period_us"), "100000\n");
}

/// cgroup v1, `cpu,cpuacct` joined and apart; v1's "no limit" is its page
/// counter's maximum.
#[test]
fn v1_joined_and_apart() {
    for joined in [true, false] {
        let tmp = tempfile::tempdir().unwrap();
        let (logs, root) = (tmp.path().join("logs"), tmp.path().join("cgroup"));
        link(&logs, "db-0", "shop", "db", &id(4));
        let rel = format!("kubepods/burstable/pod0a1b/{}", id(4));
        let memory = root.join("memory").join(&rel);
        if joined {
            let cpu = root.join("cpu,cpuacct").join(&rel);
            v1_files(&memory, &cpu, &cpu);
        } else {
            v1_files(
                &memory,
                &root.join("cpuacct").join(&rel),
                &root.join("cpu").join(&rel),
            );
        }
        let (summary, records) = run(&logs, &root);
        assert_eq!(
            summary,
            Summary {
                named: 1,
                sampled: 1,
                records: 3
            },
            "joined {joined}"
        );
        assert_eq!(records, db_0_v1_records());
    }
}

/// Files that do not parse leave their samples out; a container whose
/// cgroup is gone (it exited) or whose files all fail is not sampled;
/// entries that are no log links are passed over.
#[test]
fn what_cannot_be_read_is_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let (logs, root) = (tmp.path().join("logs"), tmp.path().join("cgroup"));
    write(&root.join("cgroup.controllers"), "cpu memory\n");
    link(&logs, "a-0", "shop", "a", &id(5));
    link(&logs, "b-0", "shop", "b", &id(6));
    link(&logs, "gone-0", "shop", "gone", &id(8));
    write(&logs.join("README"), "");
    fs::create_dir_all(logs.join(format!("x_y_z-{}.log", id(10)))).unwrap();
    let a = root
        .join("kubepods.slice")
        .join(format!("cri-containerd-{}.scope", id(5)));
    write(&a.join("cpu.stat"), "user_usec 9\nusage_usec -4\n");
    write(&a.join("memory.current"), "many\n");
    write(&a.join("memory.max"), "0\n");
    write(&a.join("cpu.max"), "100000\n");
    write(&a.join("memory.stat"), &"x".repeat(200_000));
    let b = root
        .join("kubepods.slice")
        .join(format!("cri-containerd-{}.scope", id(6)));
    write(&b.join("memory.current"), "4096");
    let (summary, records) = run(&logs, &root);
    assert_eq!(
        summary,
        Summary {
            named: 4,
            sampled: 1,
            records: 1
        }
    );
    assert_eq!(
        records,
        vec![record(
            "container_memory_working_set_bytes",
            json!(4096),
            "b-0",
            "b"
        )]
    );

    // No log directory at all: an error for the caller to report.
    let mut out = Vec::new();
    assert!(sample(&tmp.path().join("none"), &root, NOW_MS, &mut out).is_err());
    assert!(out.is_empty());
}

/// At most [`MAX_CONTAINERS`] containers are sampled in one run; every link
/// is counted.
#[test]
fn containers_are_capped() {
    let tmp = tempfile::tempdir().unwrap();
    let (logs, root) = (tmp.path().join("logs"), tmp.path().join("cgroup"));
    write(&root.join("cgroup.controllers"), "cpu memory\n");
    for n in 0..MAX_CONTAINERS + 5 {
        let id = format!("{n:064x}");
        link(&logs, &format!("p-{n}"), "shop", "c", &id);
        write(
            &root
                .join("kubepods/besteffort/pod0a1b")
                .join(&id)
                .join("memory.current"),
            "4096\n",
        );
    }
    let (summary, records) = run(&logs, &root);
    assert_eq!(
        summary,
        Summary {
            named: MAX_CONTAINERS + 5,
            sampled: MAX_CONTAINERS,
            records: MAX_CONTAINERS
        }
    );
    assert_eq!(records.len(), MAX_CONTAINERS);
}

/// crun's `container` child of a CRI-O scope holds the limits: the tighter
/// of the scope's and the child's is reported; usage is the scope's.
#[test]
fn v2_crun_container_child_holds_the_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let (logs, root) = (tmp.path().join("logs"), tmp.path().join("cgroup"));
    write(&root.join("cgroup.controllers"), "cpu memory\n");
    link(&logs, "api-0", "shop", "api", &id(2));
    let scope = root
        .join("kubepods.slice/kubepods-pod4e5f.slice")
        .join(format!("crio-{}.scope", id(2)));
    v2_files(&scope, 4_000_000, 64 << 20, 0, "max", "max 100000");
    write(&scope.join("container/memory.max"), "268435456\n");
    write(&scope.join("container/cpu.max"), "25000 100000\n");
    let (_, records) = run(&logs, &root);
    assert_eq!(
        records,
        vec![
            record(
                "container_cpu_usage_seconds_total",
                json!(4.0),
                "api-0",
                "api"
            ),
            record(
                "container_memory_working_set_bytes",
                json!(64u64 << 20),
                "api-0",
                "api"
            ),
            record(
                "container_spec_memory_limit_bytes",
                json!(268_435_456u64),
                "api-0",
                "api"
            ),
            cpu_limit(0.25, "api-0", "api"),
        ]
    );
}

/// The kubelet keeps the last exited container of every container of a pod
/// that still exists, and its log link with it: a Completed Job's, each step
/// of an Argo workflow not yet deleted (kubelet `pod_workers.go`,
/// `ShouldPodContentBeRemoved`: only an evicted pod's, or a deleted and
/// terminated one's, are removed). A node of batch jobs can hold many times
/// [`MAX_CONTAINERS`] links; the running containers among them are all
/// sampled, whatever order the directory lists them in.
#[test]
fn links_of_exited_containers_do_not_crowd_out_the_running_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let (logs, root) = (tmp.path().join("logs"), tmp.path().join("cgroup"));
    write(&root.join("cgroup.controllers"), "cpu memory\n");
    fs::create_dir_all(&logs).unwrap();
    let links = 3 * MAX_CONTAINERS;
    let every = links / 16;
    for n in 0..links {
        let id = format!("{n:064x}");
        if n % every == 0 {
            link(&logs, &format!("web-{n}"), "shop", "web", &id);
            let dir = root
                .join("kubepods.slice/kubepods-burstable.slice")
                .join(format!("kubepods-burstable-pod{n}.slice"))
                .join(format!("cri-containerd-{id}.scope"));
            v2_files(&dir, 1_000_000, 1 << 20, 0, "max", "max 100000");
        } else {
            fs::write(logs.join(format!("job-{n}_shop_main-{id}.log")), "").unwrap();
        }
    }
    let (summary, records) = run(&logs, &root);
    assert_eq!(
        summary,
        Summary {
            named: links,
            sampled: 16,
            records: 32
        }
    );
    let pods: std::collections::BTreeSet<&str> = records
        .iter()
        .map(|r| r["labels"]["pod"].as_str().unwrap())
        .collect();
    assert_eq!(pods.len(), 16, "{pods:?}");
    assert!(pods.iter().all(|p| p.starts_with("web-")), "{pods:?}");
}

/// Layouts taken from their sources: a systemd hybrid host (cgroup v1
/// controllers, and systemd's cgroup2 `unified` mount with no controllers,
/// where runc mirrors each container's path) running cri-dockerd with the
/// systemd driver (`docker-<id>.scope`); and CRI-O with the cgroupfs driver
/// on cgroup v2 (cri-o `internal/config/cgmgr`: the container is
/// `crio-<id>`, conmon `crio-conmon-<id>` beside it, the dropped infra
/// container's cgroup `crio-<sandbox id>`).
#[test]
fn hybrid_docker_and_cri_o_cgroupfs() {
    let tmp = tempfile::tempdir().unwrap();
    let (logs, root) = (tmp.path().join("logs"), tmp.path().join("cgroup"));
    link(&logs, "db-0", "shop", "db", &id(4));
    let rel = format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b_2c3d.slice/docker-{}.scope",
        id(4)
    );
    let cpu = root.join("cpu,cpuacct").join(&rel);
    v1_files(&root.join("memory").join(&rel), &cpu, &cpu);
    write(&root.join("unified/cgroup.controllers"), "");
    v2_files(&root.join("unified").join(&rel), 9, 9, 0, "9", "9 9");
    let (summary, records) = run(&logs, &root);
    assert_eq!(summary.sampled, 1);
    assert_eq!(records, db_0_v1_records());

    let tmp = tempfile::tempdir().unwrap();
    let (logs, root) = (tmp.path().join("logs"), tmp.path().join("cgroup"));
    write(&root.join("cgroup.controllers"), "cpu memory\n");
    link(&logs, "api-0", "shop", "api", &id(2));
    let pod = root.join("kubepods/burstable/pod0a1b2c3d-4e5f-6789-abcd-ef0123456789");
    v2_files(
        &pod.join(format!("crio-{}", id(2))),
        3_000_000,
        64 << 20,
        0,
        "max",
        "max 100000",
    );
    v2_files(
        &pod.join(format!("crio-conmon-{}", id(2))),
        9,
        9,
        0,
        "9",
        "9 9",
    );
    v2_files(&pod.join(format!("crio-{}", id(9))), 9, 9, 0, "9", "9 9");
    let (summary, records) = run(&logs, &root);
    assert_eq!(summary.sampled, 1);
    assert_eq!(
        records,
        vec![
            record(
                "container_cpu_usage_seconds_total",
                json!(3.0),
                "api-0",
                "api"
            ),
            record(
                "container_memory_working_set_bytes",
                json!(64u64 << 20),
                "api-0",
                "api"
            ),
        ]
    );
}
