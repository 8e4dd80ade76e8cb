//! `edgeheal-sampler`: the WASI program Fluent Bit's `exec_wasi` input runs
//! every interval. It prints one metric record a line for each container on
//! the node (see the library's documentation) and says on stderr why, when
//! it cannot. Fluent Bit passes no arguments and no environment, so the
//! paths are fixed: [`CONTAINERS_DIR`] and the first of [`CGROUP_ROOTS`] that
//! is a directory, both listed in the input's `accessible_paths`.

use std::io::{self, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use edgeheal_sampler::{sample, CGROUP_ROOTS, CONTAINERS_DIR};

fn main() {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let Some(root) = CGROUP_ROOTS.iter().map(Path::new).find(|p| p.is_dir()) else {
        eprintln!(
            "edgeheal-sampler: no cgroup tree at {} (mount the host's /sys/fs/cgroup and list it in accessible_paths)",
            CGROUP_ROOTS.join(" or ")
        );
        return;
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match sample(Path::new(CONTAINERS_DIR), root, now_ms, &mut out) {
        Err(e) => eprintln!("edgeheal-sampler: {CONTAINERS_DIR}: {e}"),
        // Silence would hide an unknown cgroup layout or a sandboxed runtime.
        Ok(summary) if summary.named > 0 && summary.sampled == 0 => eprintln!(
            "edgeheal-sampler: {} containers named in {CONTAINERS_DIR}, none of their cgroups found (or readable) under {}",
            summary.named,
            root.display()
        ),
        Ok(_) => {}
    }
    if let Err(e) = out.flush() {
        eprintln!("edgeheal-sampler: stdout: {e}");
    }
}
