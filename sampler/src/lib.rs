//! Per-container CPU and memory samples read from the node's cgroups, for
//! Fluent Bit pipelines.
//!
//! Fluent Bit 4.2 cannot hand scraped metrics to a filter: filters see log
//! records only, and no processor turns metrics into them. Its `exec_wasi`
//! input runs a WASI program every `interval_sec` and turns each line the
//! program prints into a log record through a parser. This is that program.
//! It names the node's containers from the kubelet's log links
//! (`/var/log/containers/<pod>_<namespace>_<container>-<id>.log`), finds each
//! container's cgroup by its id under the host's cgroup tree (v2 or v1,
//! systemd or cgroupfs driver, containerd, CRI-O or Docker), and prints one
//! flat metric record a line, with cAdvisor's names and values:
//!
//! - `container_cpu_usage_seconds_total`: `cpu.stat` `usage_usec` (v1:
//!   `cpuacct.usage`, ns);
//! - `container_memory_working_set_bytes`: usage less inactive file pages,
//!   as cAdvisor computes it (`memory.current` − `inactive_file`; v1:
//!   `memory.usage_in_bytes` − `total_inactive_file`);
//! - `container_spec_memory_limit_bytes` when there is a limit (`memory.max`;
//!   v1: `memory.limit_in_bytes`);
//! - `kube_pod_container_resource_limits` with `resource="cpu"` in cores
//!   when there is a CPU limit (`cpu.max` quota / period; v1: CFS quota /
//!   period).
//!
//! The cgroup tree is walked first, and of the kubelet's links only those of
//! containers with a cgroup are kept: the kubelet also keeps the link of the
//! last exited container of each container of a pod that still exists (a
//! Completed Job's, a restarted container's), and on a node of batch jobs
//! those can outnumber the running ones many times over.
//!
//! Everything is bounded: containers sampled, directory entries visited, the
//! depth of the walk and the bytes read from each file. A file that cannot
//! be read or parsed leaves its sample out; nothing panics.
//!
//! Not sampled: a container whose link name the kubelet cut (it keeps link
//! names to 255 bytes, so pod, namespace and container names of more than
//! about 184 bytes together lose part of the id), and containers with no
//! cgroup of their own on the host (gVisor, Kata). Limits are the cgroup's:
//! with the kubelet's `cpuCFSQuota: false` there is no CPU limit to report,
//! and cgroup v1 rounds memory limits to pages.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Where the kubelet links each container's log, named after the container.
pub const CONTAINERS_DIR: &str = "/var/log/containers";

/// Where the host's cgroup tree is looked for, in order: the DaemonSet
/// mounts it at the first; the second is the host's own path.
pub const CGROUP_ROOTS: &[&str] = &["/host/sys/fs/cgroup", "/sys/fs/cgroup"];

/// Containers sampled in one run at most (a node runs a few hundred).
pub const MAX_CONTAINERS: usize = 4096;

/// Directory entries one run visits at most, over all walks.
const MAX_ENTRIES: usize = 200_000;

/// How deep below the cgroup root a container's cgroup is looked for
/// (`kubelet.slice/kubelet-kubepods.slice/kubepods-burstable.slice/
/// kubepods-burstable-pod<uid>.slice/<container>` is five).
const MAX_DEPTH: usize = 6;

/// Bytes read from one cgroup file at most (`memory.stat` is about 1 KB).
const MAX_FILE: u64 = 64 * 1024;

/// What a container is called in Kubernetes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerName {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// The container in the pod.
    pub container: String,
}

/// One container's figures; `None` where the cgroup did not say.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// CPU time used since the container started, in seconds.
    pub cpu_seconds: Option<f64>,
    /// Working set in bytes.
    pub working_set_bytes: Option<u64>,
    /// Memory limit in bytes, when limited.
    pub memory_limit_bytes: Option<u64>,
    /// CPU limit in cores, when limited.
    pub cpu_limit_cores: Option<f64>,
}

/// What one run found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Containers named by the kubelet's log links.
    pub named: usize,
    /// Of those, the ones whose cgroup was found and sampled.
    pub sampled: usize,
    /// Metric records written.
    pub records: usize,
}

/// `<pod>_<namespace>_<container>-<id>.log` → the container id and its names.
pub fn parse_log_link(file: &str) -> Option<(String, ContainerName)> {
    let stem = file.strip_suffix(".log")?;
    let (rest, id) = stem.rsplit_once('-')?;
    if !is_container_id(id) {
        return None;
    }
    let mut parts = rest.split('_');
    let (pod, namespace, container) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || [pod, namespace, container].iter().any(|s| s.is_empty()) {
        return None;
    }
    Some((
        id.to_owned(),
        ContainerName {
            namespace: namespace.to_owned(),
            pod: pod.to_owned(),
            container: container.to_owned(),
        },
    ))
}

/// A container runtime's id: 64 lower-case hex digits.
fn is_container_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The container id a cgroup directory is named after: `<id>` (cgroupfs),
/// `cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope`.
/// CRI-O's `crio-conmon-<id>.scope` holds its monitor, not the container.
pub fn cgroup_container_id(dir_name: &str) -> Option<&str> {
    if dir_name.contains("conmon") {
        return None;
    }
    let name = dir_name.strip_suffix(".scope").unwrap_or(dir_name);
    let id = name.rsplit_once('-').map_or(name, |(_, id)| id);
    is_container_id(id).then_some(id)
}

/// The containers the kubelet has linked logs for: how many links name one,
/// and by id the names of those `live` accepts, at most [`MAX_CONTAINERS`].
pub fn containers(
    dir: &Path,
    live: impl Fn(&str) -> bool,
) -> io::Result<(usize, BTreeMap<String, ContainerName>)> {
    let mut named = 0;
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(dir)?.take(MAX_ENTRIES) {
        let Ok(entry) = entry else { continue };
        let file = entry.file_name();
        let Some((id, name)) = file.to_str().and_then(parse_log_link) else {
            continue;
        };
        named += 1;
        if out.len() < MAX_CONTAINERS && live(&id) {
            out.insert(id, name);
        }
    }
    Ok((named, out))
}

/// The cgroup directory of each container under `root`, by id, looked for
/// below the directories whose names say they hold the kubelet's pods
/// (`kubepods*`, `kubelet*`), at most [`MAX_DEPTH`] deep. `budget` counts
/// down the directory entries visited.
fn find_cgroups(root: &Path, budget: &mut usize) -> BTreeMap<String, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack: Vec<(PathBuf, usize, bool)> = vec![(root.to_path_buf(), 0, false)];
    while let Some((dir, depth, under_kube)) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            if *budget == 0 {
                return found;
            }
            *budget -= 1;
            let Ok(entry) = entry else { continue };
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let file = entry.file_name();
            let Some(name) = file.to_str() else { continue };
            if let Some(id) = cgroup_container_id(name) {
                found.insert(id.to_owned(), entry.path());
                continue;
            }
            let kube = under_kube || name.starts_with("kubepods") || name.contains("kubelet");
            if kube && depth + 1 < MAX_DEPTH {
                stack.push((entry.path(), depth + 1, true));
            }
        }
    }
    found
}

/// A cgroup file's text, at most [`MAX_FILE`] bytes of it.
fn read_small(path: &Path) -> Option<String> {
    let mut text = String::new();
    fs::File::open(path)
        .ok()?
        .take(MAX_FILE)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// A file holding one unsigned number.
fn read_u64(path: &Path) -> Option<u64> {
    read_small(path)?.trim().parse().ok()
}

/// The value of `key` in a flat keyed file (`memory.stat`, `cpu.stat`).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        if k == key {
            v.trim().parse().ok()
        } else {
            None
        }
    })
}

/// cAdvisor's working set: usage less inactive file pages, never below 0.
fn working_set(usage: Option<u64>, inactive_file: Option<u64>) -> Option<u64> {
    usage.map(|u| u.saturating_sub(inactive_file.unwrap_or(0)))
}

/// Limits at or above this are "no limit" (cgroup v1 reports its page
/// counter's maximum, 9223372036854771712 on 4 KiB pages).
const V1_NO_LIMIT: u64 = 1 << 60;

/// `memory.max` of a v2 cgroup: bytes, or `None` for "max".
fn v2_memory_limit(dir: &Path) -> Option<u64> {
    read_small(&dir.join("memory.max"))?
        .trim()
        .parse()
        .ok()
        .filter(|&b| b > 0)
}

/// `cpu.max` of a v2 cgroup (`<quota> <period>`): cores, or `None` for "max".
fn v2_cpu_limit(dir: &Path) -> Option<f64> {
    let text = read_small(&dir.join("cpu.max"))?;
    let mut parts = text.split_whitespace();
    let quota: f64 = parts.next()?.parse().ok()?;
    let period: f64 = parts.next()?.parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

/// The tighter of two limits, either of which may be absent.
fn tighter<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b < a { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// A cgroup v2 container directory. crun (CRI-O's runtime on some
/// distributions) may put the container's processes and limits in a
/// `container` child of the scope: usage is the scope's (it counts its
/// children), limits the tighter of the scope's and the child's.
pub fn read_v2(dir: &Path) -> Sample {
    let cpu_stat = read_small(&dir.join("cpu.stat"));
    let memory_stat = read_small(&dir.join("memory.stat"));
    let child = dir.join("container");
    let child = child.is_dir().then_some(child);
    Sample {
        cpu_seconds: cpu_stat
            .as_deref()
            .and_then(|t| keyed(t, "usage_usec"))
            .map(|us| us as f64 / 1e6),
        working_set_bytes: working_set(
            read_u64(&dir.join("memory.current")),
            memory_stat
                .as_deref()
                .and_then(|t| keyed(t, "inactive_file")),
        ),
        memory_limit_bytes: tighter(
            v2_memory_limit(dir),
            child.as_deref().and_then(v2_memory_limit),
        ),
        cpu_limit_cores: tighter(v2_cpu_limit(dir), child.as_deref().and_then(v2_cpu_limit)),
    }
}

/// A cgroup v1 container: its `memory` and CPU (`cpu,cpuacct`, or `cpuacct`
/// and `cpu` apart) directories, those found.
pub fn read_v1(memory: Option<&Path>, cpuacct: Option<&Path>, cpu: Option<&Path>) -> Sample {
    let memory_stat = memory.and_then(|d| read_small(&d.join("memory.stat")));
    let quota = cpu.and_then(|d| read_small(&d.join("cpu.cfs_quota_us")));
    let period = cpu.and_then(|d| read_u64(&d.join("cpu.cfs_period_us")));
    Sample {
        cpu_seconds: cpuacct
            .and_then(|d| read_u64(&d.join("cpuacct.usage")))
            .map(|ns| ns as f64 / 1e9),
        working_set_bytes: working_set(
            memory.and_then(|d| read_u64(&d.join("memory.usage_in_bytes"))),
            memory_stat
                .as_deref()
                .and_then(|t| keyed(t, "total_inactive_file")),
        ),
        memory_limit_bytes: memory
            .and_then(|d| read_u64(&d.join("memory.limit_in_bytes")))
            .filter(|&b| b > 0 && b < V1_NO_LIMIT),
        cpu_limit_cores: match (quota.and_then(|q| q.trim().parse::<i64>().ok()), period) {
            (Some(q), Some(p)) if q > 0 && p > 0 => Some(q as f64 / p as f64),
            _ => None,
        },
    }
}

/// Writes `sample`'s records for `name`, one JSON object a line; returns how
/// many.
pub fn write_sample(
    out: &mut impl Write,
    now_ms: i64,
    name: &ContainerName,
    sample: &Sample,
) -> io::Result<usize> {
    let labels = serde_json::json!({
        "namespace": name.namespace,
        "pod": name.pod,
        "container": name.container,
    });
    let records = [
        (
            "container_cpu_usage_seconds_total",
            sample.cpu_seconds.map(serde_json::Value::from),
            None,
        ),
        (
            "container_memory_working_set_bytes",
            sample.working_set_bytes.map(serde_json::Value::from),
            None,
        ),
        (
            "container_spec_memory_limit_bytes",
            sample.memory_limit_bytes.map(serde_json::Value::from),
            None,
        ),
        (
            "kube_pod_container_resource_limits",
            sample.cpu_limit_cores.map(serde_json::Value::from),
            Some(("cpu", "core")),
        ),
    ];
    let mut written = 0;
    for (metric, value, resource) in records {
        let Some(value) = value else { continue };
        let mut labels = labels.clone();
        if let (Some((resource, unit)), Some(map)) = (resource, labels.as_object_mut()) {
            map.insert("resource".into(), resource.into());
            map.insert("unit".into(), unit.into());
        }
        let record = serde_json::json!({
            "metric": metric,
            "value": value,
            "labels": labels,
            "timestamp": now_ms,
        });
        serde_json::to_writer(&mut *out, &record)?;
        out.write_all(b"\n")?;
        written += 1;
    }
    Ok(written)
}

/// One run: finds the containers' cgroups under `cgroup_root`, names those
/// the kubelet has linked logs for under `containers_dir`, and writes their
/// samples' records to `out`.
pub fn sample(
    containers_dir: &Path,
    cgroup_root: &Path,
    now_ms: i64,
    out: &mut impl Write,
) -> io::Result<Summary> {
    let mut summary = Summary::default();
    let mut budget = MAX_ENTRIES;
    let mut samples: Vec<(ContainerName, Sample)> = Vec::new();
    if cgroup_root.join("cgroup.controllers").is_file() {
        let found = find_cgroups(cgroup_root, &mut budget);
        let (named, live) = containers(containers_dir, |id| found.contains_key(id))?;
        summary.named = named;
        for (id, name) in live {
            // A cgroup none of whose files could be read is no sample, as on v1: counted as
            // one, it kept the run's "none of their cgroups" warning from being given.
            let sample = found.get(&id).map(|dir| read_v2(dir)).unwrap_or_default();
            if sample != Sample::default() {
                samples.push((name, sample));
            }
        }
    } else {
        let mut hierarchy = |name: &str| find_cgroups(&cgroup_root.join(name), &mut budget);
        let memory = hierarchy("memory");
        let mut cpuacct = hierarchy("cpu,cpuacct");
        let mut cpu = cpuacct.clone();
        if cpuacct.is_empty() {
            cpuacct = hierarchy("cpuacct");
            cpu = hierarchy("cpu");
        }
        let (named, live) = containers(containers_dir, |id| {
            memory.contains_key(id) || cpuacct.contains_key(id) || cpu.contains_key(id)
        })?;
        summary.named = named;
        for (id, name) in live {
            let sample = read_v1(
                memory.get(&id).map(PathBuf::as_path),
                cpuacct.get(&id).map(PathBuf::as_path),
                cpu.get(&id).map(PathBuf::as_path),
            );
            if sample != Sample::default() {
                samples.push((name, sample));
            }
        }
    }
    for (name, sample) in samples {
        summary.sampled += 1;
        summary.records += write_sample(out, now_ms, &name, &sample)?;
    }
    Ok(summary)
}
